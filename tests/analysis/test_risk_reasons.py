import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxray.analysis.risk import ChurnRiskModel
from cxray.analysis.risk_reasons import (
    NO_REASON,
    band_cuts,
    bands,
    days_text,
    expected_range,
    reasons,
)

JOURNEY = {
    "touchpoints": {
        "order": {"phase": "conversion"},
        "late": {"phase": "loyalty", "bad_experience": True},
    },
}


@settings(max_examples=100, deadline=None)
@given(st.floats(0.001, 0.999), st.lists(st.floats(0, 1), min_size=2, max_size=30))
def test_bands_follow_the_probability_whatever_the_base_rate(base_rate, probabilities):
    low, high = band_cuts(base_rate)
    assert 0 < low < base_rate < high < 1
    p = np.sort(np.array(probabilities))
    rank = {"low": 0, "medium": 1, "high": 2}
    ranks = [rank[b] for b in bands(p, base_rate)]
    assert ranks == sorted(ranks)  # a higher probability never gets a lower band
    # certain churn is always high risk, even when most customers churn
    assert bands(np.array([1.0, 0.0]), base_rate).tolist() == ["high", "low"]


def test_bands_when_most_customers_churn():
    # a rule "twice the base rate" could never say high here; the odds rule can
    assert bands(np.array([1.0, 0.97, 0.8, 0.5]), 0.8).tolist() == [
        "high",
        "high",
        "medium",
        "low",
    ]


def fitted(seed: int = 0, n: int = 3000):
    """A real model: month-to-month churns most, two-year least; low CES and late raise risk."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.5, 0.25, 0.25])
    ces = rng.integers(1, 8, n).astype(float)
    late = rng.poisson(0.5, n).astype(float)
    order = rng.poisson(2, n).astype(float)
    logit = (
        -1.5
        + 1.2 * (segment == "Month-to-month")
        - 1.5 * (segment == "Two year")
        - 0.3 * (ces - 4)
        + 0.8 * late
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    x = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "bad_experiences": late,
            "tp__late__ever": late,
            "tp__late__30d": np.zeros(n),
            "tp__late__90d": late,
            "tp__order__ever": order,
            "tp__order__30d": np.zeros(n),
            "tp__order__90d": order,
            "score__ces": ces,
            "score__ces__missing": np.zeros(n),
            "segment__Month-to-month": (segment == "Month-to-month").astype(float),
            "segment__One year": (segment == "One year").astype(float),
            "segment__Two year": (segment == "Two year").astype(float),
        }
    )
    return ChurnRiskModel(C=1.0).fit(x, y), x


def explain(ws, model, x, top=3):
    return reasons(ws, model.contributions(x), x, model.means(), top)


def test_reasons_speak_of_the_customers_own_segment(make_workspace):
    ws = make_workspace(journey=JOURNEY)
    model, x = fitted()
    out = explain(ws, model, x)
    monthly = (x["segment__Month-to-month"] == 1).to_numpy()
    assert out["reasons"][monthly].str.contains("segment Month-to-month").mean() > 0.9
    # never another level than the customer's own
    assert not out["reasons"][monthly].str.contains("Two year|One year").any()
    assert not out["reasons"][~monthly].str.contains("Month-to-month").any()
    two_year = (x["segment__Two year"] == 1).to_numpy()
    assert not out["reasons"][two_year].str.contains("segment").any()  # it lowers their risk


def test_good_scores_and_fewer_bad_experiences_are_never_reasons(make_workspace):
    ws = make_workspace(journey=JOURNEY)
    model, x = fitted()
    out = explain(ws, model, x)
    ces = x["score__ces"].to_numpy()
    keys = out["reason_keys"]
    # CES 1-3 (bad, at or below the threshold) can be a reason; CES 4-7 never
    assert keys[ces <= 2].str.contains("score__ces").mean() > 0.5
    assert not keys[ces >= 4].str.contains("score__ces").any()
    late = x["tp__late__ever"].to_numpy()
    assert not keys[late < late.mean()].str.contains("tp__late|bad_experiences").any()
    # a model that (wrongly) learned high CES raises risk still never gives "latest CES 7"
    model.pipeline_.named_steps["model"].coef_[0][list(x.columns[1:]).index("score__ces")] = 2.0
    flipped = explain(ws, model, x)
    assert not flipped["reason_keys"][ces >= 4].str.contains("score__ces").any()


def test_no_padding_with_neutral_reasons(make_workspace):
    ws = make_workspace(journey=JOURNEY)
    model, x = fitted()
    contributions = model.contributions(x) * 0.01  # nothing adds 0.1 log-odds any more
    out = reasons(ws, contributions, x, model.means(), 3)
    assert (out["reasons"] == NO_REASON["en"]).all() and (out["reason_keys"] == "").all()
    assert (out["reasons_nl"] == NO_REASON["nl"]).all()


def test_day_counts_in_words():
    assert days_text(1, "en") == "1 day" and days_text(2, "en") == "2 days"
    assert days_text(1, "nl") == "1 dag" and days_text(1500, "nl") == "1.500 dagen"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=80))
def test_expected_range_holds_the_expected_count(probabilities):
    p = np.array(probabilities)
    low, high = expected_range(p)
    assert 0 <= low <= high <= len(p)
    assert low - 1e-9 <= p.sum() + 0.5 and p.sum() - 0.5 <= high + 1e-9
    certain = np.round(p)
    assert expected_range(certain) == (int(certain.sum()), int(certain.sum()))


def test_expected_range_covers_95_percent():
    rng = np.random.default_rng(1)
    for n in (200, 5000):  # exact and normal approximation
        p = rng.beta(1, 6, n)
        low, high = expected_range(p)
        draws = (rng.random((2000, n)) < p).sum(axis=1)
        inside = ((draws >= low) & (draws <= high)).mean()
        assert inside == pytest.approx(0.95, abs=0.02)


def test_reason_counts_count_each_customer_once_per_reason():
    import pandas as pd

    from cxray.analysis.risk_reasons import reason_counts

    scores = pd.DataFrame(
        {
            "band": ["high", "high", "high", "low"],
            "reason_keys": ["late, login", "late,late", "", "late"],
        }
    )
    counted, total = reason_counts(scores, "high")
    assert total == 3
    assert counted == [("late", 2), ("login", 1)]
