"""The stored half of follow-ups: tables, rows as objects, the change log (see followups.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from cxray.i18n import Message, number
from cxray.warehouse import from_utc, literal, utc

TABLE = "cxray_followups"
NOTES = "cxray_followup_notes"
LOG = "cxray_followup_log"
STATES = ("open", "in_progress", "done")
OUTCOMES = ("called", "apologised", "resolved", "compensated", "no_answer")
TRANSITIONS = {
    "open": {"in_progress", "done"},
    "in_progress": {"open", "done"},
    "done": {"in_progress"},
}
STATE_WORDS = {
    "open": {"en": "open", "nl": "open"},
    "in_progress": {"en": "in progress", "nl": "in behandeling"},
    "done": {"en": "done", "nl": "afgerond"},
}
OUTCOME_WORDS = {
    "called": {"en": "called", "nl": "gebeld"},
    "apologised": {"en": "apologised", "nl": "excuses aangeboden"},
    "resolved": {"en": "resolved", "nl": "opgelost"},
    "compensated": {"en": "compensated", "nl": "gecompenseerd"},
    "no_answer": {"en": "no answer", "nl": "geen gehoor"},
}
SYSTEM = "cxray"  # the author of what cxray itself does (opening, escalating)
MAX_NOTE = 4000
MAX_ROOT_CAUSE = 300
COLUMNS = (
    "followup_id", "response_id", "customer_id", "touchpoint", "metric", "score", "answered_at",
    "opened_at", "due_at", "assignee", "status", "held_out", "root_cause", "outcome",
    "closed_at", "escalated_at", "updated_at", "updated_by", "rule",
)  # fmt: skip
TIMES = ("answered_at", "opened_at", "due_at", "closed_at", "escalated_at", "updated_at")


class FollowupError(ValueError):
    """A change to a follow-up that cannot be made; raised with a bilingual Message."""


def refuse(en: str, nl: str) -> FollowupError:
    return FollowupError(Message(en, nl))


@dataclass(frozen=True)
class Followup:
    followup_id: str
    response_id: str
    customer_id: str | None
    touchpoint: str | None
    metric: str
    score: float | None
    answered_at: dt.datetime | None
    opened_at: dt.datetime
    due_at: dt.datetime | None
    assignee: str | None
    status: str
    held_out: bool
    root_cause: str | None
    outcome: str | None
    closed_at: dt.datetime | None
    escalated_at: dt.datetime | None
    updated_at: dt.datetime
    updated_by: str | None
    rule: str | None

    def overdue(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return (
            self.status != "done" and not self.held_out and self.due_at is not None
            and self.due_at < now
        )  # fmt: skip

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in COLUMNS:
            value = getattr(self, name)
            data[name] = value.isoformat() if isinstance(value, dt.datetime) else value
        data["overdue"] = self.overdue(now)
        return data


@dataclass(frozen=True)
class Note:
    note_id: str
    followup_id: str
    author: str | None
    ts: dt.datetime
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ts": self.ts.isoformat()}


@dataclass(frozen=True)
class Change:
    followup_id: str
    ts: dt.datetime
    actor: str | None
    field: str
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ts": self.ts.isoformat()}


@dataclass(frozen=True)
class Opened:
    """What one run of :func:`open_followups` did."""

    opened: int
    held_out: int
    escalated: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def summary(self, lang: str = "en") -> str:
        worked = self.opened - self.held_out
        if lang == "nl":
            text = f"{number(self.opened, 'nl')} opvolgingen geopend"
            if self.held_out:
                text += f" ({number(worked, 'nl')} te doen, {number(self.held_out, 'nl')} "
                text += "willekeurig achtergehouden om het effect te meten)"
            return text + f"; {number(self.escalated, 'nl')} geëscaleerd."
        text = f"{number(self.opened)} follow-ups opened"
        if self.held_out:
            text += f" ({number(worked)} to work, {number(self.held_out)} held out at random "
            text += "to measure the effect)"
        return text + f"; {number(self.escalated)} escalated."


# -- tables -----------------------------------------------------------------------------------
def ensure_tables(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        "followup_id VARCHAR PRIMARY KEY, response_id VARCHAR NOT NULL UNIQUE, "
        "customer_id VARCHAR, touchpoint VARCHAR, metric VARCHAR NOT NULL, "
        "score DOUBLE PRECISION, answered_at TIMESTAMPTZ, opened_at TIMESTAMPTZ NOT NULL, "
        "due_at TIMESTAMPTZ, assignee VARCHAR, status VARCHAR NOT NULL, "
        "held_out BOOLEAN NOT NULL, root_cause VARCHAR, outcome VARCHAR, "
        "closed_at TIMESTAMPTZ, escalated_at TIMESTAMPTZ, updated_at TIMESTAMPTZ NOT NULL, "
        "updated_by VARCHAR, rule VARCHAR)"
    )
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {NOTES} (note_id VARCHAR PRIMARY KEY, "
        "followup_id VARCHAR NOT NULL, author VARCHAR, ts TIMESTAMPTZ NOT NULL, "
        "text VARCHAR NOT NULL)"
    )
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {LOG} (log_id VARCHAR PRIMARY KEY, "
        "followup_id VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL, actor VARCHAR, "
        "field VARCHAR NOT NULL, old_value VARCHAR, new_value VARCHAR)"
    )


def has_tables(warehouse: Any) -> bool:
    return warehouse.has_table(TABLE)


def select_sql(where: str = "TRUE", tail: str = "") -> str:
    names = ", ".join(utc(c) + f" AS {c}" if c in TIMES else c for c in COLUMNS)
    return f"SELECT {names} FROM {TABLE} WHERE {where} {tail}"


def row_of(row: tuple) -> Followup:
    values = dict(zip(COLUMNS, row, strict=True))
    for name in TIMES:
        values[name] = from_utc(values[name])
    values["held_out"] = bool(values["held_out"])
    values["score"] = None if values["score"] is None else float(values["score"])
    return Followup(**values)


def utc_now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now needs its time zone")
    return now.astimezone(dt.UTC)


def get(warehouse: Any, followup_id: str) -> Followup | None:
    if not has_tables(warehouse):
        return None
    rows = warehouse.query(select_sql(f"followup_id = {literal(str(followup_id))}"))
    return row_of(rows[0]) if rows else None


def for_response(warehouse: Any, response_id: str) -> Followup | None:
    if not has_tables(warehouse):
        return None
    rows = warehouse.query(select_sql(f"response_id = {literal(str(response_id))}"))
    return row_of(rows[0]) if rows else None


def answer_of(warehouse: Any, response_id: str) -> dict[str, Any] | None:
    """The answer that opened a follow-up: metric, score, comment, touchpoint, ts."""
    rows = warehouse.query(
        f"SELECT metric, score, comment, touchpoint, {utc('ts')} FROM feedback "
        f"WHERE response_id = {literal(str(response_id))} LIMIT 1"
    )
    if not rows:
        return None
    metric, score, comment, touchpoint, ts = rows[0]
    return {"metric": metric, "score": score, "comment": comment, "touchpoint": touchpoint,
            "ts": from_utc(ts)}  # fmt: skip


def notes(warehouse: Any, followup_id: str) -> list[Note]:
    if not has_tables(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT note_id, followup_id, author, {utc('ts')}, text FROM {NOTES} "
        f"WHERE followup_id = {literal(str(followup_id))} ORDER BY ts, note_id"
    )
    return [Note(r[0], r[1], r[2], from_utc(r[3]), r[4]) for r in rows]


def changes(warehouse: Any, followup_id: str) -> list[Change]:
    if not has_tables(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT followup_id, {utc('ts')}, actor, field, old_value, new_value FROM {LOG} "
        f"WHERE followup_id = {literal(str(followup_id))} ORDER BY ts, log_id"
    )
    return [Change(r[0], from_utc(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def log_change(
    warehouse: Any, followup_id: str, ts: dt.datetime, actor: str | None, field: str,
    old: str | None, new: str | None,
) -> None:  # fmt: skip
    warehouse.sql(
        f"INSERT INTO {LOG} (log_id, followup_id, ts, actor, field, old_value, new_value) "
        f"VALUES ({literal(uuid.uuid4().hex)}, {literal(followup_id)}, {literal(ts)}, "
        f"{literal(actor)}, {literal(field)}, {literal(old)}, {literal(new)})"
    )
