"""The flows chart of the report: where customers go next from each phase, as a Sankey."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from cxray.report.plotting import BLUE, DARK_BLUE, GREY, MUTED, ORANGE, layout, rgba
from cxray.report.text import say


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
        rgba(ORANGE, 0.5) if backward else rgba(GREY, 0.4) if target == end else rgba(BLUE, 0.35)
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
    layout(figure, lang, 460)
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
