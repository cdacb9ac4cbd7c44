"""generate_demo: a ready workspace whose tables, journey and truth file agree."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import cxray
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.demo import DemoResult, generate_demo
from cxray.demo.company import CHURN_TOUCHPOINT, TOUCHPOINTS


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    steps: list[str] = []
    result = generate_demo(
        tmp_path_factory.mktemp("ws") / "shop",
        customers=1500,
        seed=5,
        progress=lambda step, done, total: steps.append(step),
    )
    result.steps = steps  # type: ignore[attr-defined]
    return result


def test_the_workspace_tables_hold_exactly_the_generated_rows(demo: DemoResult):
    with cxray.open(demo.path, read_only=True) as ws:
        assert ws.warehouse.counts() == demo.counts
    assert demo.counts["customers"] == 1500
    assert demo.counts["events"] > 10 * demo.counts["customers"]
    for name in ("customers", "events", "feedback", "ground_truth"):
        assert demo.files[name].exists(), name
    assert demo.steps[0] == "workspace" and demo.steps[-1] == "done"  # type: ignore[attr-defined]
    assert {"generate", "import"} <= set(demo.steps)  # type: ignore[attr-defined]


def test_the_journey_places_every_touchpoint(demo: DemoResult):
    with cxray.open(demo.path, read_only=True) as ws:
        journey = ws.journey
        assert journey.name == "Demo webshop"
        assert not journey.unassigned
        assert set(journey.touchpoints) == {tp.name for tp in TOUCHPOINTS}
        assert journey.churn.touchpoints == (CHURN_TOUCHPOINT,)
        assert journey.churn.inactive_days == demo.ground_truth["journey"]["inactive_days"]
        assert set(journey.bad_touchpoints) == set(
            demo.ground_truth["churn_model"]["hazard_ratios"]
        )
        seen = set(ws.events.select("touchpoint").distinct().execute().touchpoint)
        assert seen == set(journey.touchpoints)
    text = (demo.path / "cxray.toml").read_text()
    assert "[bad_experience]" in text and "[scales]" in text  # the template's keys are kept


def test_the_truth_file_matches_what_cxray_measures(demo: DemoResult):
    truth = json.loads((demo.path / "ground_truth.json").read_text())
    assert truth == json.loads(json.dumps(demo.to_dict()["ground_truth"]))
    assert truth["seed"] == 5 and truth["customers"] == 1500
    assert truth["churn_model"]["hazard_ratios"] == {"delivery_late": 2.0, "login_failed": 1.5}
    assert "support_call" in truth["churn_model"]["null_touchpoints"]
    with cxray.open(demo.path, read_only=True) as ws:
        lifetimes = customer_lifetimes(ws).execute()
        observed = truth["counts"]["observed_churn"]
        assert lifetimes.churned.sum() == observed["cancellation"] + observed["inactivity"]
        assert (~lifetimes.too_new).sum() == truth["counts"]["judged_customers"]
        churn_at = lifetimes[lifetimes.churned].set_index("customer_id").churn_ts
        events = ws.events.select("event_id", "customer_id", "ts", "touchpoint").execute()
    events = events[
        events.customer_id.isin(churn_at.index) & (events.touchpoint != CHURN_TOUCHPOINT)
    ]
    events = events[events.ts <= events.customer_id.map(churn_at)]
    last = (
        events.sort_values(["customer_id", "ts", "touchpoint", "event_id"])
        .groupby("customer_id")
        .tail(1)
    )
    assert last.touchpoint.value_counts().to_dict() == truth["exit_touchpoints"]
    assert last.touchpoint.value_counts().index[0] == truth["top_exit_touchpoint"]
    labels = pd.read_parquet(demo.path / truth["files"]["comment_labels"])
    assert len(labels) == sum(truth["feedback"]["comments_by_metric"].values())


def test_an_existing_workspace_is_kept_unless_overwrite(demo: DemoResult, tmp_path: Path):
    path = tmp_path / "again"
    first = generate_demo(path, customers=300, seed=9)
    with pytest.raises(cxray.WorkspaceError):
        generate_demo(path, customers=300, seed=9)
    second = generate_demo(path, customers=300, seed=9, overwrite=True)
    assert second.counts == first.counts
    assert second.ground_truth == first.ground_truth


def test_the_result_is_json_ready_and_speaks_both_languages(demo: DemoResult):
    as_dict = demo.to_dict()
    json.dumps(as_dict)
    assert as_dict["counts"] == demo.counts
    assert "1,500 customers" in demo.summary()
    assert "1.500 klanten" in demo.summary("nl")
