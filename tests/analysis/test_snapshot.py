import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from cxray.analysis.lifetimes import snapshot_date
from cxray.analysis.retention import early_churn, retention

AS_OF = pd.Timestamp("2024-01-31", tz="UTC")
MONTH = 365.25 / 12


def snapshot(make_workspace, n: int = 300, seed: int = 1):
    """Tenure in whole months and a churn flag, as of one date (a telecom-style export)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 40, n)
    churned = rng.random(n) < 0.3
    rows = []
    for i in range(n):
        start = AS_OF - pd.Timedelta(days=float(tenure[i] * MONTH))
        row = {"customer_id": f"c{i}", "first_seen": start}
        row["churned_at" if churned[i] else "last_seen"] = AS_OF
        rows.append(row)
    durations = tenure * MONTH
    return make_workspace(customers=rows), durations, churned


def test_a_snapshot_reads_retention_and_early_churn_from_kaplan_meier(make_workspace):
    ws, durations, churned = snapshot(make_workspace)
    assert snapshot_date(ws) == AS_OF
    km = KaplanMeierFitter().fit(durations, churned)
    result = retention(ws, period="month", max_periods=12)
    assert result.cells.empty and result.snapshot_as_of == AS_OF
    for k in (0, 5, 11):
        expected = float(km.survival_function_at_times((k + 1) * MONTH).iloc[0])
        assert result.pooled.loc[k, "share"] == pytest.approx(expected, abs=1e-9)
    assert "One snapshot as of 2024-01-31" in result.summary("en")
    assert "momentopname" in result.summary("nl")
    early = early_churn(ws, days=100)
    expected = 1 - float(km.survival_function_at_times(100).iloc[0])
    assert early.overall.share == pytest.approx(expected, abs=1e-9)
    assert "Kaplan–Meier" in early.summary("en")


def test_crm_exports_with_their_own_end_dates_keep_the_cohort_matrix(make_workspace):
    ws = make_workspace(
        customers=[
            {"customer_id": "a", "first_seen": "2023-01-05", "churned_at": "2023-03-10"},
            {"customer_id": "b", "first_seen": "2023-01-20", "last_seen": "2024-01-31"},
            {"customer_id": "c", "first_seen": "2023-02-02", "churned_at": "2023-09-01"},
        ]
    )
    assert snapshot_date(ws) is None
    result = retention(ws, period="month", max_periods=6)
    assert not result.cells.empty and result.snapshot_as_of is None


def test_an_event_log_is_never_a_snapshot(make_workspace):
    ws = make_workspace(
        events=[{"customer_id": "a", "ts": "2024-01-01", "touchpoint": "order"}],
        customers=[{"customer_id": "a", "first_seen": "2023-01-05", "last_seen": "2024-01-31"}],
    )
    assert snapshot_date(ws) is None


def test_risk_on_a_snapshot_speaks_of_no_activity_it_never_saw(make_workspace):
    ws, _, _ = snapshot(make_workspace, n=400, seed=2)
    scored = ws.risk(horizon_days=90).to_pandas()
    assert len(scored) and not scored.reasons.str.contains("no activity").any()
