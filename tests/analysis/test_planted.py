"""The demo company's planted facts come out of the analyses (issue checks on generated data)."""

from __future__ import annotations

import pandas as pd
import pytest

import cxray
from cxray.demo import generate_demo


@pytest.fixture(scope="module", params=[1, 2])
def demo(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"demo{request.param}") / "ws"
    result = generate_demo(path, customers=3000, seed=request.param)
    ws = cxray.open(path)
    yield ws, result.ground_truth
    ws.close()


def test_most_churners_leave_after_the_planted_touchpoint(demo):
    ws, truth = demo
    top = ws.dropoff().to_pandas().iloc[0]
    assert top.touchpoint == truth["top_exit_touchpoint"]
    assert top.lift_low > 1  # it precedes leaving more often than staying, beyond chance


def test_directly_follows_counts_equal_pandas_on_the_demo(demo):
    ws, _ = demo
    events = ws.events.select("customer_id", "ts", "touchpoint", "event_id").execute()
    ordered = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"])
    following = ordered.groupby("customer_id").touchpoint.shift(-1)
    expected = (
        pd.DataFrame({"source": ordered.touchpoint, "target": following})
        .dropna()
        .value_counts()
        .rename("count")
        .reset_index()
    )
    edges = ws.flows().edges
    edges = edges[~edges.source.str.startswith("__") & ~edges.target.str.startswith("__")]
    got = edges.set_index(["source", "target"])["count"].sort_index()
    want = expected.set_index(["source", "target"])["count"].sort_index()
    pd.testing.assert_series_equal(got, want, check_dtype=False, check_names=False)


def test_early_churn_matches_the_planted_share(demo):
    ws, truth = demo
    overall = ws.early_churn(days=100).to_pandas().set_index("cohort").loc["all"]
    assert overall.lower <= truth["churn_within_100_days_share"] <= overall.upper
