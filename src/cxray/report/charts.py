"""Plotly figures for the report, drawn from the small frames the analyses return.

Each function takes already-computed rows and the language and returns a ``go.Figure``; nothing
here queries the warehouse. Charts whose labels cannot fit a phone's width in their wide layout
take ``narrow=True`` for a layout that does (categories down the side, wrapped labels, panels one
above the other); :func:`cxray.report.plotting.responsive` ships both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cxray.report.plotting import (
    BLUE,
    DARK_BLUE,
    GREY,
    INK,
    MUTED,
    NARROW_LABEL,
    NARROW_TITLE,
    ORANGE,
    RED,
    category_width,
    wrap,
)
from cxray.report.plotting import layout as _layout
from cxray.report.text import number, percent, say

LIFT_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
# the dot-and-bar and drop-off charts write their labels beside the plot: keep room for the plot
WIDE_SIDE_LABELS = 620


# -- scores per touchpoint ------------------------------------------------------------------
def score_dots(
    rows: pd.DataFrame,
    lang: str,
    title: str,
    axis_title: str,
    score_range: tuple[float, float] | None,
    overall: float | None,
    min_n: int,
    format_score: Callable[[float], str],
    narrow: bool = False,
) -> go.Figure:
    """Dot-with-error-bar chart: one row per group (``label``, n, score, low, high, too_few).

    The best score is drawn at the top; groups flagged ``too_few`` are hollow and grey (the
    section's introduction says so: a legend would compete with the title for the top line).
    Each row is labelled with its n; ``narrow`` writes n under the label and wraps long text.
    """
    rows = rows.sort_values(["score", "label"], ascending=[True, False]).copy()
    rows["axis_label"] = [
        f"{wrap(label, NARROW_LABEL)}<br>n = {number(n, lang)}"
        if narrow
        else f"{label}  (n = {number(n, lang)})"
        for label, n in zip(rows["label"], rows["n"], strict=True)
    ]
    figure = go.Figure()
    for flagged, colour, name in (
        (False, BLUE, say(lang, "trusted", min_n=min_n)),
        (True, GREY, say(lang, "untrusted", min_n=min_n)),
    ):
        part = rows[rows["too_few"] == flagged]
        if part.empty:
            continue
        low = (part["score"] - part["low"]).fillna(0).clip(lower=0)
        high = (part["high"] - part["score"]).fillna(0).clip(lower=0)
        hover = [
            f"<b>{label}</b><br>{format_score(score)} "
            f"({format_score(lo)} – {format_score(hi)})<br>n = {number(n, lang)}"
            for label, score, lo, hi, n in zip(
                part["label"], part["score"], part["low"], part["high"], part["n"], strict=True
            )
        ]
        figure.add_trace(
            go.Scatter(
                x=part["score"],
                y=part["axis_label"],
                mode="markers",
                name=name,
                marker={
                    "size": 10,
                    "color": "white" if flagged else colour,
                    "line": {"color": colour, "width": 2},
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": high,
                    "arrayminus": low,
                    "color": colour,
                    "thickness": 2,
                    "width": 4,
                },
                hovertext=hover,
                hoverinfo="text",
            )
        )
    if overall is not None and not math.isnan(overall):
        figure.add_vline(
            x=overall,
            line={"color": MUTED, "dash": "dash", "width": 1},
            annotation_text=f"{say(lang, 'overall')} {format_score(overall)}",
            annotation_position="top",
            annotation_font={"color": MUTED, "size": 12},
        )
    title = wrap(title, NARROW_TITLE) if narrow else title
    axis_title = wrap(axis_title, NARROW_LABEL) if narrow else axis_title
    title_lines = title.count("<br>") + 1
    row_height = 18 * (1 + max(label.count("<br>") for label in rows["axis_label"])) + 10
    # room for the plot itself, whatever the titles and labels around it take
    height = (
        100 + 20 * title_lines + 18 * axis_title.count("<br>") + max(28, row_height) * len(rows)
    )
    _layout(figure, lang, height, showlegend=False)
    figure.update_layout(
        margin={"t": 50 + 20 * title_lines},
        title={
            "text": f"<b>{title}</b>",
            "x": 0,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": 6},
            "font": {"size": 15},
        },
    )
    figure.update_xaxes(title_text=axis_title, range=score_range)
    figure.update_yaxes(
        categoryorder="array", categoryarray=list(rows["axis_label"]), showgrid=False
    )
    return figure


# -- funnel ---------------------------------------------------------------------------------
def funnel_bars(rows: pd.DataFrame, lang: str, narrow: bool = False) -> go.Figure:
    """Stacked bars per phase: converted, dropped and censored apart (they add up to reached).

    Wide: one column per phase, the number who reached it written above. ``narrow``: one bar
    per phase down the side, first phase at the top, that number under the phase's name.
    """
    rows = rows.copy()
    if narrow:
        rows["label"] = [
            f"{wrap(str(phase), NARROW_LABEL)}<br>n = {number(n, lang)}"
            for phase, n in zip(rows["phase"], rows["reached"], strict=True)
        ]
    else:
        rows["label"] = rows["phase"].astype(str)
    steps = rows[rows["next_phase"].notna()]
    last = rows[rows["next_phase"].isna()]

    def bar(part: pd.DataFrame, values: pd.Series, name: str, **style: object) -> go.Bar:
        category, count = ("y", "x") if narrow else ("x", "y")
        return go.Bar(
            **{category: part["label"], count: values.astype(float)},
            orientation="h" if narrow else "v",
            name=name,
            hovertemplate=f"%{{{category}}}: %{{{count}:,.0f}} {name}<extra></extra>",
            **style,
        )

    figure = go.Figure()
    figure.add_trace(bar(steps, steps["converted"], say(lang, "converted"), marker={"color": BLUE}))
    figure.add_trace(
        bar(last, last["reached"], say(lang, "reached_last"), marker={"color": DARK_BLUE})
    )
    drop_text = [
        percent(share, lang) if dropped else ""
        for share, dropped in zip(steps["drop_share"], steps["dropped"], strict=True)
    ]
    figure.add_trace(
        bar(
            steps,
            steps["dropped"],
            say(lang, "dropped"),
            marker={"color": RED},
            text=drop_text,
            textposition="inside",
            insidetextanchor="middle",
            textfont={"color": "white"},
        )
    )
    figure.add_trace(
        bar(
            steps,
            steps["censored"],
            say(lang, "censored"),
            marker={
                "color": "#f3f4f6",
                "line": {"color": GREY, "width": 1},
                "pattern": {"shape": "/", "fgcolor": GREY, "size": 6},
            },
        )
    )
    top = float(rows["reached"].max() or 1)
    labels = list(rows["label"])
    if narrow:
        row_height = 18 * (1 + max(label.count("<br>") for label in labels)) + 16
        _layout(
            figure,
            lang,
            130 + row_height * len(rows),
            barmode="stack",
            bargap=0.3,
            legend_traceorder="normal",
        )
        figure.update_yaxes(
            categoryorder="array", categoryarray=labels, autorange="reversed", showgrid=False
        )
        figure.update_xaxes(
            title_text=say(lang, "customers_axis"), range=[0, top * 1.02], tickformat=",d"
        )
    else:
        # the number who reached each phase, written above its bar
        figure.add_trace(
            go.Scatter(
                x=labels,
                y=rows["reached"].astype(float),
                mode="text",
                text=[f"n = {number(n, lang)}" for n in rows["reached"]],
                textposition="top center",
                textfont={"color": INK, "size": 12},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        _layout(figure, lang, 380, barmode="stack", bargap=0.35, legend_traceorder="normal")
        figure.update_layout(margin={"t": 50})
        figure.update_xaxes(categoryorder="array", categoryarray=labels, showgrid=False)
        figure.update_yaxes(
            title_text=say(lang, "customers_axis"), range=[0, top * 1.12], tickformat=",d"
        )
    # a share that does not fit its slice is left to the table below the chart
    figure.update_layout(uniformtext={"minsize": 11, "mode": "hide"})
    return figure


def funnel_width(phases: Sequence[str]) -> int:
    """The width the wide funnel needs: each column holds its phase and "n = 12,345"."""
    return category_width([*map(str, phases), "n = 000,000"], gap=24, count=len(phases))


# -- early churn ----------------------------------------------------------------------------
def early_churn_bars(
    cohorts: pd.DataFrame,
    overall: pd.Series | None,
    days: int,
    lang: str,
    narrow: bool = False,
) -> go.Figure:
    """Share churned within ``days`` per start month, with Wilson intervals and n on the axis.

    Wide: one column per month, n under it. ``narrow``: one bar per month down the side,
    oldest at the top, n beside the month.
    """
    labels = cohort_labels(cohorts, lang, narrow)
    share, category = ("x", "y") if narrow else ("y", "x")
    errors = {
        "type": "data",
        "symmetric": False,
        "array": (cohorts["upper"] - cohorts["share"]).clip(lower=0),
        "arrayminus": (cohorts["share"] - cohorts["lower"]).clip(lower=0),
        "color": INK,
        "thickness": 1.5,
        "width": 4,
    }
    figure = go.Figure(
        go.Bar(
            **{category: labels, share: cohorts["share"], f"error_{share}": errors},
            orientation="h" if narrow else "v",
            marker={"color": BLUE},
            customdata=np.column_stack(
                [cohorts["lower"], cohorts["upper"], cohorts["churned"], cohorts["known"]]
            ),
            hovertemplate=(
                f"%{{{share}:.1%}} (%{{customdata[0]:.1%}} – %{{customdata[1]:.1%}})<br>"
                "%{customdata[2]:,.0f} / %{customdata[3]:,.0f}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    if overall is not None and overall["known"] > 0:
        share_all = float(overall["share"])
        line = {"color": MUTED, "dash": "dash", "width": 1}
        text = say(lang, "early_overall", share=percent(share_all, lang))
        if narrow:
            # above the plot where the line starts; "auto" keeps it inside near either edge
            figure.add_vline(x=share_all, line=line)
            figure.add_annotation(
                x=share_all,
                y=1,
                yref="paper",
                yanchor="bottom",
                xanchor="auto",
                text=text,
                showarrow=False,
                font={"color": MUTED, "size": 12},
            )
        else:
            figure.add_hline(
                y=share_all,
                line=line,
                annotation_text=text,
                annotation_position="top left",
                annotation_font={"color": MUTED, "size": 12},
                annotation_bgcolor="rgba(255,255,255,0.85)",
            )
    upper = float(np.nanmax(cohorts["upper"])) if len(cohorts) else 1.0
    share_title = say(lang, "early_axis", days=days)
    share_axis = {
        "title_text": wrap(share_title, NARROW_LABEL) if narrow else share_title,
        "tickformat": ".0%",
        "range": [0, min(1.0, upper * 1.15 + 0.01)],
    }
    if narrow:
        _layout(figure, lang, 130 + 30 * len(cohorts), bargap=0.25)
        figure.update_layout(margin={"t": 40})
        figure.update_xaxes(**share_axis)
        figure.update_yaxes(
            title_text=say(lang, "cohort_axis"),
            showgrid=False,
            categoryorder="array",
            categoryarray=labels,
            autorange="reversed",
        )
    else:
        _layout(figure, lang, 360, bargap=0.3)
        figure.update_xaxes(title_text=say(lang, "cohort_axis"), showgrid=False, tickangle=0)
        figure.update_yaxes(**share_axis)
    return figure


def cohort_labels(cohorts: pd.DataFrame, lang: str, narrow: bool = False) -> list[str]:
    """Each start month with the number of customers it holds."""
    joint = "  " if narrow else "<br>"
    return [
        f"{cohort}{joint}n = {number(n, lang)}"
        for cohort, n in zip(cohorts["cohort"], cohorts["known"], strict=True)
    ]


# -- last touchpoint before leaving --------------------------------------------------------
def dropoff_bars(rows: pd.DataFrame, lang: str, narrow: bool = False) -> go.Figure:
    """Leavers with each touchpoint last, and its lift with the 95% interval (log scale).

    Wide: the two side by side, sharing the touchpoints down the side, each count on its bar.
    ``narrow``: the count above the lift, each panel as wide as the page and with its own
    labels; the count is written under the touchpoint, where a bar may be too short for it.
    """
    rows = rows.iloc[::-1].copy()  # most leavers at the top
    bar_text = [
        f"{number(n, lang)} ({percent(share, lang)})"
        for n, share in zip(rows["churners_last"], rows["share_of_churners"], strict=True)
    ]
    rows["axis_label"] = [
        wrap(label, NARROW_LABEL) if narrow else label for label in rows["axis_label"]
    ]
    count_labels = [
        f"{label}<br>{text}" if narrow else label
        for label, text in zip(rows["axis_label"], bar_text, strict=True)
    ]
    if narrow:
        lines = 1 + max(label.count("<br>") for label in count_labels)
        panel = (18 * lines + 14) * len(rows)
        height = 2 * panel + 200
        figure = make_subplots(
            rows=2,
            cols=1,
            vertical_spacing=90 / height,
            subplot_titles=[
                f"<b>{say(lang, 'leavers_axis')}</b>",
                f"<b>{say(lang, 'lift_axis')}</b>",
            ],
        )
        figure.update_annotations(font={"size": 13, "color": MUTED}, x=0, xanchor="left")
        count_cell, lift_cell = {"row": 1, "col": 1}, {"row": 2, "col": 1}
    else:
        figure = make_subplots(
            rows=1, cols=2, shared_yaxes=True, column_widths=[0.55, 0.45], horizontal_spacing=0.04
        )
        count_cell, lift_cell = {"row": 1, "col": 1}, {"row": 1, "col": 2}
        height = 100 + 34 * len(rows)
    figure.add_trace(
        go.Bar(
            x=rows["churners_last"].astype(float),
            y=count_labels,
            orientation="h",
            marker={"color": RED},
            text=None if narrow else bar_text,
            # inside the longest bars, after the others: the room the axis range leaves
            textposition="auto",
            showlegend=False,
            hovertemplate="%{y}: %{x:,.0f}<extra></extra>",
        ),
        **count_cell,
    )
    lift_hover = [
        f"<b>{label}</b><br>{say(lang, 'lift')} {number(lift, lang, 2)} "
        f"({number(low, lang, 2)} – {number(high, lang, 2)})"
        for label, lift, low, high in zip(
            rows["label"], rows["lift"], rows["lift_low"], rows["lift_high"], strict=True
        )
    ]
    # orange: clearly more often last among leavers; blue: clearly less; grey: no clear difference
    clearly = np.where(rows["lift_low"] > 1, ORANGE, np.where(rows["lift_high"] < 1, BLUE, GREY))
    for colour in (ORANGE, GREY, BLUE):
        part = rows[clearly == colour]
        if part.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=part["lift"],
                y=part["axis_label"],
                mode="markers",
                showlegend=False,
                marker={"size": 10, "color": colour},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["lift_high"] - part["lift"]).clip(lower=0),
                    "arrayminus": (part["lift"] - part["lift_low"]).clip(lower=0),
                    "color": colour,
                    "thickness": 2,
                    "width": 4,
                },
                hovertext=[lift_hover[i] for i in np.flatnonzero(clearly == colour)],
                hoverinfo="text",
            ),
            **lift_cell,
        )
    figure.add_vline(x=1, line={"color": MUTED, "dash": "dash", "width": 1}, **lift_cell)
    _layout(figure, lang, height)
    most = float(rows["churners_last"].max() or 1)
    figure.update_xaxes(
        title_text=None if narrow else say(lang, "leavers_axis"),
        tickformat=",d",
        # room right of the longest bars for a count that does not fit inside its bar
        range=[0, most * (1.05 if narrow else 1.3)],
        nticks=3 if narrow else None,
        tickangle=0,
        **count_cell,
    )
    lifts = pd.concat([rows["lift_low"], rows["lift_high"], pd.Series([1.0])]).dropna()
    lifts = lifts[lifts > 0]
    low, high = float(lifts.min()) / 1.25, float(lifts.max()) * 1.25
    ticks = lift_ticks(low, high, 5 if narrow else 7)
    figure.update_xaxes(
        title_text=None if narrow else say(lang, "lift_axis"),
        type="log",
        range=[math.log10(low), math.log10(high)],
        tickvals=ticks,
        ticktext=[number(tick, lang, 2 if tick < 0.1 else 1 if tick < 1 else 0) for tick in ticks],
        **lift_cell,
    )
    figure.update_yaxes(showgrid=False, categoryorder="array")
    figure.update_yaxes(categoryarray=count_labels, **count_cell)
    figure.update_yaxes(categoryarray=list(rows["axis_label"]), **lift_cell)
    return figure


def lift_ticks(low: float, high: float, most: int) -> list[float]:
    """Ticks for a log-scale lift axis from ``low`` to ``high``, about ``most`` across at most.

    The densest of 1-2-5 per decade, powers of ten, or every other power of ten whose ticks lie
    at least a ``most``-th of the axis apart: labels on a log axis crowd where ticks bunch.
    """
    inside = [tick for tick in LIFT_TICKS if low <= tick <= high]
    tens = [tick for tick in inside if math.log10(tick).is_integer()]
    room = (math.log10(high) - math.log10(low)) / most
    for ticks in (inside, tens):
        gaps = np.diff(np.log10(ticks)) if len(ticks) > 1 else np.array([np.inf])
        if gaps.min() >= room - 1e-9:
            return ticks
    return tens[::2]


def dropoff_width(labels: Sequence[str]) -> int:
    """The width the side-by-side drop-off chart needs: its labels and two usable panels."""
    widest = max((len(str(label)) for label in labels), default=0)
    return int(WIDE_SIDE_LABELS + 7.5 * widest)
