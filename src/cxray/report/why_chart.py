"""The charts of why customers leave, shared by the report and the web why page: churn by the
number of bad experiences, and the key drivers of the overall score as an importance ×
performance grid. Each draws what its analysis gave."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from cxray.report.plotting import BLUE, GREY, MUTED, RED, layout, responsive, wrap
from cxray.report.text import number, percent

GREEN = "#059669"
# the four quadrants of the grid: colour, English, Dutch
QUADRANTS = {
    "fix_first": (RED, "fix first", "eerst verbeteren"),
    "keep_up": (BLUE, "keep up", "vasthouden"),
    "nice_to_have": (GREEN, "nice to have", "mooi meegenomen"),
    "low_priority": (GREY, "low priority", "lage prioriteit"),
}

LABELLED = ("fix_first", "keep_up")  # quadrants whose points carry their names


def _t(lang: str, en: str, nl: str) -> str:
    return nl if lang == "nl" else en


def dose_response(result: Any, lang: str, div_id: str = "chart-dose") -> Markup | None:
    """Chance of churning within the horizon per number of bad experiences, with 95% intervals."""
    levels = result.levels[result.levels["exposure_days"] > 0]
    if levels.empty:
        return None
    horizon = number(result.horizon_days, lang)

    def draw(narrow: bool) -> go.Figure:
        share = levels["churn_within_horizon"].astype(float)
        high = (levels["churn_upper"].astype(float) - share).clip(lower=0)
        low = (share - levels["churn_lower"].astype(float)).clip(lower=0)
        hover = [
            f"{percent(s, lang)} ({percent(lo, lang)}–{percent(hi, lang)}), n = {number(n, lang)}"
            for s, lo, hi, n in zip(
                share,
                levels["churn_lower"],
                levels["churn_upper"],
                levels["customers"],
                strict=True,
            )
        ]
        figure = go.Figure(
            go.Bar(
                x=[str(label) for label in levels["label"]],
                y=share,
                marker={"color": RED},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": high,
                    "arrayminus": low,
                    "color": MUTED,
                    "thickness": 1.5,
                    "width": 6,
                },
                text=[f"n = {number(n, lang)}" for n in levels["customers"]],
                textposition="inside",
                insidetextanchor="start",
                hovertext=hover,
                hoverinfo="text",
                showlegend=False,
            )
        )
        layout(figure, lang, 300 if narrow else 340)
        figure.update_xaxes(
            type="category",
            title_text=_t(lang, "Bad experiences so far", "Slechte ervaringen tot nu toe"),
        )
        title = _t(lang, f"Churn within {horizon} days", f"Vertrek binnen {horizon} dagen")
        figure.update_yaxes(
            tickformat=".0%", rangemode="tozero", title_text=wrap(title, 22) if narrow else title
        )
        return figure

    return Markup(responsive(draw, div_id))


def nps_quadrant(result: Any, lang: str, div_id: str = "chart-nps-drivers") -> Markup | None:
    """Importance (share of R², 95% interval) against performance, one colour per quadrant.

    The dashed lines are the bars the quadrants use: an equal share of R² across the drivers
    and the overall score's own position on its scale. Drivers without a scale (no
    performance) cannot be placed and are left to the table.
    """
    frame = result.frame
    placed = frame[frame["performance"].notna() & frame["importance"].notna()]
    if placed.empty:
        return None
    equal_share = 1.0 / len(frame)
    bar = result.reference if result.reference == result.reference else 0.5

    def draw(narrow: bool) -> go.Figure:
        figure = go.Figure()
        for key, (colour, en, nl) in QUADRANTS.items():
            part = placed[placed["quadrant"] == key]
            if part.empty:
                continue
            names = [str(name) for name in part["driver"]]
            high = (part["importance_high"] - part["importance"]).clip(lower=0).fillna(0)
            low = (part["importance"] - part["importance_low"]).clip(lower=0).fillna(0)
            figure.add_trace(
                go.Scatter(
                    x=part["performance"],
                    y=part["importance"],
                    # names on the important ones only (the rest crowd the bottom); on
                    # hover for every driver, and in the table below
                    mode="markers" if narrow or key not in LABELLED else "markers+text",
                    text=None if narrow or key not in LABELLED else [wrap(n, 22) for n in names],
                    textposition="top center",
                    name=_t(lang, en, nl),
                    marker={"size": 11, "color": colour},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": high,
                        "arrayminus": low,
                        "color": colour,
                        "thickness": 1.5,
                        "width": 4,
                    },
                    hovertext=[
                        f"<b>{name}</b><br>{_t(lang, 'share of R²', 'aandeel in R²')} "
                        f"{percent(imp, lang)}<br>{_t(lang, 'performance', 'prestatie')} "
                        f"{percent(perf, lang)} · n = {number(n, lang)}"
                        for name, imp, perf, n in zip(
                            names, part["importance"], part["performance"], part["n"], strict=True
                        )
                    ],
                    hoverinfo="text",
                )
            )
        line = {"color": MUTED, "dash": "dash", "width": 1}
        figure.add_hline(y=equal_share, line=line)
        figure.add_vline(x=bar, line=line)
        layout(figure, lang, 380 if narrow else 460)
        figure.update_xaxes(
            title_text=_t(lang, "Performance (higher is better)", "Prestatie (hoger is beter)"),
            tickformat=".0%",
            range=[-0.05, 1.05],
        )
        highest = placed[["importance", "importance_high"]].max(axis=1, skipna=True).max()
        top = max(float(highest), equal_share) if math.isfinite(highest) else equal_share
        figure.update_yaxes(
            title_text=_t(lang, "Importance (share of R²)", "Belang (aandeel in R²)"),
            tickformat=".0%",
            range=[0, min(1.05, top * 1.2 + 0.02)],
        )
        return figure

    return Markup(responsive(draw, div_id))
