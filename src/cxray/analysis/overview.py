"""The overview a CX manager opens first: scores with their trend, customers, early churn, the
phase funnel, the top drivers, the biggest real drop-off and what changed since the period before.

Each part is one analysis run on the (filtered) workspace; a part that cannot be computed on this
data keeps its reason instead of stopping the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxray.i18n import message_of
from cxray.results import Result

log = logging.getLogger(__name__)
CHANGE_DAYS = 90  # without a period: the last 90 days of data against the 90 before
EARLY_DAYS = 100
TOP_DRIVERS = 3
MIN_N = 30


@dataclass
class Overview(Result):
    """The parts of the overview; ``failed`` holds why a part is missing (English, Dutch)."""

    customers: int
    scores: Any = None  # MetricsResult, overall
    trend: Any = None  # MetricsResult by month
    early_churn: Any = None
    funnel: Any = None
    drivers: Any = None
    dropoff: Any = None
    changes: dict[str, Any] = field(default_factory=dict)  # metric: ComparisonResult
    current: tuple[dt.datetime, dt.datetime] | None = None
    previous: tuple[dt.datetime, dt.datetime] | None = None
    failed: dict[str, Any] = field(default_factory=dict)

    def driver_sentences(self, lang: str = "en", top: int = TOP_DRIVERS) -> list[str]:
        """The strongest demonstrable drivers of churn, each in one sentence."""
        if self.drivers is None:
            return []
        table = self.drivers.drivers
        shown = table[table.estimable & table.significant & (table.hazard_ratio > 1)].head(top)
        return [self.drivers.sentence(row, lang) for row in shown.itertuples(index=False)]

    def change_sentences(self, lang: str = "en") -> list[str]:
        return [result.summary(lang) for result in self.changes.values()]

    def significant_changes(self) -> list[dict[str, Any]]:
        found = []
        for metric, result in self.changes.items():
            for row in result.to_dict()["rows"]:
                if row.get("significant"):
                    found.append({"metric": metric, **row})
        return found

    def summary(self, lang: str = "en") -> str:
        parts = [*self.driver_sentences(lang, 1)]
        if self.dropoff is not None:
            parts.append(self.dropoff.summary(lang))
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        def of(result: Any) -> Any:
            return None if result is None else result.to_dict()

        return {
            "customers": self.customers,
            "scores": of(self.scores),
            "trend": of(self.trend),
            "early_churn": of(self.early_churn),
            "funnel": of(self.funnel),
            "drivers": {
                "sentences": {lang: self.driver_sentences(lang) for lang in ("en", "nl")},
                "result": of(self.drivers),
            },
            "dropoff": None
            if self.dropoff is None
            else {
                "sentence": {lang: self.dropoff.summary(lang) for lang in ("en", "nl")},
                **self.dropoff.to_dict(),
            },
            "changes": {
                "current": list(self.current) if self.current else None,
                "previous": list(self.previous) if self.previous else None,
                "significant": self.significant_changes(),
                "sentences": {lang: self.change_sentences(lang) for lang in ("en", "nl")},
            },
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
        }


def periods_to_compare(
    ws: Any, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]] | None:
    """The period looked at and the one as long just before it (half-open, UTC)."""
    from cxray.analysis.lifetimes import data_end, data_start

    last = end or data_end(ws)
    if last is None:
        return None
    if end is None:
        last = last + dt.timedelta(microseconds=1)  # the last answer itself is inside
    first = start or (last - dt.timedelta(days=CHANGE_DAYS))
    begin = data_start(ws)
    length = last - first
    before = (first - length, first)
    if begin is not None and before[1] <= begin:
        return None  # nothing before the period to compare with
    return before, (first, last)


def overview(ws: Any, start: dt.datetime | None = None, end: dt.datetime | None = None) -> Overview:
    """Every part of the overview on ``ws`` (filter it first to look at one segment or period)."""
    from cxray.analysis.drivers import drivers
    from cxray.analysis.dropoff import dropoff
    from cxray.analysis.funnel import funnel
    from cxray.analysis.metrics import compare, known_metrics, metrics
    from cxray.analysis.retention import early_churn

    result = Overview(customers=int(ws.customers.count().execute()))

    def part(name: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception as exc:  # one part missing, with its reason; the others stand
            log.info("overview: %s failed: %s", name, exc)
            result.failed[name] = message_of(exc)
            return None

    result.scores = part("scores", lambda: metrics(ws, min_n=MIN_N))
    result.trend = part("trend", lambda: metrics(ws, by="month", min_n=MIN_N))
    result.early_churn = part("early_churn", lambda: early_churn(ws, days=EARLY_DAYS))
    result.funnel = part("funnel", lambda: funnel(ws))
    result.drivers = part("drivers", lambda: drivers(ws))
    result.dropoff = part("dropoff", lambda: dropoff(ws, top=10))
    windows = part("changes", lambda: periods_to_compare(ws, start, end))
    if windows is not None:
        result.previous, result.current = windows
        for metric in part("changes", lambda: known_metrics(ws)) or []:
            compared = part(f"change_{metric}", lambda m=metric: compare(ws, m, periods=windows))
            if compared is not None:
                result.changes[metric] = compared
    return result
