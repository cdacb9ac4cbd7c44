"""Typed SQL expressions: timestamps read right, or not at all (NULL, refused by validation)."""

from __future__ import annotations

import calendar
import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxray.ingest import columns as cols
from cxray.ingest.sources import sql_literal

UTC = dt.UTC


def read(value: str, timezone: str | None = None, fmt: str | None = None) -> dt.datetime | None:
    expr = cols.timestamp_expr(sql_literal(value), "VARCHAR", timezone, fmt, True)
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
        expr = cols.timestamp_expr(sql_literal(text), "VARCHAR", None, None, True)
        return con.execute(f"SELECT {cols.implausible_timestamp_sql(expr)}").fetchone()[0]

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
    assert cols.suggest_timestamp_format(values) == layout


def test_every_suggested_layout_reads_in_the_engine():
    sample = dt.datetime(2015, 2, 24, 13, 5, 9)
    for layout in cols.SUGGESTED_FORMATS:
        text = sample.strftime(layout)
        parsed = read(text, fmt=layout)
        assert parsed is not None and parsed.date() == sample.date(), layout
