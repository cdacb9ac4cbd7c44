"""One customer's timeline: every event, answer, comment and note, one page at a time.

Every event, feedback answer (a scored answer, with its comment), comment (feedback without a
score: ``text`` notes, tickets, posts) and note written on the customer, in time order, one page at
a time (newest first by default), so that a customer with 100,000 events is never loaded whole.
Beside it: the customer's row with its attributes, the counts per kind and the churn status
exactly as :func:`cxray.analysis.lifetimes.customer_lifetimes` defines it for everyone else.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cxray.analysis._common import check_lang, fmt_num
from cxray.analysis.customers import (
    KINDS,
    ORDERS,
    CustomerNotFound,
    _attributes,
    _limit,
    _refuse,
)
from cxray.analysis.lifetimes import customer_lifetimes, data_end, observed_until
from cxray.customer_notes import NOTES_TABLE, has_notes_table
from cxray.labels import channel_label
from cxray.results import Column, Result, Table, frame_records, jsonable
from cxray.warehouse import from_utc, literal, utc

COUNT_WORDS = {
    "event": ("event", "events", "interactie", "interacties"),
    "answer": ("answer", "answers", "antwoord", "antwoorden"),
    "comment": ("comment", "comments", "opmerking", "opmerkingen"),
    "note": ("note", "notes", "notitie", "notities"),
}


@dataclass
class ChurnStatus:
    """The customer's life as every churn analysis sees it."""

    start: dt.datetime | None
    last_activity: dt.datetime | None
    left: bool
    left_at: dt.datetime | None
    explicit: bool  # left by a cancellation (churn touchpoint or churned_at), not by inactivity
    inactive_days: int | None

    @property
    def active(self) -> bool:
        return not self.left

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.__dict__, "active": self.active})

    def sentence(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        if not self.left:
            return "Nog klant." if nl else "Still a customer."
        day = f"{self.left_at:%Y-%m-%d}" if self.left_at else "?"
        if self.explicit:
            return f"Opgezegd op {day}." if nl else f"Cancelled on {day}."
        days = self.inactive_days or 0
        return (
            f"Afgehaakt: niets meer sinds {day} ({days} dagen zonder activiteit tellen als vertrek)."
            if nl
            else f"Left: nothing since {day} ({days} days without activity count as leaving)."
        )


class _OneCustomer:
    """The workspace narrowed to one customer's rows, for the per-customer lifetime."""

    def __init__(self, ws: Any, customer_id: str):
        self.journey = ws.journey
        self.warehouse = ws.warehouse  # data end and start stay those of the whole data
        self.events = ws.events.filter(ws.events.customer_id == customer_id)
        self.customers = ws.customers.filter(ws.customers.customer_id == customer_id)


def churn_status(
    ws: Any, customer_id: str, end: dt.datetime | None = None, until: Any = None
) -> ChurnStatus | None:
    """The customer's start, last activity and whether (and how) they left; None if unknown.

    ``end`` is the end of the data (:func:`data_end`) and ``until`` the end of the observation
    window (:func:`observed_until`, as a 1-tuple), when the caller knows them already."""
    end = end or data_end(ws)
    until = until[0] if until is not None else observed_until(ws, end)
    statement = _lifetime_sql(ws, end, until)
    if statement is None:  # an engine that writes the marker differently: compile for this one
        frame = customer_lifetimes(_OneCustomer(ws, customer_id), end=end).execute()
        rows = frame[["start", "last_activity", "left", "left_ts", "explicit"]].values.tolist()
    else:
        rows = ws.warehouse.query(statement.replace(_MARKER_SQL, literal(str(customer_id))))
    if not rows:
        return None
    start, last_activity, left, left_ts, explicit = rows[0]

    def stamp(value: Any) -> dt.datetime | None:
        if value is None or (not isinstance(value, dt.datetime) and pd.isna(value)):
            return None
        stamp = pd.Timestamp(value)
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()

    return ChurnStatus(
        stamp(start), stamp(last_activity), bool(left), stamp(left_ts), bool(explicit),
        ws.journey.churn.inactive_days,
    )  # fmt: skip


# The one-customer lifetime query, compiled once per engine, churn rule and end of the data with
# a marker for the customer id (compiling the Ibis expression takes longer than running it).
_MARKER = "cxray-customer-0f6b2c9e41d7"
_MARKER_SQL = f"'{_MARKER}'"
_COMPILED: dict[tuple[Any, ...], str | None] = {}


def _lifetime_sql(ws: Any, end: dt.datetime | None, until: dt.datetime | None) -> str | None:
    key = (ws.warehouse.url, ws.journey.churn, end, until)
    if key not in _COMPILED:
        expression = customer_lifetimes(_OneCustomer(ws, _MARKER), end=end)
        expression = expression.select("start", "last_activity", "left", "left_ts", "explicit")
        statement = str(ws.warehouse.backend.compile(expression))
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        _COMPILED[key] = statement if _MARKER_SQL in statement else None
    return _COMPILED[key]


@dataclass(repr=False)
class Timeline(Result):
    """One page of a customer's timeline; ``counts`` hold every item per kind, not the page's."""

    customer_id: str
    customer: dict[str, Any] | None  # the customers row (None: only seen in events/feedback)
    status: ChurnStatus | None
    counts: dict[str, int]
    frame: pd.DataFrame  # kind, ts, touchpoint, phase, channel, bad, churn, item_id, details
    limit: int
    offset: int
    order: str = "newest"
    first: dt.datetime | None = None
    last: dt.datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.frame)
        return following if following < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    def display(self) -> Table:
        data = self.frame.copy()
        data["when"] = [f"{ts:%Y-%m-%d %H:%M}" if pd.notna(ts) else "" for ts in data["ts"]]
        records = data.to_dict(orient="records")
        data["what"] = [describe(row, "en") for row in records]
        data["what_nl"] = [describe(row, "nl") for row in records]
        columns = [
            Column("when", "text", "when", "wanneer"),
            Column("kind", "text", "kind", "soort", values=KINDS),
            Column("touchpoint", "text", "touchpoint", "contactmoment"),
            Column("phase", "text", "phase", "fase", 5),
            Column("what", "text", "details", "details", 7, nl_key="what_nl"),
        ]
        return Table(data.reset_index(drop=True), columns, noun=("items", "items"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "customer": jsonable(self.customer),
            "status": self.status.to_dict() if self.status else None,
            "counts": dict(self.counts),
            "total": self.total,
            "first": jsonable(self.first),
            "last": jsonable(self.last),
            "page": {
                name: getattr(self, name)
                for name in ("limit", "offset", "order", "next_offset", "previous_offset")
            },
            "items": frame_records(self.frame),
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        parts = []
        for kind, (one, many, een, veel) in COUNT_WORDS.items():
            n = self.counts.get(kind, 0)
            word = (een if n == 1 else veel) if nl else (one if n == 1 else many)
            parts.append(f"{fmt_num(n, lang)} {word}")
        text = ", ".join(parts)
        if self.first and self.last:
            text += (
                f" van {self.first:%Y-%m-%d} tot {self.last:%Y-%m-%d}"
                if nl
                else f" from {self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"
            )
        text = f"{'Klant' if nl else 'Customer'} {self.customer_id}: {text}."
        if self.status:
            text += " " + self.status.sentence(lang)
        return text


DETAIL_WORDS = {"channel": "kanaal", "value": "waarde"}


def _plain(value: Any) -> str:
    """A number without float noise (59.85, not 59.849999999999994); anything else as text."""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def describe(item: dict[str, Any], lang: str = "en") -> str:
    """An item's details in one line: the data's own words, labelled in ``lang``."""
    nl = check_lang(lang) == "nl"
    details = item.get("details") or {}
    parts: list[str] = []
    if item["kind"] == "event":
        for key in ("channel", "value"):
            value = details.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                text = channel_label(value, lang) if key == "channel" else _plain(value)
                parts.append(f"{DETAIL_WORDS[key] if nl else key}: {text}")
        parts.extend(f"{k}: {_plain(v)}" for k, v in (details.get("properties") or {}).items())
    elif item["kind"] in ("answer", "comment"):
        metric = details.get("metric")
        score = details.get("score")
        if score is not None and not (isinstance(score, float) and math.isnan(score)):
            parts.append(f"{str(metric).upper()} {_plain(score)}")
        elif metric and metric != "text":
            parts.append(str(metric).upper())
        if details.get("comment"):
            parts.append(str(details["comment"]))
    else:
        parts.append(f"{details.get('author') or '?'}: {details.get('text', '')}")
    return " · ".join(parts)


def _items_sql(ws: Any, customer_id: str) -> str:
    """Every item of the customer as one SQL source (events, answers, comments and notes)."""
    warehouse = ws.warehouse
    who = literal(customer_id)
    events = warehouse.relation("events", EVENT_ITEM_COLUMNS)
    feedback = warehouse.relation("feedback", FEEDBACK_ITEM_COLUMNS)
    text, number = "CAST(NULL AS VARCHAR)", "CAST(NULL AS DOUBLE PRECISION)"
    parts = [
        f"SELECT 'event' AS kind, {utc('ts')} AS ts, event_id AS item_id, touchpoint, channel, "
        f"{text} AS metric, {number} AS score, {text} AS text, value, properties, event_id, "
        f"{text} AS survey_id, {text} AS author FROM {events} WHERE customer_id = {who}",
        "SELECT CASE WHEN score IS NOT NULL AND metric <> 'text' THEN 'answer' ELSE 'comment' "
        f"END, {utc('ts')}, response_id, touchpoint, {text}, metric, score, comment, {number}, "
        f"properties, event_id, survey_id, {text} FROM {feedback} WHERE customer_id = {who}",
    ]
    if has_notes_table(warehouse):
        parts.append(
            f"SELECT 'note', {utc('ts')}, note_id, {text}, {text}, {text}, {number}, text, "
            f"{number}, {text}, {text}, {text}, author FROM {NOTES_TABLE} "
            f"WHERE customer_id = {who}"
        )
    return "(" + " UNION ALL ".join(parts) + ")"


EVENT_ITEM_COLUMNS = {
    "event_id": "VARCHAR", "customer_id": "VARCHAR", "ts": "TIMESTAMPTZ", "touchpoint": "VARCHAR",
    "channel": "VARCHAR", "value": "DOUBLE PRECISION", "properties": "VARCHAR",
}  # fmt: skip
FEEDBACK_ITEM_COLUMNS = {
    "response_id": "VARCHAR", "customer_id": "VARCHAR", "ts": "TIMESTAMPTZ", "metric": "VARCHAR",
    "score": "DOUBLE PRECISION", "comment": "VARCHAR", "touchpoint": "VARCHAR",
    "event_id": "VARCHAR", "survey_id": "VARCHAR", "properties": "VARCHAR",
}  # fmt: skip
PAGE_COLUMNS = [
    "kind", "ts", "item_id", "touchpoint", "channel", "metric", "score", "text", "value",
    "properties", "event_id", "survey_id", "author",
]  # fmt: skip
CUSTOMER_COLUMNS = {
    "customer_id": "VARCHAR", "first_seen": "TIMESTAMPTZ", "churned_at": "TIMESTAMPTZ",
    "last_seen": "TIMESTAMPTZ", "segment": "VARCHAR", "language": "VARCHAR",
    "value": "DOUBLE PRECISION", "attributes": "VARCHAR",
}  # fmt: skip


def customer_timeline(
    ws: Any,
    customer_id: str,
    limit: int = 100,
    offset: int = 0,
    order: str = "newest",
    end: dt.datetime | None = None,
    until: Any = None,
) -> Timeline:
    """One page of everything the customer did, said and what colleagues noted about them.

    ``order`` is "newest" (default) or "oldest"; ``offset`` counts items from that end; ``end``
    is the end of the data when the caller knows it (:func:`data_end`), ``until`` that of the
    observation window (see :func:`churn_status`). Raises CustomerNotFound
    for an id no table knows, CustomerError for a page that cannot be. Plain SQL: a service
    agent opens timelines all day, and an Ibis expression compiles slower than this runs.
    """
    limit = _limit(limit)
    if int(offset) < 0:
        raise _refuse("offset cannot be negative", "offset kan niet negatief zijn")
    if order not in ORDERS:
        raise _refuse(
            f"order is one of: {', '.join(ORDERS)}", f"order is een van: {', '.join(ORDERS)}"
        )
    customer_id = str(customer_id)
    warehouse = ws.warehouse
    customers = warehouse.relation("customers", CUSTOMER_COLUMNS)
    chosen = ", ".join(
        utc(name) if kind == "TIMESTAMPTZ" else name for name, kind in CUSTOMER_COLUMNS.items()
    )
    rows = warehouse.query(
        f"SELECT {chosen} FROM {customers} WHERE customer_id = {literal(customer_id)} LIMIT 1"
    )
    items = _items_sql(ws, customer_id)
    counts = {kind: 0 for kind in KINDS}
    stamps = []
    for kind, n, first, last in warehouse.query(
        f"SELECT kind, count(*), min(ts), max(ts) FROM {items} AS items GROUP BY kind"
    ):
        counts[str(kind)] = int(n)
        stamps += [from_utc(stamp) for stamp in (first, last) if stamp is not None]
    if not rows and not sum(counts.values()):
        raise CustomerNotFound(customer_id)
    # ties in time keep one fixed order (kind, then id), whichever end the page starts from
    way = "ASC" if order == "oldest" else "DESC"
    page = pd.DataFrame(
        warehouse.query(
            f"SELECT * FROM {items} AS items ORDER BY ts {way} NULLS LAST, kind {way}, "
            f"item_id {way} LIMIT {int(limit)} OFFSET {int(offset)}"
        ),
        columns=PAGE_COLUMNS,
    )
    page["ts"] = pd.to_datetime(page["ts"], utc=True)
    frame = _page_frame(ws, page)
    customer = None
    if rows:
        record = dict(zip(CUSTOMER_COLUMNS, rows[0], strict=True))
        for name, kind in CUSTOMER_COLUMNS.items():
            if kind == "TIMESTAMPTZ":
                record[name] = from_utc(record[name])
        record = {k: jsonable(v) for k, v in record.items()}
        record["attributes"] = _attributes(rows[0][-1])
        customer = record
    first, last = (min(stamps), max(stamps)) if stamps else (None, None)
    return Timeline(
        customer_id, customer, churn_status(ws, customer_id, end, until), counts, frame, limit,
        int(offset), order, first, last,
    )  # fmt: skip


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _page_frame(ws: Any, page: pd.DataFrame) -> pd.DataFrame:
    """The page's rows with phase, bad-experience and churn marks and their details."""
    journey = ws.journey
    bad_tps, churn_tps = set(journey.bad_touchpoints), set(journey.churn.touchpoints)
    out = []
    for row in page.to_dict(orient="records"):
        tp, kind = _text(row["touchpoint"]), row["kind"]
        score = row["score"] if pd.notna(row["score"]) else None
        properties = _attributes(row["properties"])
        bad = kind == "event" and tp in bad_tps
        if kind == "event":
            value = row["value"] if pd.notna(row["value"]) else None
            details = {"channel": _text(row["channel"]), "value": value, "properties": properties}
        elif kind == "note":
            details = {"author": _text(row["author"]), "text": row["text"]}
        else:
            details = {
                "metric": row["metric"], "score": score, "comment": _text(row["text"]),
                "survey_id": _text(row["survey_id"]), "event_id": _text(row["event_id"]),
                "properties": properties,
            }  # fmt: skip
            threshold = journey.bad_experience.threshold(str(row["metric"]))
            bad = score is not None and threshold is not None and score <= threshold
        out.append(
            {
                "kind": kind, "ts": row["ts"], "touchpoint": tp,
                "phase": journey.phase_of(tp) if tp else None,
                "channel": details.get("channel"), "bad": bool(bad),
                "churn": kind == "event" and tp in churn_tps,
                "item_id": row["item_id"], "details": details,
            }
        )  # fmt: skip
    columns = ["kind", "ts", "touchpoint", "phase", "channel", "bad", "churn", "item_id", "details"]
    return pd.DataFrame(out, columns=columns)


__all__ = ["ChurnStatus", "Timeline", "churn_status", "customer_timeline", "describe"]
