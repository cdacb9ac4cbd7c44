"""The outbox: every mail cxray sends is first a row here, so that none is lost or sent twice.

A mail is queued in the same transaction as what it belongs to (an invitation, a digest), and a
sender (:mod:`cxray.actions.sender`) delivers queued mails later. ``(kind, ref)`` is unique: queuing
the same invitation twice keeps the first mail. States::

    queued ──► sending ──► sent
       ▲          │
       └─ retry ◄─┤ (temporary failure: back to queued with a later not_before)
                  ├──► failed   (given up after the last attempt)
                  └──► bounced  (the server refused the address for good)
    queued ──► cancelled (opted out, or withdrawn before sending)

Each change of state is one statement, committed at once (DuckDB commits every statement
outside a transaction), so a sender killed at any moment leaves every mail in a state that says
what happened. ``handed_over_at`` is set (and committed) just before the sender gives the server
the end of the mail's data: a mail still ``sending`` without it was never delivered and is
queued again; with it the server had the whole mail and it counts as sent (see
docs/design.md, "Sending mail").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from cxray.actions import bounces
from cxray.i18n import Message
from cxray.warehouse import from_utc, utc

OUTBOX_TABLE = "cxray_outbox"
STATES = ("queued", "sending", "sent", "failed", "bounced", "cancelled")
MAX_SUBJECT = 300
MAX_BODY = 1_000_000
MAX_ERROR = 500
# Headers the sender writes itself: a mail's own headers may not replace them.
RESERVED_HEADERS = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "sender",
    "return-path",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,75}$")
# Columns added after the first version of the table (a workspace may have it without them).
_LATER_COLUMNS = {"claimed_at": "TIMESTAMPTZ", "handed_over_at": "TIMESTAMPTZ"}
_COLUMNS = (
    "message_id, kind, ref, recipient, subject, body_text, body_html, headers, state, "
    f"{utc('created_at')}, {utc('not_before')}, attempts, last_error, {utc('sent_at')}"
)


class OutboxError(ValueError):
    """A mail that cannot be queued; raised with a bilingual Message."""


class BouncedAddress(OutboxError):
    """The address bounced before: nothing more is queued to it."""


@dataclass(frozen=True)
class Mail:
    """One mail to send. ``ref`` names what it belongs to (an invitation's id); one per kind."""

    recipient: str
    subject: str
    text: str
    html: str | None = None
    kind: str = "mail"
    ref: str | None = None
    not_before: dt.datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredMail:
    """A mail as the outbox keeps it."""

    message_id: str
    kind: str
    ref: str | None
    recipient: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, str]
    state: str
    created_at: dt.datetime
    not_before: dt.datetime
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None

    def to_dict(self, bodies: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "kind": self.kind,
            "ref": self.ref,
            "recipient": self.recipient,
            "subject": self.subject,
            "state": self.state,
            "created_at": self.created_at,
            "not_before": self.not_before,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "error": error_text(self.last_error),
            "sent_at": self.sent_at,
        }
        if bodies:
            data.update(text=self.text, html=self.html, headers=self.headers)
        return data


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} ("
        "message_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, ref VARCHAR, "
        "recipient VARCHAR NOT NULL, subject VARCHAR NOT NULL, body_text VARCHAR NOT NULL, "
        "body_html VARCHAR, headers VARCHAR, state VARCHAR NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, not_before TIMESTAMPTZ NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR, sent_at TIMESTAMPTZ, "
        "claimed_at TIMESTAMPTZ, handed_over_at TIMESTAMPTZ, "
        "UNIQUE (kind, ref))"
    )
    bounces.ensure_table(warehouse)  # a claim reads it in the same statement
    if warehouse.is_duckdb:
        described = warehouse.sql(f"SELECT * FROM {OUTBOX_TABLE} LIMIT 0").description
        present = {column[0] for column in described}
    else:
        present = set(warehouse.columns(OUTBOX_TABLE))
    for column, kind in _LATER_COLUMNS.items():
        if column not in present:
            warehouse.sql(f"ALTER TABLE {OUTBOX_TABLE} ADD COLUMN {column} {kind}")


def has_table(warehouse: Any) -> bool:
    return warehouse.has_table(OUTBOX_TABLE)


def _check(mail: Mail) -> None:
    recipient = mail.recipient.strip()
    if not recipient or "@" not in recipient or any(c in recipient for c in "\r\n<>,; "):
        raise OutboxError(
            Message(
                f"{mail.recipient!r} is not an e-mail address",
                f"{mail.recipient!r} is geen e-mailadres",
            )
        )
    if not mail.subject.strip() or len(mail.subject) > MAX_SUBJECT or "\n" in mail.subject:
        raise OutboxError(
            Message(
                f"a subject is one line of 1 to {MAX_SUBJECT} characters",
                f"een onderwerp is één regel van 1 tot {MAX_SUBJECT} tekens",
            )
        )
    if "\r" in mail.subject:
        raise OutboxError(
            Message("a subject holds no line break", "een onderwerp bevat geen regeleinde")
        )
    if len(mail.text) + len(mail.html or "") > MAX_BODY:
        raise OutboxError(
            Message("the mail is too long to send", "de mail is te lang om te versturen")
        )
    for name, value in mail.headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise OutboxError(
                Message(f"{name!r} is not a header name", f"{name!r} is geen kopregelnaam")
            )
        if name.lower() in RESERVED_HEADERS:
            raise OutboxError(
                Message(
                    f"the header {name} is written by the sender itself",
                    f"de kopregel {name} schrijft de verzender zelf",
                )
            )
        if not isinstance(value, str) or "\r" in value or "\n" in value or len(value) > 2000:
            raise OutboxError(
                Message(
                    f"the header {name} must be one line of text",
                    f"de kopregel {name} moet één regel tekst zijn",
                )
            )


def enqueue(warehouse: Any, mail: Mail, now: dt.datetime | None = None) -> str:
    """Queue ``mail`` and give its message id; the same ``(kind, ref)`` again keeps the first.

    Runs inside the caller's transaction when there is one (so a mail and what it belongs to are
    stored together or not at all). A recipient whose address bounced before is refused
    (:class:`BouncedAddress`, an OutboxError)."""
    _check(mail)
    ensure_table(warehouse)
    if mail.ref is not None:
        found = warehouse.query(
            f"SELECT message_id FROM {OUTBOX_TABLE} WHERE kind = ? AND ref = ?",
            [mail.kind, mail.ref],
        )
        if found:
            return found[0][0]
    if bounces.is_bounced(warehouse, mail.recipient):
        raise BouncedAddress(
            Message(
                f"{mail.recipient.strip()} bounced before: nothing more is sent to it",
                f"{mail.recipient.strip()} kwam eerder onbestelbaar terug: er gaat niets meer "
                "naartoe",
            )
        )
    now = now or dt.datetime.now(dt.UTC)
    message_id = uuid.uuid4().hex
    warehouse.sql(
        f"INSERT INTO {OUTBOX_TABLE} (message_id, kind, ref, recipient, subject, body_text, "
        "body_html, headers, state, created_at, not_before, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, 0)",
        [
            message_id,
            mail.kind,
            mail.ref,
            mail.recipient.strip(),
            mail.subject,
            mail.text,
            mail.html,
            json.dumps(mail.headers, sort_keys=True) if mail.headers else None,
            now,
            mail.not_before or now,
        ],
    )
    return message_id


is_bounced = bounces.is_bounced
bounced_addresses = bounces.bounced_addresses


def counts(warehouse: Any) -> dict[str, int]:
    """Mails per state (every state, zero included)."""
    ensure_table(warehouse)
    found = dict(warehouse.query(f"SELECT state, count(*) FROM {OUTBOX_TABLE} GROUP BY state"))
    return {state: int(found.get(state, 0)) for state in STATES}


def counts_of(warehouse: Any) -> dict[str, int]:
    """Mails per state, for a reader (a read-only warehouse without the table has none)."""
    if not has_table(warehouse):
        return dict.fromkeys(STATES, 0)
    found = dict(warehouse.query(f"SELECT state, count(*) FROM {OUTBOX_TABLE} GROUP BY state"))
    return {state: int(found.get(state, 0)) for state in STATES}


# -- reading ----------------------------------------------------------------------------------
def _stored(row: tuple[Any, ...]) -> StoredMail:
    return StoredMail(
        message_id=row[0],
        kind=row[1],
        ref=row[2],
        recipient=row[3],
        subject=row[4],
        text=row[5],
        html=row[6],
        headers=json.loads(row[7]) if row[7] else {},
        state=row[8],
        created_at=from_utc(row[9]),
        not_before=from_utc(row[10]),
        attempts=int(row[11]),
        last_error=row[12],
        sent_at=from_utc(row[13]),
    )


def due(warehouse: Any, now: dt.datetime, limit: int | None = None) -> list[StoredMail]:
    """Queued mails whose time has come, the oldest first."""
    if not has_table(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT {_COLUMNS} FROM {OUTBOX_TABLE} WHERE state = 'queued' AND not_before <= ? "
        "ORDER BY not_before, created_at, message_id"
        + (f" LIMIT {max(0, int(limit))}" if limit is not None else ""),
        [now],
    )
    return [_stored(row) for row in rows]


def get(warehouse: Any, message_id: str) -> StoredMail | None:
    if not has_table(warehouse):
        return None
    rows = warehouse.query(
        f"SELECT {_COLUMNS} FROM {OUTBOX_TABLE} WHERE message_id = ?", [message_id]
    )
    return _stored(rows[0]) if rows else None


def latest(warehouse: Any, limit: int = 50, state: str | None = None) -> list[StoredMail]:
    """The mails most recently queued or changed (in one ``state`` if given)."""
    if not has_table(warehouse):
        return []
    where, params = ("WHERE state = ?", [state]) if state else ("", [])
    rows = warehouse.query(
        f"SELECT {_COLUMNS} FROM {OUTBOX_TABLE} {where} "
        "ORDER BY coalesce(sent_at, claimed_at, created_at) DESC, message_id "
        f"LIMIT {max(0, int(limit))}",
        params,
    )
    return [_stored(row) for row in rows]


def last_errors(warehouse: Any, limit: int = 5) -> list[StoredMail]:
    """The latest mails with an error, whatever their state now."""
    if not has_table(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT {_COLUMNS} FROM {OUTBOX_TABLE} WHERE last_error IS NOT NULL "
        "ORDER BY coalesce(claimed_at, created_at) DESC, message_id "
        f"LIMIT {max(0, int(limit))}"
    )
    return [_stored(row) for row in rows]


def queue_times(warehouse: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When the oldest queued mail was queued, and when the next one is due."""
    if not has_table(warehouse):
        return None, None
    row = warehouse.query(
        f"SELECT {utc('min(created_at)')}, {utc('min(not_before)')} FROM {OUTBOX_TABLE} "
        "WHERE state = 'queued'"
    )[0]
    return from_utc(row[0]), from_utc(row[1])


# -- changes of state (one committed statement each, unless said otherwise) --------------------
# Notes the outbox writes in last_error itself, kept as a key (a reader sees them in their
# language through error_text); any other last_error is the mail server's own answer.
NOTE_PREFIX = "cxray:"
NOTES = {
    "address-bounced": Message(
        "not sent: the address bounced", "niet verstuurd: het adres bleek onbestelbaar"
    ),
    "stopped-before-handover": Message(
        "the sender stopped before the server had the whole mail: queued again",
        "de verzender stopte voordat de server de hele mail had: opnieuw in de wachtrij",
    ),
    "stopped-after-handover": Message(
        "the sender stopped after the server had the whole mail, before its answer: counted "
        "as sent",
        "de verzender stopte nadat de server de hele mail had, voor zijn antwoord: geteld als "
        "verstuurd",
    ),
    "answer-lost": Message(
        "sent; the server's answer was lost", "verstuurd; het antwoord van de server ging verloren"
    ),
    "cannot-write": Message("the mail cannot be written", "de mail kan niet worden opgesteld"),
}


def note(key: str, detail: str | None = None) -> str:
    """A note of the outbox's own for last_error (``NOTES``), with an optional detail."""
    return NOTE_PREFIX + key + (f": {detail}" if detail else "")


def error_text(last_error: str | None) -> Message | None:
    """A mail's last error as a reader sees it: the outbox's own notes in both languages, the
    mail server's answer as it gave it."""
    if last_error is None:
        return None
    if last_error.startswith(NOTE_PREFIX):
        key, _, detail = last_error[len(NOTE_PREFIX) :].partition(": ")
        known = NOTES.get(key)
        if known is not None:
            return known + (f" ({detail})" if detail else "")
    return Message(last_error, last_error)


def _rows(warehouse: Any, statement: str, params: list) -> list[tuple[Any, ...]]:
    """The rows a statement with RETURNING gives, committed at once outside a transaction."""
    result = warehouse.sql(statement, params)
    return result.fetchall() if warehouse.is_duckdb else list(result or [])


def _atomic(warehouse: Any) -> Any:
    # DuckDB: one transaction; other engines commit each statement (sending needs DuckDB's)
    return warehouse.transaction() if warehouse.is_duckdb else contextlib.nullcontext()


def _error(text: str | None) -> str | None:
    return None if text is None else text.replace("\r", " ").replace("\n", " ")[:MAX_ERROR]


def claim(warehouse: Any, message_id: str, now: dt.datetime) -> int | None:
    """``queued`` → ``sending``, one attempt more; the attempts so far, or None when the mail
    is no longer queued (another sender took it, it was cancelled) or its address bounced
    meanwhile. Needs the tables :func:`ensure_table` makes."""
    rows = _rows(
        warehouse,
        f"UPDATE {OUTBOX_TABLE} SET state = 'sending', attempts = attempts + 1, "
        "claimed_at = ?, handed_over_at = NULL "
        "WHERE message_id = ? AND state = 'queued' "
        f"AND lower(trim(recipient)) NOT IN (SELECT address FROM {bounces.BOUNCES_TABLE}) "
        "RETURNING attempts",
        [now, message_id],
    )
    return int(rows[0][0]) if rows else None


def mark_handed_over(warehouse: Any, message_id: str, now: dt.datetime) -> None:
    """The server is about to get the end of the mail: from here on it counts as delivered."""
    rows = _rows(
        warehouse,
        f"UPDATE {OUTBOX_TABLE} SET handed_over_at = ? "
        "WHERE message_id = ? AND state = 'sending' RETURNING message_id",
        [now, message_id],
    )
    if not rows:
        raise OutboxError(
            Message(
                f"mail {message_id} is no longer being sent",
                f"mail {message_id} wordt niet meer verstuurd",
            )
        )


def mark_sent(warehouse: Any, message_id: str, now: dt.datetime, note: str | None = None) -> None:
    warehouse.sql(
        f"UPDATE {OUTBOX_TABLE} SET state = 'sent', sent_at = ?, last_error = ? "
        "WHERE message_id = ? AND state = 'sending'",
        [now, _error(note), message_id],
    )


def mark_retry(warehouse: Any, message_id: str, not_before: dt.datetime, error: str) -> None:
    warehouse.sql(
        f"UPDATE {OUTBOX_TABLE} SET state = 'queued', not_before = ?, last_error = ?, "
        "handed_over_at = NULL WHERE message_id = ? AND state = 'sending'",
        [not_before, _error(error), message_id],
    )


def mark_failed(warehouse: Any, message_id: str, error: str) -> None:
    warehouse.sql(
        f"UPDATE {OUTBOX_TABLE} SET state = 'failed', last_error = ? "
        "WHERE message_id = ? AND state = 'sending'",
        [_error(error), message_id],
    )


def mark_bounced(
    warehouse: Any,
    message_id: str,
    address: str,
    now: dt.datetime,
    code: int | None,
    error: str,
) -> int:
    """The address is refused for good: this mail bounced, the address is recorded and every
    other mail queued to it is cancelled, in one transaction. The number cancelled."""
    bounces.ensure_table(warehouse)
    with _atomic(warehouse):
        warehouse.sql(
            f"UPDATE {OUTBOX_TABLE} SET state = 'bounced', last_error = ? "
            "WHERE message_id = ? AND state = 'sending'",
            [_error(error), message_id],
        )
        bounces.record(warehouse, address, now, message_id, code, error)
        cancelled = _rows(
            warehouse,
            f"UPDATE {OUTBOX_TABLE} SET state = 'cancelled', last_error = ? "
            "WHERE lower(trim(recipient)) = ? AND state = 'queued' RETURNING message_id",
            [note("address-bounced", message_id), bounces.normalise(address)],
        )
    return len(cancelled)


def cancel(warehouse: Any, message_id: str, reason: str) -> bool:
    """Withdraw a queued mail (an opt-out); True when it was still queued."""
    if not has_table(warehouse):
        return False
    rows = _rows(
        warehouse,
        f"UPDATE {OUTBOX_TABLE} SET state = 'cancelled', last_error = ? "
        "WHERE message_id = ? AND state = 'queued' RETURNING message_id",
        [_error(reason), message_id],
    )
    return bool(rows)


def requeue_failed(warehouse: Any, now: dt.datetime) -> int:
    """Give every failed mail another round of attempts (after the server was fixed)."""
    if not has_table(warehouse):
        return 0
    rows = _rows(
        warehouse,
        f"UPDATE {OUTBOX_TABLE} SET state = 'queued', attempts = 0, not_before = ? "
        "WHERE state = 'failed' RETURNING message_id",
        [now],
    )
    return len(rows)


def recover(warehouse: Any, now: dt.datetime) -> tuple[int, int]:
    """Settle the mails a stopped sender left in ``sending``: (queued again, counted as sent).

    Call it only when no other sender runs (the sender holds a lock, and DuckDB admits one
    writing process). Not handed over: the server never had the end of the data, so it
    delivered nothing and the mail is queued again, due at once. Handed over: the server had
    all of it and (almost surely) delivered it, so it counts as sent; sending it again would
    be the one way to deliver it twice."""
    if not has_table(warehouse):
        return 0, 0
    ensure_table(warehouse)
    with _atomic(warehouse):
        requeued = _rows(
            warehouse,
            f"UPDATE {OUTBOX_TABLE} SET state = 'queued', not_before = ?, last_error = ? "
            "WHERE state = 'sending' AND handed_over_at IS NULL RETURNING message_id",
            [now, note("stopped-before-handover")],
        )
        counted = _rows(
            warehouse,
            f"UPDATE {OUTBOX_TABLE} SET state = 'sent', sent_at = handed_over_at, "
            "last_error = ? WHERE state = 'sending' AND handed_over_at IS NOT NULL "
            "RETURNING message_id",
            [note("stopped-after-handover")],
        )
    return len(requeued), len(counted)


__all__ = [
    "OUTBOX_TABLE",
    "STATES",
    "BouncedAddress",
    "Mail",
    "OutboxError",
    "StoredMail",
    "bounced_addresses",
    "cancel",
    "claim",
    "counts",
    "counts_of",
    "due",
    "enqueue",
    "ensure_table",
    "error_text",
    "get",
    "is_bounced",
    "last_errors",
    "latest",
    "mark_bounced",
    "mark_failed",
    "mark_handed_over",
    "mark_retry",
    "mark_sent",
    "note",
    "queue_times",
    "recover",
    "requeue_failed",
]
