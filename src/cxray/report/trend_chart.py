"""A score per month: the line is the score, the band its 95% interval, small dots months with
too few answers; n on hover. The narrow layout keeps the latest 12 months."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go

from cxray.report.plotting import BLUE, GREY, layout, rgba, wrap
from cxray.report.text import number

NARROW_MONTHS = 12


def month_traces(
    figure: go.Figure, rows: pd.DataFrame, lang: str, fmt: Callable[[float], str], name: str = ""
) -> list[str]:
    """The band and the line of one metric's months (sorted) on ``figure``; returns the months.
    Shared with the web app's compact trends."""
    months = [str(month) for month in rows["group"]]
    band = rows[rows["low"].notna() & rows["high"].notna()]
    if not band.empty:
        figure.add_trace(
            go.Scatter(
                x=[*band["group"].astype(str), *band["group"].astype(str)[::-1]],
                y=[*band["high"], *band["low"][::-1]],
                fill="toself",
                fillcolor=rgba(BLUE, 0.15),
                line={"width": 0},
                hoverinfo="skip",
                name="95%",
                showlegend=False,
            )
        )

    def shown(value: float) -> str:  # a month too thin for an interval has none
        return "–" if pd.isna(value) else fmt(value)

    hover = [
        f"{month}<br>{shown(score)} (95%: {shown(low)}–{shown(high)})<br>n = {number(n, lang)}"
        for month, score, low, high, n in zip(
            months, rows["score"], rows["low"], rows["high"], rows["n"], strict=True
        )
    ]
    few = rows["too_few"].astype(bool)
    figure.add_trace(
        go.Scatter(
            x=months,
            y=list(rows["score"]),
            mode="lines+markers",
            line={"color": BLUE, "width": 2},
            marker={
                "size": [6 if f else 9 for f in few],
                "color": [GREY if f else BLUE for f in few],
            },
            hovertext=hover,
            hoverinfo="text",
            name=name,
            showlegend=False,
        )
    )
    return months


def trend_line(
    rows: pd.DataFrame,
    lang: str,
    title: str,
    axis: str,
    score_range: tuple[float, float] | None,
    fmt: Callable[[float], str],
    narrow: bool = False,
) -> go.Figure:
    """``rows``: one metric's months (``group`` as YYYY-MM, score, low, high, n, too_few)."""
    rows = rows.sort_values("group")
    if narrow:
        rows = rows.tail(NARROW_MONTHS)
    figure = go.Figure()
    months = month_traces(figure, rows, lang, fmt, title)
    layout(figure, lang, 280 if narrow else 320)
    figure.update_layout(
        title={"text": wrap(title, 34) if narrow else title, "x": 0, "font": {"size": 14}},
        margin={"l": 10, "r": 20, "t": 60 if narrow else 44, "b": 10},
        showlegend=False,
    )
    # half a month's room at each end keeps the first month's label clear of the y labels
    pad = 0.8 if narrow else 0.5
    figure.update_xaxes(
        type="category", tickangle=0, nticks=4 if narrow else 12,
        categoryorder="array", categoryarray=months, range=[-pad, len(months) - 1 + pad],
    )  # fmt: skip
    figure.update_yaxes(title_text=wrap(axis, 22 if narrow else 30))
    if score_range is not None:  # a little room past the scale's ends keeps their labels clear
        low, high = score_range
        room = (high - low) * 0.06
        figure.update_yaxes(range=[low - room, high + room])
    return figure
