"""Lifetime data without events: start/end dates, tenure and a churn flag per customer."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import cxray
from cxray.cli import app
from cxray.ingest.importer import ImportError_
from cxray.ingest.lifetime import DAYS_PER_UNIT, parse_as_of, unit_from_name

AS_OF = pd.Timestamp("2024-01-31", tz="UTC")
MONTH = pd.Timedelta(days=30.4375)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> cxray.Workspace:
    monkeypatch.chdir(tmp_path)
    workspace = cxray.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def stored(ws: cxray.Workspace) -> pd.DataFrame:
    return ws.customers.execute().set_index("customer_id").sort_index()


def snapshot(ws: cxray.Workspace) -> tuple:
    return ws.warehouse.counts(), ws.journey_path.read_text(), ws.warehouse.backend.list_tables()


def test_tenure_churned_and_as_of_become_start_end_and_last_seen(ws, tmp_path):
    source = write(
        tmp_path / "crm.csv",
        """\
        klantnummer;looptijd_maanden;opgezegd;plan
        a;12;ja;basic
        b;0;nee;plus
        c;3;Nee;basic
        d;1;J;plus
        """,
    )
    result = ws.import_table("customers", source, as_of="2024-01-31")
    assert (result.rows_imported, result.rows_rejected) == (4, 0)
    assert (result.lifetime_customers, result.lifetime_churned) == (4, 2)
    assert result.as_of == "2024-01-31"
    assert "lifetime data: 4 customer(s), 2 of them churned; as of 2024-01-31" in result.summary()
    assert "levensduurgegevens: 4 klanten, van wie 2 zijn vertrokken; peildatum" in result.summary(
        "nl"
    )
    rows = stored(ws)
    assert rows.loc["a", "first_seen"] == AS_OF - 12 * MONTH
    assert rows.loc["a", "churned_at"] == AS_OF and pd.isna(rows.loc["a", "last_seen"])
    # tenure 0 is a customer who just joined, not an error
    assert rows.loc["b", "first_seen"] == AS_OF and rows.loc["b", "last_seen"] == AS_OF
    assert pd.isna(rows.loc["b", "churned_at"])
    assert rows.loc["c", "last_seen"] == AS_OF and pd.isna(rows.loc["c", "churned_at"])
    assert rows.loc["d", "churned_at"] == AS_OF
    assert json.loads(rows.loc["a", "attributes"]) == {"plan": "basic"}  # the rest is kept


def test_start_and_end_dates_an_end_means_churned_unless_the_flag_says_no(ws, tmp_path):
    source = write(
        tmp_path / "crm.csv",
        """\
        customer_id,start_date,end_date,churned
        a,2023-01-01,2023-06-01,
        b,2023-01-01,,no
        c,2023-02-01,2023-09-01,no
        d,2023-03-01,,yes
        """,
    )
    ws.import_table("customers", source, as_of="2024-01-31")
    rows = stored(ws)
    assert rows.loc["a", "churned_at"] == pd.Timestamp("2023-06-01", tz="UTC")
    assert rows.loc["a", "first_seen"] == pd.Timestamp("2023-01-01", tz="UTC")
    assert pd.isna(rows.loc["b", "churned_at"]) and rows.loc["b", "last_seen"] == AS_OF
    assert pd.isna(rows.loc["c", "churned_at"])  # the flag says they stayed
    assert rows.loc["d", "churned_at"] == AS_OF  # a flag without an end: the as-of date


def test_dates_without_as_of_and_start_plus_tenure(ws, tmp_path):
    source = write(
        tmp_path / "crm.csv",
        """\
        customer_id,signup_date,tenure_days,is_churned,last_active
        a,2023-01-01,10,true,
        b,2023-01-01,20,false,2023-03-01
        """,
    )
    result = ws.import_table("customers", source)
    assert result.as_of is None and result.lifetime_churned == 1
    rows = stored(ws)
    assert rows.loc["a", "churned_at"] == pd.Timestamp("2023-01-11", tz="UTC")
    assert rows.loc["b", "last_seen"] == pd.Timestamp("2023-03-01", tz="UTC")


def test_map_names_lifetime_columns_and_other_words_stay_attributes(ws, tmp_path):
    source = write(
        tmp_path / "crm.csv",
        """\
        id,weeks,gone,Contract
        a,2,1,Month-to-month
        b,4,0,One year
        """,
    )
    ws.import_table(
        "customers",
        source,
        {"id": "customer_id", "weeks": "tenure", "gone": "churned", "Contract": "segment"},
        as_of="2024-01-31",
        tenure_unit="weeks",
    )
    rows = stored(ws)
    assert rows.loc["a", "first_seen"] == AS_OF - pd.Timedelta(weeks=2)
    assert rows.loc["a", "churned_at"] == AS_OF and rows.loc["b", "segment"] == "One year"


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("customer_id,tenure,churn\na,-1,no\n", {}, "line 2: tenure = '-1': negative tenure"),
        ("customer_id,tenure,churn\na,x,no\n", {}, "line 2: tenure = 'x': not a number"),
        (
            "customer_id,tenure,churn\na,1,maybe\n",
            {},
            "line 2: churn = 'maybe': not a yes/no value",
        ),
        ("customer_id,tenure,churn\na,1,\n", {}, "line 2: churn = '': missing value (yes or no)"),
        (
            "customer_id,start,end\na,2023-05-01,2023-04-01\n",
            {},
            "line 2: end = '2023-04-01': end date before the start date",
        ),
        (
            "customer_id,start,end\na,2023-05-01,2024-05-01\n",
            {},
            "line 2: end = '2024-05-01': end date after the as-of date 2024-01-31",
        ),
        (
            "customer_id,start,churned\na,2023-05-01,yes\n",
            {"as_of": None},
            "line 2: churned = 'yes': churned, but nothing says when",
        ),
        ("customer_id,tenure,churn\na,1e400,no\n", {}, "tenure out of range"),
    ],
)
def test_impossible_lifetimes_are_refused_with_line_column_and_reason(
    ws, tmp_path, text, options, expected
):
    source = tmp_path / "crm.csv"
    source.write_text(text, encoding="utf-8")
    before = snapshot(ws)
    kwargs = {"as_of": "2024-01-31", "tenure_unit": "months"} | options
    if "tenure" not in text:
        kwargs.pop("tenure_unit")
    with pytest.raises(ImportError_) as refused:
        ws.import_table("customers", source, **kwargs)
    assert expected in str(refused.value)
    assert snapshot(ws) == before


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("customer_id,tenure,churn\na,1,no\n", {"tenure_unit": "months"}, "needs --as-of DATE"),
        ("customer_id,tenure,churn\na,1,no\n", {"as_of": "2024-01-31"}, "--tenure-unit"),
        ("customer_id,tenure\na,1\n", {"as_of": "31 januari", "tenure_unit": "days"}, "--as-of"),
        ("customer_id,plan\na,x\n", {"tenure_unit": "days"}, "no tenure"),
    ],
)
def test_missing_or_unreadable_options_are_named(ws, tmp_path, text, options, expected):
    source = tmp_path / "crm.csv"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(ImportError_, match=expected.replace("-", r"\-")):
        ws.import_table("customers", source, **options)
    assert ws.warehouse.count("customers") == 0


def test_as_of_is_for_customers_only(ws, tmp_path):
    source = write(tmp_path / "e.csv", "customer_id,ts,touchpoint\na,2024-01-01,x\n")
    with pytest.raises(ImportError_, match="apply to customers"):
        ws.import_table("events", source, as_of="2024-01-31")


def test_reimport_changes_nothing_and_blank_numbers_stay_null(ws, tmp_path):
    source = write(
        tmp_path / "crm.csv",
        """\
        customerID,tenure,Churn,TotalCharges
        a,0,No, \n\
        b,5,Yes,120.5
        """,
    )
    options = {"as_of": "2024-01-31", "tenure_unit": "months"}
    first = ws.import_table("customers", source, **options)
    assert first.rows_imported == 2
    second = ws.import_table("customers", source, **options)
    assert (second.rows_imported, second.rows_updated, second.rows_duplicate) == (0, 0, 2)
    attributes = stored(ws)["attributes"].map(json.loads)
    assert attributes["a"].get("TotalCharges") is None
    assert attributes["b"]["TotalCharges"] == "120.5"


def test_parse_as_of_and_units():
    assert parse_as_of("2024-01-31") == dt.datetime(2024, 1, 31, tzinfo=dt.UTC)
    assert parse_as_of("31-01-2024", "Europe/Amsterdam") == dt.datetime(
        2024, 1, 30, 23, tzinfo=dt.UTC
    )
    assert unit_from_name("looptijd_maanden") == "months"
    assert unit_from_name("Tenure (days)") == "days"
    assert unit_from_name("tenure") is None
    assert DAYS_PER_UNIT["months"] == 30.4375


def test_plain_customer_files_are_not_lifetime_data(ws, tmp_path):
    source = write(tmp_path / "c.csv", "customer_id,first_seen,plan\na,2024-01-01,x\n")
    result = ws.import_table("customers", source)
    assert result.lifetime_customers is None
    assert "lifetime" not in result.summary()
    assert pd.isna(stored(ws).loc["a", "last_seen"])


# -- 1–5 star scores imported as NPS ------------------------------------------------------------
def feedback_file(tmp_path: Path, scores: list[int]) -> Path:
    lines = ["ts,score"] + [f"2024-01-{1 + i % 28:02d},{s}" for i, s in enumerate(scores)]
    return write(tmp_path / "nps.csv", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("scores", "warns"),
    [([1, 2, 3, 4, 5] * 5, True), ([1, 2, 3, 4, 5] * 3, False), ([0, 5, 9, 10, 3] * 5, False)],
)
def test_star_scores_imported_as_nps_warn_but_import(ws, tmp_path, scores, warns):
    result = ws.import_table(
        "feedback", feedback_file(tmp_path, scores), constants={"metric": "nps"}
    )
    assert result.rows_imported == len(scores)
    assert bool(result.warnings) == warns
    if warns:
        assert "--set metric=rating" in result.warning_texts("en")[0]
        assert "sterrenbeoordelingen" in result.warning_texts("nl")[0]


def test_cli_prints_the_star_warning_and_lifetime_summary(tmp_path):
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    source = feedback_file(tmp_path, [1, 2, 3, 4, 5] * 5)
    result = runner.invoke(
        app, ["import", str(ws), "feedback", str(source), "--set", "metric=nps", "--lang", "nl"]
    )
    assert result.exit_code == 0
    assert "--set metric=rating" in result.output and "let op" in result.output
    crm = write(tmp_path / "crm.csv", "customer_id,tenure,churned\na,2,yes\nb,3,no\n")
    args = ["import", str(ws), "customers", str(crm), "--as-of", "2024-01-31"]
    result = runner.invoke(app, [*args, "--tenure-unit", "months"])
    assert result.exit_code == 0, result.output
    assert "lifetime data: 2 customer(s), 1 of them churned; as of 2024-01-31" in result.output
    refused = runner.invoke(app, [*args, "--tenure-unit", "fortnights"])
    assert refused.exit_code != 0
