"""Events and feedback are appended in one pass: the same answer as the two-pass way, faster."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray.ingest import append as append_module
from cxray.ingest import importer
from cxray.ingest.importer import ImportError_

HEADER = "customer_id,ts,touchpoint,value\n"


def events_csv(path: Path, rows: list[tuple[str, int, str, int]]) -> Path:
    lines = [f"{c},2024-03-{day:02d} 10:00:00,{t},{v}\n" for c, day, t, v in rows]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def table_rows(ws: cxray.Workspace, table: str) -> list[tuple]:
    return sorted(ws.warehouse.backend.con.execute(f"SELECT * FROM {table}").fetchall(), key=str)


@pytest.fixture
def ws(tmp_path: Path):
    workspace = cxray.init(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture
def one_pass_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two-pass check scan must not run: an append that falls back to it fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the events file took the two-pass path")

    monkeypatch.setattr(importer, "scan_summary", refuse)


def test_a_clean_events_file_is_read_once(ws, tmp_path, one_pass_only):
    source = events_csv(tmp_path / "e.csv", [("c1", 1, "visit", 1), ("c2", 2, "order", 2)])
    result = ws.import_table("events", source)
    assert (result.rows_read, result.rows_imported, result.rows_duplicate) == (2, 2, 0)
    assert result.new_touchpoints == ["order", "visit"]


def test_repeats_in_the_file_and_stored_rows_are_duplicates(ws, tmp_path, one_pass_only):
    first = events_csv(tmp_path / "a.csv", [("c1", 1, "visit", 1), ("c2", 2, "order", 2)])
    ws.import_table("events", first)
    rows = [("c1", 1, "visit", 1), ("c3", 3, "visit", 3), ("c3", 3, "visit", 3)]
    result = ws.import_table("events", events_csv(tmp_path / "b.csv", rows))
    assert (result.rows_read, result.rows_imported, result.rows_duplicate) == (3, 1, 2)
    assert ws.warehouse.counts()["events"] == 3
    again = ws.import_table("events", first)
    assert (again.rows_imported, again.rows_duplicate) == (0, 2)
    assert ws.warehouse.counts()["events"] == 3


def test_a_bad_row_rolls_the_append_back_and_is_named(ws, tmp_path):
    ws.import_table("events", events_csv(tmp_path / "a.csv", [("c1", 1, "visit", 1)]))
    before = table_rows(ws, "events"), table_rows(ws, "cxray_imports")
    bad = tmp_path / "b.csv"
    bad.write_text(HEADER + "c2,2024-03-02,visit,1\nc3,someday,visit,2\n", encoding="utf-8")
    with pytest.raises(ImportError_) as refused:
        ws.import_table("events", bad)
    assert "line 3" in str(refused.value)
    assert (table_rows(ws, "events"), table_rows(ws, "cxray_imports")) == before


def test_skip_invalid_appends_the_valid_rows_and_sets_the_rest_aside(ws, tmp_path):
    bad = tmp_path / "b.csv"
    bad.write_text(
        HEADER
        + "c2,2024-03-02,visit,1\nc3,someday,visit,2\nc4,2024-03-04,order\nc2,2024-03-02,visit,1\n",
        encoding="utf-8",
    )
    result = ws.import_table("events", bad, skip_invalid=True)
    assert (result.rows_read, result.rows_imported, result.rows_duplicate) == (4, 1, 1)
    assert result.rows_rejected == 2  # the unreadable date and the short row
    quarantined = Path(result.quarantine).read_text(encoding="utf-8")
    assert "someday" in quarantined and "c4,2024-03-04,order" in quarantined


def test_keys_given_in_the_file_that_disagree_are_still_refused(ws, tmp_path):
    source = tmp_path / "e.csv"
    source.write_text(
        "event_id,customer_id,ts,touchpoint\ne1,c1,2024-03-01,visit\ne1,c2,2024-03-02,order\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportError_):
        ws.import_table("events", source)
    assert ws.warehouse.counts()["events"] == 0


def test_duckdb_numbers_a_transactions_new_rows_above_the_stored_ones(tmp_path):
    # What the append relies on to tell its rows apart; a DuckDB that changes it fails here.
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(5000)")
    con.execute("DELETE FROM t WHERE i % 3 = 0")
    con.execute("CHECKPOINT")
    (before,) = con.execute("SELECT max(rowid) FROM t").fetchone()
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN")
    con.execute("INSERT INTO t SELECT range + 10000 FROM range(200000)")
    new = con.execute(f"SELECT count(*), min(i) FROM t WHERE rowid > {before}").fetchone()
    con.execute("ROLLBACK")
    assert new == (200000, 10000)


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3"]),
        st.integers(1, 3),
        st.sampled_from(["visit", "order"]),
        st.integers(0, 2),
    ),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=rows_strategy, incoming=rows_strategy)
def test_one_pass_gives_the_two_pass_answer(tmp_path_factory, monkeypatch, stored, incoming):
    """Whatever repeats within a file or with what is stored: counts and tables agree."""
    outcomes = []
    for one_pass in (True, False):
        with monkeypatch.context() as patch:
            if not one_pass:
                patch.setattr(importer, "appends", lambda spec: False)
            folder = tmp_path_factory.mktemp("ws")
            ws = cxray.init(folder / "ws")
            try:
                counts = []
                for name, rows in (("a.csv", stored), ("b.csv", incoming)):
                    r = ws.import_table("events", events_csv(folder / name, rows))
                    counts.append((r.rows_read, r.rows_imported, r.rows_duplicate))
                outcomes.append((counts, table_rows(ws, "events")))
            finally:
                ws.close()
    assert outcomes[0] == outcomes[1]
    assert append_module.appends(cxray.schema.table_spec("events"))
