"""The web app's charts: the report's figures where the report has one, and trends over time.

Every function takes a result and returns the HTML of one chart (an empty div and its figure as
JSON, drawn by ``static/cxray.js``); none computes anything the analysis has not given.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup

from cxray.i18n import number
from cxray.report import charts
from cxray.report.plotting import category_width, layout, responsive
from cxray.report.trend_chart import NARROW_MONTHS, month_traces


def funnel(result: Any, lang: str, div_id: str = "chart-funnel") -> Markup | None:
    frame = result.to_pandas()
    frame = frame[frame["group"] == "all"] if "group" in frame else frame
    if frame.empty or int(frame["reached"].max() or 0) == 0:
        return None
    html = responsive(
        lambda narrow: charts.funnel_bars(frame, lang, narrow),
        div_id,
        min_width=charts.funnel_width(frame["phase"]),
    )
    return Markup(html)


def early_churn(result: Any, lang: str, div_id: str = "chart-early-churn") -> Markup | None:
    frame = result.to_pandas()
    cohorts = frame[(frame["cohort"] != "all") & (frame["known"] > 0)].tail(12)
    if cohorts.empty:
        return None
    html = responsive(
        lambda narrow: charts.early_churn_bars(cohorts, result.overall, result.days, lang, narrow),
        div_id,
        min_width=category_width(charts.cohort_labels(cohorts, lang)),
    )
    return Markup(html)


def dropoff(result: Any, lang: str, div_id: str = "chart-dropoff") -> Markup | None:
    frame = result.to_pandas()
    if frame.empty:
        return None
    return Markup(responsive(lambda narrow: charts.dropoff_bars(frame, lang, narrow), div_id))


def trend(result: Any, metric: str, lang: str, div_id: str, compact: bool = False) -> Markup | None:
    """One metric per month: the score as a line, its 95% interval as a band, n on hover.
    ``compact`` draws it small, for a card beside others (the overview's scores)."""
    frame = result.to_pandas()
    frame = frame[frame["metric"] == metric].sort_values("group")
    if frame.empty:
        return None

    def draw(narrow: bool) -> go.Figure:
        rows = frame.tail(NARROW_MONTHS) if narrow else frame
        figure = go.Figure()
        months = month_traces(figure, rows, lang, lambda value: number(value, lang, 1))
        small = compact or narrow
        layout(figure, lang, 170 if compact else 240)
        figure.update_layout(margin={"l": 34, "r": 8, "t": 10, "b": 28})
        figure.update_xaxes(type="category", tickangle=0)
        if small:  # the first and last month, level, rather than a column of them
            ends = [months[0], months[-1]] if len(months) > 1 else months
            figure.update_xaxes(tickvals=ends, tickfont={"size": 10})
            figure.update_yaxes(nticks=4, tickfont={"size": 10})
        else:
            figure.update_xaxes(nticks=8)
        return figure

    return Markup(responsive(draw, div_id))


def as_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records)
