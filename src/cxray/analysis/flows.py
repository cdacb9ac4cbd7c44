"""Flows: how customers move from touchpoint to touchpoint and from phase to phase.

Three views of the same ordered event log, each computed in the engine:

- **edges**: the directly-follows graph. An edge ``a -> b`` counts every time a customer's event
  of touchpoint ``a`` is directly followed by one of touchpoint ``b``, with the number of distinct
  customers who made that step and the median and 90th percentile of the time between the two
  events (interpolated quantiles, in seconds). Two pseudo-nodes close every path: ``START``
  (``"__start__"``) before a customer's first event and ``END`` (``"__end__"``) after their last;
  their edges carry no time.
- **variants**: each customer's whole path (the ordered touchpoints) and how many customers share
  it, with the churn rate among them. Paths can be cut to their first ``max_variant_length`` steps,
  which groups long, unique paths by how they begin.
- **sankey**: the same path with each touchpoint replaced by its journey phase and consecutive
  events in one phase merged, counted from phase to phase (``START``/``END`` as above). A
  ``backward`` flag marks steps to an earlier phase, which a Sankey diagram may draw apart.

Order within a customer: by ``ts``, then ``touchpoint``, then ``event_id``. Events at the same
timestamp are thus put in a fixed, documented order (alphabetical by touchpoint, then by id), so
results never depend on how the engine happens to read the rows.

Filters: ``segment`` (customers.segment), a period ``[start, end)`` on the event time (a plain
date as ``end`` includes that day; a path is then the customer's events inside the period), and
``only="churned"`` / ``only="retained"``.
Churn comes from :func:`cxray.analysis.lifetimes.customer_lifetimes` on all the data, whatever the
period: "retained" means not churned while observed, and customers too new to judge are left out
of it. A variant's ``churn_rate`` is likewise taken over its customers who are not too new.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.datatypes as dt_type
import ibis.expr.types as ir
import pandas as pd

from cxray.analysis._common import check_lang, fmt_num, fmt_pct, time_bounds, within
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.analysis.retention import wilson_interval
from cxray.journey import UNASSIGNED
from cxray.results import Column, Result, Table, frame_records, interval, jsonable

START = "__start__"
END = "__end__"
# Joins a path's touchpoints into one groupable string in the engine; split again in Python.
_SEPARATOR = "\x1f"
_ONLY = ("churned", "retained")

EDGE_COLUMNS = ["source", "target", "count", "customers", "median_seconds", "p90_seconds"]
VARIANT_COLUMNS = [
    "variant",
    "label",
    "steps",
    "customers",
    "share",
    "judged",
    "churned",
    "churn_rate",
    "churn_rate_lower",
    "churn_rate_upper",
]
SANKEY_COLUMNS = ["source_phase", "target_phase", "transitions", "customers", "backward"]


@dataclass(repr=False)
class FlowsResult(Result):
    """Directly-follows edges, top path variants and phase-to-phase Sankey data."""

    edges: pd.DataFrame
    variants: pd.DataFrame
    sankey: pd.DataFrame
    customers: int  # customers with at least one event after the filters
    events: int
    distinct_variants: int
    filters: dict[str, Any] = field(default_factory=dict)

    def display(self, view: str = "edges") -> Table:
        """``edges`` (touchpoint to touchpoint), ``variants`` (whole paths) or ``sankey``.

        The pseudo-steps from a path's start and to its end are left out: they are no step a
        customer took (``edges`` and ``sankey`` keep them).
        """
        if view == "variants":
            columns = [
                Column("label", "text", "path", "pad"),
                Column("customers", "count", "customers", "klanten"),
                Column("share", "share", "share", "aandeel", 8),
                Column("churned", "count", "churned", "vertrokken", 6),
                Column("churn_rate", "share", "share churned", "aandeel vertrokken", 7),
                interval("churn_rate_lower", "churn_rate_upper", "share", 3),
                Column("steps", "count", "steps", "stappen", wide=True),
                Column("judged", "count", "outcome known", "uitkomst bekend", wide=True),
            ]
            return Table(self.variants.reset_index(drop=True), columns, noun=("paths", "paden"))
        if view == "sankey":
            rows = self.sankey[
                (self.sankey.source_phase != START) & (self.sankey.target_phase != END)
            ]
            columns = [
                Column("source_phase", "text", "from phase", "van fase"),
                Column("target_phase", "text", "to phase", "naar fase"),
                Column("transitions", "count", "times", "keer"),
                Column("customers", "count", "customers", "klanten", 8),
                Column("backward", "flag", "backward", "terug", 7),
            ]
            return Table(rows.reset_index(drop=True), columns, noun=("steps", "stappen"))
        if view != "edges":
            raise ValueError(f"unknown view {view!r}; choose edges, variants or sankey")
        rows = self.edges[(self.edges.source != START) & (self.edges.target != END)]
        seconds = {"kind": "duration", "unit": "seconds"}
        columns = [
            Column("source", "text", "from", "van"),
            Column("target", "text", "to", "naar"),
            Column("count", "count", "times", "keer"),
            Column("customers", "count", "customers", "klanten", 7),
            Column("median_seconds", en="median time", nl="mediane tijd", priority=6, **seconds),
            Column("p90_seconds", en="90% within", nl="90% binnen", priority=3, **seconds),
        ]
        return Table(rows.reset_index(drop=True), columns, noun=("steps", "stappen"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "events": self.events,
            "distinct_variants": self.distinct_variants,
            "filters": jsonable(self.filters),
            "edges": frame_records(self.edges),
            "variants": frame_records(self.variants),
            "sankey": frame_records(self.sankey),
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        if self.customers == 0:
            return (
                "Geen interacties gevonden met deze filters."
                if nl
                else ("No interactions found with these filters.")
            )
        customers, events, paths = (
            fmt_num(n, lang) for n in (self.customers, self.events, self.distinct_variants)
        )
        parts = [
            f"{customers} klanten, {events} interacties, {paths} verschillende paden."
            if nl
            else f"{customers} customers, {events} interactions, {paths} distinct paths."
        ]
        if len(self.variants):
            top = self.variants.iloc[0]
            share = fmt_pct(top["share"], lang, 0 if top["share"] >= 0.01 else 1)
            count = fmt_num(top["customers"], lang)
            parts.append(
                f"Meest gevolgde pad: {top['label']} ({count} van de {customers} klanten, {share})."
                if nl
                else f"Most common path: {top['label']} ({count} of {customers} customers, "
                f"{share})."
            )
        steps = self.edges[(self.edges.source != START) & (self.edges.target != END)]
        if len(steps):
            step = steps.iloc[0]
            times = fmt_num(step["count"], lang)
            arrow = f"{step['source']} → {step['target']}"
            parts.append(
                f"Meest voorkomende stap: {arrow} ({times} keer)."
                if nl
                else f"Most frequent step: {arrow} ({times} times)."
            )
        return " ".join(parts)


def flows(
    ws: Any,
    segment: str | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    only: str | None = None,
    top_variants: int = 20,
    max_variant_length: int | None = None,
) -> FlowsResult:
    """Directly-follows graph, path variants and phase Sankey of the (filtered) event log.

    ``start``/``end`` bound the event time as ``start <= ts < end`` (naive times are UTC; a
    plain date as ``end`` includes that whole day).
    ``only`` is ``"churned"`` or ``"retained"``. ``top_variants`` limits the variants returned
    (the share is always of all customers); ``max_variant_length`` cuts each path to its first
    steps before grouping. Ties at one timestamp are ordered by touchpoint, then event_id.
    """
    queries = flow_queries(
        ws,
        segment=segment,
        start=start,
        end=end,
        only=only,
        top_variants=top_variants,
        max_variant_length=max_variant_length,
    )
    edges = _edges_frame(queries["edges"].execute())
    variants, distinct = _variants_frame(queries["variants"].execute())
    sankey = _sankey_frame(queries["sankey"].execute(), ws.journey)
    lower, upper = time_bounds(start, end)
    filters = {
        "segment": segment,
        "start": lower,
        "end": upper,
        "only": only,
        "max_variant_length": max_variant_length,
    }
    return FlowsResult(
        edges=edges,
        variants=variants,
        sankey=sankey,
        # Every customer has one START edge and every event one outgoing edge.
        customers=int(edges.loc[edges.source == START, "count"].sum()),
        events=int(edges.loc[edges.source != START, "count"].sum()),
        distinct_variants=distinct,
        filters=filters,
    )


def flow_queries(
    ws: Any,
    segment: str | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    only: str | None = None,
    top_variants: int = 20,
    max_variant_length: int | None = None,
    engine: str | None = None,
) -> dict[str, ir.Table]:
    """The engine queries behind :func:`flows` ("edges", "variants", "sankey"), unexecuted.

    Useful to inspect or benchmark the SQL (``ibis.to_sql(query, dialect=...)``). ``engine``
    overrides the workspace's engine when compiling for another one.
    """
    if only is not None and only not in _ONLY:
        raise ValueError(f"only must be one of {', '.join(_ONLY)} (or None), not {only!r}")
    if top_variants < 1:
        raise ValueError("top_variants must be at least 1")
    if max_variant_length is not None and max_variant_length < 1:
        raise ValueError("max_variant_length must be at least 1")
    engine = engine or _engine(ws)
    lifetimes = customer_lifetimes(ws)
    events = _filtered_events(ws, lifetimes, segment, start, end, only)
    return {
        "edges": _edges_query(events, engine),
        "variants": _variants_query(events, lifetimes, top_variants, max_variant_length, engine),
        "sankey": _sankey_query(events, ws.journey),
    }


def _engine(ws: Any) -> str | None:
    warehouse = getattr(ws, "warehouse", None)
    return getattr(warehouse, "engine", None)


# -- filtering ------------------------------------------------------------------------------
def _filtered_events(
    ws: Any,
    lifetimes: ir.Table,
    segment: str | None,
    start: Any,
    end: Any,
    only: str | None,
) -> ir.Table:
    events = ws.events.select("customer_id", "ts", "touchpoint", "event_id")
    lower, upper = time_bounds(start, end)
    if lower is not None or upper is not None:
        events = events.filter(within(events.ts, lower, upper))
    if segment is not None:
        customers = ws.customers
        in_segment = customers.filter(customers.segment == segment)
        events = events.filter(events.customer_id.isin(in_segment.customer_id))
    if only is not None:
        wanted = lifetimes.churned if only == "churned" else ~lifetimes.churned & ~lifetimes.too_new
        # IN (subquery) rather than a semi join: it compiles on every engine
        events = events.filter(events.customer_id.isin(lifetimes.filter(wanted).customer_id))
    return events


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(moment: dt_type.Timestamp(timezone="UTC")) -> dt_type.int64:  # type: ignore
    """DuckDB's microseconds since 1970 (a builtin; see `_microseconds`)."""


def _microseconds(ts: ir.TimestampValue, engine: str | None) -> ir.IntegerValue | None:
    """Microseconds since 1970 where the engine has a cheap way to say so, else None.

    On DuckDB, date arithmetic on time-zone-aware timestamps goes through its calendar library
    and costs more than the window itself on large logs; reading the stored microseconds does not.
    """
    return _duckdb_epoch_us(ts) if engine == "duckdb" else None


def _customer_order(table: ir.Table) -> Any:
    """The one order of a customer's events everywhere in this module (see module docstring)."""
    return ibis.window(
        group_by=table.customer_id, order_by=[table.ts, table.touchpoint, table.event_id]
    )


# -- directly-follows graph ---------------------------------------------------------------------
def _edges_query(events: ir.Table, engine: str | None) -> ir.Table:
    micros = _microseconds(events.ts, engine)
    if micros is not None:
        events = events.mutate(micros=micros)
    order = _customer_order(events)
    # All window columns in one step, so the engine sorts the events once.
    windowed = {
        "is_first": events.touchpoint.lag().over(order).isnull(),
        "next_touchpoint": events.touchpoint.lead().over(order),
    }
    if micros is not None:
        windowed["next_micros"] = events.micros.lead().over(order)
    else:
        windowed["next_ts"] = events.ts.lead().over(order)
    steps = events.mutate(**windowed)
    if micros is not None:
        seconds = (steps.next_micros - steps.micros) / 1e6
    else:
        seconds = steps.next_ts.delta(steps.ts, unit="microsecond") / 1e6
    steps = steps.select(
        "customer_id",
        "is_first",
        source=steps.touchpoint,
        target=steps.next_touchpoint.fill_null(END),
        seconds=seconds,
    )
    # One pass gives every touchpoint -> touchpoint/END edge; START edges follow from the
    # first-event counts, since every customer has exactly one first event.
    return steps.group_by(["source", "target"]).aggregate(
        count=steps.count(),
        customers=steps.customer_id.nunique(),
        median_seconds=steps.seconds.median(),
        p90_seconds=steps.seconds.quantile(0.9),
        starts=steps.is_first.sum(),
    )


def _edges_frame(frame: pd.DataFrame) -> pd.DataFrame:
    starts = frame.groupby("source", as_index=False)["starts"].sum()
    starts = starts[starts.starts > 0]
    start_edges = pd.DataFrame(
        {
            "source": START,
            "target": starts.source,
            "count": starts.starts,
            "customers": starts.starts,
            "median_seconds": float("nan"),
            "p90_seconds": float("nan"),
        }
    )
    frame = frame.drop(columns="starts")
    edges = pd.concat([start_edges, frame], ignore_index=True) if len(starts) else frame
    edges = edges.astype(
        {
            "count": "int64",
            "customers": "int64",
            "median_seconds": "float64",
            "p90_seconds": "float64",
        }
    )
    edges = edges.sort_values(["count", "source", "target"], ascending=[False, True, True])
    return edges.reset_index(drop=True)[EDGE_COLUMNS]


# -- variants -------------------------------------------------------------------------------
# Sort keys for engines without arrays of structs: zero-padded microseconds since 1900, a
# separator, the touchpoint. Equal padded widths make text order equal time order.
_KEY_DIGITS = 20
_KEY_SEPARATOR = "\x1e"
_KEY_ORIGIN = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def _customer_paths(events: ir.Table, engine: str | None) -> ir.Table:
    """One row per customer: ``steps``, the array of their touchpoints in the module's order.

    No ordered aggregate (not portable): each customer's events are collected unordered and the
    array is sorted. The elements' natural order is the event order: (ts, touchpoint) structs,
    or on PostgreSQL, whose arrays of anonymous records Ibis cannot map over, text keys that
    sort the same way. event_id can be left out of both: it only orders events whose time and
    touchpoint are equal, and swapping those leaves the path of touchpoints unchanged.
    """
    if engine == "postgres":
        origin = ibis.literal(_KEY_ORIGIN, type="timestamp('UTC')")
        micros = events.ts.delta(origin, unit="microsecond")
        key = micros.cast("string").lpad(_KEY_DIGITS, "0") + _KEY_SEPARATOR + events.touchpoint
        keys = events.group_by("customer_id").aggregate(keys=key.collect())
        steps = keys.keys.sort().map(lambda k: k.substr(_KEY_DIGITS + len(_KEY_SEPARATOR)))
        return keys.select("customer_id", steps=steps)
    step = ibis.struct({"ts": events.ts, "touchpoint": events.touchpoint})
    structs = events.group_by("customer_id").aggregate(structs=step.collect())
    steps = structs.structs.sort().map(lambda s: s.touchpoint)
    return structs.select("customer_id", steps=steps)


def _variants_query(
    events: ir.Table,
    lifetimes: ir.Table,
    top: int,
    max_length: int | None,
    engine: str | None = None,
) -> ir.Table:
    paths = _customer_paths(events, engine)
    steps = paths.steps[:max_length] if max_length is not None else paths.steps
    paths = paths.select("customer_id", variant=steps.join(_SEPARATOR))
    fate = lifetimes.select("customer_id", "churned", "too_new")
    joined = paths.join(fate, "customer_id", how="left")
    judged = joined.too_new.notnull() & ~joined.too_new
    per_variant = joined.group_by("variant").aggregate(
        customers=joined.count(),
        judged=judged.sum(),
        churned=(joined.churned & judged).sum(),
    )
    everything = ibis.window()
    per_variant = per_variant.mutate(
        all_customers=per_variant.customers.sum().over(everything),
        distinct_variants=per_variant.count().over(everything),
    )
    return per_variant.order_by([ibis.desc(per_variant.customers), per_variant.variant]).limit(top)


def _variants_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    if frame.empty:
        return pd.DataFrame(columns=VARIANT_COLUMNS), 0
    distinct = int(frame.distinct_variants.iloc[0])
    variant = frame.variant.map(lambda text: tuple(text.split(_SEPARATOR)))
    churn_rate = frame.churned / frame.judged.where(frame.judged > 0)
    lower, upper = wilson_interval(frame.churned.to_numpy(), frame.judged.to_numpy())
    result = pd.DataFrame(
        {
            "variant": variant,
            "label": variant.map(" → ".join),
            "steps": variant.map(len).astype("int64"),
            "customers": frame.customers.astype("int64"),
            "share": frame.customers / frame.all_customers,
            "judged": frame.judged.astype("int64"),
            "churned": frame.churned.astype("int64"),
            "churn_rate": churn_rate.astype("float64"),
            "churn_rate_lower": lower,
            "churn_rate_upper": upper,
        }
    )
    return result[VARIANT_COLUMNS], distinct


# -- phase Sankey ---------------------------------------------------------------------------
def _phase_table(journey: Any) -> ir.Table | None:
    """The journey's touchpoint -> phase mapping as a small in-engine table."""
    rows = [(name, tp.phase) for name, tp in journey.touchpoints.items()]
    if not rows:
        return None
    return ibis.memtable(
        pd.DataFrame(rows, columns=["touchpoint", "phase"]),
        schema={"touchpoint": "string", "phase": "string"},
    )


def _sankey_query(events: ir.Table, journey: Any) -> ir.Table:
    mapping = _phase_table(journey)
    if mapping is None:
        with_phase = events.mutate(phase=ibis.literal(UNASSIGNED))
    else:
        joined = events.left_join(mapping, events.touchpoint == mapping.touchpoint)
        with_phase = joined.select(
            "customer_id",
            "ts",
            "event_id",
            touchpoint=joined.touchpoint,
            phase=joined.phase.fill_null(UNASSIGNED),
        )
    order = _customer_order(with_phase)
    steps = with_phase.mutate(
        is_first=with_phase.phase.lag().over(order).isnull(),
        target_phase=with_phase.phase.lead().over(order).fill_null(END),
    )
    # Consecutive events in one phase form a (phase, phase) group that is dropped below: what
    # remains are exactly the changes of phase. The first events give the START counts.
    return steps.group_by([steps.phase.name("source_phase"), "target_phase"]).aggregate(
        transitions=steps.count(),
        customers=steps.customer_id.nunique(),
        starts=steps.is_first.sum(),
    )


def _sankey_frame(frame: pd.DataFrame, journey: Any) -> pd.DataFrame:
    starts = frame.groupby("source_phase", as_index=False)["starts"].sum()
    starts = starts[starts.starts > 0]
    start_rows = pd.DataFrame(
        {
            "source_phase": START,
            "target_phase": starts.source_phase,
            "transitions": starts.starts,
            "customers": starts.starts,
        }
    )
    moves = frame[frame.source_phase != frame.target_phase].drop(columns="starts")
    sankey = pd.concat([start_rows, moves], ignore_index=True)
    rank = {phase: i for i, phase in enumerate(journey.phases)}

    def is_backward(row: pd.Series) -> bool:
        source, target = rank.get(row.source_phase), rank.get(row.target_phase)
        return source is not None and target is not None and target < source

    sankey["backward"] = (
        sankey.apply(is_backward, axis=1).astype(bool) if len(sankey) else pd.Series(dtype=bool)
    )
    sankey = sankey.astype({"transitions": "int64", "customers": "int64"})
    sankey = sankey.sort_values(
        ["transitions", "source_phase", "target_phase"], ascending=[False, True, True]
    )
    return sankey.reset_index(drop=True)[SANKEY_COLUMNS]
