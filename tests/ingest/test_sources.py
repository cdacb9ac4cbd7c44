"""Readers on real public event logs (XES)."""

from __future__ import annotations

import gzip
import os

import duckdb
import pytest
from lxml import etree

import cxray
from cxray.ingest.sources import Source, SourceError, check_timezone, csv_lines, open_source
from tests.conftest import SHARED_DATA

RECEIPT = SHARED_DATA / "receipt" / "receipt.xes.gz"


def count_events(path) -> tuple[int, set[str]]:
    events, cases = 0, set()
    with gzip.open(path, "rb") as handle:
        for _, element in etree.iterparse(handle, tag="{*}trace"):
            for child in element:
                tag = etree.QName(child).localname
                if tag == "string" and child.get("key") == "concept:name":
                    cases.add(child.get("value"))
                elif tag == "event":
                    events += 1
            element.clear()
    return events, cases


@pytest.mark.skipif(not RECEIPT.exists(), reason="shared data not available")
def test_xes_event_log_imports_every_event(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    result = ws.import_table("events", RECEIPT)
    expected_events, cases = count_events(RECEIPT)
    assert result.rows_read == expected_events == 8577
    assert result.rows_imported + result.rows_duplicate == expected_events
    assert ws.events.customer_id.nunique().execute() == len(cases) == 1434
    assert ws.events.ts.isnull().sum().execute() == 0
    assert len(ws.journey.unassigned) == ws.events.touchpoint.nunique().execute() == 27
    again = ws.import_table("events", RECEIPT)
    assert again.rows_imported == 0
    ws.close()


@pytest.mark.skipif(not RECEIPT.exists(), reason="shared data not available")
def test_xes_cases_become_customers(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    result = ws.import_table("customers", RECEIPT)
    assert result.rows_read == result.rows_imported == 1434
    events = ws.import_table("events", RECEIPT)
    first = ws.events.group_by("customer_id").aggregate(first=ws.events.ts.min())
    joined = ws.customers.join(first, "customer_id")
    assert joined.count().execute() == 1434
    assert joined.filter(joined.first != joined.first_seen).count().execute() == 0
    assert events.rows_imported + events.rows_duplicate == 8577
    ws.close()


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "Europe/Amsterdm", "/UTC"])
def test_an_unknown_timezone_is_refused_before_reading(name):
    with pytest.raises(SourceError, match=r"--timezone .*not a time zone I know"):
        check_timezone(name)


@pytest.mark.parametrize("name", [None, "", "UTC", "Europe/Amsterdam", "America/New_York"])
def test_known_timezones_pass(name):
    check_timezone(name)


def test_csv_lines_reads_fields_over_128_kb_and_reports_unreadable_lines(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text('a,b\n1,"' + "x" * 300_000 + '"\n2,3\n4\n')
    source = Source(path, "csv", "", {"a": "VARCHAR", "b": "VARCHAR"})
    found, malformed = csv_lines(source, {1, 2}, find_malformed=True)
    assert found == {1: 2, 2: 3}
    assert malformed == [(4, "expected 2 fields, found 1")]


def test_open_source_refuses_an_unreadable_file(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("a,b\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("file permissions are not enforced for this user")
        with duckdb.connect() as con, pytest.raises(SourceError, match="cannot be read"):
            open_source(con, path, tmp_path / "work")
    finally:
        path.chmod(0o644)
