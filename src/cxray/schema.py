"""The canonical tables every workspace holds, in one engine-neutral definition.

Ibis schemas are the single source of truth: the warehouse creates tables from them, the importers
validate against them and analyses read columns by these names on any engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt

UTC_TIMESTAMP = dt.Timestamp(timezone="UTC")


@dataclass(frozen=True)
class TableSpec:
    """One canonical table: its columns, its key and the columns an import must provide."""

    name: str
    schema: ibis.Schema
    key: str
    required: tuple[str, ...]
    json_column: str | None = None  # unknown source columns are kept here as JSON

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


CUSTOMERS = TableSpec(
    name="customers",
    schema=ibis.schema(
        {
            "customer_id": dt.String(nullable=False),
            "first_seen": UTC_TIMESTAMP,
            # lifetime data without events (a CRM export): when the customer left, and until
            # when they were known to be a customer (the export's as-of date for those who stay)
            "churned_at": UTC_TIMESTAMP,
            "last_seen": UTC_TIMESTAMP,
            "segment": dt.string,
            "language": dt.string,
            "value": dt.float64,
            "attributes": dt.string,  # JSON text: portable to DuckDB, PostgreSQL and Spark alike
        }
    ),
    key="customer_id",
    required=("customer_id",),
    json_column="attributes",
)

EVENTS = TableSpec(
    name="events",
    schema=ibis.schema(
        {
            "event_id": dt.String(nullable=False),
            "customer_id": dt.String(nullable=False),
            "ts": UTC_TIMESTAMP,
            "touchpoint": dt.String(nullable=False),
            "channel": dt.string,
            "value": dt.float64,
            "properties": dt.string,
        }
    ),
    key="event_id",
    required=("customer_id", "ts", "touchpoint"),
    json_column="properties",
)

FEEDBACK = TableSpec(
    name="feedback",
    schema=ibis.schema(
        {
            "response_id": dt.String(nullable=False),
            "customer_id": dt.string,
            "ts": UTC_TIMESTAMP,
            "metric": dt.String(nullable=False),
            "score": dt.float64,
            "comment": dt.string,
            "language": dt.string,
            "touchpoint": dt.string,
            "event_id": dt.string,
            "survey_id": dt.string,
            # a survey export's other columns (Region, Q5_text), as JSON; never in the id
            "properties": dt.string,
        }
    ),
    key="response_id",
    required=("ts", "metric"),
    json_column="properties",
)

# Bookkeeping: one row per import, so `status` can say where the data came from.
IMPORTS = ibis.schema(
    {
        "import_id": dt.string,
        "table_name": dt.string,
        "source": dt.string,
        "imported_at": UTC_TIMESTAMP,
        "rows_read": dt.int64,
        "rows_imported": dt.int64,
        "rows_updated": dt.int64,
        "rows_duplicate": dt.int64,
        "rows_rejected": dt.int64,
        # the quarantine file this import wrote (its name in DIR/quarantine/), if any
        "quarantine": dt.string,
    }
)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (CUSTOMERS, EVENTS, FEEDBACK)}


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; expected one of: {', '.join(TABLES)}") from None
