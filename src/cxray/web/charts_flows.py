"""The flows page's charts: the report's two-column Sankey, for phases and for touchpoints.

Both draw what the flows analysis counted; nothing here counts. A narrow window (a phone) gets
the largest moves only, with shorter labels, so that the two columns of labels do not run into
each other; the page's tables hold every move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from markupsafe import Markup

from cxray.analysis.flows import END, START
from cxray.labels import phase_label
from cxray.report import charts
from cxray.report.plotting import NARROW_WIDTH, responsive, text_width
from cxray.report.sankey_chart import phase_sankey as two_column_sankey

NARROW_LINKS = 8  # moves a narrow Sankey keeps: the largest
NARROW_LABEL = 16  # characters of a node's label in a narrow Sankey
# room beside the two columns of nodes (their bars, padding and margins), in px
SANKEY_MARGIN = 120


def _short(label: str, width: int = NARROW_LABEL) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _unique_short(names: dict[str, str]) -> dict[str, str]:
    """Short labels, still one per node (a node is known by its label)."""
    short: dict[str, str] = {}
    taken: set[str] = set()
    for key, label in names.items():
        candidate, n = _short(label), 2
        while candidate in taken:
            candidate, n = f"{_short(label, NARROW_LABEL - 3)} {n}", n + 1
        taken.add(candidate)
        short[key] = candidate
    return short


def _min_width(labels: Sequence[str]) -> int:
    """The width at which the left labels and the right ones fit side by side."""
    widest = max((text_width(label) for label in labels), default=0.0)
    return max(NARROW_WIDTH, int(2 * widest + SANKEY_MARGIN))


def phase_sankey(
    sankey: pd.DataFrame, phases: Sequence[str], lang: str, div_id: str = "chart-phase-sankey"
) -> Markup | None:
    """Where customers go next from each phase (the flows result's ``sankey`` rows)."""
    if sankey.empty:
        return None
    rows = sankey.sort_values("transitions", ascending=False, kind="stable")
    present = {*rows["source_phase"], *rows["target_phase"]} - {START, END}
    names = {phase: phase_label(str(phase), lang) for phase in present}
    shorts = _unique_short(names)

    def draw(narrow: bool) -> object:
        shown = (rows.head(NARROW_LINKS) if narrow else rows).copy()
        chosen = shorts if narrow else names
        for column in ("source_phase", "target_phase"):
            shown[column] = [chosen.get(value, value) for value in shown[column]]
        ordered = [chosen.get(phase, phase) for phase in phases]
        return two_column_sankey(shown, ordered, START, END, lang)

    return Markup(responsive(draw, div_id, min_width=_min_width(list(names.values()))))


def touchpoint_sankey(
    steps: pd.DataFrame,
    order: Sequence[str],
    labels: dict[str, str],
    lang: str,
    div_id: str = "chart-touchpoint-sankey",
) -> Markup | None:
    """The ``steps`` (flows edges: source, target, count, customers) from touchpoint to touchpoint.

    ``order`` is the journey's order of touchpoints (nodes are stacked in it); ``labels`` the
    names to show for them.
    """
    if steps.empty:
        return None
    steps = steps.sort_values("count", ascending=False, kind="stable")
    keys = list(dict.fromkeys([*order, *steps["source"], *steps["target"]]))
    wide_names = {key: labels.get(key) or key for key in keys}
    narrow_names = _unique_short(wide_names)

    def draw(narrow: bool) -> object:
        names = narrow_names if narrow else wide_names
        rows = steps.head(NARROW_LINKS) if narrow else steps
        shown = pd.DataFrame(
            {
                "source_phase": [names[key] for key in rows["source"]],
                "target_phase": [names[key] for key in rows["target"]],
                "transitions": rows["count"].to_numpy(),
                "customers": rows["customers"].to_numpy(),
                "backward": False,
            }
        )
        return two_column_sankey(shown, [names[key] for key in order], START, END, lang)

    names = [labels.get(key) or key for key in (*steps["source"], *steps["target"])]
    return Markup(responsive(draw, div_id, min_width=_min_width(names)))


def dropoff(
    result: Any, labels: dict[str, str], lang: str, div_id: str = "chart-dropoff"
) -> Markup | None:
    """The report's drop-off chart: leavers last seen at each touchpoint, and its lift."""
    frame = result.to_pandas()
    if result.churners == 0 or frame.empty or "touchpoint" not in frame:
        return None
    frame = frame[frame["churners_last"] > 0].copy()
    if frame.empty:
        return None
    frame["label"] = [labels.get(tp) or tp for tp in frame["touchpoint"]]
    frame["axis_label"] = frame["label"]
    html = responsive(
        lambda narrow: charts.dropoff_bars(frame, lang, narrow),
        div_id,
        min_width=charts.dropoff_width(frame["label"]),
    )
    return Markup(html)
