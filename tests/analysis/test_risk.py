import json
import math

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxray
from cxray.analysis.risk import (
    RISK_COLUMNS,
    ChurnRiskModel,
    calibration_table,
    churn_labels,
    customer_features,
    evaluate_risk,
    feature_table,
    risk,
    top_decile_lift,
)
from cxray.demo import generate_demo

JOURNEY = {
    "touchpoints": {
        "order": {"phase": "conversion"},
        "late": {"phase": "loyalty", "bad_experience": True},
        "cancel": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancel"], "inactive_days": 30},
}
CUTOFF = "2024-03-01T00:00:00Z"


def events_of(*rows):
    return [
        {"event_id": f"x{i}", "customer_id": c, "ts": ts, "touchpoint": tp}
        for i, (c, ts, tp) in enumerate(rows)
    ]


STORY = events_of(
    ("a", "2024-01-01", "order"),
    ("a", "2024-01-20", "late"),
    ("a", "2024-02-15", "late"),
    ("a", "2024-03-01", "late"),  # at the cutoff itself: not yet known
    ("a", "2024-03-10", "order"),
    ("a", "2024-05-30", "order"),
    ("b", "2024-01-01", "order"),
    ("b", "2024-02-01", "cancel"),  # left before the cutoff
    ("c", "2023-10-01", "order"),
    ("c", "2024-02-20", "order"),
    ("c", "2024-03-20", "cancel"),
    ("d", "2024-04-01", "order"),
    ("d", "2024-06-01", "order"),  # starts after the cutoff
)
FEEDBACK = [
    {"response_id": "r1", "customer_id": "a", "ts": "2024-02-01", "metric": "nps", "score": 3},
    {"response_id": "r2", "customer_id": "a", "ts": "2024-02-10", "metric": "nps", "score": 8},
    # same moment: the higher response id is the latest
    {"response_id": "r3", "customer_id": "a", "ts": "2024-02-10", "metric": "nps", "score": 9},
    {"response_id": "r4", "customer_id": "a", "ts": "2024-03-05", "metric": "nps", "score": 0},
    {"response_id": "r5", "customer_id": "c", "ts": "2024-01-05", "metric": "csat", "score": 1},
]
CUSTOMERS = [
    {"customer_id": "a", "segment": "consumer"},
    {"customer_id": "b", "segment": "business"},
    {"customer_id": "c", "segment": "business"},
    {"customer_id": "d", "segment": "consumer"},
]


@pytest.fixture
def story(make_workspace):
    return make_workspace(events=STORY, feedback=FEEDBACK, customers=CUSTOMERS, journey=JOURNEY)


def test_features_use_only_what_was_known_before_the_cutoff(story):
    frame = customer_features(story, CUTOFF).set_index("customer_id")
    assert frame.index.tolist() == ["a", "c"]  # b left before, d started after
    a, c = frame.loc["a"], frame.loc["c"]
    assert a["tp__late__ever"] == 2 and a["tp__late__30d"] == 1 and a["tp__late__90d"] == 2
    assert a["tp__order__ever"] == 1
    assert "tp__cancel__ever" not in frame.columns  # churn touchpoints are the outcome
    assert a["tenure_days"] == pytest.approx(60)
    assert a["days_since_last_event"] == pytest.approx(15)
    assert a["score__nps"] == 9 and a["score__nps__missing"] == 0
    assert a["bad_experiences"] == 3  # two late deliveries and the NPS of 3
    assert math.isnan(c["score__nps"]) and c["score__nps__missing"] == 1
    assert c["score__csat"] == 1 and c["bad_experiences"] == 1
    assert c["segment__business"] == 1 and a["segment__business"] == 0


def test_feature_query_compiles_for_postgresql(story):
    expr = feature_table(story, pd.Timestamp(CUTOFF).to_pydatetime(), ["order", "late"], ["nps"])
    sql = ibis.to_sql(expr, dialect="postgres")
    assert "AS BIGINT" not in sql.upper()


def test_labels_are_churn_within_the_horizon_and_must_be_observed(story):
    # data ends 2024-06-01, observed until 2024-05-02
    labels = churn_labels(story, CUTOFF, horizon_days=30).set_index("customer_id")["churned"]
    assert labels.to_dict() == {"a": False, "c": True}
    with pytest.raises(ValueError, match="not fully observed"):
        churn_labels(story, CUTOFF, horizon_days=90)


def test_model_contributions_add_up_to_the_log_odds():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {
            "late": rng.poisson(1, 800).astype(float),
            "noise": rng.normal(size=800),
            "score": rng.normal(size=800),
        }
    )
    x.loc[::7, "score"] = np.nan
    y = rng.random(800) < 1 / (1 + np.exp(-(-2 + 0.9 * x["late"])))
    model = ChurnRiskModel(C=1.0).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    intercept = model.pipeline_.named_steps["model"].intercept_[0]
    logit = intercept + model.contributions(x).sum(axis=1).to_numpy()
    assert np.allclose(1 / (1 + np.exp(-logit)), p)
    assert model.contributions(x)["late"].corr(x["late"]) > 0.99
    # calibrated in the large: mean prediction = observed rate (a property of the logit fit)
    assert p.mean() == pytest.approx(y.mean(), abs=0.01)
    with pytest.raises(ValueError, match="both"):
        ChurnRiskModel().fit(x, np.zeros(800))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=60))
def test_calibration_table_and_lift(pairs):
    y = np.array([int(a) for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    table = calibration_table(y, p)
    assert table["n"].sum() == len(y)
    assert (table["n"] * table["observed"]).sum() == pytest.approx(y.sum())
    assert table["mean_predicted"].is_monotonic_increasing
    lift = top_decile_lift(y, p)
    if y.sum() == 0:
        assert math.isnan(lift)
    else:
        assert 0 <= lift <= 1 / y.mean() + 1e-9


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("risk") / "demo"
    generate_demo(path, customers=3000, seed=1)
    with cxray.open(path) as ws:
        yield ws


def test_hold_out_evaluation_on_the_demo(demo):
    result = evaluate_risk(demo)
    # measured 0.68 (0.64-0.72); the riskiest decile churned 2.4x as often as average
    assert result.auc >= 0.62
    assert result.auc_low < result.auc < result.auc_high
    assert result.brier < result.base_rate_brier
    assert result.lift_top_decile >= 1.8
    assert result.test_cutoff - result.train_cutoff == pd.Timedelta(days=90)
    table = result.to_pandas()
    assert len(table) == 10 and table["n"].sum() == result.n_test
    assert table["observed"].iloc[-1] > 2 * table["observed"].iloc[0]
    # reasonable calibration: each decile's mean prediction within 0.15 of what happened
    assert (table["mean_predicted"] - table["observed"]).abs().max() < 0.15
    json.dumps(result.to_dict())
    assert "AUC" in result.summary("en") and "keer zo vaak" in result.summary("nl")


def test_risk_scores_with_reasons_on_the_demo(demo):
    result = risk(demo)
    frame = result.to_pandas()
    assert list(frame.columns) == RISK_COLUMNS
    assert frame["probability"].between(0, 1).all()
    assert frame["probability"].is_monotonic_decreasing
    top = frame.head(30)
    assert (top["band"] == "high").all()
    planted = top["reason_keys"].str.contains("tp__delivery_late|tp__login_failed")
    assert planted.mean() >= 0.9
    assert top["reasons"].str.contains("delivery_late|login_failed").mean() >= 0.9
    assert top["reasons_nl"].str.contains("tot nu toe").any()
    json.dumps(result.to_dict())
    assert "high risk" in result.summary("en") and "hoog risico" in result.summary("nl")
    # the band is the probability's, every customer has a reason or says none stands out
    low, high = result.to_dict()["params"]["band_low_below"], result.cuts[1]
    assert (frame["band"] == "high").eq(frame["probability"] >= high).all()
    assert (frame["band"] == "low").eq(frame["probability"] < low).all()
    assert (frame["reasons"].str.len() > 0).all() and (frame["reasons_nl"].str.len() > 0).all()
    # "about N expected to leave" with its range and what it is out of
    assert result.expected_low <= result.expected <= result.expected_high <= len(frame)
    n = f"{len(frame):,}"
    expected = f"about {round(result.expected):,} of the {n} are expected to leave (95% range"
    assert expected in result.summary("en")
    assert "95%-bereik" in result.summary("nl") and "dagen" in result.summary("nl")
    with pytest.raises(ValueError):
        result.summary("fr")


def test_risk_can_score_at_the_data_end(demo):
    end = pd.Timestamp("2026-06-30T23:48:13Z")
    result = risk(demo, as_of=end)
    # the model is still trained where its labels are fully observed
    assert result.train_cutoff < result.as_of - pd.Timedelta(days=90)
    assert len(result.to_pandas()) > 0
