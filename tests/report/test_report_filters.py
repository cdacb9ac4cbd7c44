"""The report's segment and period filters: what each keeps, and that the header names them."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxray.analysis.filters import apply_filters
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.cli import app
from cxray.report import FilterError, ReportFilter, build_report, collect, render
from cxray.report.text import say
from tests.report.test_report import JOURNEY, synthetic_rows

ROWS = synthetic_rows()


@pytest.fixture
def shop(make_workspace):
    return make_workspace(**ROWS, journey=JOURNEY)


def filter_chips(html: str) -> list[str]:
    found = re.search(r'<ul class="filters"[^>]*>(.*?)</ul>', html, flags=re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def test_a_segment_keeps_its_customers_and_only_their_interactions_and_answers(shop):
    business = {row["customer_id"] for row in ROWS["customers"] if row["segment"] == "business"}
    data = collect(shop, strict=True, filters=ReportFilter.parse(segment="business"))
    assert data.counts == {
        "customers": len(business),
        "events": sum(row["customer_id"] in business for row in ROWS["events"]),
        "feedback": sum(row["customer_id"] in business for row in ROWS["feedback"]),
    }
    assert data.segment_by is None  # one segment left: survival is not split by it
    nps = data.outcomes["metrics"].result.to_pandas().set_index("metric").loc["nps"]
    assert nps["n"] == sum(
        row["customer_id"] in business and row["metric"] == "nps" for row in ROWS["feedback"]
    )
    html = render(data, "en", strict=True)
    assert filter_chips(html) == [say("en", "filter_segment", segment="business")]
    assert say("en", "footer_filters") in html


def test_a_period_keeps_the_interactions_and_answers_in_it(shop):
    lower, upper = pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-07-01", tz="UTC")
    data = collect(
        shop, strict=True, filters=ReportFilter.parse(start="2024-04-01", end="2024-06-30")
    )
    in_period = [row for row in ROWS["events"] if lower <= row["ts"] < upper]
    answers = [row for row in ROWS["feedback"] if lower <= row["ts"] < upper]
    assert data.counts["events"] == len(in_period)
    assert data.counts["feedback"] == len(answers)
    seen = {row["customer_id"] for row in in_period + answers} | {
        row["customer_id"] for row in ROWS["customers"] if lower <= row["first_seen"] < upper
    }
    assert data.counts["customers"] == len(seen)
    assert lower <= pd.Timestamp(data.first_ts) and pd.Timestamp(data.last_ts) < upper
    assert data.outcomes["funnel"].ok and data.outcomes["survival"].ok
    assert filter_chips(render(data, "en", strict=True)) == ["Period: 1 April 2024 to 30 June 2024"]
    assert filter_chips(render(data, "nl", strict=True)) == [
        "Periode: 1 april 2024 tot en met 30 juni 2024"
    ]


def test_open_ended_periods_and_both_filters_are_named(shop):
    html = build_report(shop, "nl", strict=True, segment="consumer", start="2024-03-01")
    assert filter_chips(html) == ["Segment: consumer", "Periode: vanaf 1 maart 2024"]
    html = build_report(shop, "en", strict=True, end="2024-05-31")
    assert filter_chips(html) == ["Period: up to 31 May 2024"]
    assert filter_chips(build_report(shop, "en", strict=True)) == []


def test_lifetimes_that_go_on_after_the_period_are_censored_at_its_end(make_workspace):
    as_of = pd.Timestamp("2024-12-31", tz="UTC")
    customers = [
        # started in January, left in November: still a customer when June ends
        {"customer_id": "late", "first_seen": "2024-01-10", "churned_at": "2024-11-01"},
        # left in March: inside the period
        {"customer_id": "early", "first_seen": "2024-01-05", "churned_at": "2024-03-01"},
        # left before the period: not seen in it
        {"customer_id": "gone", "first_seen": "2023-01-05", "churned_at": "2023-06-01"},
        # starts after the period
        {"customer_id": "new", "first_seen": "2024-09-01", "last_seen": as_of},
        {"customer_id": "stays", "first_seen": "2023-06-01", "last_seen": as_of},
    ]
    ws = make_workspace(customers=customers, name="lifetimes")
    view = apply_filters(ws, ReportFilter.parse(start="2024-02-01", end="2024-06-30"))
    lives = customer_lifetimes(view).execute().set_index("customer_id")
    assert sorted(lives.index) == ["early", "late", "stays"]
    assert bool(lives.loc["early", "churned"])
    assert not lives.loc["late", "churned"] and not lives.loc["stays", "churned"]
    # followed until the end of the period, never past it
    assert pd.Timestamp(lives["end_ts"].max()) < pd.Timestamp("2024-07-01", tz="UTC")


def test_a_segment_no_customer_has_is_refused_with_the_known_ones(shop):
    with pytest.raises(FilterError) as refused:
        collect(shop, filters=ReportFilter.parse(segment="premium"))
    assert refused.value.key == "unknown_segment"
    assert refused.value.values["segments"] == "business, consumer"
    with pytest.raises(ValueError, match="empty"):
        ReportFilter.parse(start="2024-05-01", end="2024-04-01")


def test_the_report_command_takes_the_filters(shop, tmp_path):
    path = shop.path
    shop.close()  # the command opens the workspace itself
    runner = CliRunner()
    target = tmp_path / "business.html"
    result = runner.invoke(
        app,
        [
            "report",
            str(path),
            "-o",
            str(target),
            "--segment",
            "business",
            "--start",
            "2024-02-01",
            "--end",
            "2024-10-31",
            "--lang",
            "nl",
        ],
    )
    assert result.exit_code == 0, result.output
    assert filter_chips(target.read_text("utf-8")) == [
        "Segment: business",
        "Periode: 1 februari 2024 tot en met 31 oktober 2024",
    ]
    refused = runner.invoke(app, ["report", str(path), "--segment", "premium", "--lang", "nl"])
    assert refused.exit_code == 1
    assert "Geen klant heeft segment 'premium'; segmenten: business, consumer." in refused.output
    refused = runner.invoke(app, ["report", str(path), "--start", "someday"])
    assert refused.exit_code == 1
