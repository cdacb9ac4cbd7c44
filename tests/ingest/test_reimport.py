"""Importing the same file twice changes nothing: all duplicates, every table byte-for-byte equal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from tests.conftest import SHARED_DATA

RECEIPT = SHARED_DATA / "receipt" / "receipt.xes.gz"


def snapshot(ws: cxray.Workspace) -> dict[str, str]:
    """Every canonical table as sorted CSV text: equal text, equal tables."""
    out = {}
    for name in ("customers", "events", "feedback"):
        frame = ws.table(name).execute()
        out[name] = frame.sort_values(list(frame.columns[:1])).to_csv(index=False)
    return out


def customers_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "first_seen": ["2024-01-01 10:00:00", "2024-02-01", None],
            "segment": ["retail", None, "business"],
            "plan": ["basic", "plus", None],  # an attribute with a null value
            "region": ["north", "south", "south"],
        }
    )


def events_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "ts": ["2024-01-01 10:00:00", "2024-01-02 11:00:00", "2024-02-03 09:30:00"],
            "touchpoint": ["order", "delivery", "order"],
            "value": [12.5, None, 3.0],
            "coupon": ["X1", None, "Y2"],
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            for record in frame.to_dict(orient="records"):
                clean = {k: (None if v is None or v != v else v) for k, v in record.items()}
                handle.write(json.dumps(clean) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("table", ["customers", "events"])
def test_a_second_import_is_all_duplicates_and_changes_nothing(tmp_path, table, suffix):
    ws = cxray.init(tmp_path / "ws")
    frame = customers_frame() if table == "customers" else events_frame()
    source = write(frame, tmp_path / f"{table}{suffix}")
    first = ws.import_table(table, source)
    assert first.rows_imported == len(frame)
    before = snapshot(ws)
    second = ws.import_table(table, source)
    assert (second.rows_imported, second.rows_updated) == (0, 0)
    assert second.rows_duplicate == len(frame)
    assert snapshot(ws) == before
    ws.close()


@pytest.mark.skipif(not RECEIPT.exists(), reason="shared receipt log not available")
def test_an_event_log_imported_twice_changes_nothing(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    source = tmp_path / "receipt.xes.gz"
    shutil.copy(RECEIPT, source)
    ws.import_table("events", source)
    before = snapshot(ws)
    again = ws.import_table("events", source)
    assert again.rows_imported == 0 and again.rows_duplicate == again.rows_read
    assert snapshot(ws) == before
    ws.close()


text = st.text(st.characters(categories=["L", "N"], max_codepoint=0x24F), min_size=1, max_size=8)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), text), st.one_of(st.none(), text)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([".csv", ".parquet", ".jsonl"]),
)
def test_customers_with_any_attributes_reimport_unchanged(tmp_path_factory, attributes, suffix):
    root = tmp_path_factory.mktemp("re")
    ws = cxray.init(root / "ws")
    frame = pd.DataFrame(
        {
            "customer_id": [f"k{i}" for i in range(len(attributes))],
            "segment": [a for a, _ in attributes],
            "colour": [b for _, b in attributes],
        }
    )
    source = write(frame, root / f"customers{suffix}")
    ws.import_table("customers", source)
    before = snapshot(ws)
    second = ws.import_table("customers", source)
    assert (second.rows_imported, second.rows_updated) == (0, 0)
    assert snapshot(ws) == before
    ws.close()
