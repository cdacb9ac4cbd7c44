"""Plotly figures for the report, drawn from the small frames the analyses return.

Each function takes already-computed rows and the language and returns a ``go.Figure``; nothing
here queries the warehouse. :func:`figure_html` turns a figure into a ``<div>`` plus its
``Plotly.newPlot`` call, without plotly.js (the report embeds the bundle once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cxray.report.text import PLOTLY_SEPARATORS, number, percent, say

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
BLUE = "#2563eb"
DARK_BLUE = "#1e3a8a"
RED = "#dc2626"
ORANGE = "#ea580c"
GREY = "#9ca3af"
LIGHT_GREY = "#d1d5db"
# one colour per survival group, distinguishable for the common colour-vision deficiencies
GROUP_COLOURS = ["#2563eb", "#ea580c", "#059669", "#9333ea", "#b45309", "#0891b2", "#db2777"]
# no tool bar: it covers titles and labels, and a report is read, not edited
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}
LIFT_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
# a survival curve has a step per distinct lifetime; a page needs no more points than pixels
MAX_CURVE_POINTS = 600


def figure_html(figure: go.Figure, div_id: str) -> str:
    """The figure as an HTML fragment that expects plotly.js to be loaded already."""
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=CONFIG,
        default_width="100%",
    )


def _layout(figure: go.Figure, lang: str, height: int, **extra: object) -> go.Figure:
    figure.update_layout(
        height=height,
        separators=PLOTLY_SEPARATORS[lang],
        font={"family": FONT, "size": 13, "color": INK},
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 10, "r": 20, "t": 36, "b": 10},
        hoverlabel={"font": {"family": FONT}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        **extra,
    )
    figure.update_xaxes(gridcolor=GRID, zerolinecolor=GRID, automargin=True)
    figure.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, automargin=True)
    return figure


def _rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


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
) -> go.Figure:
    """Dot-with-error-bar chart: one row per group (``label``, n, score, low, high, too_few).

    The best score is drawn at the top; groups flagged ``too_few`` are hollow and grey.
    """
    rows = rows.sort_values(["score", "label"], ascending=[True, False])
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
    height = 130 + 28 * len(rows)
    _layout(figure, lang, height, showlegend=bool(rows["too_few"].any()))
    figure.update_layout(
        margin={"t": 70},
        title={
            "text": f"<b>{title}</b>",
            "x": 0,
            "xanchor": "left",
            "y": 0.98,
            "yanchor": "top",
            "font": {"size": 15},
        },
        legend={"y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    figure.update_xaxes(title_text=axis_title, range=score_range)
    figure.update_yaxes(
        categoryorder="array", categoryarray=list(rows["axis_label"]), showgrid=False
    )
    return figure


# -- funnel ---------------------------------------------------------------------------------
def funnel_bars(rows: pd.DataFrame, lang: str) -> go.Figure:
    """Stacked bars per phase: converted, dropped and censored apart (they add up to reached)."""
    phases = list(rows["phase"])
    steps = rows[rows["next_phase"].notna()]
    last = rows[rows["next_phase"].isna()]
    figure = go.Figure()
    count = "%{y:,.0f}"
    figure.add_trace(
        go.Bar(
            x=steps["phase"],
            y=steps["converted"].astype(float),
            name=say(lang, "converted"),
            marker={"color": BLUE},
            hovertemplate=f"%{{x}}: {count} " + say(lang, "converted") + "<extra></extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=last["phase"],
            y=last["reached"].astype(float),
            name=say(lang, "reached_last"),
            marker={"color": DARK_BLUE},
            hovertemplate=f"%{{x}}: {count} " + say(lang, "reached_last") + "<extra></extra>",
        )
    )
    drop_text = [
        percent(share, lang) if dropped else ""
        for share, dropped in zip(steps["drop_share"], steps["dropped"], strict=True)
    ]
    figure.add_trace(
        go.Bar(
            x=steps["phase"],
            y=steps["dropped"].astype(float),
            name=say(lang, "dropped"),
            marker={"color": RED},
            text=drop_text,
            textposition="inside",
            insidetextanchor="middle",
            textfont={"color": "white"},
            hovertemplate=f"%{{x}}: {count} " + say(lang, "dropped") + "<extra></extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=steps["phase"],
            y=steps["censored"].astype(float),
            name=say(lang, "censored"),
            marker={
                "color": "#f3f4f6",
                "line": {"color": GREY, "width": 1},
                "pattern": {"shape": "/", "fgcolor": GREY, "size": 6},
            },
            hovertemplate=f"%{{x}}: {count} " + say(lang, "censored") + "<extra></extra>",
        )
    )
    # the number who reached each phase, written above its bar
    figure.add_trace(
        go.Scatter(
            x=rows["phase"],
            y=rows["reached"].astype(float),
            mode="text",
            text=[f"n = {number(n, lang)}" for n in rows["reached"]],
            textposition="top center",
            textfont={"color": INK, "size": 12},
            showlegend=False,
            hoverinfo="skip",
        )
    )
    top = float(rows["reached"].max() or 1)
    _layout(figure, lang, 380, barmode="stack", bargap=0.35, legend_traceorder="normal")
    # a share that does not fit its slice is left to the table below the chart
    figure.update_layout(uniformtext={"minsize": 11, "mode": "hide"})
    figure.update_layout(margin={"t": 50})
    figure.update_xaxes(categoryorder="array", categoryarray=phases, showgrid=False)
    figure.update_yaxes(
        title_text=say(lang, "customers_axis"), range=[0, top * 1.12], tickformat=",d"
    )
    return figure


# -- survival -------------------------------------------------------------------------------
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
                fillcolor=_rgba(colour, 0.15),
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
    _layout(figure, lang, 400, showlegend=len(labels) > 1, hovermode="closest")
    figure.update_layout(margin={"t": 40})
    figure.update_xaxes(title_text=say(lang, "days_axis"), rangemode="tozero")
    figure.update_yaxes(title_text=say(lang, "survival_axis"), range=[0, 1.02], tickformat=".0%")
    return figure


# -- early churn ----------------------------------------------------------------------------
def early_churn_bars(
    cohorts: pd.DataFrame, overall: pd.Series | None, days: int, lang: str
) -> go.Figure:
    """Share churned within ``days`` per start month, with Wilson intervals and n on the axis."""
    ticks = [
        f"{cohort}<br>n = {number(n, lang)}"
        for cohort, n in zip(cohorts["cohort"], cohorts["known"], strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=ticks,
            y=cohorts["share"],
            marker={"color": BLUE},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (cohorts["upper"] - cohorts["share"]).clip(lower=0),
                "arrayminus": (cohorts["share"] - cohorts["lower"]).clip(lower=0),
                "color": INK,
                "thickness": 1.5,
                "width": 4,
            },
            customdata=np.column_stack(
                [cohorts["lower"], cohorts["upper"], cohorts["churned"], cohorts["known"]]
            ),
            hovertemplate=(
                "%{y:.1%} (%{customdata[0]:.1%} – %{customdata[1]:.1%})<br>"
                "%{customdata[2]:,.0f} / %{customdata[3]:,.0f}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    if overall is not None and overall["known"] > 0:
        figure.add_hline(
            y=float(overall["share"]),
            line={"color": MUTED, "dash": "dash", "width": 1},
            annotation_text=say(lang, "early_overall", share=percent(overall["share"], lang)),
            annotation_position="top left",
            annotation_font={"color": MUTED, "size": 12},
            annotation_bgcolor="rgba(255,255,255,0.85)",
        )
    upper = float(np.nanmax(cohorts["upper"])) if len(cohorts) else 1.0
    _layout(figure, lang, 360, bargap=0.3)
    figure.update_xaxes(title_text=say(lang, "cohort_axis"), showgrid=False, tickangle=0)
    figure.update_yaxes(
        title_text=say(lang, "early_axis", days=days),
        tickformat=".0%",
        range=[0, min(1.0, upper * 1.15 + 0.01)],
    )
    return figure


# -- phase Sankey ---------------------------------------------------------------------------
def _node_order(present: set[str], phases: Sequence[str], start: str, end: str) -> list[str]:
    """Start, the journey's phases in order, phases the journey does not know, end."""
    others = sorted(present - set(phases) - {start, end})
    return [node for node in (start, *phases, *others, end) if node in present]


def _column_positions(values: list[float], pad: float = 0.04) -> list[float]:
    """Centres for stacked nodes of these sizes in a column from 0 to 1, with gaps between."""
    total = sum(values) or 1.0
    room = 1.0 - pad * (len(values) - 1) if len(values) > 1 else 1.0
    room = max(room, 0.2)
    centres, top = [], 0.0
    for value in values:
        height = room * value / total
        centres.append(min(max(top + height / 2, 0.001), 0.999))
        top += height + pad
    return centres


def phase_sankey(
    sankey: pd.DataFrame, phases: Sequence[str], start: str, end: str, lang: str
) -> go.Figure:
    """Where customers go next from each phase, as a two-column Sankey.

    Left: the phase a customer is in (or their first contact); right: the phase of the next
    interaction in another phase (or their last contact). Two columns keep every move, back
    moves included (drawn in orange), without the loops a one-column-per-phase Sankey needs.
    """
    sources = _node_order(set(sankey["source_phase"]), phases, start, end)
    targets = _node_order(set(sankey["target_phase"]), phases, start, end)
    names = {start: say(lang, "start_node"), end: say(lang, "end_node")}
    left = {node: i for i, node in enumerate(sources)}
    right = {node: len(sources) + i for i, node in enumerate(targets)}
    out_of = sankey.groupby("source_phase")["transitions"].sum()
    into = sankey.groupby("target_phase")["transitions"].sum()
    colours = [
        _rgba(ORANGE, 0.5) if backward else _rgba(GREY, 0.4) if target == end else _rgba(BLUE, 0.35)
        for backward, target in zip(sankey["backward"], sankey["target_phase"], strict=True)
    ]
    moves = say(lang, "moves")
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            valueformat=",.0f",
            node={
                "label": [names.get(node, node) for node in (*sources, *targets)],
                "color": [
                    GREY if node in (start, end) else DARK_BLUE for node in (*sources, *targets)
                ],
                "x": [0.001] * len(sources) + [0.999] * len(targets),
                "y": _column_positions([float(out_of[node]) for node in sources])
                + _column_positions([float(into[node]) for node in targets]),
                "pad": 14,
                "thickness": 18,
                "line": {"width": 0},
                "hovertemplate": f"%{{label}}: %{{value:,.0f}} {moves}<extra></extra>",
            },
            link={
                "source": [left[node] for node in sankey["source_phase"]],
                "target": [right[node] for node in sankey["target_phase"]],
                "value": sankey["transitions"].astype(float),
                "color": colours,
                "customdata": sankey["customers"],
                "hovertemplate": (
                    f"%{{source.label}} → %{{target.label}}: %{{value:,.0f}} {moves}, "
                    f"%{{customdata:,.0f}} {say(lang, 'customers')}<extra></extra>"
                ),
            },
        )
    )
    _layout(figure, lang, 460)
    figure.update_layout(margin={"l": 10, "r": 10, "t": 36, "b": 10})
    for x, anchor, key in ((0, "left", "sankey_from"), (1, "right", "sankey_to")):
        figure.add_annotation(
            x=x,
            y=1.0,
            xref="paper",
            yref="paper",
            xanchor=anchor,
            yanchor="bottom",
            text=f"<b>{say(lang, key)}</b>",
            showarrow=False,
            font={"color": MUTED, "size": 12},
        )
    return figure


# -- last touchpoint before leaving --------------------------------------------------------
def dropoff_bars(rows: pd.DataFrame, lang: str) -> go.Figure:
    """Left: leavers with each touchpoint last; right: its lift with the 95% interval (log)."""
    rows = rows.iloc[::-1]  # most leavers at the top
    figure = make_subplots(
        rows=1, cols=2, shared_yaxes=True, column_widths=[0.55, 0.45], horizontal_spacing=0.04
    )
    bar_text = [
        f"{number(n, lang)} ({percent(share, lang)})"
        for n, share in zip(rows["churners_last"], rows["share_of_churners"], strict=True)
    ]
    figure.add_trace(
        go.Bar(
            x=rows["churners_last"].astype(float),
            y=rows["axis_label"],
            orientation="h",
            marker={"color": RED},
            text=bar_text,
            textposition="auto",
            showlegend=False,
            hovertemplate="%{y}: %{x:,.0f}<extra></extra>",
            cliponaxis=False,
        ),
        row=1,
        col=1,
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
            row=1,
            col=2,
        )
    figure.add_vline(x=1, line={"color": MUTED, "dash": "dash", "width": 1}, row=1, col=2)
    _layout(figure, lang, 100 + 34 * len(rows))
    figure.update_xaxes(title_text=say(lang, "leavers_axis"), row=1, col=1, tickformat=",d")
    lifts = pd.concat([rows["lift_low"], rows["lift_high"], pd.Series([1.0])]).dropna()
    lifts = lifts[lifts > 0]
    low, high = float(lifts.min()) / 1.25, float(lifts.max()) * 1.25
    ticks = [tick for tick in LIFT_TICKS if low <= tick <= high]
    figure.update_xaxes(
        title_text=say(lang, "lift_axis"),
        type="log",
        range=[math.log10(low), math.log10(high)],
        tickvals=ticks,
        ticktext=[number(tick, lang, 2 if tick < 0.1 else 1 if tick < 1 else 0) for tick in ticks],
        row=1,
        col=2,
    )
    figure.update_yaxes(
        showgrid=False, categoryorder="array", categoryarray=list(rows["axis_label"])
    )
    return figure
