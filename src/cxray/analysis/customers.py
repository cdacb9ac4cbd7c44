"""One customer at a time: find them, and read everything that happened to them in one timeline.

**Search** (:func:`find_customers`): a query is either part of an id (case-insensitive; exact
matches first, then ids that start with it, then ids that contain it) or ``key=value``, where
``key`` is a column of the customers table or a key of its ``attributes`` JSON. Text compares
case-insensitively, a number as a number, a timestamp by the start of its date
(``first_seen=2024-03`` finds everyone who started in March 2024). The match runs in the engine;
only the shown rows come back.

**Timeline**: :mod:`cxray.analysis.timeline`.

The at-risk list and the onboarding tracker are in :mod:`cxray.analysis.customer_lists`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from cxray.analysis._common import check_lang, fmt_num, json_text
from cxray.i18n import Message
from cxray.results import Column, Result, Table, frame_records
from cxray.warehouse import literal, literals, utc

UTC = "timestamp('UTC')"
KINDS = {
    "event": {"en": "event", "nl": "interactie"},
    "answer": {"en": "answer", "nl": "antwoord"},
    "comment": {"en": "comment", "nl": "opmerking"},
    "note": {"en": "note", "nl": "notitie"},
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
    attribute = _attribute(ws, key)
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


@ibis.udf.scalar.builtin
def json_extract_string(text: str, path: str) -> str:  # DuckDB's own
    ...


def _attribute(ws: Any, key: str) -> ibis.Value:
    """The attributes' value under ``key`` as text. On DuckDB through a JSON pointer, which
    holds any key as written (quotes and all: a JSONPath built from it would not parse)."""
    attributes = ws.customers.attributes
    if ws.warehouse.is_duckdb:
        pointer = "/" + key.replace("~", "~0").replace("/", "~1")
        return json_extract_string(attributes, pointer)
    return json_text(attributes.cast("json")[key])


def find_customers(ws: Any, query: str, limit: int = 50) -> CustomerSearchResult:
    """Customers whose id contains ``query``, or who have ``key=value`` (see the module text)."""
    limit = _limit(limit)
    query = (query or "").strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in query):
        raise _refuse(
            "a search cannot hold control characters (such as a tab or NUL)",
            "een zoekopdracht kan geen besturingstekens bevatten (zoals een tab of NUL)",
        )
    key = value = None
    if "=" in query and query.split("=", 1)[0].strip():
        how = "attribute"
        key, value = (part.strip() for part in query.split("=", 1))
        customers = ws.customers
        matches = customers.filter(_condition(ws, key, value))
        total = int(matches.count().execute())
        frame = matches.order_by("customer_id").select(*SEARCH_COLUMNS).limit(limit).execute()
    else:
        how = "id" if query else "all"
        frame, total = _by_id(ws, query.lower(), limit)
    frame = _with_activity(ws, frame)
    return CustomerSearchResult(query, how, frame, total, limit, key, value)


SEARCH_TYPES = {
    "customer_id": "VARCHAR", "first_seen": "TIMESTAMPTZ", "segment": "VARCHAR",
    "language": "VARCHAR", "value": "DOUBLE PRECISION", "attributes": "VARCHAR",
}  # fmt: skip


def _by_id(ws: Any, wanted: str, limit: int) -> tuple[pd.DataFrame, int]:
    """Customers whose id holds ``wanted`` (all when empty): exact, then prefix, then the rest.
    Plain SQL, one pass: a search is typed and retyped all day, and Ibis compiles slower."""
    warehouse = ws.warehouse
    customers = warehouse.relation("customers", SEARCH_TYPES)
    chosen = ", ".join(
        utc(name) if kind == "TIMESTAMPTZ" else name for name, kind in SEARCH_TYPES.items()
    )
    where = rank = ""
    if wanted:
        text = literal(wanted)
        where = f"WHERE strpos(lower(customer_id), {text}) > 0"
        rank = (
            f"CASE WHEN lower(customer_id) = {text} THEN 0 "
            f"WHEN strpos(lower(customer_id), {text}) = 1 THEN 1 ELSE 2 END, "
        )
    rows = warehouse.query(
        f"SELECT {chosen}, count(*) OVER () FROM {customers} {where} "
        f"ORDER BY {rank}customer_id LIMIT {int(limit)}"
    )
    frame = pd.DataFrame([row[:-1] for row in rows], columns=SEARCH_COLUMNS)
    frame["first_seen"] = pd.to_datetime(frame["first_seen"], utc=True)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame, int(rows[0][-1]) if rows else 0


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
        events = ws.warehouse.relation("events", {"customer_id": "VARCHAR", "ts": "TIMESTAMPTZ"})
        activity = pd.DataFrame(
            ws.warehouse.query(
                f"SELECT customer_id, count(*), {utc('max(ts)')} FROM {events} "
                f"WHERE customer_id IN {literals(ids)} GROUP BY customer_id"
            ),
            columns=["customer_id", "events", "last_event"],
        )
        activity["customer_id"] = activity["customer_id"].astype(str)
        activity["last_event"] = pd.to_datetime(activity["last_event"], utc=True)
        frame = frame.merge(activity, on="customer_id", how="left")
    else:
        frame["events"] = pd.Series(dtype="int64")
        frame["last_event"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["events"] = pd.to_numeric(frame["events"]).fillna(0).astype("int64")
    return frame


def known_customer(ws: Any, customer_id: str) -> bool:
    """Whether any table knows the customer (the customers table, events or feedback)."""
    customer_id = str(customer_id)
    for table in (ws.customers, ws.events, ws.feedback):
        if int(table.filter(table.customer_id == customer_id).limit(1).count().execute()):
            return True
    return False


__all__ = [
    "CustomerError", "CustomerNotFound", "CustomerSearchResult", "find_customers", "known_customer",
]  # fmt: skip
