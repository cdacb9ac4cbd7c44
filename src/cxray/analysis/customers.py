"""One customer at a time: find them, and read everything that happened to them in one timeline.

**Search** (:func:`find_customers`): a query is either part of an id (case-insensitive; exact
matches first, then ids that start with it, then ids that contain it) or ``key=value``, where
``key`` is a column of the customers table or a key of its ``attributes`` JSON. Text compares
case-insensitively, a number as a number, a timestamp by the start of its date
(``first_seen=2024-03`` finds everyone who started in March 2024). The match runs in the engine;
only the shown rows come back.

**Timeline** (:func:`customer_timeline`): every event, feedback answer (a scored answer, with its
comment), comment (feedback without a score: ``text`` notes, tickets, posts) and note written on
the customer, in time order, one page at a time (newest first by default), so that a customer with
100,000 events is never loaded whole. Beside it: the customer's row with its attributes, the
counts per kind and the churn status exactly as :func:`cxray.analysis.lifetimes.customer_lifetimes`
defines it for everyone else.

The at-risk list and the onboarding tracker are in :mod:`cxray.analysis.customer_lists`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from cxray.analysis._common import check_lang, fmt_num, json_text
from cxray.analysis.lifetimes import customer_lifetimes, data_end
from cxray.customer_notes import NOTES_TABLE, has_notes_table
from cxray.i18n import Message
from cxray.labels import channel_label
from cxray.results import Column, Result, Table, frame_records, jsonable

UTC = "timestamp('UTC')"
KINDS = {
    "event": {"en": "event", "nl": "interactie"},
    "answer": {"en": "answer", "nl": "antwoord"},
    "comment": {"en": "comment", "nl": "opmerking"},
    "note": {"en": "note", "nl": "notitie"},
}
COUNT_WORDS = {
    "event": ("event", "events", "interactie", "interacties"),
    "answer": ("answer", "answers", "antwoord", "antwoorden"),
    "comment": ("comment", "comments", "opmerking", "opmerkingen"),
    "note": ("note", "notes", "notitie", "notities"),
}
MAX_LIMIT = 1000  # rows per page or search: more is an export, not a page
SEARCH_COLUMNS = ["customer_id", "first_seen", "segment", "language", "value", "attributes"]
ORDERS = ("newest", "oldest")


class CustomerError(ValueError):
    """A search or page request that cannot be answered; raised with a bilingual Message."""


class CustomerNotFound(LookupError):
    """No customer with this id in any table."""


def _refuse(en: str, nl: str) -> CustomerError:
    return CustomerError(Message(en, nl))


def _limit(value: int, name: str = "limit") -> int:
    if not 1 <= int(value) <= MAX_LIMIT:
        raise _refuse(
            f"{name} must be between 1 and {MAX_LIMIT}",
            f"{name} moet tussen 1 en {MAX_LIMIT} liggen",
        )
    return int(value)


def _attributes(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:  # imported as JSON; anything else is shown as it was written
        return {"attributes": text}
    return value if isinstance(value, dict) else {"attributes": value}


# -- search -----------------------------------------------------------------------------------
@dataclass(repr=False)
class CustomerSearchResult(Result):
    """Customers matching a query; ``total`` counts every match, ``frame`` holds the shown ones."""

    query: str
    how: str  # "all", "id" or "attribute"
    frame: pd.DataFrame
    total: int
    limit: int
    key: str | None = None
    value: str | None = None

    def display(self) -> Table:
        columns = [
            Column("customer_id", "text", "customer", "klant"),
            Column("segment", "text", "segment", "segment", 6),
            Column("first_seen", "date", "first seen", "eerst gezien", 5),
            Column("events", "count", "events", "interacties", 7),
            Column("last_event", "date", "last event", "laatste interactie", 4),
            Column("attributes_text", "text", "attributes", "kenmerken", 3),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("customers", "klanten"))

    def to_dict(self) -> dict[str, Any]:
        rows = frame_records(self.frame.drop(columns=["attributes_text"], errors="ignore"))
        names = ("query", "how", "key", "value", "total", "limit")
        return {**{name: getattr(self, name) for name in names}, "rows": rows}

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        shown, total = fmt_num(len(self.frame), lang), fmt_num(self.total, lang)
        if self.how == "all":
            return (
                f"{total} klanten; de eerste {shown} op id."
                if nl
                else f"{total} customers; the first {shown} by id."
            )
        what = f"{self.key} = {self.value}" if self.how == "attribute" else repr(self.query)
        if not self.total:
            return f"Geen klant past bij {what}." if nl else f"No customer matches {what}."
        more = len(self.frame) < self.total
        if nl:
            one = self.total == 1
            text = f"{total} {'klant past' if one else 'klanten passen'} bij {what}"
            return text + (f"; de eerste {shown} getoond." if more else ".")
        text = f"{total} {'customer matches' if self.total == 1 else 'customers match'} {what}"
        return text + (f"; the first {shown} shown." if more else ".")


def _condition(ws: Any, key: str, value: str) -> ibis.Value:
    """The engine filter for ``key=value`` (CustomerError when the key names nothing)."""
    customers = ws.customers
    wanted = value.strip()
    if key in customers.columns and key != "attributes":
        column = customers[key]
        kind = column.type()
        if kind.is_numeric():
            try:
                number = float(wanted.replace(",", "."))
            except ValueError:
                raise _refuse(
                    f"{key} holds numbers; {wanted!r} is no number",
                    f"{key} bevat getallen; {wanted!r} is geen getal",
                ) from None
            return column == number
        if kind.is_timestamp():
            return column.cast(UTC).date().cast("string").startswith(wanted)
        return column.cast("string").lower() == wanted.lower()
    attribute = json_text(customers.attributes.cast("json")[key])
    known = int(customers.filter(attribute.notnull()).count().execute())
    if not known:
        columns = ", ".join(c for c in customers.columns if c != "attributes")
        raise _refuse(
            f"no customer has an attribute {key!r}; use a column ({columns}) or a key of the "
            "customers' attributes",
            f"geen klant heeft een kenmerk {key!r}; gebruik een kolom ({columns}) of een sleutel "
            "uit de kenmerken van de klanten",
        )
    return attribute.lower() == wanted.lower()


def find_customers(ws: Any, query: str, limit: int = 50) -> CustomerSearchResult:
    """Customers whose id contains ``query``, or who have ``key=value`` (see the module text)."""
    limit = _limit(limit)
    query = (query or "").strip()
    customers = ws.customers
    key = value = None
    if not query:
        how, matches = "all", customers
        ordered = matches.order_by("customer_id")
    elif "=" in query and query.split("=", 1)[0].strip():
        how = "attribute"
        key, value = (part.strip() for part in query.split("=", 1))
        matches = customers.filter(_condition(ws, key, value))
        ordered = matches.order_by("customer_id")
    else:
        how = "id"
        wanted = query.lower()
        ids = customers.customer_id.lower()
        matches = customers.filter(ids.contains(wanted))
        rank = ibis.cases((ids == wanted, 0), (ids.startswith(wanted), 1), else_=2)
        ordered = matches.mutate(_rank=rank).order_by(["_rank", "customer_id"])
    total = int(matches.count().execute())
    frame = ordered.select(*SEARCH_COLUMNS).limit(limit).execute()
    frame = _with_activity(ws, frame)
    return CustomerSearchResult(query, how, frame, total, limit, key, value)


def _with_activity(ws: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The shown customers with their number of events and their last event."""
    frame = frame.copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["attributes"] = [_attributes(text) for text in frame["attributes"]]
    frame["attributes_text"] = [
        ", ".join(f"{k}: {v}" for k, v in attrs.items()) for attrs in frame["attributes"]
    ]
    ids = list(frame["customer_id"])
    if ids:
        events = ws.events.filter(ws.events.customer_id.isin(ids))
        activity = (
            events.group_by("customer_id")
            .aggregate(events=events.count(), last_event=events.ts.max())
            .execute()
        )
        activity["customer_id"] = activity["customer_id"].astype(str)
        frame = frame.merge(activity, on="customer_id", how="left")
    else:
        frame["events"] = pd.Series(dtype="int64")
        frame["last_event"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["events"] = frame["events"].fillna(0).astype("int64")
    return frame


# -- the timeline -----------------------------------------------------------------------------
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


def churn_status(ws: Any, customer_id: str) -> ChurnStatus | None:
    """The customer's start, last activity and whether (and how) they left; None if unknown."""
    one = _OneCustomer(ws, customer_id)
    rows = customer_lifetimes(one, end=data_end(ws)).execute()
    if rows.empty:
        return None
    row = rows.iloc[0]

    def stamp(value: Any) -> dt.datetime | None:
        return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    return ChurnStatus(
        stamp(row["start"]), stamp(row["last_activity"]), bool(row["left"]),
        stamp(row["left_ts"]), bool(row["explicit"]), ws.journey.churn.inactive_days,
    )  # fmt: skip


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


def known_customer(ws: Any, customer_id: str) -> bool:
    """Whether any table knows the customer (the customers table, events or feedback)."""
    customer_id = str(customer_id)
    for table in (ws.customers, ws.events, ws.feedback):
        if int(table.filter(table.customer_id == customer_id).limit(1).count().execute()):
            return True
    return False


# the columns every item has, whatever its kind (a union needs one schema)
ITEM_COLUMNS = {
    "item_id": "string", "touchpoint": "string", "channel": "string", "metric": "string",
    "score": "float64", "text": "string", "value": "float64", "properties": "string",
    "event_id": "string", "survey_id": "string", "author": "string",
}  # fmt: skip


def _shaped(table: ibis.Table, kind: Any, **given: str) -> ibis.Table:
    """``table`` as items: ``given`` names its column for each item column, the rest are null."""
    columns = {
        name: (table[given[name]] if name in given else ibis.null()).cast(dtype)
        for name, dtype in ITEM_COLUMNS.items()
    }
    return table.select(kind=kind, ts=table.ts.cast(UTC), **columns)


def _items(ws: Any, customer_id: str) -> ibis.Table:
    """Every item of the customer as one table expression (nothing executed)."""
    events = ws.events.filter(ws.events.customer_id == customer_id)
    feedback = ws.feedback.filter(ws.feedback.customer_id == customer_id)
    scored = feedback.score.notnull() & (feedback.metric != "text")
    same = ("touchpoint", "channel", "value", "properties", "event_id")
    parts = [
        _shaped(events, ibis.literal("event"), item_id="event_id", **{c: c for c in same}),
        _shaped(
            feedback,
            ibis.ifelse(scored, "answer", "comment"),
            item_id="response_id",
            text="comment",
            **{c: c for c in ("touchpoint", "metric", "score", "properties", "event_id")},
            survey_id="survey_id",
        ),
    ]
    if has_notes_table(ws.warehouse):
        notes = ws.warehouse.table(NOTES_TABLE)
        notes = notes.filter(notes.customer_id == customer_id)
        parts.append(
            _shaped(notes, ibis.literal("note"), item_id="note_id", text="text", author="author")
        )
    return ibis.union(*parts)


def customer_timeline(
    ws: Any, customer_id: str, limit: int = 100, offset: int = 0, order: str = "newest"
) -> Timeline:
    """One page of everything the customer did, said and what colleagues noted about them.

    ``order`` is "newest" (default) or "oldest"; ``offset`` counts items from that end. Raises
    CustomerNotFound for an id no table knows, CustomerError for a page that cannot be.
    """
    limit = _limit(limit)
    if int(offset) < 0:
        raise _refuse("offset cannot be negative", "offset kan niet negatief zijn")
    if order not in ORDERS:
        raise _refuse(
            f"order is one of: {', '.join(ORDERS)}", f"order is een van: {', '.join(ORDERS)}"
        )
    customer_id = str(customer_id)
    rows = ws.customers.filter(ws.customers.customer_id == customer_id).limit(1).execute()
    items = _items(ws, customer_id)
    summary = items.group_by("kind").aggregate(
        n=items.count(), first=items.ts.min(), last=items.ts.max()
    )
    summary = summary.execute()
    counts = {kind: 0 for kind in KINDS}
    for row in summary.itertuples():
        counts[str(row.kind)] = int(row.n)
    if rows.empty and not sum(counts.values()):
        raise CustomerNotFound(customer_id)
    # ties in time keep one fixed order (kind, then id), whichever end the page starts from
    keys = [ibis.desc("ts"), ibis.desc("kind"), ibis.desc("item_id")]
    if order == "oldest":
        keys = [ibis.asc("ts"), ibis.asc("kind"), ibis.asc("item_id")]
    page = items.order_by(keys).limit(limit, offset=int(offset)).execute()
    frame = _page_frame(ws, page)
    customer = None
    if not rows.empty:
        record = {k: jsonable(v) for k, v in rows.iloc[0].to_dict().items()}
        record["attributes"] = _attributes(rows.iloc[0]["attributes"])
        customer = record
    stamps = [pd.Timestamp(v) for v in (*summary["first"], *summary["last"]) if pd.notna(v)]
    first, last = (min(stamps), max(stamps)) if stamps else (None, None)
    return Timeline(
        customer_id, customer, churn_status(ws, customer_id), counts, frame, limit, int(offset),
        order, first and first.to_pydatetime(), last and last.to_pydatetime(),
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


__all__ = [
    "ChurnStatus", "CustomerError", "CustomerNotFound", "CustomerSearchResult",
    "Timeline", "churn_status", "customer_timeline", "describe",
    "find_customers", "known_customer",
]  # fmt: skip
