"""The survey tables beside the data: invitations and opt-outs.

``cxray_survey_invitations`` holds one row per personal link. ``(survey, customer_id,
trigger_key)`` is unique, so the database itself refuses a second invitation for one event
(``trigger_key`` is the event's id, or ``schedule:<date>`` for a scheduled survey). Whether the
mail went out is the outbox's business (``cxray_outbox``, kind ``survey-invitation`` and ``ref``
the invitation id); an invitation's own states are::

    open ──► answered        (answered_at, response_id = the feedback row)
      └────► expired         (expires_at passed without an answer)
    open ──► reminded        (reminded_at: one reminder queued; still open)

``cxray_survey_optouts`` has one row per customer who asked for no more surveys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

INVITATIONS = "cxray_survey_invitations"
OPTOUTS = "cxray_survey_optouts"
INVITATION_KIND = "survey-invitation"
REMINDER_KIND = "survey-reminder"
COLUMNS = (
    "invitation_id",
    "survey",
    "customer_id",
    "trigger_key",
    "touchpoint",
    "event_id",
    "metric",
    "language",
    "created_at",
    "expires_at",
    "answered_at",
    "response_id",
    "reminded_at",
)


@dataclass(frozen=True)
class Invitation:
    invitation_id: str
    survey: str
    customer_id: str
    trigger_key: str
    touchpoint: str | None
    event_id: str | None
    metric: str
    language: str
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None = None
    response_id: str | None = None
    reminded_at: dt.datetime | None = None

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            name: value.isoformat() if isinstance(value, dt.datetime) else value
            for name, value in self.__dict__.items()
        }


def ensure_tables(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {INVITATIONS} ("
        "invitation_id VARCHAR PRIMARY KEY, survey VARCHAR NOT NULL, "
        "customer_id VARCHAR NOT NULL, trigger_key VARCHAR NOT NULL, touchpoint VARCHAR, "
        "event_id VARCHAR, metric VARCHAR NOT NULL, language VARCHAR NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL, "
        "answered_at TIMESTAMPTZ, response_id VARCHAR, reminded_at TIMESTAMPTZ, "
        "UNIQUE (survey, customer_id, trigger_key))"
    )
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {OPTOUTS} ("
        "customer_id VARCHAR PRIMARY KEY, opted_out_at TIMESTAMPTZ NOT NULL, invitation_id VARCHAR)"
    )


def has_tables(warehouse: Any) -> bool:
    return warehouse.has_table(INVITATIONS) and warehouse.has_table(OPTOUTS)


def source(warehouse: Any, name: str, present: bool | None = None) -> str:
    """A FROM-clause source for one of the survey tables, empty when it is not made yet (a
    read-only workspace that never had a survey)."""
    if present is None:
        present = has_tables(warehouse)
    if present:
        return name
    if name == OPTOUTS:
        return (
            "(SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS TIMESTAMPTZ) AS opted_out_at, "
            "CAST(NULL AS VARCHAR) AS invitation_id WHERE 1 = 0)"
        )
    items = ", ".join(
        f"CAST(NULL AS {'TIMESTAMPTZ' if column.endswith('_at') else 'VARCHAR'}) AS {column}"
        for column in COLUMNS
    )
    return f"(SELECT {items} WHERE 1 = 0)"


def get_invitation(warehouse: Any, invitation_id: str) -> Invitation | None:
    rows = warehouse.query(
        f"SELECT {', '.join(COLUMNS)} FROM {INVITATIONS} WHERE invitation_id = ?",
        [invitation_id],
    )
    return Invitation(*rows[0]) if rows else None


def is_opted_out(warehouse: Any, customer_id: str) -> bool:
    rows = warehouse.query(f"SELECT count(*) FROM {OPTOUTS} WHERE customer_id = ?", [customer_id])
    return bool(rows[0][0])


def insert_invitations(warehouse: Any, invitations: list[Invitation]) -> None:
    if not invitations:
        return
    marks = ", ".join("?" for _ in COLUMNS)
    rows = [[getattr(inv, column) for column in COLUMNS] for inv in invitations]
    statement = f"INSERT INTO {INVITATIONS} ({', '.join(COLUMNS)}) VALUES ({marks})"
    if warehouse.is_duckdb:
        warehouse.con.executemany(statement, rows)
    else:  # pragma: no cover - other engines: one statement per row
        for row in rows:
            warehouse.sql(statement, row)


__all__ = [
    "COLUMNS",
    "INVITATIONS",
    "INVITATION_KIND",
    "OPTOUTS",
    "REMINDER_KIND",
    "Invitation",
    "ensure_tables",
    "get_invitation",
    "has_tables",
    "insert_invitations",
    "is_opted_out",
    "source",
]
