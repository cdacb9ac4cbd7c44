"""A dry run shows the mapping and the first rows as they would be stored, and writes nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import cxray
from cxray.ingest.importer import ImportError_
from cxray.ingest.preview import REFUSED, Preview

QUALTRICS = (
    "StartDate,EndDate,Type,ResponseId,RecordedDate,Q1,Q2,Region\n"
    "2024-03-01 10:00,2024-03-01 10:05,IP Address,R_1,2024-03-01 10:05:01,9,positive,North\n"
    "2024-03-02 11:00,2024-03-02 11:05,Survey Preview,R_2,2024-03-02 11:05:01,3,Negative ,South\n"
)


@pytest.fixture
def ws(tmp_path: Path):
    workspace = cxray.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def write(tmp_path: Path, text: str, name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def footprint(ws: cxray.Workspace) -> tuple:
    """Everything an import could change: table counts, the import log, the journey, folders."""
    counts = ws.warehouse.counts()
    log = ws.warehouse.count("cxray_imports")
    folders = sorted(p.name for p in ws.path.iterdir() if p.is_dir())
    return counts, log, ws.journey_path.read_bytes(), folders


def found_by(preview: Preview) -> dict[str, tuple[str | None, str]]:
    return {m.column: (m.source, m.found_by) for m in preview.mapping}


def test_a_dry_run_writes_nothing(ws, tmp_path):
    good = write(tmp_path, "customer,time,event\na,2024-03-01,order\n", "good.csv")
    ws.import_table("events", good)
    before = footprint(ws)
    bad = write(
        tmp_path,
        "customer,time,event,amount\na,2024-03-01,order,1\nb,31-02-2025,order,x\nc,2024-03-02,brand_new,2\n",
        "bad.csv",
    )
    preview = ws.preview_import("events", bad)
    assert preview.rows_refused == 1 and preview.new_touchpoints == ["brand_new"]
    ws.close()
    reopened = cxray.open(tmp_path / "ws", read_only=True)  # the file itself, as another reads it
    assert footprint(reopened) == before
    assert not (tmp_path / "ws" / "errors").exists()
    assert not (tmp_path / "ws" / "quarantine").exists()
    assert not list(tmp_path.glob("*.errors.csv"))
    reopened.close()


def test_the_mapping_says_how_each_column_was_found(ws, tmp_path):
    path = write(tmp_path, QUALTRICS)
    preview = ws.preview_import("feedback", path, {"Q1": "score"}, constants={"metric": "nps"})
    mapping = found_by(preview)
    assert mapping["response_id"] == ("ResponseId", "alias")
    assert mapping["ts"] == ("RecordedDate", "alias")
    assert mapping["score"] == ("Q1", "--map")
    assert mapping["metric"] == (None, "--set")
    assert mapping["customer_id"] == (None, "not found")
    assert mapping["properties"] == (None, "other columns")
    assert preview.extras == ["StartDate", "EndDate", "Type", "Q2", "Region"]
    frame = preview.mapping_frame("nl")
    assert frame.loc[frame["column"] == "customer_id", "found by"].item() == "niet gevonden"


def test_an_ambiguous_type_column_is_not_guessed(ws, tmp_path):
    path = write(tmp_path, QUALTRICS)
    preview = ws.preview_import("feedback", path, {"Q1": "score"})
    assert preview.missing == ["metric"]
    assert [(p.column, p.target) for p in preview.passed_over] == [("Type", "metric")]
    assert "'IP Address' on line 2" in preview.problem
    assert "--map Type=metric" in preview.problem and "--set metric=nps" in preview.problem
    assert preview.rows.empty
    assert "een verplichte kolom ontbreekt: metric" in preview.summary("nl")
    with pytest.raises(ImportError_, match="Type was not taken for metric"):
        ws.import_table("feedback", path, {"Q1": "score"})
    # values that are metrics make the same alias fit
    fitting = write(
        tmp_path, QUALTRICS.replace("IP Address", "NPS").replace("Survey Preview", "nps")
    )
    assert found_by(ws.preview_import("feedback", fitting, {"Q1": "score"}))["metric"] == (
        "Type",
        "alias",
    )


def test_rows_are_shown_as_they_would_be_stored(ws, tmp_path):
    path = write(
        tmp_path,
        "klant;datum;contactmoment;bedrag;Regio\n"
        " a ;01-03-2024 10:00;Order;12,50;Noord\n"
        "b;2024-07-01 10:00:00+00:00;levering;1.234,56;\n",
    )
    options = {"timezone": "Europe/Amsterdam"}
    preview = ws.preview_import("events", path, **options)
    rows = preview.to_pandas()
    assert list(rows.columns) == ["line", *ws.events.columns, REFUSED]
    assert rows["line"].tolist() == [2, 3]
    assert rows["customer_id"].tolist() == ["a", "b"]  # trimmed
    assert rows["ts"].tolist() == [
        pd.Timestamp("2024-03-01 09:00", tz="UTC"),  # read in Amsterdam's winter time
        pd.Timestamp("2024-07-01 10:00", tz="UTC"),
    ]
    assert rows["value"].tolist() == [12.5, 1234.56]
    assert json.loads(rows["properties"][0]) == {"Regio": "Noord"}
    assert rows[REFUSED].tolist() == ["", ""]
    # exactly what the import then stores
    ws.import_table("events", path, **options)
    stored = ws.events.order_by("ts").execute()
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True),
        rows[stored.columns].reset_index(drop=True),
        check_dtype=False,
    )


def test_refused_rows_are_counted_with_line_column_and_reason(ws, tmp_path):
    path = write(
        tmp_path,
        "ts,metric,score,comment\n"
        '2024-03-01,nps,9,"two\nlines"\n'
        "2024-03-02,nps,positive,ok\n"
        "2024-03-03,rating,negative,\n"
        "2024-03-04,nps,11,\n",
    )
    preview = ws.preview_import("feedback", path)
    assert preview.rows_shown == 4 and preview.rows_refused == 3
    problems = [(p["line"], p["column"], p["value"], p["reason"]) for p in preview.problems]
    assert (4, "score", "positive", "not a number") in problems  # after a quoted line break
    assert (5, "score", "negative", "not a number") in problems
    assert any(line == 6 and "outside the nps scale" in why for line, _, _, why in problems)
    assert preview.rows[REFUSED].tolist()[1] == "score: not a number"
    assert preview.hint_texts() == [
        "score: text labels where numbers belong; give each a number with "
        "--recode score=negative:?,positive:?"
    ]
    recoded = ws.preview_import(
        "feedback", path, recode={"score": {"negative": "1", "positive": "10"}}
    )
    assert recoded.rows["score"].tolist() == [9.0, 10.0, 1.0, 11.0]
    assert recoded.rows_refused == 1
    assert found_by(recoded)["score"] == ("score", "exact name")
    assert recoded.mapping[4].recode == {"negative": "1", "positive": "10"}


def test_a_date_layout_not_read_gets_its_option(ws, tmp_path):
    path = write(tmp_path, "customer_id,ts,touchpoint\na,03/15/2024,x\nb,12/31/2024,y\n")
    preview = ws.preview_import("events", path)
    assert preview.rows_refused == 2
    assert preview.hints[0]["option"] == "--timestamp-format '%m/%d/%Y'"
    fixed = ws.preview_import("events", path, timestamp_format="%m/%d/%Y")
    assert fixed.rows_refused == 0
    assert fixed.rows["ts"][0] == pd.Timestamp("2024-03-15", tz="UTC")


def test_only_the_first_rows_of_a_large_file_are_read(ws, tmp_path):
    path = tmp_path / "large.csv"
    rows = 2_000_000
    duckdb.sql(
        "COPY (SELECT 'c' || i AS customer_id, TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND AS ts, "
        f"CASE WHEN i = {rows - 1} THEN 'not a date' END AS broken, 'visit' AS touchpoint "
        f"FROM range({rows}) t(i)) TO '{path}' (HEADER)"
    )
    started = time.perf_counter()
    preview = ws.preview_import("events", path, rows=5)
    elapsed = time.perf_counter() - started
    assert preview.rows["line"].tolist() == [2, 3, 4, 5, 6]
    assert preview.rows_refused == 0
    assert elapsed < 3, f"a dry run of {rows:,} rows took {elapsed:.1f} s"  # a full read is slower


def test_other_formats_name_their_lines_or_rows(ws, tmp_path):
    jsonl = write(
        tmp_path,
        '{"customer_id": "a", "ts": "2024-03-01", "touchpoint": "x"}\n'
        "not json\n"
        '{"customer_id": "b", "ts": "soon", "touchpoint": "y"}\n',
        "events.jsonl",
    )
    preview = ws.preview_import("events", jsonl)
    assert preview.position_label == "line"
    assert {(p["line"], p["reason"].split(" (")[0]) for p in preview.problems} == {
        (2, "not a JSON object"),
        (3, "not a date/time I can read"),
    }
    parquet = tmp_path / "events.parquet"
    duckdb.sql(
        "COPY (SELECT 'a' AS customer_id, TIMESTAMP '2024-03-01' AS ts, 'x' AS touchpoint) "
        f"TO '{parquet}'"
    )
    rows = ws.preview_import("events", parquet).to_pandas()
    assert rows.columns[0] == "row" and rows["row"].tolist() == [1]


def test_the_result_reads_in_english_dutch_and_json(ws, tmp_path):
    path = write(tmp_path, "customer_id,ts,touchpoint\na,2024-03-01,x\nb,soon,y\n")
    preview = ws.preview_import("events", path)
    assert preview.summary() == "Dry run, nothing written: 2 row(s) read, 1 would be refused."
    assert preview.summary("nl") == (
        "Proefimport, niets geschreven: 2 rijen gelezen, 1 zou worden afgewezen."
    )
    data = json.loads(json.dumps(preview.to_dict()))
    assert data["dry_run"] is True and data["rows_refused"] == 1
    assert data["rows"][0]["ts"].startswith("2024-03-01T00:00:00")
    assert data["mapping"][1] == {
        "column": "customer_id",
        "source": "customer_id",
        "found_by": "exact name",
        "required": True,
        "constant": None,
        "recode": None,
    }


def test_a_read_only_workspace_can_be_previewed(ws, tmp_path):
    path = write(tmp_path, "customer_id,ts,touchpoint\na,2024-03-01,x\n")
    ws.import_table("events", path)
    ws.close()
    with cxray.open(tmp_path / "ws", read_only=True) as reader:
        preview = reader.preview_import("events", path)
    assert preview.rows_known == 1  # a re-import would be a duplicate
    assert "1 already in the workspace" in preview.summary()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"source": "missing.csv"}, "no such file"),
        ({"rows": 0}, "at least 1"),
        ({"table": "orders"}, "unknown table"),
        ({"as_of": "2024-01-31"}, "apply to customers"),
        ({"timezone": "Mars/Olympus"}, "not a time zone"),
        ({"mapping": {"nope": "ts"}}, "not in the file"),
    ],
)
def test_a_dry_run_refuses_what_the_import_refuses(ws, tmp_path, call, message):
    path = write(tmp_path, "customer_id,ts,touchpoint\na,2024-03-01,x\n")
    arguments = {"table": "events", "source": path} | call
    if call.get("source"):
        arguments["source"] = tmp_path / call["source"]
    with pytest.raises(ImportError_, match=message):
        ws.preview_import(**arguments)
