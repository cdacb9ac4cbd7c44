"""Validation rules: numbers are finite, scores lie on their scale in whole points, text is text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxray
from cxray.ingest.importer import ImportError_


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    folder = tmp_path_factory.mktemp("validation")
    workspace = cxray.init(folder / "ws")
    yield workspace
    workspace.close()


def reasons(ws: cxray.Workspace, table: str, text: str, **options) -> list[tuple]:
    """(line, column, value, reason) of every refused cell; [] when the import went through."""
    source = ws.journey_path.parent / f"{table}.csv"
    source.write_text(text, encoding="utf-8")
    errors = source.parent / "errors.csv"
    try:
        ws.import_table(table, source, errors_file=errors, **options)
    except ImportError_ as refused:
        return [(e["line"], e["column"], e["value"], e["reason"]) for e in refused.errors]
    return []


NPS = {"constants": {"metric": "nps"}}


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(ws, value):
    found = reasons(ws, "events", f"customer_id,ts,touchpoint,value\na,2024-01-01,x,{value}\n")
    assert found == [(2, "value", value, found[0][3])]
    assert found[0][3].startswith("not a finite number")
    found = reasons(ws, "feedback", f"customer_id,ts,score\na,2024-01-01,{value}\n", **NPS)
    assert [r[3][:19] for r in found] == ["not a finite number"]  # one reason, not two


def test_an_nps_score_is_a_whole_number(ws):
    found = reasons(ws, "feedback", "customer_id,ts,score\na,2024-01-01,6.5\n", **NPS)
    assert found == [
        (2, "score", "6.5", "not a whole number: the nps scale 0–10 has whole points only")
    ]
    found = reasons(ws, "feedback", 'customer_id,ts,score\na,2024-01-01,"6,0"\n', **NPS)
    assert found == []  # a decimal comma with a whole value is a whole number


@settings(max_examples=25, deadline=None)
@given(score=st.decimals(min_value=-2, max_value=12, places=1, allow_nan=False))
def test_nps_scores_are_accepted_exactly_on_the_scale(ws, score):
    found = reasons(ws, "feedback", f"customer_id,ts,score\na,2024-01-01,{score}\n", **NPS)
    whole = score == score.to_integral_value()
    assert (found == []) == (0 <= score <= 10 and whole)


@pytest.mark.parametrize(
    ("column", "value"),
    [("touchpoint", '["login","x"]'), ("customer_id", '{"id": 7}'), ("channel", "[1, 2]")],
)
def test_a_json_list_or_object_is_not_a_name(ws, column, value):
    row = {"customer_id": "a", "ts": "2024-01-01", "touchpoint": "x", "channel": "web"}
    row[column] = '"' + value.replace('"', '""') + '"'
    found = reasons(ws, "events", ",".join(row) + "\n" + ",".join(row.values()) + "\n")
    assert found == [(2, column, value, "a JSON list or object where one value belongs")]


def test_brackets_in_a_name_that_are_not_json_are_fine(ws):
    text = "customer_id,ts,touchpoint\na,2024-01-01,[beta] login\nb,2024-01-01,{x\n"
    assert reasons(ws, "events", text) == []


@pytest.mark.parametrize("value", ["a\x00b", "\x1b[31mred\x1b[0m", "a\x9b2Jb", "a\x7fb"])
def test_control_characters_in_ids_and_names_are_refused(ws, value):
    found = reasons(ws, "events", f"customer_id,ts,touchpoint\na,2024-01-01,{value}\n")
    assert [(line, column) for line, column, _, _ in found] == [(2, "touchpoint")]
    assert found[0][3].startswith("contains control characters")
    assert "\x1b" not in str(found)  # the message shows escape codes, never sends them


def test_text_keeps_its_line_breaks_but_not_escape_codes(ws):
    header = "customer_id,ts,score,comment\n"
    assert reasons(ws, "feedback", header + 'a,2024-01-01,9,"good\n\tservice"\n', **NPS) == []
    found = reasons(ws, "feedback", header + "a,2024-01-01,9,\x1b[2Jbad\n", **NPS)
    assert [(line, column) for line, column, _, _ in found] == [(2, "comment")]


def test_json_lines_lists_and_objects_are_refused(ws):
    source = ws.journey_path.parent / "e.jsonl"
    source.write_text(
        '{"customer_id": "a", "ts": "2024-01-01", "touchpoint": ["login", "x"]}\n'
        '{"customer_id": {"id": 1}, "ts": "2024-01-01", "touchpoint": "x"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", source, errors_file=source.with_suffix(".errors.csv"))
    found = {(e["line"], e["column"], e["reason"]) for e in refused.value.errors}
    assert found == {
        (1, "touchpoint", "a JSON list or object where one value belongs"),
        (2, "customer_id", "a JSON list or object where one value belongs"),
    }


def test_a_column_in_another_layout_gets_one_line_suggesting_the_format(ws):
    rows = "".join(f"c{i},02/{i + 1:02d}/2015 11:35,x\n" for i in range(25))
    source = ws.journey_path.parent / "us.csv"
    source.write_text("customer_id,ts,touchpoint\nz,13/02/2015 10:00,x\n" + rows, encoding="utf-8")
    errors = source.parent / "us.errors.csv"
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", source, errors_file=errors)
    message = str(refused.value)
    lines = [line for line in message.splitlines() if "ts" in line and "line" in line]
    # 02/01–02/12 also read day-first (the file is refused anyway); 02/13–02/25 cannot: the
    # 13 are summed up in one line
    assert len(lines) == 1, message
    assert "13 values are not a date/time" in lines[0]
    assert "--timestamp-format '%m/%d/%Y %H:%M'" in lines[0]
    assert errors.read_text(encoding="utf-8").count("not a date/time") == 13  # all, in the file
    with pytest.raises(ImportError_, match="--skip-invalid would read the other dates"):
        ws.import_table("events", source, errors_file=errors, skip_invalid=True)
    result = ws.import_table("events", source, timestamp_format="%m/%d/%Y %H:%M", skip_invalid=True)
    assert (result.rows_imported, result.rows_rejected) == (25, 1)  # 13/02 is not month-first


def test_a_single_unreadable_date_is_shown_as_it_is(ws):
    text = "customer_id,ts,touchpoint\na,2024-01-01,x\nb,2024-01-32,x\n"
    found = reasons(ws, "events", text)
    assert [(line, column, value) for line, column, value, _ in found] == [(3, "ts", "2024-01-32")]


def test_skip_invalid_still_imports_a_day_first_file_with_a_few_bad_dates(ws):
    rows = "".join(f"c{i},{i + 1:02d}/02/2015,x\n" for i in range(20)) + "".join(
        f"z{i},99/99/2015,x\n" for i in range(3)
    )
    source = ws.journey_path.parent / "eu.csv"
    source.write_text("customer_id,ts,touchpoint\n" + rows, encoding="utf-8")
    result = ws.import_table("events", source, skip_invalid=True)
    assert (result.rows_imported, result.rows_rejected) == (20, 3)


def test_typed_files_get_the_same_rules(ws):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    source = ws.journey_path.parent / "typed.parquet"
    table = pa.table(
        {
            "customer_id": ["a", "b", "c"],
            "ts": [dt.datetime(2024, 1, 1), dt.datetime(9999, 12, 31), dt.datetime(2024, 1, 2)],
            "touchpoint": ["x", "y", "z"],
            "value": [1.0, 2.0, float("nan")],
        }
    )
    pq.write_table(table, source)
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", source, errors_file=source.with_suffix(".errors.csv"))
    found = {(e["row"], e["column"], e["reason"][:19]) for e in refused.value.errors}
    assert found == {(2, "ts", "outside the plausib"), (3, "value", "not a finite number")}
