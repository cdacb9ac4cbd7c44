"""Addresses that bounced: the mail server refused them for good, so nothing more goes to them.

Table ``cxray_mail_bounces``, one row per address (kept in lower case: the domain part is not
case-sensitive, and no mail system tells two mailboxes apart by case alone). The survey side
asks :func:`is_bounced` (or :func:`bounced_addresses` for many at once) before it invites
anyone; the outbox refuses to queue a mail to a bounced address.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cxray.warehouse import from_utc, utc

BOUNCES_TABLE = "cxray_mail_bounces"


def normalise(address: str) -> str:
    return address.strip().lower()


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {BOUNCES_TABLE} ("
        "address VARCHAR PRIMARY KEY, bounced_at TIMESTAMPTZ NOT NULL, message_id VARCHAR, "
        "code INTEGER, reason VARCHAR)"
    )


def has_table(warehouse: Any) -> bool:
    return warehouse.has_table(BOUNCES_TABLE)


def record(
    warehouse: Any,
    address: str,
    now: dt.datetime,
    message_id: str | None,
    code: int | None,
    reason: str | None,
) -> None:
    """Remember that ``address`` bounced (the first bounce is kept: it says since when)."""
    ensure_table(warehouse)
    warehouse.sql(
        f"INSERT INTO {BOUNCES_TABLE} (address, bounced_at, message_id, code, reason) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO NOTHING",
        [normalise(address), now, message_id, code, (reason or "")[:500] or None],
    )


def is_bounced(warehouse: Any, address: str) -> bool:
    """True when a mail to ``address`` bounced before: queue nothing more to it."""
    if not has_table(warehouse):
        return False
    rows = warehouse.query(
        f"SELECT count(*) FROM {BOUNCES_TABLE} WHERE address = ?", [normalise(address)]
    )
    return bool(rows[0][0])


def bounced_addresses(warehouse: Any) -> set[str]:
    """Every bounced address, in lower case (to check many recipients at once)."""
    if not has_table(warehouse):
        return set()
    return {row[0] for row in warehouse.query(f"SELECT address FROM {BOUNCES_TABLE}")}


def bounce_of(warehouse: Any, address: str) -> dict[str, Any] | None:
    """When and why ``address`` bounced, or None."""
    if not has_table(warehouse):
        return None
    rows = warehouse.query(
        f"SELECT address, {utc('bounced_at')}, message_id, code, reason FROM {BOUNCES_TABLE} "
        "WHERE address = ?",
        [normalise(address)],
    )
    return _as_dict(rows[0]) if rows else None


def latest(warehouse: Any, limit: int = 20) -> list[dict[str, Any]]:
    if not has_table(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT address, {utc('bounced_at')}, message_id, code, reason FROM {BOUNCES_TABLE} "
        f"ORDER BY bounced_at DESC, address LIMIT {int(limit)}"
    )
    return [_as_dict(row) for row in rows]


def count(warehouse: Any) -> int:
    if not has_table(warehouse):
        return 0
    return int(warehouse.query(f"SELECT count(*) FROM {BOUNCES_TABLE}")[0][0])


def forget(warehouse: Any, address: str) -> bool:
    """Allow mail to ``address`` again (it was mistyped and is now fixed); True if it was there."""
    if not has_table(warehouse):
        return False
    found = is_bounced(warehouse, address)
    warehouse.sql(f"DELETE FROM {BOUNCES_TABLE} WHERE address = ?", [normalise(address)])
    return found


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "address": row[0],
        "bounced_at": from_utc(row[1]),
        "message_id": row[2],
        "code": row[3],
        "reason": row[4],
    }


__all__ = [
    "BOUNCES_TABLE",
    "bounce_of",
    "bounced_addresses",
    "count",
    "ensure_table",
    "forget",
    "is_bounced",
    "latest",
    "record",
]
