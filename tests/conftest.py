"""Shared fixtures: small workspaces built straight from data frames."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ibis
import pandas as pd
import pytest
import tomlkit

import cxray
from cxray import schema

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _frame_for(spec: schema.TableSpec, rows: pd.DataFrame | list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).copy()
    for column, dtype in spec.schema.items():
        if column not in frame:
            frame[column] = None
        if dtype.is_timestamp():
            frame[column] = pd.to_datetime(frame[column], utc=True)
        elif dtype.is_floating():
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        elif dtype.is_string():
            frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
            frame[column] = frame[column].map(lambda v: v if v is None else str(v))
    if spec.key not in frame or frame[spec.key].isna().any():
        frame[spec.key] = [f"{spec.name[0]}{i}" for i in range(len(frame))]
    return frame[spec.columns]


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[..., cxray.Workspace]:
    """make_workspace(events=[...], feedback=[...], customers=[...], journey={...}).

    ``journey`` is merged into the five-phase template's TOML (e.g. touchpoints, churn rules).
    Rows are inserted directly, bypassing the importers, so analysis tests stay independent
    of ingest.
    """
    opened: list[cxray.Workspace] = []

    def make(
        events: pd.DataFrame | list[dict] | None = None,
        feedback: pd.DataFrame | list[dict] | None = None,
        customers: pd.DataFrame | list[dict] | None = None,
        journey: dict | None = None,
        name: str = "ws",
    ) -> cxray.Workspace:
        path = tmp_path / name
        ws = cxray.init(path, overwrite=True)
        if journey:
            doc = tomlkit.parse(ws.journey_path.read_text())
            for section, values in journey.items():
                if isinstance(values, dict) and section in doc:
                    for key, value in values.items():
                        doc[section][key] = value
                else:
                    doc[section] = values
            ws.journey_path.write_text(tomlkit.dumps(doc))
            ws.reload_journey()
        for spec, rows in (
            (schema.CUSTOMERS, customers),
            (schema.EVENTS, events),
            (schema.FEEDBACK, feedback),
        ):
            if rows is not None and len(rows):
                frame = ibis.memtable(_frame_for(spec, rows), schema=spec.schema)
                ws.warehouse.backend.insert(spec.name, frame)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()
