"""Property tests: whatever the rows, the import keeps its promises."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray.ingest.importer import ImportError_

names = st.text(alphabet="abcdefghij xyz'\"\n;,é", min_size=1, max_size=8).filter(
    lambda s: s.strip() != ""
)
timestamps = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1))
values = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 2)))
rows = st.lists(st.tuples(names, timestamps, names, values), min_size=1, max_size=25)
counter = itertools.count()


def write_csv(path: Path, records: list[tuple], delimiter: str, dutch: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["customer_id", "ts", "touchpoint", "value"])
        for customer, ts, touchpoint, value in records:
            text = "" if value is None else repr(value)
            if dutch and value is not None:
                text = text.replace(".", ",")
            writer.writerow([customer, ts.isoformat(sep=" "), touchpoint, text])


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=rows, delimiter=st.sampled_from([",", ";", "\t"]), dutch=st.booleans())
def test_rows_round_trip_and_reimport_is_idempotent(tmp_path, records, delimiter, dutch):
    case = tmp_path / f"case{next(counter)}"
    case.mkdir()
    if dutch and delimiter == ",":
        delimiter = ";"  # decimal commas come with semicolon-separated files
    source = case / "events.csv"
    write_csv(source, records, delimiter, dutch)
    ws = cxray.init(case / "ws")
    try:
        first = ws.import_table("events", source)
        distinct = {(c.strip(), ts, t.strip(), v) for c, ts, t, v in records}
        assert first.rows_read == len(records)
        assert first.rows_imported == len(distinct)
        assert first.rows_duplicate == len(records) - len(distinct)
        stored = ws.events.execute()
        got = {
            (
                r.customer_id,
                r.ts.tz_convert(None).to_pydatetime(),
                r.touchpoint,
                None if pd.isna(r.value) else r.value,
            )
            for r in stored.itertuples()
        }
        assert got == distinct
        second = ws.import_table("events", source)
        assert (second.rows_imported, second.rows_duplicate) == (0, len(records))
    finally:
        ws.close()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=rows, bad=st.data())
def test_bad_rows_are_reported_on_the_line_an_editor_shows(tmp_path, records, bad):
    case = tmp_path / f"bad{next(counter)}"
    case.mkdir()
    broken = sorted(bad.draw(st.sets(st.integers(0, len(records) - 1), min_size=1)))
    rows_out = [list(r) for r in records]
    for index in broken:
        rows_out[index][1] = "not-a-date"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["customer_id", "ts", "touchpoint", "value"])
    expected_lines = []
    line = 2
    for index, (customer, ts, touchpoint, value) in enumerate(rows_out):
        if index in broken:
            expected_lines.append(line)
        stamp = ts if isinstance(ts, str) else ts.isoformat(sep=" ")
        row = [customer, stamp, touchpoint, "" if value is None else repr(value)]
        writer.writerow(row)
        # csv quotes fields with newlines; each embedded newline moves later rows down a line
        line += 1 + sum(str(field).count("\n") for field in row)
    source = case / "events.csv"
    source.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    ws = cxray.init(case / "ws")
    try:
        try:
            ws.import_table("events", source, errors_file=case / "errors.csv")
            raise AssertionError("import with bad rows was accepted")
        except ImportError_ as refused:
            assert refused.total == len(broken)
        with open(case / "errors.csv", encoding="utf-8") as handle:
            reported = [int(r["line"]) for r in csv.DictReader(handle)]
        assert reported == expected_lines
        assert ws.warehouse.count("events") == 0
    finally:
        ws.close()
