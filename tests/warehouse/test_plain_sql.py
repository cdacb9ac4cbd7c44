"""The plain-SQL helpers of the warehouse: literals, UTC reads, older tables, a lazy Ibis.

`cxray status` counts through these without loading Ibis; what they write must read back exactly,
whatever a value holds, and an older workspace must read as empty where it lacks something.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cxray
from cxray.warehouse import connect, from_utc, literal, literals, utc
from tests.warehouse import test_postgres
from tests.warehouse.test_postgres import JOURNEY, company, make_workspace_on

postgres_url = test_postgres.postgres_url  # the server fixture (skips without a server)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


@given(st.text())
def test_a_text_literal_reads_back_as_itself(con, text: str) -> None:
    text = text.replace("\x00", "")  # SQL text holds no NUL
    assert con.execute(f"SELECT {literal(text)}").fetchone()[0] == text


@pytest.mark.parametrize("value", [0, -3, 2.5, 1e-300, True, False])
def test_number_and_truth_literals_read_back(con, value) -> None:
    assert con.execute(f"SELECT {literal(value)}").fetchone()[0] == value


def test_a_timestamp_literal_keeps_its_instant(con) -> None:
    amsterdam = dt.timezone(dt.timedelta(hours=2))
    moment = dt.datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=amsterdam)
    (read,) = con.execute(f"SELECT {utc(literal(moment))}").fetchone()
    assert from_utc(read) == moment and from_utc(read).tzinfo == dt.UTC


@pytest.mark.parametrize("value", [float("nan"), float("inf"), dt.datetime(2024, 1, 1), b"x"])
def test_values_without_a_safe_literal_are_refused(value) -> None:
    with pytest.raises((ValueError, TypeError)):
        literal(value)


def test_an_empty_list_matches_nothing(con) -> None:
    assert con.execute(f"SELECT 'a' IN {literals([])}").fetchone()[0] is None
    assert con.execute(f"SELECT 'a' IN {literals(['b', 'a'])}").fetchone()[0] is True


def test_an_older_workspace_reads_missing_tables_and_columns_as_empty(tmp_path: Path) -> None:
    ws = cxray.init(tmp_path / "ws")
    ws.warehouse.sql("INSERT INTO customers (customer_id) VALUES ('a'), ('b')")
    ws.warehouse.sql("ALTER TABLE customers DROP COLUMN last_seen")  # as an earlier version
    ws.warehouse.sql("DROP TABLE feedback")
    ws.close()
    warehouse = connect(None, tmp_path / "ws", read_only=True)
    try:
        assert warehouse.counts() == {"customers": 2, "events": 0, "feedback": 0}
        assert "last_seen" not in warehouse.columns("customers")
        assert warehouse.columns("feedback") == []
        customers = warehouse.relation("customers", {"last_seen": "TIMESTAMPTZ"})
        feedback = warehouse.relation("feedback", {"ts": "TIMESTAMPTZ"})
        assert warehouse.query(f"SELECT COUNT(*), COUNT(last_seen) FROM {customers}") == [(2, 0)]
        assert warehouse.query(f"SELECT COUNT(*), MAX(ts) FROM {feedback}") == [(0, None)]
    finally:
        warehouse.close()


def test_a_current_table_is_read_as_it_is(tmp_path: Path) -> None:
    ws = cxray.init(tmp_path / "ws")
    try:
        assert ws.warehouse.relation("events", {"ts": "TIMESTAMPTZ"}) == '"events"'
    finally:
        ws.close()


def test_counting_loads_no_ibis_and_asking_for_ibis_still_works(tmp_path: Path) -> None:
    cxray.init(tmp_path / "ws").close()
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from cxray.warehouse import connect
        warehouse = connect(None, Path({str(tmp_path / "ws")!r}), read_only=True)
        assert warehouse.engine == "duckdb" and warehouse.counts()["events"] == 0
        assert "ibis" not in sys.modules and "pandas" not in sys.modules
        assert warehouse.events.count().execute() == 0  # Ibis on the same connection
        assert "ibis" in sys.modules
        warehouse.close()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_status_and_churn_check_read_alike_on_postgres(make_workspace, postgres_url, tmp_path):
    data = company()
    local = make_workspace(**data, journey=JOURNEY, name="duck")
    remote_path = tmp_path / "pg"
    cxray.init(remote_path, warehouse_url=postgres_url).close()
    remote = make_workspace_on(make_workspace, remote_path, data)
    try:
        expected, got = local.status(), remote.status()
        assert got.engine == "postgres"
        for field in ("counts", "first_ts", "last_ts", "touchpoint_counts", "warnings"):
            assert getattr(got, field) == getattr(expected, field), field
        assert got.churn.to_dict() == expected.churn.to_dict()
        assert expected.churn.customers > 0 and expected.churn.explicit > 0
    finally:
        remote.close()
