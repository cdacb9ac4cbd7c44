"""Dose-response of bad experiences: exact intervals, hand-checked episodes, the demo's shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import cxray
from cxray.analysis.dose_response import dose_response, exact_rate_ratio, garwood
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.demo import generate_demo

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")
JOURNEY = {
    "touchpoints": {
        "visit": {"phase": "consideration"},
        "late": {"phase": "loyalty", "bad_experience": True},
        "broken": {"phase": "loyalty", "bad_experience": True},
        "cancel": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancel"]},
    "bad_experience": {"csat_at_most": 2},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    path = tmp_path_factory.mktemp("demo") / "ws"
    generate_demo(path, customers=3000, seed=1)
    ws = cxray.open(path)
    yield ws
    ws.close()


# -- the intervals --------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.floats(min_value=1.0, max_value=1e5))
def test_garwood_interval_is_the_exact_poisson_one(events: int, exposure: float) -> None:
    lower, upper = garwood(events, exposure)
    # the bounds are where seeing this many (or more / fewer) events has probability 2.5%
    assert stats.poisson.cdf(events, upper * exposure) == pytest.approx(0.025, abs=1e-6)
    if events == 0:
        assert lower == 0.0
    else:
        assert stats.poisson.sf(events - 1, lower * exposure) == pytest.approx(0.025, abs=1e-6)
    assert lower <= events / exposure <= upper


def test_exact_rate_ratio() -> None:
    estimate, lower, upper = exact_rate_ratio(40, 1000.0, 40, 1000.0)
    assert estimate == pytest.approx(1.0)
    assert lower * upper == pytest.approx(1.0, rel=1e-9)  # symmetric on the log scale
    estimate, lower, upper = exact_rate_ratio(60, 500.0, 40, 1000.0)
    assert estimate == pytest.approx(3.0)
    # conditional binomial: events at the level out of the two levels' events
    p_low = lower * 500 / (lower * 500 + 1000)
    assert stats.binom.sf(59, 100, p_low) == pytest.approx(0.025, abs=1e-6)
    # wide but close to the Wald interval on the log scale at these counts
    wald = np.exp(np.log(3) + np.array([-1, 1]) * 1.96 * np.sqrt(1 / 60 + 1 / 40))
    assert lower == pytest.approx(wald[0], rel=0.05) and upper == pytest.approx(wald[1], rel=0.05)
    assert exact_rate_ratio(0, 100.0, 0, 100.0)[1:] == (0.0, np.inf)


# -- hand-checked episodes ------------------------------------------------------------------
def build(make_workspace, people: list[dict]) -> cxray.Workspace:
    """people: {"churn": day or None, "bad": [(day, touchpoint)], "csat": [(day, score)]}.

    The observation window ends on day 301 (the template's 180 inactive days before the last
    event): customers who do not churn stay active past it and are censored there.
    """
    events, feedback = [], []
    last = T0 + 481 * DAY
    for i, person in enumerate(people):
        cid, start = f"c{i}", T0 + pd.Timedelta(minutes=i)
        events.append({"customer_id": cid, "ts": start, "touchpoint": "visit"})
        for day, touchpoint in person.get("bad", []):
            events.append({"customer_id": cid, "ts": start + day * DAY, "touchpoint": touchpoint})
        for day, score in person.get("csat", []):
            feedback.append(
                {
                    "customer_id": cid,
                    "ts": start + day * DAY,
                    "metric": "csat",
                    "score": score,
                    "touchpoint": "visit",
                }
            )
        if person.get("churn") is not None:
            events.append(
                {"customer_id": cid, "ts": start + person["churn"] * DAY, "touchpoint": "cancel"}
            )
        else:
            events.append({"customer_id": cid, "ts": last, "touchpoint": "visit"})
    customers = [{"customer_id": f"c{i}"} for i in range(len(people))]
    return make_workspace(
        events=events, feedback=feedback or None, customers=customers, journey=JOURNEY
    )


def test_doses_count_bad_touchpoints_and_low_scores(make_workspace) -> None:
    ws = build(
        make_workspace,
        [
            # bad at 10 (late), 20 (csat 2), csat 3 at 30 is not bad, broken at 50, churn at 100
            {"churn": 100, "bad": [(10, "late"), (50, "broken")], "csat": [(20, 2), (30, 3)]},
            # one bad experience, censored at the end of the window (about day 301)
            {"churn": None, "bad": [(100, "late")]},
            # churns on the day of its bad experience: it does not count
            {"churn": 40, "bad": [(40, "late")]},
        ],
    )
    result = dose_response(ws, horizon_days=90, max_dose=2)
    levels = result.to_pandas().set_index("dose")
    # c0: dose 0 on days 0-10, 1 on 10-20, 2+ from 20 (the third, on day 50, stays in 2+)
    censored_at = customer_lifetimes(ws).execute().set_index("customer_id").duration_days["c1"]
    assert levels.exposure_days.tolist() == pytest.approx(
        [10 + 100 + 40, 10 + censored_at - 100, 80], abs=1e-3
    )
    assert levels.churned.tolist() == [1, 0, 1]
    assert levels.customers.tolist() == [3, 2, 1]
    assert levels.label.tolist() == ["0", "1", "2+"]
    hazard = 1 / 150
    assert levels.loc[0, "hazard_30d"] == pytest.approx(30 * hazard)
    assert levels.loc[0, "churn_within_horizon"] == pytest.approx(1 - np.exp(-90 * hazard))
    assert levels.loc[0, "rate_ratio"] == 1.0
    assert levels.loc[1, "hazard_lower"] == 0.0
    assert levels.loc[2, "rate_ratio"] == pytest.approx((1 / 80) / hazard)
    assert result.feedback_rules["csat"] == 2
    json.dumps(result.to_dict())


def test_without_bad_experiences_everyone_stays_at_zero(make_workspace) -> None:
    ws = build(make_workspace, [{"churn": 30}, {"churn": None}])
    levels = dose_response(ws).to_pandas()
    assert levels.exposure_days.iloc[1:].eq(0).all()
    assert levels.churned.tolist() == [1, 0, 0, 0]
    assert np.isnan(levels.hazard_30d.iloc[1])
    assert "0: " in dose_response(ws).summary("en")


def test_no_churn_at_dose_zero_gives_no_unbounded_ratio(make_workspace) -> None:
    # every churner had a bad experience first: the ratio vs dose 0 has no upper bound
    ws = build(
        make_workspace,
        [
            {"churn": 60, "bad": [(10, "late")]},
            {"churn": 80, "bad": [(20, "late")]},
            {"churn": None},
        ],
    )
    result = dose_response(ws, max_dose=1)
    levels = result.to_pandas()
    numbers = levels.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any()
    assert np.isnan(levels.rr_upper.iloc[1]) and np.isnan(levels.rate_ratio.iloc[1])
    for lang in ("en", "nl"):
        text = result.summary(lang)
        assert "inf" not in text and "n = " in text
    json.dumps(result.to_dict(), allow_nan=False)


def test_says_when_no_bad_experience_is_defined(make_workspace) -> None:
    journey = {**JOURNEY, "touchpoints": {"visit": {"phase": "consideration"}}}
    journey.pop("bad_experience")
    events = [
        {"customer_id": "a", "ts": T0, "touchpoint": "visit"},
        {"customer_id": "a", "ts": T0 + 30 * DAY, "touchpoint": "cancel"},
        {"customer_id": "b", "ts": T0, "touchpoint": "visit"},
        {"customer_id": "b", "ts": T0 + 90 * DAY, "touchpoint": "visit"},
    ]
    ws = make_workspace(events=events, journey=journey, name="nobad")
    result = dose_response(ws)
    assert "No customer had a bad experience" in result.summary("en")
    assert "contactmoment" in result.summary("nl")


def test_rejects_nonsense(make_workspace) -> None:
    ws = build(make_workspace, [{"churn": 30}])
    with pytest.raises(ValueError, match="horizon"):
        dose_response(ws, horizon_days=0)
    with pytest.raises(ValueError, match="max_dose"):
        dose_response(ws, max_dose=0)


# -- the demo -------------------------------------------------------------------------------
def test_demo_hazard_rises_with_bad_experiences(demo) -> None:
    result = dose_response(demo)
    levels = result.to_pandas()
    lifetimes = customer_lifetimes(demo).execute()
    judged = lifetimes[~lifetimes.too_new & (lifetimes.duration_days > 0)]
    assert levels.customers.iloc[0] == len(judged)
    assert levels.churned.sum() == judged.churned.sum()
    assert levels.exposure_days.sum() == pytest.approx(judged.duration_days.sum(), rel=1e-9)
    # planted: each bad experience multiplies the hazard; tenure-adjusted ratios rise with dose
    adjusted = levels.adjusted_rate_ratio.to_numpy()
    assert (np.diff(adjusted) > 0).all()
    assert levels.adj_rr_lower.iloc[1] > 1 and levels.rr_lower.iloc[3] > 1
    assert levels.churn_within_horizon.iloc[3] > levels.churn_within_horizon.iloc[0]
    assert (levels.churn_lower <= levels.churn_within_horizon).all()
    assert (levels.churn_within_horizon <= levels.churn_upper).all()
    en, nl = result.summary("en"), result.summary("nl")
    assert "within 90 days" in en and "3+" in en and "not a proven cause" in en
    assert "binnen 90 dagen" in nl and "geen bewezen oorzaak" in nl
    with pytest.raises(ValueError):
        result.summary("fr")
