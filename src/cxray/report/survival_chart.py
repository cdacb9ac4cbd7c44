"""The survival chart of the report: Kaplan–Meier curves with their bands, one per group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cxray.report.plotting import GROUP_COLOURS, layout, rgba
from cxray.report.text import say

# a survival curve has a step per distinct lifetime; a page needs no more points than pixels
MAX_CURVE_POINTS = 600


def thin_curve(curve: pd.DataFrame, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """At most about ``max_points`` steps of one curve, for drawing only.

    Time is cut into equal buckets and each keeps its last step, so the drawn value is exact at
    every kept time and no step is off by more than one bucket.
    """
    if len(curve) <= max_points:
        return curve
    times = curve["time_days"].to_numpy(float)
    width = (times.max() - times.min()) / max_points
    bucket = np.floor((times - times.min()) / width)
    keep = np.r_[bucket[1:] != bucket[:-1], True]
    keep[0] = True
    return curve[keep]


def survival_curves(curve: pd.DataFrame, labels: dict[object, str], lang: str) -> go.Figure:
    """Kaplan–Meier step lines with their 95% bands, one colour per group."""
    figure = go.Figure()
    for index, (group, name) in enumerate(labels.items()):
        part = curve[curve["group"].isna()] if group is None else curve[curve["group"] == group]
        part = thin_curve(part.sort_values("time_days"))
        if part.empty:
            continue
        colour = GROUP_COLOURS[index % len(GROUP_COLOURS)]
        figure.add_trace(
            go.Scatter(
                x=part["time_days"],
                y=part["upper"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=part["time_days"],
                y=part["lower"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                fill="tonexty",
                fillcolor=rgba(colour, 0.15),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=part["time_days"],
                y=part["survival"],
                mode="lines",
                name=name,
                legendgroup=name,
                line={"color": colour, "width": 2.5, "shape": "hv"},
                customdata=np.column_stack([part["lower"], part["upper"], part["at_risk"]]),
                hovertemplate=(
                    f"<b>{name}</b><br>%{{x:,.0f}} " + say(lang, "days_axis") + ": %{y:.1%} "
                    "(%{customdata[0]:.1%} – %{customdata[1]:.1%})<br>n = %{customdata[2]:,.0f}"
                    "<extra></extra>"
                ),
            )
        )
    layout(figure, lang, 400, showlegend=len(labels) > 1, hovermode="closest")
    figure.update_layout(margin={"t": 40})
    figure.update_xaxes(title_text=say(lang, "days_axis"), rangemode="tozero")
    figure.update_yaxes(title_text=say(lang, "survival_axis"), range=[0, 1.02], tickformat=".0%")
    return figure
