"""Charts of the touchpoint and owner pages: each metric's score per month, with its interval.

The figure is :func:`cxray.web.charts.trend` (the overview's), one per metric answered, the most
answered first; nothing here computes a number the analysis has not given.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from cxray.web import charts


def score_trends(result: Any, lang: str, prefix: str) -> dict[str, Markup]:
    """Metric: its chart, for a metrics result by month (an empty dict without one)."""
    if result is None or result.frame.empty:
        return {}
    totals = result.frame.groupby("metric")["n"].sum().sort_values(ascending=False, kind="stable")
    drawn = {}
    for i, metric in enumerate(totals.index):
        figure = charts.trend(result, str(metric), lang, f"{prefix}-{i}")
        if figure is not None:
            drawn[str(metric)] = figure
    return drawn
