"""What every report chart shares: colours, the layout, label wrapping and the HTML of a chart.

A chart is drawn twice where one layout cannot serve every width: a *wide* figure and a *narrow*
one (for phones and narrow windows). :func:`chart_html` writes both as JSON beside an empty
``<div>``; the report's own script draws the one that fits the width the div has, and draws again
when that changes. plotly.js is not included: the report embeds the bundle once.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable

import plotly.graph_objects as go
import plotly.io as pio

from cxray.report.text import PLOTLY_SEPARATORS

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
# below this width (px) a chart drawn in two layouts uses its narrow one
NARROW_WIDTH = 560
# an upper bound on the width of one character of 13 px text in the report's fonts, in px
CHAR_WIDTH = 7.5
# characters per line in a narrow chart: of a label or an axis title (which is centred on the
# plot, beside the labels), and of a chart's title (which has the whole width)
NARROW_LABEL = 22
NARROW_TITLE = 34


def layout(figure: go.Figure, lang: str, height: int, **extra: object) -> go.Figure:
    """The report's look: fonts, white paper, light grid, legend above the plot."""
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
    # a gap between the y labels and the axis keeps the lowest one clear of the x axis' first
    figure.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, automargin=True, ticklabelstandoff=8)
    return figure


def rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (Plotly's ``<br>``).

    Words longer than a line are broken too (touchpoint keys have no spaces); text that
    already holds ``<br>`` is wrapped per line.
    """
    lines: list[str] = []
    for line in str(text).split("<br>"):
        lines.extend(textwrap.wrap(line, width, break_on_hyphens=False) or [""])
    return "<br>".join(lines)


def text_width(label: str) -> float:
    """About how wide ``label`` is at 13 px, in px: its longest line."""
    return CHAR_WIDTH * max((len(line) for line in str(label).split("<br>")), default=0)


def category_width(
    labels: Iterable[str], gap: float = 16.0, margin: float = 90.0, count: int | None = None
) -> int:
    """The width a chart needs to write ``count`` labels (default: all) side by side.

    Plotly gives every category the same room, so the widest label sets it for all.
    """
    labels = list(labels)
    widest = max((text_width(label) for label in labels), default=0.0)
    return int(margin + (len(labels) if count is None else count) * (widest + gap))


def _figure_json(figure: go.Figure) -> str:
    return pio.to_json(figure, validate=False, remove_uids=True)


def chart_html(
    wide: go.Figure, div_id: str, narrow: go.Figure | None = None, min_width: int = NARROW_WIDTH
) -> str:
    """An empty ``<div>`` and the figures for it as JSON; the report's script draws them.

    ``narrow`` (when given) is drawn where the div is narrower than ``min_width`` px.
    """
    spec = (
        f'{{"wide":{_figure_json(wide)},'
        f'"narrow":{_figure_json(narrow) if narrow is not None else "null"},'
        f'"minWidth":{int(min_width)},"config":{json.dumps(CONFIG)}}}'
    )
    # JSON inside <script>: "</" would end the element early
    spec = spec.replace("</", "<\\/").replace("<!--", "<\\!--")
    return (
        f'<div class="chart" id="{div_id}"></div>\n'
        f'<script type="application/json" class="chart-spec" data-for="{div_id}">{spec}</script>'
    )


def responsive(
    draw: Callable[[bool], go.Figure], div_id: str, min_width: int = NARROW_WIDTH
) -> str:
    """:func:`chart_html` of ``draw(narrow=False)`` and ``draw(narrow=True)``."""
    return chart_html(draw(False), div_id, draw(True), max(min_width, NARROW_WIDTH))


# The report's script: draw each chart in the layout that fits its width; redraw on resize.
CHART_SCRIPT = """
(function () {
  var charts = [];
  function draw(chart) {
    var width = chart.div.clientWidth;
    var mode = chart.spec.narrow && width < chart.spec.minWidth ? "narrow" : "wide";
    if (mode === chart.mode) { return; }
    chart.mode = mode;
    var figure = chart.spec[mode];
    Plotly.react(chart.div, figure.data, figure.layout, chart.spec.config);
  }
  document.querySelectorAll("script.chart-spec").forEach(function (node) {
    var div = document.getElementById(node.getAttribute("data-for"));
    if (div) { charts.push({div: div, spec: JSON.parse(node.textContent), mode: null}); }
  });
  charts.forEach(draw);
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { charts.forEach(draw); }, 150);
  });
})();
"""
