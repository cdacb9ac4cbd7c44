import json
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from cxray.analysis.lifetimes import customer_lifetimes, observed_until
from cxray.analysis.retention import early_churn, retention, wilson_interval


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# Observation ends 2024-06-30 less 30 inactive days: 2024-05-31.
HAND_EVENTS = [
    {"customer_id": "a", "ts": at("2024-01-10"), "touchpoint": "order"},
    {"customer_id": "a", "ts": at("2024-02-15"), "touchpoint": "cancel"},
    {"customer_id": "b", "ts": at("2024-01-20"), "touchpoint": "order"},
    {"customer_id": "b", "ts": at("2024-06-30"), "touchpoint": "visit"},
    {"customer_id": "c", "ts": at("2024-01-05"), "touchpoint": "order"},
    {"customer_id": "c", "ts": at("2024-01-25"), "touchpoint": "cancel"},
    {"customer_id": "d", "ts": at("2024-02-03"), "touchpoint": "order"},
    {"customer_id": "d", "ts": at("2024-06-20"), "touchpoint": "visit"},
    {"customer_id": "e", "ts": at("2024-02-10"), "touchpoint": "order"},
    {"customer_id": "e", "ts": at("2024-04-02"), "touchpoint": "cancel"},
    {"customer_id": "g", "ts": at("2024-05-10"), "touchpoint": "order"},  # churns early, but
    {"customer_id": "g", "ts": at("2024-05-15"), "touchpoint": "cancel"},  # too recently known
    {"customer_id": "h", "ts": at("2024-05-20"), "touchpoint": "order"},
    {"customer_id": "h", "ts": at("2024-06-25"), "touchpoint": "visit"},
    {"customer_id": "f", "ts": at("2024-06-10"), "touchpoint": "order"},  # too new
]
CHURN_RULE = {"churn": {"touchpoints": ["cancel"], "inactive_days": 30}}


@pytest.fixture
def hand_ws(make_workspace):
    ws = make_workspace(events=HAND_EVENTS, journey=CHURN_RULE)
    assert observed_until(ws) == at("2024-05-31")
    return ws


def test_retention_matrix_by_hand(hand_ws):
    result = retention(hand_ws, max_periods=4)
    share = result.matrix()
    nan = math.nan
    expected = pd.DataFrame(
        [[2 / 3, 1 / 3, 1 / 3, 1 / 3, nan], [1.0, 1.0, 0.5, nan, nan], [nan, nan, nan, nan, nan]],
        index=pd.Index(["2024-01", "2024-02", "2024-05"], name="cohort"),
        columns=pd.Index(range(5), name="period"),
    )
    pd.testing.assert_frame_equal(share, expected)
    cells = result.cells.set_index(["cohort", "period"])
    assert (
        cells.loc[("2024-01", 0), "customers"] == 3 and cells.loc[("2024-01", 1), "retained"] == 1
    )
    assert math.isnan(cells.loc[("2024-02", 3), "retained"])  # not yet observable: missing
    pooled = result.pooled.set_index("period")
    assert pooled.loc[0, "share"] == pytest.approx(4 / 5) and pooled.loc[0, "cohorts"] == 2
    assert pooled.loc[1, "share"] == pytest.approx(3 / 5) and pooled.loc[1, "cohorts"] == 2
    assert pooled.loc[3, "cohorts"] == 1 and math.isnan(pooled.loc[4, "share"])
    # shares with their Wilson interval and the customers behind them
    assert (
        "end of month 1 after their acquisition month: 60% (95% interval 23%–88%; 2 cohorts, "
        "5 customers)" in result.summary()
    )
    assert (
        "maand 1 na de instapmaand nog niet vertrokken was: 60% (95%-interval 23%–88%; "
        "2 cohorten, 5 klanten)" in result.summary("nl")
    )
    assert "month 3: 33% (95% interval 6%–79%; 1 cohort, 3 customers)." in result.summary()
    data = json.loads(json.dumps(result.to_dict()))
    assert data["cells"][4]["share"] is None and data["observed_until"].startswith("2024-05-31")


def test_retention_by_quarter_and_week(hand_ws):
    quarters = retention(hand_ws, period="quarter", max_periods=2).cells
    first = quarters[quarters.cohort == "2024-Q1"].set_index("period")
    assert first.loc[0, "customers"] == 5 and first.loc[0, "share"] == pytest.approx(3 / 5)
    assert first.loc[1, "share"] != first.loc[1, "share"]  # ends 1 July: NaN
    weeks = retention(hand_ws, period="week", max_periods=3).cells
    assert set(weeks.cohort) >= {"2024-01-01", "2024-01-08", "2024-01-15"}  # Mondays
    with pytest.raises(ValueError, match="period"):
        retention(hand_ws, period="year")


@pytest.mark.parametrize("seed", [4, 9])
def test_retention_matches_direct_computation(make_workspace, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(120):
        moment = at("2023-01-01") + pd.Timedelta(hours=int(rng.integers(0, 24 * 500)))
        for _ in range(int(rng.integers(1, 6))):
            touchpoint = "cancel" if rng.random() < 0.15 else "order"
            rows.append({"customer_id": f"c{c}", "ts": moment, "touchpoint": touchpoint})
            if touchpoint == "cancel":
                break
            moment += pd.Timedelta(hours=int(rng.integers(1, 24 * 90)))
    ws = make_workspace(
        events=rows, journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 45}}
    )
    until = pd.Timestamp(observed_until(ws))
    lifetimes = customer_lifetimes(ws).execute()
    lifetimes = lifetimes[~lifetimes.too_new]
    cohort = (
        lifetimes.start.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC")
    )
    result = retention(ws, max_periods=18).cells.set_index(["cohort_start", "period"])
    for (start, k), cell in result.iterrows():
        period_end = start + pd.DateOffset(months=k + 1)
        members = lifetimes[cohort == start]
        assert cell.customers == len(members)
        if period_end > until:
            assert math.isnan(cell.share)
            continue
        stayed = members.churn_ts.isna() | (members.churn_ts >= period_end)
        assert cell.retained == stayed.sum()
    # a cohort never recovers customers it lost
    shares = result.share.unstack()
    assert (shares.diff(axis=1).fillna(0) <= 1e-12).all().all()


def test_early_churn_respects_censoring(hand_ws):
    result = early_churn(hand_ws, days=30)
    frame = result.cohorts.set_index("cohort")
    # only c left within 30 days among those whose first 30 days are over (a: 36 days, e: 52)
    assert frame.loc["2024-01", ["customers", "known", "churned"]].tolist() == [3, 3, 1]
    assert frame.loc["2024-02", ["customers", "known", "churned"]].tolist() == [2, 2, 0]
    # g left after 5 days but started too recently: counted as not yet known, not as churn
    may = frame.loc["2024-05"]
    assert (may.known, may.churned, may.not_yet_known) == (0, 0, 2) and math.isnan(may.share)
    overall = result.overall
    assert (overall.customers, overall.known, overall.churned) == (7, 5, 1)  # f is too new
    lower, upper = proportion_confint(1, 5, method="wilson")
    assert overall.share == pytest.approx(0.2)
    assert (overall.lower, overall.upper) == (pytest.approx(lower), pytest.approx(upper))
    assert customer_lifetimes(hand_ws).execute().set_index("customer_id").too_new["f"]
    text = result.summary()
    assert text.startswith("20% of new customers left within their first 30 days (95% interval")
    assert "2 more recent customers" in text
    assert result.summary("nl").startswith("20% van de nieuwe klanten vertrok binnen de eerste")
    json.dumps(result.to_dict())

    only_overall = early_churn(hand_ws, days=30, by_cohort=False).cohorts
    assert only_overall.cohort.tolist() == ["all"]
    with pytest.raises(ValueError):
        early_churn(hand_ws, days=0)


def test_empty_workspace(make_workspace):
    ws = make_workspace()
    assert retention(ws).cells.empty
    assert "Not enough history" in retention(ws).summary()
    assert early_churn(ws).cohorts.empty
    assert "No customers" in early_churn(ws).summary()


def test_wilson_matches_statsmodels():
    successes = np.array([0, 1, 5, 37, 100])
    trials = np.array([10, 5, 5, 120, 100])
    lower, upper = wilson_interval(successes, trials)
    expected_lower, expected_upper = proportion_confint(successes, trials, method="wilson")
    np.testing.assert_allclose(lower, expected_lower, atol=1e-12)
    np.testing.assert_allclose(upper, expected_upper, atol=1e-12)
    assert np.isnan(wilson_interval([0], [0])[0]).all()


def test_a_share_near_zero_shows_its_interval():
    from cxray.analysis.retention import RetentionResult

    pooled = pd.DataFrame(
        {
            "period": [0, 1],
            "cohorts": [1, 1],
            "customers": [1107, 1107],
            "retained": [1107, 0],
            "share": [1.0, 0.0],
        }
    )
    cells = pd.DataFrame({"cohort": ["2012-02"], "customers": [1107]})
    text = RetentionResult(cells, pooled, "month", None).summary()
    assert "0% (0%–0%)" not in text and "0.0% (95% interval 0.0%–0.3%; 1 cohort, 1,107" in text
    assert "0,0% (95%-interval 0,0%–0,3%; 1 cohort, 1.107 klanten)" in RetentionResult(
        cells, pooled, "month", None
    ).summary("nl")


def test_the_summary_names_no_later_period_that_only_a_handful_reach(make_workspace):
    # many customers in January, one in July: month 5 is known only for that one customer
    events = [
        {"customer_id": f"c{i}", "ts": f"2024-01-{i % 28 + 1:02d}", "touchpoint": "order"}
        for i in range(60)
    ]
    events += [
        {"customer_id": f"c{i}", "ts": "2024-02-20", "touchpoint": "cancel"}
        for i in range(0, 60, 2)
    ]
    events += [
        {"customer_id": "early", "ts": "2023-08-01", "touchpoint": "order"},
        {"customer_id": "early", "ts": "2024-03-31", "touchpoint": "order"},
    ]
    ws = make_workspace(events=events, journey={"churn": {"touchpoints": ["cancel"]}})
    result = retention(ws, period="month", max_periods=12)
    text = result.summary("en")
    assert "1 customer)" not in text, text
