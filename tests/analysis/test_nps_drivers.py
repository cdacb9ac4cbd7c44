import json

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import cxray
from cxray.analysis.nps_drivers import DRIVER_COLUMNS, nps_drivers, quadrants, relative_weights
from cxray.demo import generate_demo


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(y)), x])
    fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    return 1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (40, 3), elements=st.floats(-5, 5)),
    arrays(np.float64, 40, elements=st.floats(-5, 5)),
)
def test_relative_weights_split_r_squared(x, y):
    weights = relative_weights(x, y)
    assert (weights >= -1e-9).all()
    # full-rank predictors: the weights add up to R² exactly
    if y.std() > 1e-6 and np.linalg.matrix_rank(x - x.mean(axis=0), tol=1e-6) == 3:
        assert weights.sum() == pytest.approx(r_squared(x, y), abs=1e-6)


def test_relative_weights_of_uncorrelated_predictors_are_squared_correlations():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(200, 2))
    x, _ = np.linalg.qr(raw - raw.mean(axis=0))  # centred and exactly uncorrelated
    y = 3 * x[:, 0] + 1 * x[:, 1] + rng.normal(scale=0.05, size=200)
    weights = relative_weights(x, y)
    expected = [np.corrcoef(x[:, j], y)[0, 1] ** 2 for j in range(2)]
    assert weights == pytest.approx(expected, abs=1e-2)
    assert relative_weights(np.column_stack([x, np.ones(200)]), y)[2] == 0


def test_quadrants_from_fixed_criteria_not_medians():
    importance = pd.Series([0.5, 0.3, 0.15, 0.05])
    explained = pd.Series([0.2, 0.1, 0.05, 0.001])
    performance = pd.Series([0.2, 0.9, 0.8, 0.1])
    assert quadrants(importance, explained, performance, 0.6) == [
        "fix_first",
        "keep_up",
        "nice_to_have",
        "low_priority",
    ]
    # one driver that explains a lot and does worse than the overall score: fix it first
    assert quadrants(pd.Series([1.0]), pd.Series([0.3]), pd.Series([0.2]), 0.7) == ["fix_first"]
    # one driver that explains nothing is not important, even with the whole (tiny) R²
    assert quadrants(pd.Series([1.0]), pd.Series([0.0]), pd.Series([0.2]), 0.7) == ["low_priority"]
    # of three, two can be important
    three = quadrants(
        pd.Series([0.48, 0.48, 0.04]), pd.Series([0.2, 0.2, 0.0]), pd.Series([0.1, 0.9, 0.1]), 0.5
    )
    assert three == ["fix_first", "keep_up", "low_priority"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8))
def test_quadrant_rule_is_absolute(drivers):
    raw = np.array([a for a, _ in drivers]) + 1e-6
    importance = pd.Series(raw / raw.sum())
    performance = pd.Series([b for _, b in drivers])
    result = quadrants(importance, importance * 0.5, performance, 0.5)
    for q, imp, perf in zip(result, importance, performance, strict=True):
        important = imp >= 1 / len(drivers) - 1e-9 and imp * 0.5 >= 0.01
        assert q in (("fix_first", "keep_up") if important else ("low_priority", "nice_to_have"))
        assert (q in ("keep_up", "nice_to_have")) == (perf >= 0.5)


def make_story(n: int = 120, seed: int = 0):
    """NPS falls with each late delivery; delivery CSAT is noise; late events after the answer."""
    rng = np.random.default_rng(seed)
    events, feedback = [], []
    for i in range(n):
        late = int(rng.integers(0, 3))
        for k in range(late):
            events.append(
                {"customer_id": f"c{i}", "ts": f"2024-01-{k + 2:02d}", "touchpoint": "late"}
            )
        # after the answer: must not count
        events.append({"customer_id": f"c{i}", "ts": "2024-03-01", "touchpoint": "late"})
        nps = int(np.clip(round(9 - 2.5 * late + rng.normal(scale=0.7)), 0, 10))
        feedback.append(
            {"customer_id": f"c{i}", "ts": "2024-01-20", "metric": "nps", "score": 2}
        )  # an older answer: only the latest counts
        feedback.append({"customer_id": f"c{i}", "ts": "2024-02-01", "metric": "nps", "score": nps})
        if i % 3:  # a third never rated the delivery
            feedback.append(
                {
                    "customer_id": f"c{i}",
                    "ts": "2024-01-10",
                    "metric": "csat",
                    "touchpoint": "delivery",
                    "score": int(rng.integers(3, 6)),
                }
            )
    for j, row in enumerate(events):
        row["event_id"] = f"e{j}"
    return events, feedback


JOURNEY = {
    "touchpoints": {
        "delivery": {"phase": "loyalty"},
        "late": {"phase": "loyalty", "bad_experience": True},
    },
}


def test_late_deliveries_drive_nps(make_workspace):
    events, feedback = make_story()
    ws = make_workspace(events=events, feedback=feedback, journey=JOURNEY)
    result = nps_drivers(ws, bootstrap=50)
    frame = result.to_pandas().set_index("driver")
    assert list(result.to_pandas().columns) == DRIVER_COLUMNS
    assert frame.index.tolist() == ["late", "delivery (csat)"]
    assert result.customers == 120
    assert frame.loc["late", "importance"] > 0.9
    assert frame["importance"].sum() == pytest.approx(1)
    assert frame.loc["late", "correlation"] < -0.8  # the event after the answer is not counted
    assert frame.loc["delivery (csat)", "n"] == 80
    assert frame.loc["delivery (csat)", "kind"] == "score"
    for row in frame.itertuples():
        assert row.importance_low <= row.importance <= row.importance_high
    assert result.r2 > 0.7 and result.r2_low < result.r2 < result.r2_high
    with_late = {e["customer_id"] for e in events if e["ts"] < "2024-02-01"}
    assert frame.loc["late", "performance"] == pytest.approx(1 - len(with_late) / 120)
    assert frame.loc["late", "n"] == len(with_late)
    json.dumps(result.to_dict())
    assert "late" in result.summary("en") and "verklaren" in result.summary("nl")
    # the one 'late' event after each answer is left out, and the summary says so
    assert result.later_events == 120
    assert "Left out as happening at or after the NPS answer: 120 bad-experience events" in (
        result.summary("en")
    )
    assert "Weggelaten omdat ze op of na het NPS-antwoord vielen: 120 slechte ervaringen" in (
        result.summary("nl")
    )
    # R² with its interval and n
    assert "(95% interval " in result.summary("en") and "across 120 customers" in result.summary()
    assert frame.loc["late", "quadrant"] == "fix_first"


def test_one_driver_can_be_fixed_first(make_workspace):
    events, feedback = make_story()
    feedback = [row for row in feedback if row["metric"] == "nps"]  # only the late deliveries
    ws = make_workspace(events=events, feedback=feedback, journey=JOURNEY)
    result = nps_drivers(ws, bootstrap=50)
    frame = result.to_pandas()
    assert frame["driver"].tolist() == ["late"]
    assert frame["quadrant"].tolist() == ["fix_first"]  # a median split said "nice to have"
    assert "Fix first" in result.summary() and "late (100% of R²" in result.summary()


def test_target_defaults_to_the_metric_the_workspace_has(make_workspace):
    events, feedback = make_story()
    ratings = [
        {**row, "metric": "rating", "score": 1 + round(row["score"] * 0.4)}
        for row in feedback
        if row["metric"] == "nps"
    ]
    ws = make_workspace(events=events, feedback=ratings, journey=JOURNEY)
    result = nps_drivers(ws, bootstrap=20)
    assert result.target == "rating" and result.customers == 120
    assert result.to_pandas()["driver"].tolist() == ["late"]
    assert "variation in RATING" in result.summary()
    assert ws.nps_drivers(bootstrap=0).target == "rating"
    with pytest.raises(ValueError, match="scored metrics are: rating"):
        nps_drivers(ws, target="nps")


def test_without_answers(make_workspace):
    ws = make_workspace(
        events=[{"customer_id": "a", "ts": "2024-01-01", "touchpoint": "late"}], journey=JOURNEY
    )
    result = nps_drivers(ws)
    assert result.to_pandas().empty
    assert "Too few" in result.summary("en") and "Te weinig" in result.summary("nl")


def test_planted_drivers_on_the_demo(tmp_path):
    generate_demo(tmp_path / "demo", customers=3000, seed=1)
    with cxray.open(tmp_path / "demo") as ws:
        result = nps_drivers(ws, bootstrap=100)
    frame = result.to_pandas()
    # planted: -1.8 NPS points per late delivery, -1.3 per failed login (ground_truth.json)
    assert frame["driver"].iloc[0] == "delivery_late"
    events = frame[frame["kind"] == "event"]["driver"].tolist()
    assert events[:2] == ["delivery_late", "login_failed"]
    top = frame.set_index("driver")
    assert top.loc["delivery_late", "importance_low"] > top.loc["login_failed", "importance_high"]
    assert top.loc["delivery_late", "quadrant"] == "fix_first"
    assert "delivery_late" in result.summary("en")


def test_queries_compile_for_postgresql(make_workspace, monkeypatch):
    events, feedback = make_story(n=30)
    ws = make_workspace(events=events, feedback=feedback, journey=JOURNEY)
    compiled = []
    execute = ir.Table.execute

    def checked(self, *args, **kwargs):
        sql = ibis.to_sql(self, dialect="postgres")
        assert "AS BIGINT" not in sql.upper()
        compiled.append(sql)
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(ir.Table, "execute", checked)
    nps_drivers(ws, bootstrap=5)
    assert len(compiled) >= 2


def test_the_same_data_gives_the_same_intervals(tmp_path):
    generate_demo(tmp_path / "demo", customers=3000, seed=1)
    frames = []
    for threads in (1, 2):  # threads change the order the engine returns rows in
        with cxray.open(tmp_path / "demo") as ws:
            ws.warehouse.con.execute(f"SET threads = {threads}")
            frames.append(nps_drivers(ws, bootstrap=50).to_pandas())
    pd.testing.assert_frame_equal(frames[0], frames[1])
