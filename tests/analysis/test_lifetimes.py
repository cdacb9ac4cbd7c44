import pandas as pd

from cxray.analysis.lifetimes import customer_lifetimes, data_end, observed_until


def test_explicit_and_inactivity_churn_and_censoring(make_workspace):
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": "2024-01-01", "touchpoint": "order"},
            {"customer_id": "a", "ts": "2024-02-01", "touchpoint": "cancel"},
            {"customer_id": "b", "ts": "2024-01-05", "touchpoint": "order"},
            {"customer_id": "c", "ts": "2024-06-01", "touchpoint": "order"},
            {"customer_id": "c", "ts": "2024-12-01", "touchpoint": "order"},
            {"customer_id": "d", "ts": "2024-11-30", "touchpoint": "order"},
        ],
        journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 90}},
    )
    assert data_end(ws) == pd.Timestamp("2024-12-01", tz="UTC")
    assert observed_until(ws) == pd.Timestamp("2024-09-02", tz="UTC")
    rows = customer_lifetimes(ws).execute().set_index("customer_id")
    assert rows.loc["a", "churned"] and rows.loc["a", "duration_days"] == 31
    # b's last activity is more than 90 days before the end: churned by inactivity, at day 0
    assert rows.loc["b", "churned"] and rows.loc["b", "duration_days"] == 0
    # c is still active: censored at the end of the observation window, not churned
    assert not rows.loc["c", "churned"]
    assert rows.loc["c", "end_ts"] == pd.Timestamp("2024-09-02", tz="UTC")
    assert rows.loc["d", "too_new"]
