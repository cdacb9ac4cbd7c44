"""Import 10M events from CSV and Parquet; compare with pandas and with DuckDB on its own.

Baselines measured in the same run on the same file:
- ``duckdb CREATE TABLE AS read_csv``: DuckDB loading the file into a table with no mapping,
  validation or deduplication — the floor for any import into an embedded DuckDB;
- ``duckdb count(*)``: DuckDB only scanning the file;
- ``pandas.read_csv``: what a data scientist would do first (it does not even store the data).
Rows can be changed with CXRAY_BENCH_ROWS.
"""

from __future__ import annotations

import os
import shutil

import duckdb

from benchmarks.common import BENCH_DIR, measure, print_table

ROWS = int(os.environ.get("CXRAY_BENCH_ROWS", 10_000_000))


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


def cxray_import(source: str, workspace: str) -> int:
    import cxray

    shutil.rmtree(workspace, ignore_errors=True)
    ws = cxray.init(workspace)
    result = ws.import_table("events", source)
    ws.close()
    return result.rows_imported


def duckdb_ctas(source: str, database: str) -> int:
    if os.path.exists(database):
        os.remove(database)
    con = duckdb.connect(database)
    reader = "read_parquet" if source.endswith(".parquet") else "read_csv"
    con.execute(f"CREATE TABLE events AS SELECT * FROM {reader}('{source}')")
    return con.execute("SELECT count(*) FROM events").fetchone()[0]


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
