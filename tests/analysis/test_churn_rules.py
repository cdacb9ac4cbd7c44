import itertools

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxray.analysis.churn_rules import churn_check
from cxray.analysis.lifetimes import customer_lifetimes

NAMES = itertools.count()
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def loan_log(make_workspace, inactive_days: int | None, name: str = "ws"):
    """Five months of applications: half are cancelled 20 days in, the rest come back weekly."""
    events = []
    for i in range(40):
        start = T0 + pd.Timedelta(days=i)
        cid = f"c{i}"
        events.append({"customer_id": cid, "ts": start, "touchpoint": "apply"})
        if i % 2:
            events.append(
                {"customer_id": cid, "ts": start + pd.Timedelta(days=20), "touchpoint": "cancel"}
            )
        else:
            for week in range(1, 16):
                ts = start + pd.Timedelta(days=7 * week)
                events.append({"customer_id": cid, "ts": ts, "touchpoint": "visit"})
    churn = {"touchpoints": ["cancel"]}
    if inactive_days:
        churn["inactive_days"] = inactive_days
    return make_workspace(events=events, journey={"churn": churn}, name=name)


def test_a_rule_longer_than_the_data_says_so_and_suggests_a_value(make_workspace):
    ws = loan_log(make_workspace, 180)
    check = churn_check(ws)
    assert check.explicit == 20 and check.inactivity == 0 and not check.inactivity_applies
    assert check.span_days is not None and 140 < check.span_days < 150
    (warning,) = check.warnings("en")
    assert "less than inactive_days = 180" in warning and "only explicit churn counts" in warning
    assert check.suggested_inactive_days == 14  # weekly visits: a fortnight without is an exit
    assert "Suggested: inactive_days = 14" in warning
    (dutch,) = check.warnings("nl")
    assert "korter dan inactive_days = 180" in dutch and "Voorstel: inactive_days = 14" in dutch
    assert "20 of 40 customers churned (20 explicitly and 0 by inactivity)" in check.summary()
    # every churn answer of the workspace carries the same warning
    assert ws.survival().caveats("en") == [warning]
    assert ws.funnel().caveats("nl") == [dutch]


def test_a_rule_that_fits_raises_no_warning(make_workspace):
    check = churn_check(loan_log(make_workspace, 30))
    assert check.inactivity_applies and check.warnings("en") == []


def test_one_order_shops_are_told_that_inactivity_churns_most_customers(make_workspace):
    events = []
    for i in range(60):
        start = T0 + pd.Timedelta(days=3 * i)
        events.append({"customer_id": f"c{i}", "ts": start, "touchpoint": "order"})
        if i % 6 == 0:  # one in six orders again, ten days later
            ts = start + pd.Timedelta(days=10)
            events.append({"customer_id": f"c{i}", "ts": ts, "touchpoint": "order"})
    events.append({"customer_id": "late", "ts": T0 + pd.Timedelta(days=400), "touchpoint": "order"})
    ws = make_workspace(events=events, journey={"churn": {"inactive_days": 30}})
    check = churn_check(ws)
    warnings = " ".join(check.warnings("en"))
    assert "count as churned by inactivity" in warnings
    assert "came on one day only" in warnings
    assert check.single_visit_share is not None and check.single_visit_share > 0.8


def test_no_rule_at_all_is_said(make_workspace):
    ws = make_workspace(events=[{"customer_id": "a", "ts": T0, "touchpoint": "order"}])
    assert "No churn rule" in churn_check(ws).warnings("en")[0]
    assert "Geen churn-regel" in churn_check(ws).warnings("nl")[0]


def test_unseen_churn_touchpoints_are_named(make_workspace):
    ws = make_workspace(
        events=[{"customer_id": "a", "ts": T0, "touchpoint": "order"}],
        journey={"churn": {"touchpoints": ["cancelled"]}},
    )
    assert any("cancelled" in w and "never occur" in w for w in churn_check(ws).warnings("en"))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.booleans(), st.lists(st.integers(0, 400), max_size=3)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([None, 7, 30, 180, 1000]),
)
def test_no_inactivity_rule_can_erase_an_explicit_churn(make_workspace, customers, inactive_days):
    events = []
    for i, (start_day, cancels, visits) in enumerate(customers):
        start = T0 + pd.Timedelta(days=start_day)
        events.append({"customer_id": f"c{i}", "ts": start, "touchpoint": "visit"})
        for day in visits:
            events.append(
                {
                    "customer_id": f"c{i}",
                    "ts": start + pd.Timedelta(days=day),
                    "touchpoint": "visit",
                }
            )
        if cancels:
            events.append(
                {
                    "customer_id": f"c{i}",
                    "ts": start + pd.Timedelta(hours=1),
                    "touchpoint": "cancel",
                }
            )
    churn = {"touchpoints": ["cancel"]}
    if inactive_days:
        churn["inactive_days"] = inactive_days
    ws = make_workspace(events=events, journey={"churn": churn}, name=f"p{next(NAMES)}")
    rows = customer_lifetimes(ws).execute()
    cancelled = sum(c for _, c, _ in customers)
    check = churn_check(ws)
    assert check.explicit == cancelled == int((rows.left & rows.explicit).sum())
    assert check.explicit + check.inactivity + check.stayed == check.customers == len(customers)
    # time-to-event churn is a subset of leaving, never more
    assert int(rows.churned.sum()) <= int(rows.left.sum())
