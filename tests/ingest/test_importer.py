"""Importing files: all or nothing, line-numbered errors, quarantine, dedupe, unknown touchpoints."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cxray
from cxray.ingest.importer import ImportError_
from tests.conftest import SHARED_DATA

BAD_EVENTS = textwrap.dedent(
    """\
    klantnummer;tijdstip;activity;bedrag;note
    c1;2024-03-01 10:00:00;order_placed;12,50;first
    c1;2024-03-02T10:00:00+02:00;delivery;;
    c2;01-03-2024 09:00;order_placed;1.234,56;x
    c3;not a date;order_placed;3;
    ;2024-03-01;order_plcaed;abc;
    c4;2024-03-05;"two
    lines";1;
    c5;2024-03-05;order_placed;1;;extra
    c6;2024-03-06;delivery;2;
    """
)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> cxray.Workspace:
    monkeypatch.chdir(tmp_path)  # refused imports write their error list to the current folder
    workspace = cxray.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(ws: cxray.Workspace) -> tuple:
    return ws.warehouse.counts(), ws.journey_path.read_text(), ws.warehouse.backend.list_tables()


def test_bad_rows_refuse_the_import_and_change_nothing(ws, tmp_path):
    source = write(tmp_path / "events.csv", BAD_EVENTS)
    before = snapshot(ws)
    report = tmp_path / "errors.csv"
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", source, errors_file=report)
    assert snapshot(ws) == before
    message = str(refused.value)
    # Lines as an editor shows them: the header is line 1, the quoted newline shifts line 9.
    assert "line 5: tijdstip = 'not a date'" in message
    assert "line 6: klantnummer = '': missing value" in message
    assert "line 6: bedrag = 'abc': not a number" in message
    assert "line 9: (row)" in message and "expected 5 fields, found 6" in message
    assert refused.value.total == 3
    rows = list(csv.DictReader(report.open()))
    assert {(r["line"], r["column"]) for r in rows} == {
        ("5", "tijdstip"),
        ("6", "klantnummer"),
        ("6", "bedrag"),
        ("9", ""),
    }
    assert all(r["file"] == str(source) for r in rows)
    assert [(int(r["line"]), r["column"]) for r in rows] == sorted(
        (int(r["line"]), r["column"]) for r in rows
    )  # in the file's order, a line's columns by name


def test_skip_invalid_imports_the_rest_and_quarantines_the_bad(ws, tmp_path):
    source = write(tmp_path / "events.csv", BAD_EVENTS)
    result = ws.import_table("events", source, skip_invalid=True)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (8, 5, 3)
    assert result.rows_read == (
        result.rows_imported + result.rows_updated + result.rows_duplicate + result.rows_rejected
    )
    with open(result.quarantine, encoding="utf-8") as handle:
        quarantined = list(csv.DictReader(handle))
    assert [q["line"] for q in quarantined] == ["5", "6", "9"]
    assert quarantined[0]["tijdstip"] == "not a date"
    assert ws.warehouse.count("events") == 5


def test_reimporting_the_same_file_changes_nothing(ws, tmp_path):
    source = write(tmp_path / "events.csv", BAD_EVENTS)
    first = ws.import_table("events", source, skip_invalid=True)
    second = ws.import_table("events", source, skip_invalid=True)
    assert second.rows_imported == 0
    assert second.rows_duplicate == first.rows_imported
    assert ws.warehouse.count("events") == first.rows_imported


def test_values_are_typed_and_timestamps_are_utc(ws, tmp_path):
    source = write(tmp_path / "events.csv", BAD_EVENTS)
    ws.import_table("events", source, skip_invalid=True)
    events = ws.events.execute().set_index("customer_id")
    assert events.loc["c1"].set_index("touchpoint").loc["delivery", "ts"] == pd.Timestamp(
        "2024-03-02 08:00", tz="UTC"
    )
    assert events.loc["c2", "ts"] == pd.Timestamp("2024-03-01 09:00", tz="UTC")  # day first
    assert events.loc["c2", "value"] == pytest.approx(1234.56)  # Dutch decimal comma
    first = events.loc["c1"].set_index("touchpoint").loc["order_placed"]
    assert first["value"] == pytest.approx(12.5)
    assert json.loads(first["properties"]) == {"note": "first"}


def test_naive_timestamps_in_a_named_zone(ws, tmp_path):
    source = write(
        tmp_path / "e.csv",
        "customer_id,ts,touchpoint\na,2024-07-01 10:00,x\nb,2024-01-01 10:00,x\n",
    )
    ws.import_table("events", source, timezone="Europe/Amsterdam")
    ts = ws.events.order_by("customer_id").ts.execute().tolist()
    assert ts == [
        pd.Timestamp("2024-07-01 08:00", tz="UTC"),
        pd.Timestamp("2024-01-01 09:00", tz="UTC"),
    ]


def test_unknown_touchpoints_are_added_unassigned_with_a_typo_hint(ws, tmp_path):
    cxray.journey.add_touchpoints(ws.journey_path, ["order_placed"], phase="conversion")
    ws.reload_journey()
    source = write(tmp_path / "e.csv", "customer_id,ts,touchpoint\na,2024-01-01,order_plaeced\n")
    result = ws.import_table("events", source)
    assert result.new_touchpoints == ["order_plaeced"]
    assert result.suggestions == {"order_plaeced": "order_placed"}
    assert ws.journey.touchpoints["order_plaeced"].phase == "unassigned"
    assert ws.journey.touchpoints["order_placed"].phase == "conversion"


def test_strict_refuses_unknown_touchpoints(ws, tmp_path):
    source = write(tmp_path / "e.csv", "customer_id,ts,touchpoint\na,2024-01-01,nieuw\n")
    before = snapshot(ws)
    with pytest.raises(ImportError_, match="touchpoint not in the journey"):
        ws.import_table("events", source, strict=True)
    assert snapshot(ws) == before


def test_missing_required_column_names_the_fix(ws, tmp_path):
    source = write(tmp_path / "e.csv", "who,when,what\na,2024-01-01,x\n")
    with pytest.raises(ImportError_, match=r"required column.*customer_id.*--map"):
        ws.import_table("events", source)
    result = ws.import_table(
        "events", source, {"who": "customer_id", "when": "ts", "what": "touchpoint"}
    )
    assert result.rows_imported == 1


def test_feedback_scores_must_lie_on_the_scale(ws, tmp_path):
    source = write(
        tmp_path / "nps.csv",
        "customer_id,ts,score,comment\na,2024-01-01,9,top\nb,2024-01-02,11,te hoog\n"
        "c,2024-01-03,,\n",
    )
    with pytest.raises(ImportError_) as refused:
        ws.import_table("feedback", source, constants={"metric": "nps"})
    reasons = {(e["line"], e["reason"]) for e in refused.value.errors}
    assert (3, "outside the nps scale 0–10") in reasons
    assert (4, "missing score") in reasons
    result = ws.import_table("feedback", source, constants={"metric": "nps"}, skip_invalid=True)
    assert (result.rows_imported, result.rows_rejected) == (1, 2)


def test_explicit_ids_first_occurrence_wins(ws, tmp_path):
    source = write(
        tmp_path / "e.csv",
        # the repeat agrees, leaving channel blank; rows that disagree are refused (below)
        "event_id,customer_id,ts,touchpoint,channel\n1,a,2024-01-01,x,web\n1,a,2024-01-01,x,\n"
        "2,b,2024-01-01,x,web\n",
    )
    result = ws.import_table("events", source)
    assert (result.rows_imported, result.rows_duplicate) == (2, 1)
    assert ws.events.filter(ws.events.event_id == "1").touchpoint.execute().tolist() == ["x"]


def test_customers_are_updated_not_duplicated(ws, tmp_path):
    first = write(tmp_path / "c1.csv", "customer_id,segment,plan\na,consumer,basic\nb,business,\n")
    ws.import_table("customers", first)
    second = write(tmp_path / "c2.csv", "customer_id,segment\na,business\nb,business\nc,consumer\n")
    result = ws.import_table("customers", second)
    assert (result.rows_imported, result.rows_updated, result.rows_duplicate) == (1, 1, 1)
    rows = ws.customers.execute().set_index("customer_id")
    assert rows.loc["a", "segment"] == "business"
    assert json.loads(rows.loc["a", "attributes"]) == {"plan": "basic"}  # kept from before


def test_parquet_and_jsonl_report_rows_and_lines(ws, tmp_path):
    table = pa.table(
        {
            "customer_id": ["a", None, "c"],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "touchpoint": ["x", "y", "z"],
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    with pytest.raises(ImportError_, match=r"row 2: customer_id"):
        ws.import_table("events", tmp_path / "e.parquet")
    lines = [
        json.dumps({"customer_id": "a", "ts": "2024-01-01T00:00:00Z", "touchpoint": "x"}),
        "",
        "{broken",
        json.dumps({"customer_id": "b", "ts": "2024-01-01", "touchpoint": "x", "meta": {"k": 1}}),
    ]
    write(tmp_path / "e.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(ImportError_, match=r"line 3: \(line\)"):
        ws.import_table("events", tmp_path / "e.jsonl")
    result = ws.import_table("events", tmp_path / "e.jsonl", skip_invalid=True)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (3, 2, 1)


def test_unknown_file_type_is_a_clear_error(ws, tmp_path):
    with pytest.raises(ImportError_, match="unknown file type"):
        ws.import_table("events", write(tmp_path / "e.xlsx", "x"))
    with pytest.raises(ImportError_, match="no such file"):
        ws.import_table("events", tmp_path / "missing.csv")


# -- issue 8: timestamps refused with line and reason, or read right ------------------------
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("31-02-2025", "not a date/time I can read"),  # was stored as 3 March
        ("infinity", "outside the plausible years 1900–2200"),
        ("9999-12-31", "outside the plausible years 1900–2200"),
        ("9909-01-01", "outside the plausible years 1900–2200"),
        ("2024-01-01 10:00:00+25:00", "not a date/time I can read"),
        ("epoch", "not a date/time I can read"),  # DuckDB alone reads 1970-01-01
        ("INFINITY", "outside the plausible years 1900–2200"),
    ],
)
def test_impossible_and_implausible_timestamps_are_refused(ws, tmp_path, value, reason):
    source = write(tmp_path / "e.csv", f"customer_id,ts,touchpoint\na,2024-01-01,x\nb,{value},x\n")
    before = snapshot(ws)
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", source)
    assert snapshot(ws) == before
    [error] = refused.value.errors
    assert (error["line"], error["column"], error["value"]) == (3, "ts", value)
    assert reason in error["reason"]


def test_common_timestamp_formats_and_late_day_first_dates(ws, tmp_path):
    rows = "".join(f"a,2024-01-01 10:{i % 60:02d}:00,x{i}\n" for i in range(2500))
    rows += "b,2015-02-24 11:35:52 -0800,x\nc,24/02/2015 11:35,x\nd,13-02-2024,x\n"
    ws.import_table("events", write(tmp_path / "e.csv", "customer_id,ts,touchpoint\n" + rows))
    ts = dict(
        ws.events.filter(ws.events.customer_id != "a").select("customer_id", "ts").execute().values
    )
    assert ts == {
        "b": pd.Timestamp("2015-02-24 19:35:52", tz="UTC"),
        "c": pd.Timestamp("2015-02-24 11:35", tz="UTC"),
        "d": pd.Timestamp("2024-02-13", tz="UTC"),  # day first, after the first 2,000 rows
    }


def test_timezone_applies_to_date_only_values(ws, tmp_path):
    source = write(tmp_path / "e.csv", "customer_id,ts,touchpoint\na,2024-03-01,x\n")
    ws.import_table("events", source, timezone="Europe/Amsterdam")
    assert ws.events.ts.execute().tolist() == [pd.Timestamp("2024-02-29 23:00", tz="UTC")]


def test_set_ts_fixes_the_time_of_every_row(ws, tmp_path):
    source = write(tmp_path / "e.csv", "customer_id,touchpoint\na,x\nb,y\n")
    ws.import_table("events", source, constants={"ts": "2024-03-01"}, timezone="Europe/Amsterdam")
    assert ws.events.ts.execute().tolist() == [pd.Timestamp("2024-02-29 23:00", tz="UTC")] * 2
    with pytest.raises(ImportError_, match="--set ts=soon: not a date/time"):
        ws.import_table("events", source, constants={"ts": "soon"})
    assert ws.warehouse.count("events") == 2


# -- issue 8: one key, two stories in one file -------------------------------------------------
@pytest.mark.parametrize(
    ("table", "text", "column"),
    [
        ("customers", "customer_id,segment\na,consumer\nb,x\na,business\n", "segment"),
        ("customers", "customer_id,plan\na,basic\nb,x\na,pro\n", "attributes"),
        (
            "events",
            "event_id,customer_id,ts,touchpoint\n1,a,2024-01-01,x\n2,b,2024-01-01,x\n"
            "1,a,2024-01-01,y\n",
            "touchpoint",
        ),
        (
            "feedback",
            "response_id,customer_id,ts,metric,score\nr1,a,2024-01-01,nps,9\nr2,b,2024-01-01,nps,1\n"
            "r1,a,2024-01-01,nps,3\n",
            "score",
        ),
    ],
)
def test_rows_that_disagree_about_one_key_are_refused_naming_both_lines(
    ws, tmp_path, table, text, column
):
    source = write(tmp_path / "f.csv", text)
    before = snapshot(ws)
    with pytest.raises(ImportError_) as refused:
        ws.import_table(table, source)
    assert snapshot(ws) == before
    first, later = refused.value.errors
    assert (first["line"], first["column"], later["line"], later["column"]) == (
        2,
        column,
        4,
        column,
    )
    assert "also on line 4" in first["reason"] and "also on line 2" in later["reason"]
    # --skip-invalid imports the rest and quarantines both: nothing tells which one is right
    result = ws.import_table(table, source, skip_invalid=True)
    assert (result.rows_imported, result.rows_rejected, result.rows_duplicate) == (1, 2, 0)
    with open(result.quarantine, encoding="utf-8") as handle:
        assert [q["line"] for q in csv.DictReader(handle)] == ["2", "4"]


def test_rows_that_agree_or_leave_blanks_are_duplicates(ws, tmp_path):
    text = "customer_id,segment,plan\na,consumer,basic\na,consumer,\na,,basic\n"
    result = ws.import_table("customers", write(tmp_path / "c.csv", text))
    assert (result.rows_imported, result.rows_duplicate) == (1, 2)


def test_an_unknown_timezone_is_refused_before_the_file_is_read(tmp_path):
    import cxray
    from cxray.ingest.validation import ImportError_

    ws = cxray.init(tmp_path / "ws")
    source = tmp_path / "events.csv"
    source.write_text("customer_id,ts,touchpoint\na,2024-01-01 10:00,order\n")
    with pytest.raises(ImportError_, match="--timezone 'Mars/Olympus': not a time zone"):
        ws.import_table("events", source, timezone="Mars/Olympus")
    assert ws.warehouse.counts()["events"] == 0
    ws.close()


def test_the_errors_file_goes_to_the_workspace_not_the_current_folder(tmp_path, monkeypatch):
    import cxray
    from cxray.ingest.validation import ImportError_

    ws = cxray.init(tmp_path / "ws")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    source = tmp_path / "bad.csv"
    source.write_text("customer_id,ts,touchpoint\na,yesterday,order\n")
    with pytest.raises(ImportError_, match="errors"):
        ws.import_table("events", source)
    assert list(elsewhere.iterdir()) == []
    report = tmp_path / "ws" / "errors" / "bad.csv.errors.csv"
    assert "yesterday" in report.read_text()
    ws.close()


# -- an event log fills events and customers in one import ----------------------------------------
RECEIPT_LOG = SHARED_DATA / "receipt" / "receipt.xes.gz"


@pytest.mark.skipif(not RECEIPT_LOG.exists(), reason="shared data not available")
def test_one_xes_import_fills_events_and_customers_in_one_transaction(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    result = ws.import_table("events", RECEIPT_LOG)
    assert result.cases is not None and result.cases.table == "customers"
    assert result.cases.rows_imported == ws.warehouse.count("customers") == 1434
    assert "1,434 new" in result.summary() and "1.434 nieuw" in result.summary("nl")
    # every case's first event is its first_seen; its attributes are kept
    first = ws.events.group_by("customer_id").aggregate(first=ws.events.ts.min())
    joined = ws.customers.join(first, "customer_id")
    assert joined.count().execute() == 1434
    assert joined.filter(joined.first != joined.first_seen).count().execute() == 0
    log = ws.table("cxray_imports").execute()
    assert sorted(log.table_name) == ["customers", "events"]
    assert not [w for w in ws.status().warnings if "no row in customers" in w]
    again = ws.import_table("events", RECEIPT_LOG)  # a second time: all duplicates, both tables
    assert (again.rows_imported, again.cases.rows_imported, again.cases.rows_updated) == (0, 0, 0)
    assert again.cases.rows_duplicate == 1434
    ws.close()


def test_a_refused_case_leaves_the_events_unwritten_too(tmp_path):
    log = tmp_path / "log.xes"
    log.write_text(
        '<log xes.version="1.0">'
        '<trace><string key="concept:name" value="A"/>'
        '<event><string key="concept:name" value="visit"/>'
        '<date key="time:timestamp" value="2024-01-01T10:00:00Z"/></event></trace>'
        '<trace><string key="concept:name" value="B"/><float key="value" value="NaN"/>'
        '<event><string key="concept:name" value="visit"/>'
        '<date key="time:timestamp" value="2024-01-02T10:00:00Z"/></event></trace>'
        "</log>"
    )
    ws = cxray.init(tmp_path / "ws")
    # the events are fine; the case's value (for customers) is not a number
    with pytest.raises(ImportError_, match=r"log.xes:line 1: value = 'NaN': not a finite"):
        ws.import_table("events", log)
    assert ws.warehouse.counts() == {"customers": 0, "events": 0, "feedback": 0}
    assert ws.table("cxray_imports").count().execute() == 0
    ws.close()


def test_the_progress_callback_moves_during_a_long_import(tmp_path):
    path = tmp_path / "long.csv"
    duckdb.connect().execute(
        f"""COPY (SELECT 'c' || (i % 50000) AS customer_id,
            TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, 'visit' AS touchpoint
          FROM range(1500000) t(i)) TO '{path}' (HEADER)"""
    )
    seen: list[tuple[str, float]] = []
    ws = cxray.init(tmp_path / "ws")
    ws.import_table("events", path, progress=lambda step, f: seen.append((step, f)))
    ws.close()
    # DuckDB's own estimate arrives while the statements run, not only at their ends
    moving = [f for step, f in seen if step in ("checking", "writing") and f and 0 < f < 1]
    assert moving, seen
    assert seen[-1] == ("done", 1.0)
