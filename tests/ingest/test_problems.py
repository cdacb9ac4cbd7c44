"""The report of a refused import: kept in the engine, exact on every line, fast at any size."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import cxray
from cxray.ingest.problems import SCREEN_ERRORS, ImportError_, _one_record_per_line
from cxray.ingest.sources import Source


@pytest.fixture
def ws(tmp_path: Path):
    workspace = cxray.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def _bad_dates(path: Path, rows: int, every: int) -> set[int]:
    """A file where every ``every``-th row has an unreadable date; returns their lines."""
    lines, bad = ["customer_id,ts,touchpoint"], set()
    for row in range(rows):
        line = row + 2
        if row % every == 0:
            lines.append(f"c{row},someday,visit")
            bad.add(line)
        else:
            lines.append(f"c{row},2024-01-01 10:00:{row % 60:02d},visit")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


def test_twenty_thousand_bad_rows_are_all_listed_but_twenty_are_shown(ws, tmp_path) -> None:
    path = tmp_path / "many.csv"
    bad = _bad_dates(path, 40_000, 2)
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", path)
    assert refused.value.total == len(bad) == 20_000
    assert len(refused.value.errors) == SCREEN_ERRORS
    # one summary line for the column, not 20,000 identical ones
    assert str(refused.value).count("someday") == 1
    with open(refused.value.report, newline="", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert {int(r["line"]) for r in listed} == bad
    assert {r["value"] for r in listed} == {"someday"}
    assert ws.warehouse.counts()["events"] == 0


def test_quarantine_keeps_raw_text_on_the_lines_an_editor_shows(ws, tmp_path) -> None:
    # quoted line breaks and a blank line shift lines: the exact mapping is read from the file
    path = tmp_path / "multi.csv"
    path.write_text(
        "customer_id,ts,touchpoint,note\n"
        'a,2024-01-01,visit,"two\nlines"\n'
        "\n"
        "b,someday,visit,plain\n"
        'c,2024-01-02,visit,"x, y"\n'
        'd,never,"vis ""it""",z\n',
        encoding="utf-8",
    )
    result = ws.import_table("events", path, skip_invalid=True)
    assert (result.rows_imported, result.rows_rejected) == (2, 2)
    with open(result.quarantine, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["customer_id"], r["ts"], r["touchpoint"]) for r in rows] == [
        ("5", "b", "someday", "visit"),
        ("7", "d", "never", 'vis "it"'),
    ]
    assert all(r["reason"].startswith("ts: not a date/time") for r in rows)


def test_line_mapping_fast_path_only_when_every_line_is_a_record(tmp_path) -> None:
    def source(text: bytes) -> Source:
        path = tmp_path / "f.csv"
        path.write_bytes(text)
        return Source(path, "csv", "", {})

    assert _one_record_per_line(source(b"h\na\nb\n"), 2)
    assert _one_record_per_line(source(b"h\r\na\r\nb"), 2)
    assert not _one_record_per_line(source(b"h\na\n\nb\n"), 2)  # a blank line
    assert not _one_record_per_line(source(b'h\n"a\nb"\nc\n'), 2)  # a quoted line break
    assert not _one_record_per_line(source(b"h\ra\rb\r"), 2)  # classic Mac: read exactly


def test_a_lone_carriage_return_is_named_with_its_line(ws, tmp_path) -> None:
    rows = ["customer_id,ts,touchpoint"] + [f"c{i},2024-01-01,visit" for i in range(70_000)]
    rows[60_000] = "c60000,2024-01-01,vis\rit"  # beyond the first block read
    path = tmp_path / "cr.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode())
    with pytest.raises(ImportError_, match=r"line 60001: a carriage return") as refused:
        ws.import_table("events", path)
    assert "Possible fixes" not in str(refused.value)  # DuckDB's own settings dump stays out
    assert ws.warehouse.counts()["events"] == 0


def test_an_unclosed_quote_names_every_line_it_took_and_keeps_them(ws, tmp_path) -> None:
    path = tmp_path / "unclosed.csv"
    path.write_text(
        "customer_id,ts,touchpoint\n"
        "a,2024-01-01,x\n"
        'b,2024-01-02,"open\n'
        "c,2024-01-03,y\n"
        "d,2024-01-04,z\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportError_, match=r"line 3: .*lines 3–5 \(to the end of the file\)"):
        ws.import_table("events", path)
    result = ws.import_table("events", path, skip_invalid=True)
    assert (result.rows_imported, result.rows_rejected) == (1, 1)
    with open(result.quarantine, newline="", encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    # the lines the quote took are in the quarantine file, as they were
    assert row["customer_id"] == 'b,2024-01-02,"open\nc,2024-01-03,y\nd,2024-01-04,z'


def test_a_short_row_counts_once_and_keeps_its_text(ws, tmp_path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("customer_id,ts,touchpoint,channel\na,2024-01-01,x,web\nb\n", encoding="utf-8")
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", path)
    assert refused.value.total == 1
    [error] = refused.value.errors
    assert (error["line"], error["value"]) == (3, "b")
    assert "expected 4 fields, found 1" in error["reason"]
