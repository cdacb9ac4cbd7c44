"""Notes on a customer, written by colleagues: what sales learned, read by service.

Notes live in the workspace's warehouse (table ``cxray_customer_notes``), so that everyone who
opens the customer's timeline sees them beside the events and answers. A note is kept as written
(line ends unified, outer blanks gone); an empty note or one longer than ``MAX_TEXT`` characters
is refused. Notes are not edited or removed here: a timeline is a record.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from cxray.i18n import Message, number

NOTES_TABLE = "cxray_customer_notes"
MAX_TEXT = 4000


class NoteError(ValueError):
    """A note that cannot be saved; raised with a bilingual Message."""


@dataclass(frozen=True)
class CustomerNote:
    note_id: str
    customer_id: str
    ts: dt.datetime
    author: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "note_id": self.note_id,
            "customer_id": self.customer_id,
            "ts": self.ts.isoformat() if self.ts else None,
            "author": self.author,
            "text": self.text,
        }


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {NOTES_TABLE} ("
        "note_id VARCHAR PRIMARY KEY, customer_id VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL, "
        "author VARCHAR, text VARCHAR NOT NULL)"
    )


def has_notes_table(warehouse: Any) -> bool:
    return warehouse.has_table(NOTES_TABLE)


def check_text(text: str | None) -> str:
    """The note as it will be kept, or NoteError (empty, or longer than ``MAX_TEXT``)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise NoteError(
            Message(
                "the note is empty: write something first", "de notitie is leeg: schrijf eerst iets"
            )
        )
    if len(text) > MAX_TEXT:
        raise NoteError(
            Message(
                f"the note is {number(len(text))} characters long; a note holds at most "
                f"{number(MAX_TEXT)}: shorten it",
                f"de notitie is {number(len(text), 'nl')} tekens lang; een notitie bevat er "
                f"hoogstens {number(MAX_TEXT, 'nl')}: maak haar korter",
            )
        )
    return text


def add_note(warehouse: Any, customer_id: str, text: str, author: str | None) -> CustomerNote:
    """Keep a new note on ``customer_id`` (the caller checks that the customer exists)."""
    text = check_text(text)
    customer_id = str(customer_id).strip()
    if not customer_id:
        raise NoteError(Message("a note needs a customer", "een notitie hoort bij een klant"))
    ensure_table(warehouse)
    note = CustomerNote(uuid.uuid4().hex, customer_id, dt.datetime.now(dt.UTC), author, text)
    warehouse.sql(
        f"INSERT INTO {NOTES_TABLE} (note_id, customer_id, ts, author, text) "
        "VALUES (?, ?, ?, ?, ?)",
        [note.note_id, note.customer_id, note.ts, note.author, note.text],
    )
    return note


def list_notes(warehouse: Any, customer_id: str) -> list[CustomerNote]:
    """The customer's notes, newest first."""
    if not has_notes_table(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT note_id, customer_id, ts, author, text FROM {NOTES_TABLE} "
        "WHERE customer_id = ? ORDER BY ts DESC, note_id DESC",
        [str(customer_id)],
    )
    return [CustomerNote(*row) for row in rows]


__all__ = [
    "MAX_TEXT",
    "NOTES_TABLE",
    "CustomerNote",
    "NoteError",
    "add_note",
    "check_text",
    "has_notes_table",
    "list_notes",
]
