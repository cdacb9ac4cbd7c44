"""The demo's rows as Arrow tables in the canonical schemas (ids, timestamps, codes to text)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cxray import schema
from cxray.demo.company import (
    CAMPAIGNS,
    CARRIERS,
    LANGUAGES,
    PLAN_PRICE,
    PLANS,
    REGIONS,
    SEGMENTS,
    TOUCHPOINT_NAMES,
    TOUCHPOINTS,
    DemoParameters,
)
from cxray.demo.truth import METRICS, SURVEYS

# -- property JSON: few distinct values, so each row stores a code into this list -------------
MAX_DAYS_LATE = 9
CALL_MINUTES = range(2, 41)


def _property_strings() -> tuple[list[str], dict[str, int]]:
    values: list[str] = []
    base: dict[str, int] = {}
    base["delivery"] = len(values)
    for carrier in CARRIERS:
        for days in range(MAX_DAYS_LATE + 1):
            values.append(json.dumps({"carrier": carrier, "days_late": days}))
    base["ad_click"] = len(values)
    values += [json.dumps({"campaign": c}) for c in CAMPAIGNS]
    base["order_placed"] = len(values)
    for kind in ("first", "extra"):
        values += [json.dumps({"kind": kind, "items": k}) for k in range(1, 7)]
    base["support_call"] = len(values)
    values += [json.dumps({"minutes": m}) for m in CALL_MINUTES]
    base["invoice_sent"] = len(values)
    values += [json.dumps({"plan": p}) for p in PLANS]
    return values, base


PROPERTY_JSON, PROPERTY_BASE = _property_strings()


CUSTOMER_ID_WIDTH = 7
EVENT_ID_WIDTH = 10
RESPONSE_ID_WIDTH = 9

CHANNEL_OF = [tp.channel for tp in TOUCHPOINTS]
PLAN_PRICE_ARRAY = np.array([PLAN_PRICE[name] for name in PLANS])


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _timestamps(p: DemoParameters, seconds: np.ndarray) -> pa.Array:
    epoch = int(p.data_start.timestamp())
    return pa.array((seconds + epoch) * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def _strings(values: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """values[code], null where code < 0."""
    codes = np.asarray(codes)
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes), pa.int32(), mask=mask)
    return pc.take(pa.array(list(values), pa.string()), indices)


# -- tables ------------------------------------------------------------------------------------
LIFETIME_COLUMNS = ("churned_at", "last_seen")


def _customer_table(
    ids: pa.Array,
    start: np.ndarray,
    business: np.ndarray,
    dutch: np.ndarray,
    plan: np.ndarray,
    region: np.ndarray,
    converted: np.ndarray,
    p: DemoParameters,
) -> pa.Table:
    attributes = [
        json.dumps({"plan": plan_name, "region": region_name})
        for plan_name in (*PLANS, None)
        for region_name in REGIONS
    ]
    plan_code = np.where(converted, plan, len(PLANS))
    value = np.where(converted, PLAN_PRICE_ARRAY[plan], 0.0)
    return pa.table(
        {
            "customer_id": ids,
            "first_seen": _timestamps(p, start),
            "segment": _strings(SEGMENTS, business.astype(np.int64)),
            "language": _strings(LANGUAGES, dutch.astype(np.int64)),
            "value": pa.array(value, pa.float64()),
            "attributes": _strings(attributes, plan_code * len(REGIONS) + region),
        },
        schema=customer_schema(),
    )


def _event_table(
    customer_ids: pa.Array,
    owner: np.ndarray,
    t: np.ndarray,
    tp: np.ndarray,
    value: np.ndarray,
    prop: np.ndarray,
    number: np.ndarray,
    p: DemoParameters,
) -> pa.Table:
    return pa.table(
        {
            "event_id": _ids("E", number, EVENT_ID_WIDTH),
            "customer_id": pc.take(customer_ids, pa.array(owner)),
            "ts": _timestamps(p, t),
            "touchpoint": _strings(TOUCHPOINT_NAMES, tp),
            "channel": _strings(CHANNEL_OF, tp),
            "value": pa.array(value, pa.float64(), mask=np.isnan(value)),
            "properties": _strings(PROPERTY_JSON, prop),
        },
        schema=arrow_schema(schema.EVENTS),
    )


def _feedback_table(
    customer_ids: pa.Array, f: dict[str, np.ndarray], p: DemoParameters
) -> pa.Table:
    event = f["event"]
    return pa.table(
        {
            "response_id": _ids("R", f["number"], RESPONSE_ID_WIDTH),
            "customer_id": pc.take(customer_ids, pa.array(f["owner"])),
            "ts": _timestamps(p, f["ts"]),
            "metric": _strings(METRICS, f["metric"]),
            "score": pa.array(f["score"], pa.float64()),
            "comment": pa.array(f["comment"].tolist(), pa.string()),
            "language": _strings(LANGUAGES, f["language"]),
            "touchpoint": _strings(TOUCHPOINT_NAMES, f["touchpoint"]),
            "event_id": pc.if_else(
                pa.array(event >= 0), _ids("E", np.maximum(event, 0), EVENT_ID_WIDTH), None
            ),
            "survey_id": _strings(SURVEYS, f["metric"]),
        },
        schema=feedback_schema(),
    )


def feedback_schema() -> pa.Schema:
    """The demo's survey tool exports no extra columns: nothing for ``properties``."""
    return pa.schema([f for f in arrow_schema(schema.FEEDBACK) if f.name != "properties"])


def customer_schema() -> pa.Schema:
    """The demo is an event log, not a CRM export: its customers have no lifetime columns."""
    return pa.schema([f for f in arrow_schema(schema.CUSTOMERS) if f.name not in LIFETIME_COLUMNS])


def arrow_schema(spec: schema.TableSpec) -> pa.Schema:
    """The canonical table as an Arrow schema (UTC microsecond timestamps)."""
    return spec.schema.to_pyarrow()
