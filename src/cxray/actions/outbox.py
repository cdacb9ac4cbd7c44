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
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from cxray.i18n import Message

OUTBOX_TABLE = "cxray_outbox"
STATES = ("queued", "sending", "sent", "failed", "bounced", "cancelled")
MAX_SUBJECT = 300
MAX_BODY = 1_000_000


class OutboxError(ValueError):
    """A mail that cannot be queued; raised with a bilingual Message."""


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


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} ("
        "message_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, ref VARCHAR, "
        "recipient VARCHAR NOT NULL, subject VARCHAR NOT NULL, body_text VARCHAR NOT NULL, "
        "body_html VARCHAR, headers VARCHAR, state VARCHAR NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, not_before TIMESTAMPTZ NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR, sent_at TIMESTAMPTZ, "
        "UNIQUE (kind, ref))"
    )


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
    if len(mail.text) + len(mail.html or "") > MAX_BODY:
        raise OutboxError(
            Message("the mail is too long to send", "de mail is te lang om te versturen")
        )


def enqueue(warehouse: Any, mail: Mail, now: dt.datetime | None = None) -> str:
    """Queue ``mail`` and give its message id; the same ``(kind, ref)`` again keeps the first.

    Runs inside the caller's transaction when there is one (so a mail and what it belongs to are
    stored together or not at all)."""
    _check(mail)
    ensure_table(warehouse)
    if mail.ref is not None:
        found = warehouse.query(
            f"SELECT message_id FROM {OUTBOX_TABLE} WHERE kind = ? AND ref = ?",
            [mail.kind, mail.ref],
        )
        if found:
            return found[0][0]
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


def counts(warehouse: Any) -> dict[str, int]:
    """Mails per state (every state, zero included)."""
    ensure_table(warehouse)
    found = dict(warehouse.query(f"SELECT state, count(*) FROM {OUTBOX_TABLE} GROUP BY state"))
    return {state: int(found.get(state, 0)) for state in STATES}


__all__ = ["OUTBOX_TABLE", "STATES", "Mail", "OutboxError", "counts", "enqueue", "ensure_table"]
