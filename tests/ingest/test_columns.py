"""Typed SQL expressions: timestamps read right, or not at all (NULL, refused by validation)."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import re
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxray
from cxray import schema
from cxray.ingest import columns as cols
from cxray.ingest import lifetime as life
from cxray.ingest.sources import open_source, sql_literal
from cxray.ingest.values import (
    SUGGESTED_FORMATS,
    implausible_timestamp_sql,
    suggest_timestamp_format,
    timestamp_expr,
)

UTC = dt.UTC


def read(value: str, timezone: str | None = None, fmt: str | None = None) -> dt.datetime | None:
    expr = timestamp_expr(sql_literal(value), "VARCHAR", timezone, fmt, True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(f"SELECT {expr}").fetchone()[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-02-24 11:35:52 -0800", dt.datetime(2015, 2, 24, 19, 35, 52, tzinfo=UTC)),
        ("2015-02-24T11:35:52-08:00", dt.datetime(2015, 2, 24, 19, 35, 52, tzinfo=UTC)),
        ("2015-02-24 11:35 +0100", dt.datetime(2015, 2, 24, 10, 35, tzinfo=UTC)),
        ("24/02/2015 11:35", dt.datetime(2015, 2, 24, 11, 35, tzinfo=UTC)),
        ("24-02-2015", dt.datetime(2015, 2, 24, tzinfo=UTC)),
    ],
)
def test_common_formats_are_read_without_options(text, expected):
    assert read(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31-02-2025",
        "30/02/2024 10:00",
        "2025-02-29",
        "2024-01-01 10:00:00+25:00",
        "2024-01-01 10:00:00-1500",
        "2024-01-01 10:00:00+01:75",
        "2015-02-24 11:35:52 +2500",
        "soon",
    ],
)
def test_impossible_dates_and_offsets_are_not_read(text):
    assert read(text) is None


def test_timezone_applies_to_dates_and_zoneless_values_only():
    amsterdam = "Europe/Amsterdam"
    assert read("2024-03-01", amsterdam) == dt.datetime(2024, 2, 29, 23, tzinfo=UTC)
    assert read("2024-07-01 10:00", amsterdam) == dt.datetime(2024, 7, 1, 8, tzinfo=UTC)
    assert read("01-03-2024", amsterdam) == dt.datetime(2024, 2, 29, 23, tzinfo=UTC)
    assert read("2024-03-01T10:00:00Z", amsterdam) == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert read("2024-03-01 10:00:00-01", amsterdam) == dt.datetime(2024, 3, 1, 11, tzinfo=UTC)
    assert read("2024-03-01 10:00 -0800", amsterdam) == dt.datetime(2024, 3, 1, 18, tzinfo=UTC)


def test_plausible_window_refuses_placeholders():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def implausible(text: str) -> bool:
        expr = timestamp_expr(sql_literal(text), "VARCHAR", None, None, True)
        return con.execute(f"SELECT {implausible_timestamp_sql(expr)}").fetchone()[0]

    for text in ["infinity", "-infinity", "9999-12-31", "9909-01-01", "1899-12-31 23:59"]:
        assert implausible(text), text
    for text in ["1900-01-01", "2200-12-31 23:59:59", "2024-03-01"]:
        assert not implausible(text), text


@settings(max_examples=60, deadline=None)
@given(
    year=st.integers(1900, 2200),
    month=st.integers(1, 12),
    day=st.integers(1, 31),
    sep=st.sampled_from(["-", "/"]),
)
def test_day_first_dates_are_read_exactly_or_not_at_all(year, month, day, sep):
    text = f"{day:02d}{sep}{month:02d}{sep}{year}"
    if day <= calendar.monthrange(year, month)[1]:
        assert read(text) == dt.datetime(year, month, day, tzinfo=UTC)
    else:
        assert read(text) is None  # never rolled over into the next month


@pytest.mark.parametrize(
    ("values", "layout"),
    [
        (["02/24/2015 11:35", "12/31/2015 23:59"], "%m/%d/%Y %H:%M"),
        (["2/4/2015 1:05 PM"], "%m/%d/%Y %I:%M %p"),
        (["24.02.2015"], "%d.%m.%Y"),
        (["Feb 24, 2015"], "%b %d, %Y"),
        (["02/24/15"], "%m/%d/%y"),
        (["nonsense"], None),
        (["02/24/2015", "nonsense"], None),  # every value must read
    ],
)
def test_a_layout_is_suggested_only_when_it_reads_every_value(values, layout):
    assert suggest_timestamp_format(values) == layout


def test_every_suggested_layout_reads_in_the_engine():
    sample = dt.datetime(2015, 2, 24, 13, 5, 9)
    for layout in SUGGESTED_FORMATS:
        text = sample.strftime(layout)
        parsed = read(text, fmt=layout)
        assert parsed is not None and parsed.date() == sample.date(), layout


# -- mapping: exact names, aliases, weak aliases ----------------------------------------------
DOCS = Path(__file__).resolve().parents[2] / "docs" / "import.md"
ALIAS_BLOCK = re.compile(r"<!-- aliases:start -->\n(.*?)<!-- aliases:end -->", re.DOTALL)


def alias_table() -> str:
    """The alias list of docs/import.md, as the code defines it."""
    rows = ["| column | tables | aliases, in the order tried |", "|---|---|---|"]
    listed = [(column, aliases, None) for column, aliases in cols.ALIASES.items()]
    listed += [
        (column, aliases, "customers (lifetime input)") for column, aliases in life.INPUTS.items()
    ]
    for column, aliases, where in listed:
        tables = where or ", ".join(s.name for s in schema.TABLES.values() if column in s.columns)
        weak = cols.WEAK_ALIASES.get(column, ())
        names = ", ".join(f"`{a}`" + (" *(weak)*" if a in weak else "") for a in aliases)
        rows.append(f"| `{column}` | {tables} | {names} |")
    return "\n".join(rows) + "\n"


def test_the_documented_alias_list_is_the_one_the_code_uses():
    page = DOCS.read_text(encoding="utf-8")
    if os.environ.get("CXRAY_UPDATE_DOCS"):
        page = ALIAS_BLOCK.sub(
            lambda _: f"<!-- aliases:start -->\n{alias_table()}<!-- aliases:end -->", page
        )
        DOCS.write_text(page, encoding="utf-8")
    found = ALIAS_BLOCK.search(page)
    assert found, "docs/import.md lost its <!-- aliases:start/end --> markers"
    assert found.group(1) == alias_table(), (
        "docs/import.md lists other aliases than ALIASES: run "
        "CXRAY_UPDATE_DOCS=1 python -m pytest tests/ingest/test_columns.py"
    )


def test_weak_aliases_are_aliases_with_a_rule():
    for column, weak in cols.WEAK_ALIASES.items():
        assert set(weak) <= set(cols.ALIASES[column]), column
        assert cols.WEAK_KINDS[column] in cols.WEAK_MISFITS, column
    assert "type" in cols.WEAK_ALIASES["metric"]


def plan(columns, spec=schema.FEEDBACK, mapping=None, constants=None, fits=None):
    return cols.plan_columns(spec, columns, mapping or {}, constants or {}, "f.csv", weak_fit=fits)


def test_each_column_says_how_it_was_found():
    found = plan(
        ["ResponseId", "TS", "Q1", "Region"], mapping={"Q1": "score"}, constants={"metric": "nps"}
    )
    assert found.sources == {"score": "Q1", "response_id": "ResponseId", "ts": "TS"}
    assert found.found_by == {"score": "--map", "response_id": "alias", "ts": "exact name"}
    assert found.extras == ["Region"]  # feedback keeps them, as JSON in properties


def test_a_weak_alias_is_taken_only_when_its_values_fit():
    def fits(target, column, kind):
        return None if column == "date" else cols.PassedOver(column, target, kind, (("14:30", 2),))

    found = plan(["time", "date", "Type"], constants={"metric": "nps"}, fits=fits)
    assert found.sources["ts"] == "date"  # `time` holds times of day: the next alias is tried
    assert [p.column for p in found.passed_over] == ["time"]
    assert "time" in found.extras
    # without a look at the values, a weak alias is never taken
    assert "ts" not in plan(["time"], constants={"metric": "nps"}).sources
    assert "metric" not in plan(["Type"]).sources


@settings(max_examples=40, deadline=None)
@given(
    st.permutations(["klantnummer", "Date", "Type", "ResponseId", "Opmerking", "survey", "Region"])
)
def test_the_mapping_does_not_depend_on_the_order_of_the_columns(columns):
    def fits(target, column, kind):
        return None if column != "Type" else cols.PassedOver(column, target, kind)

    found = plan(list(columns), fits=fits)
    assert found.sources == {
        "customer_id": "klantnummer",
        "ts": "Date",
        "comment": "Opmerking",
        "survey_id": "survey",
        "response_id": "ResponseId",
    }
    assert sorted(found.extras) == ["Region", "Type"]


def open_csv(tmp_path: Path, text: str):
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    return open_source(duckdb.connect(), path, tmp_path)


@pytest.mark.parametrize(
    ("text", "column", "target", "taken", "why"),
    [
        (
            "Type\nSurvey Preview\nIP Address\n",
            "Type",
            "metric",
            False,
            "'Survey Preview' on line 2",
        ),
        ("Type\nNPS\n csat \n\nnps\n", "Type", "metric", True, None),
        ("Type\nnps\nSurvey Preview\n", "Type", "metric", False, "'Survey Preview' on line 3"),
        ("time\n14:30\n09:05\n", "time", "ts", False, "not dates/times, e.g. '14:30' on line 2"),
        ("time\n2024-03-01\n14:30\n09:05\n", "time", "ts", False, "'14:30' on line 3, '09:05'"),
        ("date\n2024-03-01\n31-02-2025\n2024-03-02\n", "date", "ts", True, None),  # a typo
        ("date\n2024-03-01\n01-03-2024\n", "date", "ts", True, None),
        (
            "date\n03/15/2024\n12/31/2024\n",
            "date",
            "ts",
            True,
            None,
        ),  # --timestamp-format reads them
        ("event\n17\n18\n", "event", "touchpoint", False, "all numbers"),
        ("event\norder\n3\n", "event", "touchpoint", True, None),
        ("text\n\n\n", "text", "comment", False, "no values in the first 1,000 rows"),
    ],
)
def test_values_decide_a_weak_alias(tmp_path, text, column, target, taken, why):
    sample = cols.ValueSample(open_csv(tmp_path, text), ["ces", "csat", "nps", "rating", "text"])
    try:
        misfit = sample(target, column, cols.WEAK_KINDS[target])
    finally:
        sample.close()
    assert (misfit is None) == taken
    if why:
        assert why in misfit.reason()
        assert misfit.option == f"--map {column}={target}"


def test_a_misfit_names_its_line_past_quoted_line_breaks(tmp_path):
    source = open_csv(tmp_path, 'Type,comment\nnps,"two\nlines"\nSurvey Preview,x\n')
    sample = cols.ValueSample(source, ["nps"])
    misfit = sample("metric", "Type", "metric")
    sample.close()
    assert misfit.examples == (("Survey Preview", 4),)
    assert "op regel 4" in misfit.reason("nl")


def test_a_missing_column_says_why_a_weak_alias_was_not_taken():
    passed = [cols.PassedOver("Response Type", "metric", "metric", (("IP Address", 2),))]
    message = cols.missing_message("s.csv", ["metric"], ["Response Type", "Q1"], passed)
    assert "Response Type was not taken for metric" in message
    assert "'IP Address' on line 2" in message
    assert "--map 'Response Type=metric'" in message  # quoted for the shell
    assert "--set metric=nps" in message


# -- feedback's extra columns ---------------------------------------------------------------
FEEDBACK_ROWS = (
    "c1,2024-03-01 10:00:00,nps,9,Quick delivery,en,delivery,e7,s1\nc2,2024-03-02,csat,4,,,,,\n"
)
FEEDBACK_HEADER = "customer_id,ts,metric,score,comment,language,touchpoint,event_id,survey_id"
# response_id as derived before feedback had a JSON column: these must never change
PINNED_IDS = {"c1": "8d5149fb761719a9d83b844a", "c2": "1c01db456773e1fe0500a5da"}


def stored_feedback(ws) -> dict:
    frame = ws.feedback.execute()
    return dict(
        zip(
            frame["customer_id"],
            zip(frame["response_id"], frame["properties"], strict=True),
            strict=True,
        )
    )


@pytest.mark.parametrize("extra", ["", ",Region,Q5_text"])
def test_feedback_ids_do_not_change_and_extra_columns_are_kept(tmp_path, extra):
    path = tmp_path / "answers.csv"
    values = ["", ""] if not extra else [",North,fast", ",South, "]
    lines = FEEDBACK_ROWS.splitlines()
    path.write_text(
        FEEDBACK_HEADER
        + extra
        + "\n"
        + "".join(f"{row}{v}\n" for row, v in zip(lines, values, strict=True))
    )
    ws = cxray.init(tmp_path / "ws")
    ws.import_table("feedback", path)
    stored = stored_feedback(ws)
    assert {c: rid for c, (rid, _) in stored.items()} == PINNED_IDS
    if extra:
        assert json.loads(stored["c1"][1]) == {"Region": "North", "Q5_text": "fast"}
        assert json.loads(stored["c2"][1]) == {"Region": "South"}  # blanks left out
    else:
        assert stored["c1"][1] is None
    again = ws.import_table("feedback", path)
    assert again.rows_duplicate == 2 and again.rows_imported == 0
    ws.close()


def test_an_old_workspace_gains_feedback_properties_and_old_files_stay_duplicates(tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text(
        FEEDBACK_HEADER
        + ",Region\n"
        + "".join(f"{row},North\n" for row in FEEDBACK_ROWS.splitlines())
    )
    ws = cxray.init(tmp_path / "ws")
    ws.warehouse.sql("ALTER TABLE feedback DROP COLUMN properties")  # as an earlier version made it
    ws.warehouse.sql(
        "INSERT INTO feedback VALUES ('8d5149fb761719a9d83b844a', 'c1', "
        "TIMESTAMPTZ '2024-03-01 10:00:00+00', 'nps', 9, 'Quick delivery', 'en', 'delivery', 'e7', 's1')"
    )
    ws.close()
    ws = cxray.open(tmp_path / "ws")
    assert "properties" in ws.feedback.columns
    result = ws.import_table("feedback", path)
    assert (result.rows_imported, result.rows_duplicate) == (1, 1)
    assert {c: rid for c, (rid, _) in stored_feedback(ws).items()} == PINNED_IDS
    ws.close()


def test_answers_differing_only_in_extra_columns_are_one_answer(tmp_path):
    path = tmp_path / "twins.csv"
    path.write_text("ts,metric,score,Region\n2024-03-01,nps,9,North\n2024-03-01,nps,9,South\n")
    with cxray.init(tmp_path / "ws") as ws:
        ws.import_table("feedback", path)
        ids = ws.feedback.execute()["response_id"].tolist()
    assert len(ids) == len(set(ids)) == 1  # one id, one row: extra columns are not in the id
