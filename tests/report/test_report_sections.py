"""The report's later sections on the demo company: scores over time, the journey canvas, why
customers leave, who is about to leave; and the report as a PDF."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import cxray
from cxray.analysis.drivers import drivers
from cxray.analysis.lifetimes import data_end
from cxray.analysis.risk import risk
from cxray.cells import ratio
from cxray.demo import generate_demo
from cxray.report import collect, render, write_report
from cxray.report.pdf import PdfUnavailable, chromium_path
from cxray.report.text import number, percent, say
from tests.report.test_report import sections_of

JOURNEY = {
    "touchpoints": {
        "visit": {"phase": "consideration", "channel": "web"},
        "order": {"phase": "conversion", "channel": "web"},
        "cancel": {"phase": "loyalty", "channel": "web"},
    },
    "churn": {"touchpoints": ["cancel"]},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-sections") / "demo"
    generate_demo(folder, customers=800, seed=11)
    ws = cxray.open(folder, read_only=True)
    data = collect(ws, strict=True)
    pages = {lang: render(data, lang, strict=True) for lang in ("en", "nl")}
    yield ws, data, pages
    ws.close()


def text(body: str) -> str:
    """The words of some HTML, tags out and entities read."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", body))


def part(body: str, section: str, key: str) -> str:
    found = re.search(rf'<div class="part" id="{section}-{key}">(.*?)\n  </div>', body, re.S)
    assert found, (section, key)
    return found.group(1)


def test_scores_over_time_match_the_answers_per_month(demo):
    ws, data, pages = demo
    section = sections_of(pages["en"])["trend"]
    assert section.count('<div class="chart"') == len(
        set(data.outcomes["trend"].result.frame["metric"])
    )
    # NPS of the latest month, counted from the answers themselves
    answers = ws.feedback.filter(ws.feedback.metric == "nps").execute()
    answers["month"] = pd.to_datetime(answers["ts"]).dt.strftime("%Y-%m")
    latest = answers[answers["month"] == answers["month"].max()]
    nps = 100 * ((latest["score"] >= 9).mean() - (latest["score"] <= 6).mean())
    cells = re.findall(r"<td[^>]*>(.*?)</td>", section)
    rows = [cells[i : i + 5] for i in range(0, len(cells), 5)]
    row = next(r for r in rows if r[0] == latest["month"].iloc[0] and r[1] == "NPS")
    assert row[2] == number(nps, "en", 0, sign=True)
    assert row[4].startswith(number(len(latest), "en"))


def test_the_canvas_has_every_phase_with_its_touchpoints(demo):
    ws, data, pages = demo
    result = data.outcomes["canvas"].result
    body = sections_of(pages["en"])["canvas"]
    board = part(body, "canvas", "phases")
    assert board.count('<div class="column">') == len(result.phases)
    # the busiest touchpoint's interactions, counted from the events, in its phase's column
    events = ws.events.execute()
    busiest = events["touchpoint"].value_counts()
    name = busiest.index[0]
    row = result.touchpoints.set_index("touchpoint").loc[name]
    assert row["events"] == busiest.iloc[0]
    columns = board.split('<div class="column">')[1:]
    phase_at = list(result.phases["phase"]).index(row["phase"])
    assert f"{number(busiest.iloc[0], 'en')} interactions" in columns[phase_at]
    assert row["label"] in text(columns[phase_at])
    assert 'id="cxray-emotion"' in body
    # the opportunities in the canvas's own order, tagged
    chances = result.opportunities.frame
    items = re.findall(r'<span class="tag (quick|long)">', part(body, "canvas", "opportunities"))
    assert items == ["quick" if h == "quick_win" else "long" for h in chances["horizon"]]
    assert result.summary("en") in text(body)


def test_why_customers_leave_shows_the_drivers_own_numbers(demo):
    ws, data, pages = demo
    found = drivers(ws)  # run again: the report must show what the analysis gives
    first = found.drivers.iloc[0]
    body = sections_of(pages["en"])["why"]
    table = part(body, "why", "drivers")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table)
    assert ratio(first["hazard_ratio"], "en") in cells
    low, high = ratio(first["hr_lower"], "en"), ratio(first["hr_upper"], "en")
    assert f"{low}–{high}" in cells
    assert found.sentence(first, "en") in text(table)
    dose = data.outcomes["dose_response"].result
    assert dose.summary("en") in text(part(body, "why", "dose"))
    assert 'id="cxray-dose"' in body and 'id="cxray-nps-drivers"' in body
    assert data.outcomes["nps_drivers"].result.summary("en") in text(part(body, "why", "nps"))
    assert data.outcomes["themes"].result.summary("en") in text(part(body, "why", "themes"))


def test_the_risk_summary_counts_the_bands_and_lists_ten(demo):
    ws, _, pages = demo
    scored = risk(ws, as_of=data_end(ws))
    counts = scored.frame["band"].value_counts()
    body = sections_of(pages["en"])["risk"]
    scores = re.findall(r'<div class="score">(.*?)</div>', body)
    assert scores[:3] == [number(counts.get(band, 0), "en") for band in ("high", "medium", "low")]
    assert scores[3] == number(scored.expected, "en")
    first = scored.frame.iloc[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]  # the header row first
    assert len(rows) == min(10, len(scored.frame))
    assert str(first["customer_id"]) in rows[0]
    assert percent(first["probability"], "en", 1) in rows[0]
    assert scored.summary("en") in text(body)
    assert "of " + number(int(counts.get("high", 0)), "en") + " high-risk" in text(body)


def test_dutch_headings_and_words(demo):
    _, _, pages = demo
    sections = sections_of(pages["nl"])
    for key, title in (
        ("trend", "Scores door de tijd"),
        ("canvas", "Klantreiscanvas"),
        ("why", "Waarom klanten vertrekken"),
        ("risk", "Wie staat op het punt te vertrekken"),
    ):
        assert f"<h2>{title}</h2>" in sections[key]
        assert title == say("nl", f"{key}_title")
    assert "Oorzaken van vertrek" in sections["why"] and "Churn drivers" not in sections["why"]
    assert "Emotiecurve" in sections["canvas"] and "Contactmomenten" in sections["canvas"]
    assert "Hoog risico" in sections["risk"] and "High risk" not in sections["risk"]


def test_without_feedback_each_section_says_why(make_workspace):
    events = [
        {"customer_id": f"c{i}", "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i),
         "touchpoint": tp}
        for i in range(40)
        for tp in (["visit", "order"] if i % 2 else ["visit"])
    ]  # fmt: skip
    ws = make_workspace(events=events, journey=JOURNEY, name="no-feedback")
    page = render(collect(ws, strict=True), "en", strict=True)
    sections = sections_of(page)
    assert say("en", "no_scores") in sections["trend"]
    assert 'class="column"' in sections["canvas"]  # volumes still fill the canvas
    assert "No scored answers at any touchpoint yet." in sections["canvas"]
    why = sections["why"]
    assert why.count('<div class="part"') == 4
    assert "Cannot be computed on this data: no churn observed" in text(why)
    assert sections["risk"]  # present, with its one line
    assert "Traceback" not in page


needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="no Chromium (Debian: apt-get install chromium)"
)


@needs_chromium
def test_the_report_as_a_pdf(demo, tmp_path):
    ws, _, _ = demo
    written = write_report(ws, tmp_path / "report.pdf", lang="nl")
    content = written.read_bytes()
    assert content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", content)) >= 3
    beside = write_report(ws, tmp_path / "both" / "report.html", pdf=True)
    assert beside.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert (tmp_path / "both" / "report.pdf").read_bytes().startswith(b"%PDF")


def test_a_missing_chromium_is_one_line_saying_how_to_install(demo, tmp_path, monkeypatch):
    ws, _, _ = demo
    monkeypatch.setenv("CXRAY_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(PdfUnavailable, match="apt-get install chromium"):
        write_report(ws, tmp_path / "report.pdf")
    assert not (tmp_path / "report.pdf").exists()
    from cxray.cli import app

    answer = CliRunner().invoke(
        app, ["report", str(Path(ws.path)), "-o", str(tmp_path / "r.html"), "--pdf"]
    )
    assert answer.exit_code == 1
    said = answer.output.strip()
    assert "apt-get install chromium" in said and "Traceback" not in said
    assert len(said.splitlines()) <= 2  # one line (the terminal may wrap it once)
    assert not (tmp_path / "r.html").exists()


def test_the_web_uses_the_moved_charts():
    from cxray.report import canvas_chart, why_chart
    from cxray.web import charts_canvas, charts_why

    assert charts_canvas.emotion_curve is canvas_chart.emotion_curve
    assert charts_why.dose_response is why_chart.dose_response
    assert charts_why.nps_quadrant is why_chart.nps_quadrant
