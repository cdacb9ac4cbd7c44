"""Results in a notebook: a readable HTML table with its sentence, a short repr, and to_pandas()
returning the table a person reads (labels in the language asked for)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import cxray
from cxray import cells
from cxray.demo import generate_demo
from cxray.results import Column, Table


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "shop"
    generate_demo(path, customers=500, seed=8)
    workspace = cxray.open(path)
    yield workspace
    workspace.close()


def test_survival_to_pandas_is_the_table_of_groups_and_the_curve_one_attribute_away(ws):
    result = ws.survival(by="segment")
    table = result.to_pandas()
    assert len(table) == result.groups["group"].nunique() < 10
    assert {"group", "customers", "churned", "median_days"} <= set(table.columns)
    assert len(result.curve) > 100 and "survival" in result.curve


def test_to_pandas_with_a_language_labels_headers_and_cells(ws):
    risk = ws.risk()
    english, dutch = risk.to_pandas(lang="en"), risk.to_pandas(lang="nl")
    assert list(english.columns) == ["customer", "risk (%)", "band", "reasons"]
    assert list(dutch.columns) == ["klant", "risico (%)", "band", "redenen"]
    assert set(dutch["band"]) <= {"hoog", "gemiddeld", "laag"}
    assert english["risk (%)"].iloc[0] == pytest.approx(100 * risk.to_pandas()["probability"].max())
    assert english["risk (%)"].is_monotonic_decreasing  # riskiest first, as the terminal shows
    assert "tot nu toe" in " ".join(dutch["redenen"].astype(str))


def test_an_interval_becomes_two_labelled_number_columns(ws):
    frame = ws.drivers().to_pandas(lang="en")
    assert {"churn × (lower)", "churn × (upper)"} <= set(frame.columns)
    assert (frame["churn × (lower)"] <= frame["churn ×"]).all()


def test_a_missing_group_says_what_is_missing(ws):
    result = ws.metrics("nps", by="touchpoint")  # the demo's NPS answers name no touchpoint
    assert "(no touchpoint)" in result.summary("en") and "(missing)" not in result.summary("en")
    assert "(geen contactmoment)" in result.summary("nl")
    assert "(no touchpoint)" in set(result.to_pandas(lang="en")["touchpoint"])
    assert "(missing)" in set(result.to_pandas()["group"])  # the data keep their own value


@pytest.mark.parametrize("question", ["funnel", "drivers", "survival", "retention", "risk"])
def test_every_result_shows_as_html_with_its_sentence_and_a_short_repr(ws, question):
    result = getattr(ws, question)()
    page = result._repr_html_()
    assert page.count("<table>") == 1 and "<th" in page and "<td" in page
    assert result.summary("en").split(" ")[0] in page
    assert "e-0" not in page and "__start__" not in page
    text = repr(result)
    assert text.startswith(f"<{type(result).__name__}: ") and "\n" not in text
    assert len(text) < 200  # never the whole frame


def test_html_escapes_names_and_shows_dutch_headers(ws):
    result = ws.funnel()
    page = result._repr_html_(lang="nl")
    assert ">fase<" in page and ">bereikt<" in page
    shown = Table(pd.DataFrame({"name": ["<b>x</b>"]}), [Column("name", "text", "name")])

    class Named(cxray.results.Result):
        def display(self):
            return shown

    assert "&lt;b&gt;x&lt;/b&gt;" in Named()._repr_html_()


def test_flows_leave_out_the_pseudo_steps_of_a_path(ws):
    result = ws.flows()
    assert (result.edges.source == "__start__").any()  # kept in the data
    shown = result.to_pandas()
    assert not shown.isin(["__start__", "__end__"]).any().any()


def test_retention_to_pandas_is_the_cohort_grid(ws):
    grid = ws.retention().to_pandas()
    assert grid.columns[:3].tolist() == ["cohort", "customers", "0"]
    assert grid["cohort"].iloc[-1] == "all" and grid["1"].dropna().between(0, 1).all()


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.16e-08, "days", "<1 min"),
        (82_590, "seconds", "23 h"),
        (0.00602, "days", "9 min"),
        (1.0, "days", "1 day"),
        (6.28, "days", "6.3 days"),
        (325.4, "days", "325 days"),
        (math.inf, "days", "not reached"),
    ],
)
def test_durations_read_in_minutes_hours_or_days(value, unit, expected):
    assert cells.duration(value, unit, "en") == expected


def test_cells_never_show_an_exponent():
    number = Column("x", "number", "x")
    assert cells.cell(3.47e-18, number) == "<0.001"
    assert cells.cell(999.7, number) == "1,000" and cells.cell(0.0602, number) == "0.0602"
    assert cells.cell(0.0085, Column("s", "share", "s")) == "0.9%"
    assert cells.cell(0.0002, Column("s", "share", "s")) == "<0.1%"
    assert cells.cell(7.8e-08, Column("q", "p", "q")) == "<0.001"
    assert cells.cell(6.48, Column("n", "score", "NPS", unit="points")) == "+6"
    assert cells.cell(1234.5, Column("n", "count", "n"), lang="nl") == "1.234"
    assert cells.cell(2.5, Column("d", "duration", "d", unit="days"), lang="nl") == "2,5 dagen"
    assert cells.cell(1, Column("d", "duration", "d", unit="days"), lang="nl") == "1 dag"
