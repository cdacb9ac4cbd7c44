"""The DuckDB warehouse shared by several processes: readers side by side, a writer alone.

Every conflict here is a real second process holding the file (DuckDB's locks are per process).
"""

from __future__ import annotations

import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray import schema
from cxray.warehouse import WarehouseError, connect
from cxray.warehouse import core as warehouse_core

HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, read_only, hold = sys.argv[1], sys.argv[2] == "ro", float(sys.argv[3])
    con = duckdb.connect(path, read_only=read_only)
    print("ready", flush=True)
    if hold < 0:
        sys.stdin.read()  # until the test closes our stdin
    else:
        time.sleep(hold)
    con.close()
    """
)


@contextmanager
def held(path: Path, read_only: bool = False, hold: float = -1) -> Iterator[subprocess.Popen]:
    """Another process holding the warehouse file open (for writing unless read_only)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), "ro" if read_only else "rw", str(hold)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started, _, _ = select.select([process.stdout], [], [], 60)  # bounded: never hang
        assert started, "the holding process did not start"
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    warehouse = connect(None, tmp_path)
    warehouse.ensure_tables()
    warehouse.close()
    return tmp_path


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 0.4)
    return 0.4


def _file(workspace_dir: Path) -> Path:
    return workspace_dir / warehouse_core.DEFAULT_FILE


@pytest.mark.parametrize("read_only", [True, False])
def test_a_writer_elsewhere_gives_one_line_busy_never_the_raw_lock_error(
    workspace_dir: Path, short_wait: float, read_only: bool
) -> None:
    with held(_file(workspace_dir)):
        started = time.monotonic()
        with pytest.raises(WarehouseError) as caught:
            connect(None, workspace_dir, read_only=read_only)
        waited = time.monotonic() - started
    message = str(caught.value)
    assert "workspace is busy" in message and "import" in message
    assert "try again" in message
    assert str(workspace_dir) in message
    assert "\n" not in message
    for raw in ("PID", "IO Error", "lock on file", "duckdb.org"):
        assert raw not in message
    assert caught.value.__cause__ is None  # the raw DuckDB error is not chained into tracebacks
    assert short_wait <= waited < short_wait + 3  # it waited, but briefly and bounded


def test_readers_run_side_by_side(workspace_dir: Path, short_wait: float) -> None:
    with held(_file(workspace_dir), read_only=True):
        first = connect(None, workspace_dir, read_only=True)
        second = connect(None, workspace_dir, read_only=True)
        try:
            assert first.count("events") == 0 and second.count("events") == 0
            assert first.read_only and second.read_only
        finally:
            first.close()
            second.close()


def test_a_writer_waits_out_readers_then_is_told_busy(
    workspace_dir: Path, short_wait: float
) -> None:
    with held(_file(workspace_dir), read_only=True), pytest.raises(WarehouseError) as caught:
        connect(None, workspace_dir, read_only=False)
    assert "workspace is busy" in str(caught.value) and "PID" not in str(caught.value)


def test_a_brief_write_elsewhere_is_waited_for(workspace_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 15.0)
    with held(_file(workspace_dir), hold=0.8):
        started = time.monotonic()
        warehouse = connect(None, workspace_dir, read_only=True)
        waited = time.monotonic() - started
    try:
        assert warehouse.count("customers") == 0
    finally:
        warehouse.close()
    assert waited < 10


def test_other_open_failures_are_not_retried(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 30.0)
    _file(tmp_path).write_bytes(b"this is not a duckdb file" * 200)
    started = time.monotonic()
    with pytest.raises(WarehouseError, match="cannot open the warehouse"):
        connect(None, tmp_path)
    assert time.monotonic() - started < 5


def test_read_only_without_a_warehouse_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no warehouse file"):
        connect(None, tmp_path, read_only=True)
    assert not _file(tmp_path).exists()  # a read-only open creates nothing


def test_read_only_is_a_no_op_for_other_engines(monkeypatch) -> None:
    seen: list[str] = []

    def fake_connect(url: str):
        seen.append(url)
        raise RuntimeError("no server here")

    monkeypatch.setattr(warehouse_core.ibis, "connect", fake_connect)
    with pytest.raises(WarehouseError, match="cannot connect to host/db"):
        connect("postgres://user@host/db", Path("."), read_only=True)
    assert seen == ["postgres://user@host/db"]


# -- an older workspace, opened read-only (ensure_tables, a write, is not run) ----------------
OPTIONAL = {
    spec.name: [c for c in spec.columns if c not in (spec.key, *spec.required)]
    for spec in schema.TABLES.values()
}


def _kinds(table_schema) -> list[tuple[str, str | None]]:
    return [(type(t).__name__, getattr(t, "timezone", None)) for t in table_schema.types]


def _literal(spec: schema.TableSpec, column: str) -> str:
    if column not in (spec.key, *spec.required):
        return "NULL"
    dtype = spec.schema[column]
    if dtype.is_timestamp():
        return "TIMESTAMPTZ '2024-01-01 00:00:00+00'"
    return "1.0" if dtype.is_floating() else "'k'"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(OPTIONAL)),
    data=st.data(),
)
def test_older_tables_read_with_every_current_column(tmp_path_factory, name: str, data) -> None:
    workspace_dir = tmp_path_factory.mktemp("older")
    dropped = data.draw(st.lists(st.sampled_from(OPTIONAL[name]), unique=True, min_size=1))
    warehouse = connect(None, workspace_dir)
    warehouse.ensure_tables()
    spec = schema.TABLES[name]
    present = [c for c in spec.columns if c not in dropped]
    warehouse.sql(f'CREATE TABLE old AS SELECT {", ".join(present)} FROM "{name}"')
    warehouse.sql(f'DROP TABLE "{name}"')
    warehouse.sql(f'ALTER TABLE old RENAME TO "{name}"')
    values = ", ".join(_literal(spec, c) for c in present)
    warehouse.sql(f'INSERT INTO "{name}" VALUES ({values})')
    warehouse.close()

    reader = connect(None, workspace_dir, read_only=True)
    try:
        table = reader.table(name)
        assert list(table.columns) == spec.columns
        assert _kinds(table.schema()) == _kinds(spec.schema)
        assert reader.count(name) == 1
        assert table.select(*dropped).execute().isna().all().all()
        raw = set(reader.backend.table(name).columns)
        assert raw.isdisjoint(dropped)  # nothing was written to the file
    finally:
        reader.close()


def test_a_missing_table_reads_empty_when_read_only(workspace_dir: Path) -> None:
    warehouse = connect(None, workspace_dir)
    warehouse.sql("DROP TABLE feedback")
    warehouse.sql("DROP TABLE cxray_imports")
    warehouse.close()
    reader = connect(None, workspace_dir, read_only=True)
    try:
        assert reader.count("feedback") == 0
        assert list(reader.feedback.columns) == schema.FEEDBACK.columns
        assert list(reader.table("cxray_imports").columns) == list(schema.IMPORTS.names)
    finally:
        reader.close()


WINDOWS_SHARING = (
    'IO Error: Cannot open file "C:\\\\ws\\\\warehouse.duckdb": The process cannot access the '
    "file because it is being used by another process."
)


def test_windows_sharing_violations_are_waited_for_too(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 5.0)
    attempts: list[int] = []

    def opener():
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError(WINDOWS_SHARING)
        return "backend"

    assert warehouse_core._waiting_for_lock(opener, tmp_path, read_only=True) == "backend"
    assert len(attempts) == 3


def test_a_persistent_windows_sharing_violation_says_busy(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 0.2)

    def opener():
        raise OSError(WINDOWS_SHARING)

    with pytest.raises(WarehouseError, match="workspace is busy") as caught:
        warehouse_core._waiting_for_lock(opener, tmp_path, read_only=False)
    assert "another process" in str(caught.value) and "C:" not in str(caught.value)


def test_a_read_only_open_beside_this_process_own_writer_reads_through_it(tmp_path):
    import cxray

    writer = cxray.init(tmp_path / "ws")
    try:
        reader = cxray.open(tmp_path / "ws", read_only=True)  # e.g. a CLI call from a notebook
        assert reader.warehouse.counts()["events"] == 0
        reader.close()
    finally:
        writer.close()


def test_a_table_made_after_a_no_is_seen(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    cursor = ws.warehouse.cursor()
    assert not cursor.has_table("cxray_later")
    ws.warehouse.sql("CREATE TABLE cxray_later (x INTEGER)")
    assert cursor.has_table("cxray_later")  # a no is never remembered
    assert ws.warehouse.has_table("customers")
    ws.close()


def test_a_cursor_reads_in_utc_and_sees_the_same_data(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    ws.warehouse.sql("INSERT INTO customers (customer_id) VALUES ('a')")
    cursor = ws.warehouse.cursor()
    assert cursor.query("SELECT current_setting('TimeZone')") == [("UTC",)]
    assert cursor.query("SELECT customer_id FROM customers") == [("a",)]
    assert list(cursor.table("customers").columns) == list(ws.warehouse.table("customers").columns)
    ws.close()
