"""The analyses are engine-neutral: the same answers on PostgreSQL as on the embedded DuckDB.

Needs a PostgreSQL server (CXRAY_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432);
`.ci/run` starts one where none runs. Skipped when none is reachable.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest

import cxray

SERVER = os.environ.get("CXRAY_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def _server_or_skip():
    # CI promises a server (.ci/run starts one): there a missing server is a failure, not a skip.
    give_up = pytest.fail if os.environ.get("CI") else pytest.skip
    try:
        import psycopg
    except ImportError:
        give_up("psycopg is not installed (pip install -e '.[dev]')")
    try:
        return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        give_up(f"no PostgreSQL server at {SERVER}: {exc}")


@pytest.fixture
def postgres_url():
    admin = _server_or_skip()
    name = f"cxray_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{SERVER}/{name}"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def company(seed: int = 7, customers: int = 120) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    touchpoints = ["ad_click", "site_visit", "order_placed", "delivery", "delivery_late"]
    events, feedback, people = [], [], []
    start = pd.Timestamp("2024-01-01", tz="UTC")
    for i in range(customers):
        cid = f"c{i}"
        t = start + pd.Timedelta(days=int(rng.integers(0, 200)))
        people.append(
            {"customer_id": cid, "segment": rng.choice(["consumer", "business"]), "first_seen": t}
        )
        for step in range(int(rng.integers(1, 8))):
            t = t + pd.Timedelta(hours=int(rng.integers(1, 24 * 40)))
            events.append(
                {
                    "event_id": f"{cid}-{step}",
                    "customer_id": cid,
                    "ts": t,
                    "touchpoint": touchpoints[
                        min(step, len(touchpoints) - 1)
                        if rng.random() < 0.7
                        else int(rng.integers(0, 5))
                    ],
                }
            )
        if rng.random() < 0.3:
            t = t + pd.Timedelta(days=1)
            events.append(
                {"event_id": f"{cid}-x", "customer_id": cid, "ts": t, "touchpoint": "cancelled"}
            )
        feedback.append(
            {
                "customer_id": cid,
                "ts": t,
                "metric": "nps",
                "score": int(rng.integers(0, 11)),
                "touchpoint": "delivery",
            }
        )
    return {"events": events, "feedback": feedback, "customers": people}


JOURNEY = {
    "touchpoints": {
        "ad_click": {"phase": "awareness"},
        "site_visit": {"phase": "consideration"},
        "order_placed": {"phase": "conversion"},
        "delivery": {"phase": "loyalty"},
        "delivery_late": {"phase": "loyalty", "bad_experience": True},
        "cancelled": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancelled"], "inactive_days": 60},
}

QUESTIONS = {
    "metrics": lambda ws: ws.metrics(by="touchpoint", min_n=5),
    "funnel": lambda ws: ws.funnel(),
    "dropoff": lambda ws: ws.dropoff(),
    "flows": lambda ws: ws.flows(),
    "survival": lambda ws: ws.survival(by="segment"),
    "retention": lambda ws: ws.retention(),
    "early_churn": lambda ws: ws.early_churn(days=30),
    "dose_response": lambda ws: ws.dose_response(),
    "drivers": lambda ws: ws.drivers(),
}


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype(str)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_same_answers_on_postgres_and_duckdb(make_workspace, postgres_url, question, tmp_path):
    data = company()
    local = make_workspace(**data, journey=JOURNEY, name="duck")
    remote_path = tmp_path / "pg"
    remote = cxray.init(remote_path, warehouse_url=postgres_url)
    remote.close()
    remote = make_workspace_on(make_workspace, remote_path, data)
    expected = QUESTIONS[question](local).to_pandas()
    got = QUESTIONS[question](remote).to_pandas()
    assert len(expected) > 0
    pd.testing.assert_frame_equal(
        comparable(got), comparable(expected), check_dtype=False, atol=1e-9
    )
    remote.close()


def make_workspace_on(make_workspace, path, data):
    """Fill a PostgreSQL-backed workspace through the same fixture code as the DuckDB one."""
    import ibis
    import tomlkit

    from cxray import schema
    from tests.conftest import _frame_for

    ws = cxray.open(path)
    doc = tomlkit.parse(ws.journey_path.read_text())
    for section, values in JOURNEY.items():
        if section not in doc:
            doc[section] = tomlkit.table()
        for key, value in values.items():
            doc[section][key] = value
    ws.journey_path.write_text(tomlkit.dumps(doc))
    ws.reload_journey()
    for spec in (schema.CUSTOMERS, schema.EVENTS, schema.FEEDBACK):
        frame = ibis.memtable(_frame_for(spec, data[spec.name]), schema=spec.schema)
        ws.warehouse.backend.insert(spec.name, frame)
    return ws
