"""Import 10M events from CSV and Parquet; compare with pandas and with DuckDB on its own.

Baselines measured in the same run on the same file:
- ``duckdb CREATE TABLE AS read_csv``: DuckDB loading the file into a table with no mapping,
  validation or deduplication — the floor for any import into an embedded DuckDB;
- ``duckdb count(*)``: DuckDB only scanning the file;
- ``pandas.read_csv``: what a data scientist would do first (it does not even store the data).
Rows can be changed with CXRAY_BENCH_ROWS.

A second table measures refusal at scale: the same-shaped file of CXRAY_BENCH_BAD_ROWS (1M)
rows imported when every date is readable, refused when none is (writing the errors file),
and set aside with --skip-invalid (writing the quarantine file). A refusal should cost no
more than a success, and every import stay under 1 GiB.
"""

from __future__ import annotations

import os
import shutil

import duckdb

from benchmarks.common import BENCH_DIR, measure, print_table

ROWS = int(os.environ.get("CXRAY_BENCH_ROWS", 10_000_000))
BAD_ROWS = int(os.environ.get("CXRAY_BENCH_BAD_ROWS", 1_000_000))


def make_files() -> tuple[str, str]:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    csv_path = BENCH_DIR / f"events-{ROWS}.csv"
    parquet_path = BENCH_DIR / f"events-{ROWS}.parquet"
    if not csv_path.exists():
        con = duckdb.connect()
        con.execute(
            f"""COPY (SELECT 'c' || (i % {max(ROWS // 10, 1)}) AS customer_id,
                TIMESTAMP '2024-01-01' + to_seconds(i * 3) AS ts,
                ['site_visit', 'order_placed', 'delivery', 'support_call', 'login_failed']
                    [1 + (i * 7 % 5)] AS touchpoint,
                ['web', 'app', 'phone'][1 + (i % 3)] AS channel,
                round((i % 1000) / 10.0, 2) AS value
              FROM range({ROWS}) t(i)) TO '{csv_path}' (HEADER)"""
        )
        con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}')) TO '{parquet_path}'")
    return str(csv_path), str(parquet_path)


def make_refusal_files() -> tuple[str, str]:
    """One file whose dates all read, one of the same shape whose dates never do."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    good = BENCH_DIR / f"dates-good-{BAD_ROWS}.csv"
    bad = BENCH_DIR / f"dates-bad-{BAD_ROWS}.csv"
    con = duckdb.connect()
    for path, ts in (
        (good, "strftime(TIMESTAMP '2024-01-01' + to_seconds(i), '%Y-%m-%d %H:%M:%S')"),
        (bad, "'someday ' || (i % 97)"),
    ):
        if not path.exists():
            con.execute(
                f"""COPY (SELECT 'c' || (i % {max(BAD_ROWS // 10, 1)}) AS customer_id, {ts} AS ts,
                    ['visit', 'order', 'call'][1 + (i % 3)] AS touchpoint
                  FROM range({BAD_ROWS}) t(i)) TO '{path}' (HEADER)"""
            )
    return str(good), str(bad)


def cxray_import(source: str, workspace: str, skip_invalid: bool = False) -> int:
    import cxray

    shutil.rmtree(workspace, ignore_errors=True)
    ws = cxray.init(workspace)
    result = ws.import_table("events", source, skip_invalid=skip_invalid)
    ws.close()
    return result.rows_imported + result.rows_rejected


def cxray_refused(source: str, workspace: str) -> int:
    import cxray
    from cxray.ingest.problems import ImportError_

    shutil.rmtree(workspace, ignore_errors=True)
    ws = cxray.init(workspace)
    try:
        ws.import_table("events", source)
    except ImportError_ as refused:
        return refused.total
    finally:
        ws.close()
    raise AssertionError("the file was not refused")


def duckdb_ctas(source: str, database: str) -> int:
    if os.path.exists(database):
        os.remove(database)
    con = duckdb.connect(database)
    reader = "read_parquet" if source.endswith(".parquet") else "read_csv"
    con.execute(f"CREATE TABLE events AS SELECT * FROM {reader}('{source}')")
    count = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()  # as cxray's import ends: the table checkpointed in the database file
    return count


def duckdb_scan(source: str) -> int:
    reader = "read_parquet" if source.endswith(".parquet") else "read_csv"
    return duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{source}')").fetchone()[0]


def pandas_read(source: str) -> int:
    import pandas as pd

    frame = pd.read_csv(source) if source.endswith(".csv") else pd.read_parquet(source)
    return len(frame)


def main() -> None:
    csv_path, parquet_path = make_files()
    workspace = str(BENCH_DIR / "import-workspace")
    rows = []
    for label, source in (("CSV", csv_path), ("Parquet", parquet_path)):
        seconds, peak, imported = measure(lambda s=source: cxray_import(s, workspace))
        assert imported == ROWS, imported
        ours = seconds
        rows.append(_row(f"cxray import ({label})", seconds, peak, ours))
        seconds, peak, _ = measure(lambda s=source: duckdb_ctas(s, str(BENCH_DIR / "ctas.duckdb")))
        rows.append(_row(f"duckdb CREATE TABLE AS ({label})", seconds, peak, ours))
        seconds, peak, _ = measure(lambda s=source: duckdb_scan(s))
        rows.append(_row(f"duckdb count(*) scan ({label})", seconds, peak, ours))
        seconds, peak, _ = measure(lambda s=source: pandas_read(s))
        rows.append(_row(f"pandas read ({label})", seconds, peak, ours))
    print_table(f"import {ROWS:,} events (validation and dedupe on)", rows)
    refusals()
    shutil.rmtree(workspace, ignore_errors=True)


def refusals() -> None:
    good, bad = make_refusal_files()
    workspace = str(BENCH_DIR / "refusal-workspace")
    runs = [
        ("imported (every date reads)", lambda: cxray_import(good, workspace)),
        ("refused (no date reads; errors file)", lambda: cxray_refused(bad, workspace)),
        ("--skip-invalid (quarantine file)", lambda: cxray_import(bad, workspace, True)),
    ]
    rows, success = [], None
    for label, run in runs:
        seconds, peak, counted = measure(run)
        assert counted == BAD_ROWS, (label, counted)
        success = success or seconds
        rows.append(
            {"import": label, "seconds": seconds, "/ success": seconds / success, "peak GiB": peak}
        )
    print_table(f"a file of {BAD_ROWS:,} rows: success, refusal, set aside", rows)
    shutil.rmtree(workspace, ignore_errors=True)


def _row(label: str, seconds: float, peak: float, ours: float) -> dict:
    return {
        "step": label,
        "seconds": seconds,
        "rows/s": int(ROWS / seconds),
        "cxray time / this": ours / seconds,
        "peak GiB": peak,
    }


if __name__ == "__main__":
    main()
