"""Collecting what the report shows: each analysis run once, its outcome kept (or why it failed)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.i18n import Message, message_of

log = logging.getLogger(__name__)


EARLY_DAYS = 100
MIN_N = 30  # answers below which a score is flagged, as in the metrics analysis
MAX_TOUCHPOINTS = 25  # rows in the per-touchpoint chart (the ones with most answers)
MAX_EXITS = 10  # rows in the last-touchpoint chart
MAX_COHORTS = 12  # start months in the early-churn chart (the most recent ones)
MAX_SEGMENTS = 6  # more segments than this make survival curves unreadable: show them together
RISK_HORIZON = 90  # days ahead the risk section is about, as `cxray risk` by default
HEADLINE_ORDER = ("nps", "csat", "ces")
TEMPLATES = Path(__file__).with_name("templates")


# -- collecting -----------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one analysis gave: its result, or the error that stopped it."""

    result: Any = None
    error: str | None = None
    reason: Message | None = None  # the data cannot answer it (not an error), in both languages

    @property
    def ok(self) -> bool:
        return self.error is None and self.reason is None and self.result is not None


@dataclass
class ReportData:
    """Everything the report shows, computed once for any language."""

    name: str
    journey: Any
    counts: dict[str, int]
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    outcomes: dict[str, Outcome]
    segment_by: str | None = None
    early_days: int = EARLY_DAYS
    filters: ReportFilter = field(default_factory=ReportFilter)


def _attempt(run: Callable[[], Any], what: str, strict: bool, answers: bool = False) -> Outcome:
    """``answers``: the analysis raises ValueError when the data cannot answer it (no churn, no
    candidate drivers): that is its reason, kept even when ``strict``."""
    try:
        return Outcome(result=run())
    except ValueError as exc:
        if not answers:
            if strict:
                raise
            log.warning("report: %s failed: %s", what, exc, exc_info=True)
            return Outcome(error=f"{type(exc).__name__}: {exc}")
        log.info("report: %s cannot be computed: %s", what, exc)
        return Outcome(reason=message_of(exc))
    except Exception as exc:
        if strict:
            raise
        log.warning("report: %s failed: %s", what, exc, exc_info=True)
        return Outcome(error=f"{type(exc).__name__}: {exc}")


def _period(ws: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    stamps = []
    for table in (ws.events, ws.feedback):
        bounds = table.aggregate(first=table.ts.min(), last=table.ts.max()).execute()
        stamps += [value for value in bounds.iloc[0] if value is not None and pd.notna(value)]
    customers = ws.customers
    if "churned_at" in customers.columns:  # lifetime data dates the workspace too
        bounds = customers.aggregate(
            first=customers.first_seen.min(),
            ended=customers.churned_at.max(),
            seen=customers.last_seen.max(),
        ).execute()
        lifetime = [v for v in bounds.iloc[0] if v is not None and pd.notna(v)]
        if len(lifetime) > 1:
            stamps += lifetime
    if not stamps:
        return None, None
    return pd.Timestamp(min(stamps)).to_pydatetime(), pd.Timestamp(max(stamps)).to_pydatetime()


def _segment_by(ws: Any) -> str | None:
    """Split survival by segment when customers have a few of them."""
    segments = int(ws.customers.segment.nunique().execute() or 0)
    return "segment" if 2 <= segments <= MAX_SEGMENTS else None


def _later_sections(ws: Any, strict: bool) -> dict[str, Outcome]:
    """What the canvas, trend, why and risk sections show; the canvas's own dose-response and
    drivers are the why section's too (one run each)."""
    from cxray import canvas_notes
    from cxray.analysis.canvas import canvas
    from cxray.analysis.dose_response import dose_response
    from cxray.analysis.drivers import drivers
    from cxray.analysis.lifetimes import data_end
    from cxray.analysis.metrics import metrics
    from cxray.analysis.nps_drivers import nps_drivers
    from cxray.analysis.risk import risk
    from cxray.analysis.themes import themes

    outcomes = {
        "trend": _attempt(lambda: metrics(ws, by="month", min_n=MIN_N), "trend", strict),
        "canvas": _attempt(lambda: canvas(ws), "canvas", strict),
        "canvas_notes": _attempt(lambda: canvas_notes.read_notes(ws.warehouse), "notes", strict),
    }
    board = outcomes["canvas"]
    if board.ok and board.result.dose is not None:
        outcomes["dose_response"] = Outcome(result=board.result.dose)
    elif board.ok and "dose_response" in board.result.failed:
        outcomes["dose_response"] = Outcome(reason=board.result.failed["dose_response"])
    else:
        outcomes["dose_response"] = _attempt(lambda: dose_response(ws), "dose", strict, True)
    if board.ok and board.result.drivers is not None:  # the canvas ran them: one run
        outcomes["drivers"] = Outcome(result=board.result.drivers)
    elif board.ok and "drivers" in board.result.failed:
        outcomes["drivers"] = Outcome(reason=board.result.failed["drivers"])
    else:
        outcomes["drivers"] = _attempt(lambda: drivers(ws), "drivers", strict, True)
    runs: dict[str, Callable[[], Any]] = {
        "nps_drivers": lambda: nps_drivers(ws),
        "themes": lambda: themes(ws),
        "risk": lambda: risk(ws, horizon_days=RISK_HORIZON, as_of=data_end(ws)),
    }
    outcomes.update({key: _attempt(run, key, strict, True) for key, run in runs.items()})
    return outcomes


def collect(
    ws: Any,
    strict: bool = False,
    early_days: int = EARLY_DAYS,
    filters: ReportFilter | None = None,
) -> ReportData:
    """Run the analyses behind the report on workspace ``ws``, seen through ``filters``.

    A filter that selects nothing the workspace knows (a segment no customer has) raises
    :class:`~cxray.analysis.filters.FilterError`, whatever ``strict`` says.
    """
    from cxray.analysis.churn_rules import churn_check
    from cxray.analysis.dropoff import dropoff
    from cxray.analysis.flows import flows
    from cxray.analysis.funnel import funnel
    from cxray.analysis.metrics import metrics
    from cxray.analysis.retention import early_churn
    from cxray.analysis.survival import survival

    filters = filters or ReportFilter()
    ws = apply_filters(ws, filters)
    first_ts, last_ts = _period(ws)
    segment = _attempt(lambda: _segment_by(ws), "segments", strict).result
    runs: dict[str, Callable[[], Any]] = {
        "metrics": lambda: metrics(ws, min_n=MIN_N),
        "touchpoints": lambda: metrics(ws, by="touchpoint", min_n=MIN_N),
        "funnel": lambda: funnel(ws),
        "survival": lambda: survival(ws),
        "early_churn": lambda: early_churn(ws, days=early_days),
        "flows": lambda: flows(ws, top_variants=5),
        "dropoff": lambda: dropoff(ws, top=MAX_EXITS),
        "churn_rule": lambda: churn_check(ws),
    }
    if segment:
        runs["survival_by"] = lambda: survival(ws, by=segment)
    outcomes = {key: _attempt(run, key, strict) for key, run in runs.items()}
    outcomes.update(_later_sections(ws, strict))
    return ReportData(
        name=ws.journey.name,
        journey=ws.journey,
        counts=ws.warehouse.counts(),
        first_ts=first_ts,
        last_ts=last_ts,
        outcomes=outcomes,
        segment_by=segment,
        early_days=early_days,
        filters=filters,
    )
