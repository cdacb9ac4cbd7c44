"""Helpers the metrics, funnel and drop-off analyses share.

Everything here either builds a small Ibis expression (the touchpoint table, a customer grouping
column) or works on small, already aggregated numbers (formatting for the plain-words summaries).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from cxray.i18n import number
from cxray.journey import UNASSIGNED, Journey
from cxray.results import frame_records

if TYPE_CHECKING:  # loaded by the functions that use them: `cxray status` needs neither
    import ibis.expr.types as ir
    import pandas as pd

LANGS = ("en", "nl")
MISSING = "(missing)"  # group label for rows whose grouping value is unknown
ALL = "all"  # group label when nothing is grouped

TOUCHPOINT_COLUMNS = {
    "touchpoint": "string",
    "phase": "string",
    "phase_index": "int64",
    "tp_channel": "string",
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of: {', '.join(LANGS)}")
    return lang


def touchpoint_table(journey: Journey) -> ir.Table:
    """The journey's touchpoints as a small in-memory table to join in the engine.

    Columns: touchpoint, phase, phase_index (position in the journey's ordered phases; null for
    unassigned touchpoints), tp_channel (the configured channel, may be null).
    """
    import ibis
    import pandas as pd

    rows = [
        {
            "touchpoint": name,
            "phase": tp.phase,
            "phase_index": journey.phase_index(tp.phase),
            "tp_channel": tp.channel,
        }
        for name, tp in journey.touchpoints.items()
    ]
    frame = pd.DataFrame(rows, columns=list(TOUCHPOINT_COLUMNS))
    frame["phase_index"] = frame["phase_index"].astype("Int64")
    return ibis.memtable(frame, schema=ibis.schema(TOUCHPOINT_COLUMNS))


def phase_or_unassigned(phase: ir.StringValue) -> ir.StringValue:
    return phase.fill_null(UNASSIGNED)


def json_text(value: ir.JSONValue) -> ir.StringValue:
    """A JSON scalar as text, whatever its JSON type (string, integer, number, boolean)."""
    import ibis

    return ibis.coalesce(
        value.str, value.int.cast("string"), value.float.cast("string"), value.bool.cast("string")
    )


def customer_attribute(ws: Any, name: str) -> ir.Table:
    """A table (customer_id, group) with one customer attribute as text.

    ``name`` is a column of the customers table or a key of its ``attributes`` JSON text.
    Raises ValueError when no customer has the attribute, naming what is available.
    """
    customers = ws.customers
    if name in customers.columns and name not in ("customer_id", "attributes"):
        column = customers[name]
        if column.type().is_timestamp():
            column = column.truncate("D").cast("date")
        return customers.select("customer_id", group=column.cast("string"))
    value = json_text(customers.attributes.cast("json")[name])
    table = customers.select("customer_id", group=value)
    if int(table.group.count().execute()) == 0 and int(customers.count().execute()) > 0:
        columns = [c for c in customers.columns if c not in ("customer_id", "attributes")]
        raise ValueError(
            f"no customer has an attribute {name!r}; use a customers column "
            f"({', '.join(columns)}) or a key of the customers' attributes"
        )
    return table


def time_bounds(
    start: Any = None, end: Any = None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Half-open UTC bounds [start, end) from user input.

    A plain date as ``end`` (``"2024-03-31"`` or a ``datetime.date``) means up to and including
    that whole day, as people read a date range.
    """
    import pandas as pd

    def parse(value: Any) -> pd.Timestamp | None:
        if value is None:
            return None
        stamp = pd.Timestamp(value)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")

    lower = parse(start)
    upper = parse(end)
    if upper is not None and _is_plain_date(end):
        upper = upper + pd.Timedelta(days=1)
    if lower is not None and upper is not None and lower >= upper:
        raise ValueError(f"the period is empty: start {start} is not before end {end}")
    return lower, upper


def _is_plain_date(value: Any) -> bool:
    import pandas as pd

    if isinstance(value, dt.datetime | pd.Timestamp):
        return False
    if isinstance(value, dt.date):
        return True
    return isinstance(value, str) and len(value.strip()) == 10


def within(ts: ir.TimestampValue, lower: pd.Timestamp | None, upper: pd.Timestamp | None):
    """A filter for lower <= ts < upper (either bound may be missing)."""
    import ibis

    condition = ibis.literal(True)
    if lower is not None:
        condition &= ts >= ibis.literal(lower.to_pydatetime(), type="timestamp('UTC')")
    if upper is not None:
        condition &= ts < ibis.literal(upper.to_pydatetime(), type="timestamp('UTC')")
    return condition


def fmt_num(value: float, lang: str, digits: int = 0) -> str:
    """A number as people write it (``cxray.i18n.number``): a decimal comma in Dutch."""
    return number(value, lang, digits)


def fmt_pct(share: float, lang: str, digits: int = 0) -> str:
    return f"{fmt_num(100 * share, lang, digits)}%"


def interval_digits(
    value: float,
    lower: float,
    upper: float,
    digits: int = 0,
    reference: float | None = None,
    max_digits: int = 4,
) -> int:
    """The fewest decimals (at least ``digits``) at which an interval says what it means.

    Its bounds must read differently from each other and from the estimate, and an interval
    that excludes ``reference`` (1 for a ratio, 0 for a difference) must not seem to touch it
    once rounded: [1.017, 1.103] reads "1.02–1.10", never "1.0–1.1".
    """
    finite = [x for x in (value, lower, upper) if x == x and abs(x) != float("inf")]
    if len(finite) < 3:
        return digits
    for d in range(digits, max_digits + 1):
        lo, mid, hi = (round(x, d) for x in (lower, value, upper))
        distinct = (
            (lo != hi or lower == upper)
            and (lo != mid or lower == value)
            and (mid != hi or upper == value)
        )
        excludes = reference is not None and (lower > reference or upper < reference)
        touches = excludes and reference in (lo, hi)
        # a bound that is not zero must not read as zero (a ratio's 0.0003 is no "0.000")
        zeroed = (lower > 0 and lo == 0) or (upper < 0 and hi == 0)
        if distinct and not touches and not zeroed:
            return d
    return max_digits


def fmt_interval(
    value: float,
    lower: float,
    upper: float,
    lang: str,
    digits: int = 0,
    reference: float | None = None,
    percent: bool = False,
) -> tuple[str, str]:
    """(estimate, "lower–upper") with the digits :func:`interval_digits` chooses.

    ``percent``: the numbers are shares, written as percentages (digits count after the
    percentage's decimal point). A bound that is not finite reads "not bounded".
    """
    scale = 100.0 if percent else 1.0
    v, lo, hi = (scale * x for x in (value, lower, upper))
    ref = None if reference is None else scale * reference
    d = interval_digits(v, lo, hi, digits, ref)
    unit = "%" if percent else ""

    def one(x: float) -> str:
        if x != x or abs(x) == float("inf"):
            return "niet begrensd" if lang == "nl" else "not bounded"
        return fmt_num(x, lang, d) + unit

    return one(v), f"{one(lo)}–{one(hi)}"


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows; pandas' missing values of nullable columns become null too."""
    plain = frame.astype(object).where(frame.notna(), None)
    return frame_records(plain)


def count_true(condition: ir.BooleanValue) -> ir.IntegerScalar:
    """How many rows meet ``condition``; PostgreSQL refuses CAST(boolean AS BIGINT)."""
    return condition.ifelse(1, 0).sum()
