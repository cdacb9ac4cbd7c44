"""Property tests for lifetime data: whatever the snapshot, lifetimes are its tenures."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.ingest.importer import ImportError_
from cxray.ingest.lifetime import DAYS_PER_UNIT, FALSE_WORDS, TRUE_WORDS

counter = itertools.count()
flags = st.sampled_from([*TRUE_WORDS, *FALSE_WORDS, "YES", "Nee", "False"])
tenures = st.one_of(
    st.integers(0, 150), st.floats(0, 150, allow_nan=False).map(lambda v: round(v, 3))
)
snapshots = st.lists(st.tuples(tenures, flags), min_size=1, max_size=30)
units = st.sampled_from(sorted(DAYS_PER_UNIT))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=snapshots, unit=units)
def test_snapshot_lifetimes_are_the_tenures(tmp_path: Path, records, unit):
    case = tmp_path / f"s{next(counter)}"
    case.mkdir()
    source = case / "crm.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["klant_id", "looptijd", "vertrokken"])
        for i, (tenure, flag) in enumerate(records):
            writer.writerow([f"k{i}", tenure, flag])
    ws = cxray.init(case / "ws")
    try:
        options = {"as_of": "2024-01-31", "tenure_unit": unit, "errors_file": case / "e.csv"}
        result = ws.import_table("customers", source, **options)
        churned = [flag.lower() in TRUE_WORDS for _, flag in records]
        assert (result.rows_imported, result.lifetime_churned) == (len(records), sum(churned))
        lifetimes = customer_lifetimes(ws).execute().set_index("customer_id").sort_index()
        for i, (tenure, _) in enumerate(records):
            row = lifetimes.loc[f"k{i}"]
            assert abs(row.duration_days - float(tenure) * DAYS_PER_UNIT[unit]) < 1e-6
            assert bool(row.churned) == churned[i]
        again = ws.import_table("customers", source, **options)
        assert (again.rows_imported, again.rows_updated) == (0, 0)
    finally:
        ws.close()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=snapshots, bad=st.data())
def test_negative_tenures_refuse_the_file_on_their_lines(tmp_path: Path, records, bad):
    case = tmp_path / f"n{next(counter)}"
    case.mkdir()
    broken = sorted(bad.draw(st.sets(st.integers(0, len(records) - 1), min_size=1)))
    source = case / "crm.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "tenure", "churn"])
        for i, (tenure, flag) in enumerate(records):
            writer.writerow([f"c{i}", -1 - tenure if i in broken else tenure, flag])
    ws = cxray.init(case / "ws")
    try:
        try:
            ws.import_table(
                "customers",
                source,
                as_of="2024-01-31",
                tenure_unit="days",
                errors_file=case / "errors.csv",
            )
            raise AssertionError("negative tenure was accepted")
        except ImportError_ as refused:
            assert refused.total == len(broken)
        report = pd.read_csv(case / "errors.csv")
        assert report.line.tolist() == [i + 2 for i in broken]
        assert set(report.reason) == {"negative tenure"}
        assert ws.warehouse.count("customers") == 0
    finally:
        ws.close()


def test_parquet_booleans_integers_and_dates(tmp_path: Path):
    source = tmp_path / "crm.parquet"
    table = pa.table(
        {
            "customer_id": ["a", "b", "c"],
            "start_date": pa.array([pd.Timestamp("2023-01-01").date()] * 3, pa.date32()),
            "end_date": pa.array([pd.Timestamp("2023-05-01").date(), None, None], pa.date32()),
            "churned": [True, False, None],
            "score": pa.array([1, 0, 1], pa.int64()),
        }
    )
    pq.write_table(table, source)
    ws = cxray.init(tmp_path / "ws")
    try:
        result = ws.import_table("customers", source, as_of="2024-01-31")
        assert (result.lifetime_customers, result.lifetime_churned) == (3, 1)
        rows = ws.customers.execute().set_index("customer_id")
        assert rows.loc["a", "churned_at"] == pd.Timestamp("2023-05-01", tz="UTC")
        assert rows.loc["c", "last_seen"] == pd.Timestamp("2024-01-31", tz="UTC")
    finally:
        ws.close()
