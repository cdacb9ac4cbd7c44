import pandas as pd

from cxray.analysis.lifetimes import (
    customer_lifetimes,
    data_end,
    inactivity_applies,
    observed_until,
)


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


def test_an_explicit_churn_always_counts_as_leaving(make_workspace):
    # e cancels inside the last 90 days: left, but censored at the window's end for time-to-event
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": "2024-01-01", "touchpoint": "order"},
            {"customer_id": "e", "ts": "2024-08-01", "touchpoint": "order"},
            {"customer_id": "e", "ts": "2024-11-01", "touchpoint": "cancel"},
            {"customer_id": "f", "ts": "2024-11-20", "touchpoint": "order"},
            {"customer_id": "f", "ts": "2024-11-25", "touchpoint": "cancel"},
            {"customer_id": "a", "ts": "2024-12-01", "touchpoint": "order"},
        ],
        journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 90}},
    )
    rows = customer_lifetimes(ws).execute().set_index("customer_id")
    assert rows.loc["e", "left"] and rows.loc["e", "explicit"]
    assert rows.loc["e", "left_ts"] == pd.Timestamp("2024-11-01", tz="UTC")
    assert not rows.loc["e", "churned"]  # after the window: censored there
    assert rows.loc["e", "end_ts"] == pd.Timestamp("2024-09-02", tz="UTC")
    assert rows.loc["f", "left"] and rows.loc["f", "too_new"]
    assert not rows.loc["a", "left"]


def test_an_inactivity_rule_longer_than_the_data_is_set_aside(make_workspace):
    # 5 months of data, inactive_days = 180: nobody can be judged by inactivity, and the
    # cancellations must not vanish (they did when the window ended before the data began)
    events = []
    for i in range(10):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=i)
        events.append({"customer_id": f"c{i}", "ts": start, "touchpoint": "apply"})
        if i % 2:
            events.append(
                {
                    "customer_id": f"c{i}",
                    "ts": start + pd.Timedelta(days=20),
                    "touchpoint": "cancel",
                }
            )
    events.append({"customer_id": "c0", "ts": "2024-06-01", "touchpoint": "apply"})
    ws = make_workspace(
        events=events, journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 180}}
    )
    assert not inactivity_applies(ws)
    assert observed_until(ws) == data_end(ws)
    rows = customer_lifetimes(ws).execute().set_index("customer_id")
    assert int(rows.churned.sum()) == 5 and not rows.too_new.any()
    assert rows.loc["c1", "duration_days"] == 20
    assert rows.loc["c2", "end_ts"] == data_end(ws)


def test_lifetime_columns_of_customers_need_no_events(make_workspace):
    ws = make_workspace(
        customers=[
            {"customer_id": "x", "first_seen": "2023-01-01", "churned_at": "2023-03-02"},
            {"customer_id": "y", "first_seen": "2023-02-01", "last_seen": "2024-01-31"},
        ]
    )
    assert data_end(ws) == pd.Timestamp("2024-01-31", tz="UTC")
    rows = customer_lifetimes(ws).execute().set_index("customer_id")
    assert rows.loc["x", "churned"] and rows.loc["x", "duration_days"] == 60
    assert not rows.loc["y", "churned"]
    assert rows.loc["y", "end_ts"] == pd.Timestamp("2024-01-31", tz="UTC")


def test_a_churn_event_before_a_crm_end_date_wins(make_workspace):
    ws = make_workspace(
        events=[{"customer_id": "x", "ts": "2023-02-01", "touchpoint": "cancel"}],
        customers=[{"customer_id": "x", "first_seen": "2023-01-01", "churned_at": "2023-03-01"}],
        journey={"churn": {"touchpoints": ["cancel"]}},
    )
    rows = customer_lifetimes(ws).execute().set_index("customer_id")
    assert rows.loc["x", "churn_ts"] == pd.Timestamp("2023-02-01", tz="UTC")
