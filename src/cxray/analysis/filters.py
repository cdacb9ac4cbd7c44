"""Filters shared by the faces: one segment and a period, applied once to the tables every analysis reads.

The period works as ``cxray metrics --start/--end`` and ``cxray flows --start/--end`` do: only
interactions and answers with ``start <= ts < end`` count (a plain date as ``end`` includes that
day). Customers are the ones seen in the period (an interaction or an answer in it, a start in it,
or a lifetime from the customers table that overlaps it), each with their own start date. The data
ends where the period ends: a lifetime that goes on after it is censored there, so the churn
sections read as they would have on that day. The segment keeps the customers of one segment and
only their interactions and answers, like ``cxray flows --segment``.

A channel or a phase narrows what is said about touchpoints: only the interactions and answers at
touchpoints of that channel (the event's own channel, or the journey's for an answer) or of that
phase count. Customers stay who they are, and the interactions that say a customer left (the
churn touchpoints) always count, so churn is not lost by looking at one phase.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from cxray.analysis._common import time_bounds, within
from cxray.i18n import Message

UTC = "timestamp('UTC')"
# a lifetime that goes on after the period is seen until just before its end (the end is open)
JUST_BEFORE = pd.Timedelta(microseconds=1)


class FilterError(ValueError):
    """A filter that selects nothing the workspace knows; ``key`` names the text that says so."""

    def __init__(self, key: str, english: str, dutch: str | None = None, **values: Any):
        super().__init__(Message(english, dutch or english))
        self.key = key
        self.values = values


@dataclass(frozen=True)
class ReportFilter:
    """A segment and a half-open UTC period ``[start, end)``; each may be missing."""

    segment: str | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    channel: str | None = None
    phase: str | None = None

    @classmethod
    def parse(
        cls,
        segment: str | None = None,
        start: Any = None,
        end: Any = None,
        channel: str | None = None,
        phase: str | None = None,
    ) -> ReportFilter:
        """From user input: dates or timestamps as text; a plain date as ``end`` includes that day."""
        lower, upper = time_bounds(start or None, end or None)
        return cls(
            segment=segment or None,
            start=lower,
            end=upper,
            channel=channel or None,
            phase=phase or None,
        )

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.segment, self.start, self.end, self.channel, self.phase)
        )

    @property
    def last_day(self) -> dt.date | None:
        """The last day the period includes, as people write a period's end."""
        if self.end is None:
            return None
        return (self.end - JUST_BEFORE).date()


def check_segment(ws: Any, segment: str) -> None:
    """Refuse a segment no customer has, naming the ones there are."""
    customers = ws.customers
    known = sorted(
        str(value)
        for value in customers.select("segment").distinct().execute()["segment"]
        if value is not None and pd.notna(value)
    )
    if segment not in known:
        listed = ", ".join(known) if known else "none"
        raise FilterError(
            "unknown_segment",
            f"no customer has segment {segment!r}; segments: {listed}",
            f"geen klant heeft segment {segment!r}; segmenten: {listed}",
            segment=segment,
            segments=listed,
        )


class FilteredWorkspace:
    """A workspace seen through a :class:`ReportFilter`.

    ``customers``, ``events`` and ``feedback`` are filtered Ibis expressions (nothing is copied or
    loaded), and so are the tables its warehouse gives the plain-SQL fast paths; everything else
    (journey, path, the engine) is the workspace's own.
    """

    def __init__(self, ws: Any, filters: ReportFilter):
        self._ws = ws
        self.filters = filters
        self._tables = _filtered_tables(ws, filters)
        self.warehouse = FilteredWarehouse(ws.warehouse, self._tables)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def __repr__(self) -> str:
        return f"<FilteredWorkspace {self._ws!r} {self.filters}>"

    @property
    def customers(self) -> ir.Table:
        return self._tables["customers"]

    @property
    def events(self) -> ir.Table:
        return self._tables["events"]

    @property
    def feedback(self) -> ir.Table:
        return self._tables["feedback"]


class FilteredWarehouse:
    """A warehouse whose canonical tables are filtered, for analyses that read them in SQL."""

    def __init__(self, warehouse: Any, tables: dict[str, ir.Table]):
        self._warehouse = warehouse
        self._tables = tables

    def __getattr__(self, name: str) -> Any:
        return getattr(self._warehouse, name)

    def relation(self, name: str, columns: dict[str, str]) -> str:
        """As :meth:`Warehouse.relation`: a FROM-clause source, here the filtered table."""
        table = self._tables.get(name)
        if table is None:
            return self._warehouse.relation(name, columns)
        present = [column for column in columns if column in table.columns]
        compiled = self._warehouse.backend.compile(table.select(*present))
        missing = "".join(
            f', CAST(NULL AS {kind}) AS "{column}"'
            for column, kind in columns.items()
            if column not in present
        )
        return f"(SELECT *{missing} FROM ({compiled}) AS filtered)"

    def table(self, name: str) -> ir.Table:
        return self._tables[name] if name in self._tables else self._warehouse.table(name)

    def counts(self) -> dict[str, int]:
        """Rows per canonical table after filtering."""
        return {name: int(table.count().execute()) for name, table in self._tables.items()}


def apply_filters(ws: Any, filters: ReportFilter) -> Any:
    """``ws`` itself when nothing is filtered, else the filtered view of it."""
    if not filters.active:
        return ws
    if filters.segment is not None:
        check_segment(ws, filters.segment)
    if filters.phase is not None and filters.phase not in ws.journey.phases:
        listed = ", ".join(ws.journey.phases)
        raise FilterError(
            "unknown_phase",
            f"the journey has no phase {filters.phase!r}; phases: {listed}",
            f"de klantreis heeft geen fase {filters.phase!r}; fasen: {listed}",
            phase=filters.phase,
            phases=listed,
        )
    return FilteredWorkspace(ws, filters)


def _filtered_tables(ws: Any, filters: ReportFilter) -> dict[str, ir.Table]:
    customers, events, feedback = ws.customers, ws.events, ws.feedback
    events, feedback = _at_touchpoints(ws.journey, events, feedback, filters)
    if filters.segment is not None:
        customers = customers.filter(customers.segment == filters.segment)
        events = events.filter(events.customer_id.isin(customers.customer_id))
        feedback = feedback.filter(feedback.customer_id.isin(customers.customer_id))
    lower, upper = filters.start, filters.end
    if lower is None and upper is None:
        return {"customers": customers, "events": events, "feedback": feedback}
    events = events.filter(within(events.ts, lower, upper))
    feedback = feedback.filter(within(feedback.ts, lower, upper))
    first_seen = customers.first_seen.cast(UTC)
    # a lifetime from the customers table: from first_seen until churned_at (or last_seen)
    lifetime_end = ibis.coalesce(customers.churned_at.cast(UTC), customers.last_seen.cast(UTC))
    has_lifetime = customers.churned_at.notnull() | customers.last_seen.notnull()
    overlaps = has_lifetime & first_seen.notnull()
    if upper is not None:
        overlaps &= first_seen < _literal(upper)
    if lower is not None:
        overlaps &= lifetime_end >= _literal(lower)
    seen = (
        customers.customer_id.isin(events.customer_id)
        | customers.customer_id.isin(feedback.customer_id)
        | (first_seen.notnull() & within(first_seen, lower, upper))
        | overlaps
    )
    customers = customers.filter(seen)
    if upper is not None:
        customers = _censored_at(customers, upper)
    return {"customers": customers, "events": events, "feedback": feedback}


def _at_touchpoints(
    journey: Any, events: ir.Table, feedback: ir.Table, filters: ReportFilter
) -> tuple[ir.Table, ir.Table]:
    """Interactions and answers at the touchpoints of the filter's channel and phase."""
    if filters.channel is None and filters.phase is None:
        return events, feedback
    points = journey.touchpoints.values()
    kept_events = ibis.literal(True)
    kept_answers = ibis.literal(True)
    if filters.channel is not None:
        of_channel = [tp.name for tp in points if tp.channel == filters.channel]
        kept_events &= ibis.coalesce(events.channel, ibis.literal("")) == filters.channel
        kept_answers &= feedback.touchpoint.isin(of_channel or [""])
    if filters.phase is not None:
        of_phase = [tp.name for tp in points if tp.phase == filters.phase] or [""]
        kept_events &= events.touchpoint.isin(of_phase)
        kept_answers &= feedback.touchpoint.isin(of_phase)
    leaving = list(journey.churn.touchpoints)
    if leaving:
        kept_events |= events.touchpoint.isin(leaving)
    return events.filter(kept_events), feedback.filter(kept_answers)


def _censored_at(customers: ir.Table, upper: pd.Timestamp) -> ir.Table:
    """Lifetime columns as known at the end of the period: a later churn is not known yet."""
    end = _literal(upper)
    seen_until = _literal(upper - JUST_BEFORE)
    churned_at = customers.churned_at.cast(UTC)
    last_seen = customers.last_seen.cast(UTC)
    churned_later = churned_at.notnull() & (churned_at >= end)
    return customers.mutate(
        churned_at=ibis.ifelse(churned_later, ibis.null(UTC), churned_at),
        last_seen=ibis.ifelse(
            churned_later | (last_seen.notnull() & (last_seen >= end)), seen_until, last_seen
        ),
    )


def _literal(stamp: pd.Timestamp) -> ir.TimestampScalar:
    return ibis.literal(stamp.to_pydatetime(), type=UTC)
