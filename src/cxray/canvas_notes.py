"""The text lanes of the journey canvas: what a workshop writes beside the data.

Notes live in the workspace's warehouse (table ``cxray_canvas_notes``), one per lane and key,
so that everyone who opens the canvas sees the same ones. Lanes and what their key names:

- ``persona``, ``goal`` and ``notes``: per phase (the key is the phase);
- ``owner_note``: per touchpoint (the key is the touchpoint). The owner itself comes from the
  journey file and is only shown; this note says what the owner plans or asks.

A note longer than ``MAX_TEXT`` characters is refused (a canvas cell is no document); saving an
empty text removes the note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cxray.i18n import Message, number

NOTES_TABLE = "cxray_canvas_notes"
MAX_TEXT = 2000
# lane -> what its key names
LANES: dict[str, str] = {
    "persona": "phase",
    "goal": "phase",
    "notes": "phase",
    "owner_note": "touchpoint",
}


class NoteError(ValueError):
    """A note that cannot be saved; raised with a bilingual Message."""


@dataclass(frozen=True)
class Note:
    lane: str
    key: str
    text: str
    updated_at: dt.datetime | None = None
    updated_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lane": self.lane,
            "key": self.key,
            "text": self.text,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {NOTES_TABLE} ("
        "lane VARCHAR NOT NULL, key VARCHAR NOT NULL, text VARCHAR NOT NULL, "
        "updated_at TIMESTAMPTZ NOT NULL, updated_by VARCHAR, PRIMARY KEY (lane, key))"
    )


def _has_table(warehouse: Any) -> bool:
    return warehouse.has_table(NOTES_TABLE)


def read_notes(warehouse: Any) -> dict[tuple[str, str], Note]:
    """Every note, by (lane, key)."""
    if not _has_table(warehouse):
        return {}
    rows = warehouse.query(
        f"SELECT lane, key, text, updated_at, updated_by FROM {NOTES_TABLE} ORDER BY lane, key"
    )
    return {(row[0], row[1]): Note(*row) for row in rows}


def check_note(lane: str, key: str, text: str, keys: Any = None) -> str:
    """The text as it will be kept (line ends unified, outer blanks gone), or NoteError.

    ``keys``: the phases or touchpoints the key may name, per kind ({"phase": [...], ...});
    None accepts any key.
    """
    if lane not in LANES:
        listed = ", ".join(LANES)
        raise NoteError(
            Message(
                f"unknown lane {lane!r}; lanes: {listed}",
                f"onbekende baan {lane!r}; banen: {listed}",
            )
        )
    kind = LANES[lane]
    if keys is not None and key not in keys.get(kind, ()):
        what = ("phase", "fase") if kind == "phase" else ("touchpoint", "contactmoment")
        raise NoteError(
            Message(
                f"the canvas has no {what[0]} {key!r}", f"het canvas heeft geen {what[1]} {key!r}"
            )
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_TEXT:
        raise NoteError(
            Message(
                f"the note is {number(len(text))} characters long; a canvas cell holds at most "
                f"{number(MAX_TEXT)}: shorten it",
                f"de notitie is {number(len(text), 'nl')} tekens lang; een cel van het canvas "
                f"bevat er hoogstens {number(MAX_TEXT, 'nl')}: maak haar korter",
            )
        )
    return text


def save_note(
    warehouse: Any, lane: str, key: str, text: str, user: str | None, keys: Any = None
) -> Note | None:
    """Keep ``text`` as the note of ``lane`` and ``key`` (None: an empty text removed it)."""
    text = check_note(lane, key, text, keys)
    ensure_table(warehouse)
    if not text:
        warehouse.sql(f"DELETE FROM {NOTES_TABLE} WHERE lane = ? AND key = ?", [lane, key])
        return None
    now = dt.datetime.now(dt.UTC)
    warehouse.sql(
        f"INSERT INTO {NOTES_TABLE} (lane, key, text, updated_at, updated_by) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (lane, key) DO UPDATE SET "
        "text = excluded.text, updated_at = excluded.updated_at, "
        "updated_by = excluded.updated_by",
        [lane, key, text, now, user],
    )
    return Note(lane, key, text, now, user)


__all__ = [
    "LANES",
    "MAX_TEXT",
    "NOTES_TABLE",
    "Note",
    "NoteError",
    "check_note",
    "read_notes",
    "save_note",
]
