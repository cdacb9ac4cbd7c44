"""The demo report in a real browser at a desktop and a phone width: nothing runs past its card.

Chromium (Debian's ``chromium`` package) is driven through Playwright. Each chart, table and
every text a chart draws must lie inside its section's card and the window, the page must not
scroll sideways, and the texts of a chart (tick labels, axis titles, bar and point labels,
annotations, legend) must not overlap one another. Screenshots of every page are kept in a
temporary folder (or in ``$CXRAY_SCREENSHOTS``), its path printed with ``-s``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

import cxray
from cxray.demo import generate_demo
from cxray.report import collect, render

WIDTHS = (1400, 400)
CHROMIUM = os.environ.get("CXRAY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TOLERANCE = 1.0  # px: rounding of sub-pixel layout

# Runs in the page: every problem as a plain sentence, none when the page fits.
MEASURE = """
(tolerance) => {
  const problems = [];
  const viewport = document.documentElement.clientWidth;
  const box = (el) => el.getBoundingClientRect();
  const inside = (inner, outer) =>
    inner.left >= outer.left - tolerance && inner.right <= outer.right + tolerance &&
    inner.top >= outer.top - tolerance && inner.bottom <= outer.bottom + tolerance;
  // labels closer than a gap of GAP px read as one ("1,0002,000"): that counts as overlap
  const GAP = 2;
  const overlap = (a, b) =>
    Math.min(a.right, b.right) - Math.max(a.left, b.left) > -GAP &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > tolerance;
  const shown = (el) => {
    const r = box(el);
    if (r.width < 0.5 || r.height < 0.5 || !el.textContent.trim()) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && style.display !== "none" && style.opacity !== "0";
  };
  const name = (el) => JSON.stringify(el.textContent.trim().slice(0, 40));
  if (document.documentElement.scrollWidth > viewport + tolerance) {
    problems.push(`page is ${document.documentElement.scrollWidth}px wide in a ${viewport}px window`);
  }
  const windowBox = {left: 0, right: viewport, top: -1e9, bottom: 1e9};
  const cards = [...document.querySelectorAll("header, .summary, section, footer")];
  for (const card of cards) {
    const where = card.id || card.tagName.toLowerCase();
    const cardBox = box(card);
    if (!inside(cardBox, windowBox)) problems.push(`${where}: the card runs past the window`);
    const blocks = card.querySelectorAll("table, .chart, .cards, .card, p, li, h1, h2");
    for (const block of blocks) {
      if (!inside(box(block), cardBox)) {
        problems.push(`${where}: ${block.tagName.toLowerCase()}.${block.className} ` +
                      `runs past its card (${Math.round(box(block).right)} > ${Math.round(cardBox.right)})`);
      }
    }
    // every Plotly graph (drawn ones carry js-plotly-plot) and every chart place of the report
    for (const chart of card.querySelectorAll(".chart, .js-plotly-plot")) {
      const chartBox = box(chart);
      if (chartBox.height < 50) problems.push(`${where}: chart ${chart.id} was not drawn`);
      const texts = [...chart.querySelectorAll("svg text")].filter(shown);
      for (const text of texts) {
        if (!inside(box(text), chartBox)) {
          problems.push(`${where}: text ${name(text)} is cut off at the edge of chart ${chart.id}`);
        }
      }
      // a label drawn on the data (a bar's count, a point's n) is cut where the plot area ends:
      // that area is the clip path of the data layer, in the layer's own coordinates
      for (const plot of chart.querySelectorAll("g.overplot > g[clip-path], g.plot[clip-path]")) {
        const id = (plot.getAttribute("clip-path").match(/#([^)"']+)/) || [])[1];
        const clip = id && document.getElementById(id);
        const rect = clip && clip.querySelector("rect");
        if (!rect) continue;
        const m = plot.getScreenCTM();
        const at = (key) => parseFloat(rect.getAttribute(key) || "0");
        const area = {
          left: m.e + at("x") * m.a, top: m.f + at("y") * m.d,
          right: m.e + (at("x") + at("width")) * m.a, bottom: m.f + (at("y") + at("height")) * m.d,
        };
        for (const text of [...plot.querySelectorAll("text")].filter(shown)) {
          if (!inside(box(text), area)) {
            problems.push(`${where}: text ${name(text)} is cut off by the plot area of ${chart.id}`);
          }
        }
      }
      // the labels a reader must tell apart: ticks, axis titles, bar and point labels,
      // annotations, legend entries and Sankey node names
      const labels = texts.filter((t) => t.closest(
        "g.xtick, g.ytick, [class$='tick'], [class*='title'], g.textpoint, g.annotation, " +
        "g.legend, g.node-label, .node-label, .bartext, g.point"));
      for (let i = 0; i < labels.length; i++) {
        for (let j = i + 1; j < labels.length; j++) {
          if (labels[i].contains(labels[j]) || labels[j].contains(labels[i])) continue;
          if (overlap(box(labels[i]), box(labels[j]))) {
            problems.push(`${where}: ${name(labels[i])} overlaps ${name(labels[j])} in ${chart.id}`);
          }
        }
      }
    }
  }
  return problems;
}
"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo_pages(tmp_path_factory) -> dict[str, Path]:
    """The demo company's report in English and Dutch, as files."""
    folder = tmp_path_factory.mktemp("report-widths")
    generate_demo(folder / "demo", customers=1500, seed=7)
    ws = cxray.open(folder / "demo", read_only=True)
    try:
        data = collect(ws, strict=True)
    finally:
        ws.close()
    pages = {}
    for lang in ("en", "nl"):
        page = folder / f"report-{lang}.html"
        html = render(data, lang, strict=True, today=dt.date(2026, 7, 1))
        # the later sections are measured too, with their charts
        for key in ("trend", "canvas", "why", "risk"):
            assert f'<section id="{key}">' in html
        for chart in ("cxray-trend-nps", "cxray-emotion", "cxray-dose", "cxray-nps-drivers"):
            assert f'id="{chart}"' in html
        page.write_text(html, "utf-8")
        pages[lang] = page
    return pages


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """A temporary folder, or the one CXRAY_SCREENSHOTS names (to keep the pictures)."""
    chosen = os.environ.get("CXRAY_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("report-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nreport screenshots: {folder}")
    return folder


def measure(browser, page_file: Path, width: int, screenshot: Path | None = None) -> list[str]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(page_file.as_uri())
        page.wait_for_function(
            "[...document.querySelectorAll('.chart')].every(c => c.querySelector('svg'))"
        )
        page.wait_for_timeout(300)  # Plotly's automargin redraws once after the first draw
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        return page.evaluate(MEASURE, TOLERANCE)
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_demo_report_fits_the_window(browser, demo_pages, screenshots, width, lang):
    problems = measure(browser, demo_pages[lang], width, screenshots / f"report-{lang}-{width}.png")
    assert problems == []


@pytest.mark.slow
def test_a_narrow_window_draws_the_narrow_layouts(browser, demo_pages):
    """At 400 px the funnel and early churn run down the side; at 1400 px across."""
    orientation = """
    () => Object.fromEntries(["cxray-funnel", "cxray-early-churn"].map(
      (id) => [id, document.getElementById(id).data[0].orientation]))
    """
    for width, expected in ((1400, "v"), (400, "h")):
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            page.goto(demo_pages["en"].as_uri())
            page.wait_for_function("document.getElementById('cxray-funnel').data")
            found = page.evaluate(orientation)
            assert found == {"cxray-funnel": expected, "cxray-early-churn": expected}
            # and back: a window made wider draws the wide layout again
            page.set_viewport_size({"width": 1400 if width == 400 else 400, "height": 900})
            page.wait_for_timeout(600)
            flipped = "v" if expected == "h" else "h"
            assert page.evaluate(orientation)["cxray-funnel"] == flipped
        finally:
            page.close()


@pytest.mark.slow
def test_the_measure_finds_a_table_that_runs_past_its_card(browser, tmp_path):
    """The check itself can fail: a wide table and two overlapping labels are reported."""
    page = tmp_path / "wide.html"
    page.write_text(
        "<!DOCTYPE html><html><body><section id='s' style='width:300px'>"
        "<table><tr>" + "<td>a_long_unbreakable_cell_value</td>" * 4 + "</tr></table>"
        "<div class='chart' id='c' style='height:100px'><svg width='300' height='100'>"
        "<g class='xtick'><text x='10' y='50'>first label</text></g>"
        "<g class='xtick'><text x='20' y='50'>second label</text></g>"
        "</svg></div></section></body></html>",
        "utf-8",
    )
    problems = measure(browser, page, 400)
    assert any("table" in problem and "runs past its card" in problem for problem in problems)
    assert any("overlaps" in problem for problem in problems)
    assert any("page is" in problem for problem in problems)
