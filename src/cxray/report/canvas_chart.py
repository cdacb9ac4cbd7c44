"""The journey canvas's emotion curve, shared by the report and the web canvas: the experience
(0–100) across touchpoints, grouped by phase.

One line through the touchpoints in journey order with its 95% interval as a band and a face at
each point for its mood (the fifth of the scale the analysis placed it in); a dashed line per
phase at the phase's own level; a dotted line for the answers tied to no touchpoint. The wide
layout runs the touchpoints across (grouped under their phase), the narrow one down the side.
Nothing is computed here that the canvas analysis has not given.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from cxray.i18n import number
from cxray.labels import phase_label
from cxray.report.plotting import (
    BLUE,
    DARK_BLUE,
    GREY,
    MUTED,
    category_width,
    layout,
    responsive,
    rgba,
    wrap,
)

FACES = {"very_bad": "☹️", "bad": "🙁", "neutral": "😐", "good": "🙂", "very_good": "😀"}
MOOD_COLOURS = {
    "very_bad": "#dc2626",
    "bad": "#ea580c",
    "neutral": "#9ca3af",
    "good": "#65a30d",
    "very_good": "#059669",
}
WIDE_LABEL = 16  # characters per line of a touchpoint under the wide chart
NARROW_LABEL = 18


def face(mood: str | None) -> str:
    """The face of a mood ("" without one)."""
    return FACES.get(mood or "", "")


def _points(result: Any) -> list[dict[str, Any]]:
    """The touchpoints with an experience value, in the canvas's order (phase, then journey)."""
    order = {phase: k for k, phase in enumerate(result.phases["phase"])}
    frame = result.touchpoints[result.touchpoints["experience"].notna()].copy()
    frame["_order"] = frame["phase"].map(order)
    frame = frame.sort_values("_order", kind="stable")
    return frame.to_dict(orient="records")


def emotion_curve(result: Any, lang: str, div_id: str = "chart-emotion") -> Markup | None:
    points = _points(result)
    if not points:
        return None
    phases = {row["phase"]: row for row in result.phases.to_dict(orient="records")}
    wide_labels = [wrap(p["label"], WIDE_LABEL) for p in points]
    group_labels = [wrap(phase_label(p["phase"], lang), WIDE_LABEL) for p in points]
    min_width = category_width(wide_labels + group_labels, margin=110, count=len(points))

    def hover(row: dict[str, Any], name: str) -> str:
        value = number(row["experience"], lang)
        if row["experience_low"] == row["experience_low"]:
            low, high = (number(row[k], lang) for k in ("experience_low", "experience_high"))
            value += f" (95%: {low}–{high})"
        few = ""
        if row.get("too_few"):
            few = "<br>" + ("weinig antwoorden" if lang == "nl" else "few answers")
        return f"{name}<br>{value}<br>n = {number(row['experience_n'], lang)}{few}"

    def draw(narrow: bool) -> go.Figure:
        if narrow:
            cats: Any = [
                f"{wrap(p['label'], NARROW_LABEL)}<br><span style='color:{MUTED}'>"
                f"{phase_label(p['phase'], lang)}</span>"
                for p in points
            ]
        else:
            cats = [group_labels, wide_labels]

        def at(values: list[Any]) -> dict[str, Any]:
            # the category runs along x in the wide layout and along y in the narrow one
            return {"y": cats, "x": values} if narrow else {"x": cats, "y": values}

        figure = go.Figure()
        known = [p for p in points if p["experience_low"] == p["experience_low"]]
        if len(known) == len(points):  # the band needs every point's interval
            figure.add_trace(
                go.Scatter(
                    **at([p["experience_high"] for p in points]),
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
            figure.add_trace(
                go.Scatter(
                    **at([p["experience_low"] for p in points]),
                    mode="lines",
                    line={"width": 0},
                    fill="tonextx" if narrow else "tonexty",
                    fillcolor=rgba(BLUE, 0.15),
                    hoverinfo="skip",
                    name="95%",
                )
            )

        def along(indices: list[int], values: list[float]) -> dict[str, Any]:
            """The points ``indices`` of the category axis at ``values``."""
            if narrow:
                return {"y": [cats[i] for i in indices], "x": values}
            return {
                "x": [[cats[0][i] for i in indices], [cats[1][i] for i in indices]],
                "y": values,
            }

        # a dashed level per phase, across the phase's own touchpoints
        first = True
        for name, row in phases.items():
            members = [i for i, p in enumerate(points) if p["phase"] == name]
            if not members or row["experience"] != row["experience"]:
                continue
            text = hover(row, phase_label(name, lang))
            figure.add_trace(
                go.Scatter(
                    **along(members, [row["experience"]] * len(members)),
                    mode="lines+markers",
                    line={"color": DARK_BLUE, "width": 1.5, "dash": "dash"},
                    marker={"symbol": "line-ns-open" if narrow else "line-ew-open", "size": 16},
                    hovertext=[text] * len(members),
                    hoverinfo="text",
                    name="fase" if lang == "nl" else "phase",
                    legendgroup="phase",
                    showlegend=first,
                )
            )
            first = False
        overall = result.journey_wide or {}
        value = overall.get("experience")
        if value is not None and value == value:
            where = ", ".join(m.upper() for m in overall.get("metrics", []))
            name = ("zonder contactmoment" if lang == "nl" else "no touchpoint") + (
                f" ({where})" if where else ""
            )
            ends = [0, len(points) - 1]
            figure.add_trace(
                go.Scatter(
                    **along(ends, [value, value]),
                    mode="lines",
                    line={"color": GREY, "width": 1.5, "dash": "dot"},
                    hovertext=[hover(overall, name)] * 2,
                    hoverinfo="text",
                    name=name,
                )
            )
        moods = [p.get("mood") for p in points]
        figure.add_trace(
            go.Scatter(
                **at([p["experience"] for p in points]),
                mode="lines+markers+text",
                line={"color": BLUE, "width": 2.5},
                marker={
                    "size": 32,
                    "color": [rgba(MOOD_COLOURS.get(m or "", GREY), 0.25) for m in moods],
                    "line": {
                        "color": [MOOD_COLOURS.get(m or "", GREY) for m in moods],
                        "width": 1.5,
                    },
                },
                text=[face(m) for m in moods],
                textposition="middle center",
                textfont={"size": 20},
                hovertext=[hover(p, p["label"]) for p in points],
                hoverinfo="text",
                name="beleving" if lang == "nl" else "experience",
            )
        )
        axis = {
            "range": [-8, 108],
            "tickvals": [0, 20, 40, 60, 80, 100],
            "title": {"text": ("beleving (0–100)" if lang == "nl" else "experience (0–100)")},
            "zeroline": False,
        }
        height = max(300, 70 * len(points) + 120) if narrow else 380
        layout(figure, lang, height)
        if narrow:
            figure.update_xaxes(**axis)
            figure.update_yaxes(autorange="reversed", type="category")
        else:
            figure.update_yaxes(**axis)
            figure.update_xaxes(type="multicategory", tickangle=0)
        figure.update_layout(margin={"l": 10, "r": 20, "t": 50, "b": 10})
        return figure

    return Markup(responsive(draw, div_id, min_width=min_width))
