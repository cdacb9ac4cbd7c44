import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times

from cxray.analysis._common import MISSING
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.analysis.survival import kaplan_meier, logrank_test, survival

TOL = 1e-9
T0 = pd.Timestamp("2023-01-01", tz="UTC")


def counts_of(durations, events) -> pd.DataFrame:
    frame = pd.DataFrame({"duration_days": durations, "events": np.asarray(events, dtype=int)})
    return frame.groupby("duration_days", as_index=False).agg(
        events=("events", "sum"), removed=("events", "size")
    )


def lifelines_fit(durations, events) -> KaplanMeierFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KaplanMeierFitter().fit(np.asarray(durations, float), np.asarray(events, bool))


def assert_matches_lifelines(curve: pd.DataFrame, durations, events) -> KaplanMeierFitter:
    kmf = lifelines_fit(durations, events)
    np.testing.assert_allclose(curve.time_days, kmf.timeline, rtol=0, atol=TOL)
    np.testing.assert_allclose(curve.survival, kmf.survival_function_.iloc[:, 0], atol=TOL)
    np.testing.assert_allclose(curve.lower, kmf.confidence_interval_.iloc[:, 0], atol=TOL)
    np.testing.assert_allclose(curve.upper, kmf.confidence_interval_.iloc[:, 1], atol=TOL)
    np.testing.assert_array_equal(curve.at_risk, kmf.event_table.at_risk)
    return kmf


def lifelines_medians(kmf: KaplanMeierFitter) -> tuple[float, float, float]:
    interval = median_survival_times(kmf.confidence_interval_)
    return kmf.median_survival_time_, interval.iloc[0, 0], interval.iloc[0, 1]


# -- the estimator itself -----------------------------------------------------------------------
samples = st.lists(
    st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 7.0, 10.0, 30.0]), st.booleans()),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_kaplan_meier_equals_lifelines_with_ties(sample):
    durations, events = zip(*sample, strict=True)
    table = counts_of(durations, events)
    curve = kaplan_meier(table.duration_days, table.events, table.removed)
    kmf = assert_matches_lifelines(curve, durations, events)
    median, lower, upper = lifelines_medians(kmf)
    for column, expected in (("survival", median), ("lower", lower), ("upper", upper)):
        reached = curve.time_days[curve[column] <= 0.5]
        ours = reached.iloc[0] if len(reached) else np.inf
        assert ours == expected


def test_kaplan_meier_on_continuous_random_data():
    rng = np.random.default_rng(3)
    durations = np.round(rng.exponential(200, 2000), 3)
    events = rng.random(2000) < 0.6
    table = counts_of(durations, events)
    curve = kaplan_meier(table.duration_days, table.events, table.removed)
    assert_matches_lifelines(curve, durations, events)
    assert curve.survival.is_monotonic_decreasing
    assert (curve.lower <= curve.survival + TOL).all() and (
        curve.upper >= curve.survival - TOL
    ).all()


def test_logrank_equals_lifelines():
    rng = np.random.default_rng(11)
    n = 300
    groups = rng.choice(["a", "b", "c"], n)
    durations = np.round(rng.exponential(np.where(groups == "a", 50, 80)), 0)
    events = rng.random(n) < 0.7
    frame = pd.DataFrame({"group": groups, "duration_days": durations, "events": events})
    counts = frame.groupby(["group", "duration_days"], as_index=False).agg(
        events=("events", "sum"), removed=("events", "size")
    )
    statistic, p = logrank_test(counts)
    expected = multivariate_logrank_test(durations, groups, events)
    assert statistic == pytest.approx(expected.test_statistic, rel=1e-9)
    assert p == pytest.approx(expected.p_value, rel=1e-9)


# -- on workspaces ------------------------------------------------------------------------------
def random_workspace(make_workspace, seed: int, customers: int = 150):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        moment = T0 + pd.Timedelta(days=int(rng.integers(0, 400)))
        for k in range(int(rng.integers(1, 6))):
            touchpoint = "cancel" if rng.random() < 0.12 else str(rng.choice(["order", "visit"]))
            rows.append(
                {
                    "customer_id": f"c{c}",
                    "ts": moment,
                    "touchpoint": touchpoint,
                    "event_id": f"e{c}_{k}",
                }
            )
            if touchpoint == "cancel":
                break
            moment += pd.Timedelta(hours=int(rng.integers(0, 24 * 80)))
    end = max(row["ts"] for row in rows)
    for k in range(3):  # too new to judge: started inside the last inactive_days
        rows.append(
            {
                "customer_id": f"new{k}",
                "ts": end - pd.Timedelta(days=k),
                "touchpoint": "order",
                "event_id": f"n{k}",
            }
        )
    people = pd.DataFrame(
        {
            "customer_id": [f"c{c}" for c in range(customers)],
            "segment": rng.choice(["b2b", "b2c"], customers),
            "attributes": [
                json.dumps({"plan": str(p)}) if p != "none" else "{}"
                for p in rng.choice(["gold", "basic", "none"], customers)
            ],
        }
    )
    return make_workspace(
        events=rows,
        customers=people,
        journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 60}},
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_survival_on_workspace_equals_lifelines(make_workspace, seed):
    ws = random_workspace(make_workspace, seed)
    lifetimes = customer_lifetimes(ws).execute()
    judged = lifetimes[~lifetimes.too_new]
    assert lifetimes.too_new.any() and judged.churned.any() and (~judged.churned).any()

    result = survival(ws)
    assert result.groups.customers.tolist() == [len(judged)]
    assert result.groups.churned.tolist() == [int(judged.churned.sum())]
    kmf = assert_matches_lifelines(result.curve, judged.duration_days, judged.churned)
    row = result.groups.iloc[0]
    assert (row.median_days, row.median_lower, row.median_upper) == lifelines_medians(kmf)
    assert result.logrank_p is None
    json.dumps(result.to_dict())


def test_survival_by_segment_and_attribute(make_workspace):
    ws = random_workspace(make_workspace, 5, customers=200)
    lifetimes = customer_lifetimes(ws).execute()
    customers = ws.customers.execute().set_index("customer_id")
    judged = lifetimes[~lifetimes.too_new].set_index("customer_id")

    by_segment = survival(ws, by="segment")
    assert by_segment.groups.group.tolist() == ["b2b", "b2c"]
    for segment in ("b2b", "b2c"):
        members = judged[customers.segment.reindex(judged.index) == segment]
        curve = by_segment.curve[by_segment.curve.group == segment].reset_index(drop=True)
        assert_matches_lifelines(curve, members.duration_days, members.churned)
    expected = multivariate_logrank_test(
        judged.duration_days, customers.segment.reindex(judged.index), judged.churned
    )
    assert by_segment.logrank_p == pytest.approx(expected.p_value, rel=1e-9)

    by_plan = survival(ws, by="plan")
    assert by_plan.groups.group.tolist() == ["basic", "gold", MISSING]
    assert by_plan.groups.customers.sum() == len(judged)
    plans = customers.attributes.map(json.loads).map(lambda a: a.get("plan"))
    gold = judged[plans.reindex(judged.index) == "gold"]
    curve = by_plan.curve[by_plan.curve.group == "gold"].reset_index(drop=True)
    assert_matches_lifelines(curve, gold.duration_days, gold.churned)
    assert "gold:" in by_plan.summary() and "log-ranktoets" in by_plan.summary("nl")

    with pytest.raises(ValueError, match="no customer"):
        survival(ws, by="shoe_size")


def test_horizon_cuts_the_curve_not_the_median(make_workspace):
    ws = random_workspace(make_workspace, 8)
    full = survival(ws)
    cut = survival(ws, horizon_days=30)
    assert cut.curve.time_days.max() <= 30
    assert cut.groups.median_days.iloc[0] == full.groups.median_days.iloc[0]
    at = full.curve[full.curve.time_days <= 30].iloc[-1]
    row = cut.groups.iloc[0]
    assert (row.survival_at_horizon, row.horizon_lower, row.horizon_upper) == (
        at.survival,
        at.lower,
        at.upper,
    )
    assert np.isnan(full.groups.survival_at_horizon.iloc[0])


def test_median_not_reached_and_words(make_workspace):
    day = pd.Timedelta(days=1)
    rows = [{"customer_id": f"c{i}", "ts": T0 + i * day, "touchpoint": "order"} for i in range(9)]
    # all but c0 stay active to the end of the data: censored, not lapsed
    rows += [
        {"customer_id": f"c{i}", "ts": T0 + 290 * day, "touchpoint": "visit"} for i in range(1, 9)
    ]
    rows += [
        {"customer_id": "c0", "ts": T0 + 5 * day, "touchpoint": "cancel"},
        {"customer_id": "z", "ts": T0 + 300 * day, "touchpoint": "order"},
    ]
    ws = make_workspace(events=rows, journey={"churn": {"touchpoints": ["cancel"]}})
    result = survival(ws)
    assert np.isinf(result.groups.median_days.iloc[0])
    assert "not reached" in result.summary() and "nog niet bereikt" in result.summary("nl")
    assert json.loads(json.dumps(result.to_dict()))["groups"][0]["median_days"] is None
    with pytest.raises(ValueError):
        result.summary("de")


def test_median_sentence_shows_its_interval_and_counts_days_right():
    from cxray.analysis.survival import SurvivalResult

    def groups(median, low, high):
        return pd.DataFrame(
            [
                {
                    "group": "all",
                    "customers": 11310,
                    "churned": 10441,
                    "median_days": median,
                    "median_lower": low,
                    "median_upper": high,
                }
            ]
        )

    short = SurvivalResult(
        curve=pd.DataFrame(), groups=groups(0.807, 0.706, 0.89), by=None, horizon_days=None
    )
    assert "median lifetime 0.8 days (0.7–0.9)" in short.summary()  # never "1 days (1–1)"
    assert "mediane levensduur 0,8 dagen (0,7–0,9)" in short.summary("nl")
    one = SurvivalResult(
        curve=pd.DataFrame(), groups=groups(1.0, 0.0, 3.0), by=None, horizon_days=None
    )
    assert "1 day (0–3)" in one.summary() and "1 dag (0–3)" in one.summary("nl")
    open_ended = SurvivalResult(
        curve=pd.DataFrame(),
        groups=groups(40, 30, np.inf),
        by=None,
        horizon_days=None,
        logrank_p=float("nan"),
    )
    assert "40 days (30–not bounded)" in open_ended.summary()
    assert "nan" not in open_ended.summary().lower() and "inf" not in open_ended.summary()
