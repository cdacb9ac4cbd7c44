import json
import math

import ibis
import ibis.expr.types as ir
import numpy as np
import pytest

import cxray
from cxray.analysis.onboarding import ONBOARDING_COLUMNS, onboarding
from cxray.demo import generate_demo

JOURNEY = {
    "touchpoints": {
        "visit": {"phase": "awareness"},
        "browse": {"phase": "consideration"},
        "order": {"phase": "conversion"},
        "cancel": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancel"]},
}
AS_OF = "2024-06-01T00:00:00Z"


def events_of(*rows):
    return [
        {"event_id": f"x{i}", "customer_id": c, "ts": ts, "touchpoint": tp}
        for i, (c, ts, tp) in enumerate(rows)
    ]


# retained customers took 10, 20, 30 and 40 days (and n_conv 1 day) from awareness to
# consideration; a late visit keeps r1-r4 active (the template's inactivity rule is 180 days)
HISTORY = events_of(
    *[(f"r{i}", "2024-05-15", "visit") for i in range(1, 5)],
    ("r1", "2023-01-01", "visit"),
    ("r1", "2023-01-11", "browse"),
    ("r1", "2023-01-12", "order"),
    ("r2", "2023-01-01", "visit"),
    ("r2", "2023-01-21", "browse"),
    ("r2", "2023-01-25", "order"),
    ("r3", "2023-01-01", "visit"),
    ("r3", "2023-01-31", "browse"),
    ("r4", "2023-01-01", "visit"),
    ("r4", "2023-02-10", "browse"),
    # churned: their slow path does not count as typical
    ("x1", "2023-01-01", "visit"),
    ("x1", "2023-12-01", "browse"),
    ("x1", "2023-12-02", "cancel"),
    # new customers
    ("n_late", "2024-04-01", "visit"),  # 61 days in awareness: late
    ("n_fine", "2024-05-20", "visit"),  # 12 days: fine
    ("n_conv", "2024-04-01", "visit"),
    ("n_conv", "2024-04-02", "browse"),
    ("n_conv", "2024-04-03", "order"),  # furthest phase conversion; nobody retained went further
    # cancelled after the observed period (inactive_days = 180) but before as_of: left out
    ("n_gone", "2024-05-01", "visit"),
    ("n_gone", "2024-05-02", "cancel"),
    ("n_today", "2024-06-01", "visit"),  # starts at as_of (included): day 0
    ("old", "2023-06-01", "visit"),  # more than 100 days ago
)


@pytest.fixture
def story(make_workspace):
    return make_workspace(events=HISTORY, journey=JOURNEY)


def test_new_customers_phase_and_lateness(story):
    result = onboarding(story, as_of=AS_OF)
    frame = result.to_pandas().set_index("customer_id")
    assert list(result.to_pandas().columns) == ONBOARDING_COLUMNS
    assert sorted(frame.index) == ["n_conv", "n_fine", "n_late", "n_today"]
    assert frame.loc["n_today", "days_in"] == 0 and not frame.loc["n_today", "late"]
    assert frame.loc["n_late", "phase"] == "awareness"
    assert frame.loc["n_late", "days_in_phase"] == pytest.approx(61)
    assert frame.loc["n_late", "typical_days_to_next"] == pytest.approx(
        np.quantile([1, 10, 20, 30, 40], 0.75)
    )
    assert frame.loc["n_late", "late"] and not frame.loc["n_fine", "late"]
    assert frame.loc["n_conv", "phase"] == "conversion"
    assert frame.loc["n_conv", "days_in"] == pytest.approx(61)
    assert frame.loc["n_conv", "days_in_phase"] == pytest.approx(59)
    assert math.isnan(frame.loc["n_conv", "typical_days_to_next"])
    assert not frame.loc["n_conv", "late"]
    typical = result.typical.set_index("phase")
    assert typical.loc["awareness", "n"] == 5  # x1 churned: not retained
    assert typical.loc["consideration", "typical_days_to_next"] == pytest.approx(
        np.quantile([1, 4, 1], 0.75)
    )


def test_summary_and_dict(story):
    result = onboarding(story, as_of=AS_OF)
    by_phase = result.by_phase()
    assert by_phase["phase"].tolist() == ["awareness", "conversion"]  # journey order
    assert by_phase["customers"].tolist() == [3, 1]
    assert by_phase["late"].tolist() == [1, 0]
    frame = result.to_pandas()
    judged = int(frame["typical_days_to_next"].notna().sum())
    assert result.summary("en").startswith(
        f"4 customers are in their first 100 days; 1 of the {judged} with a known usual time"
    )
    assert "te laat" in result.summary("nl") and "100 dagen" in result.summary("nl")


def test_summary_when_no_touchpoint_is_placed_in_a_phase(make_workspace):
    events = [
        {"event_id": f"e{i}", "customer_id": f"c{i}", "ts": "2024-03-01", "touchpoint": "visit"}
        for i in range(3)
    ]
    ws = make_workspace(events=events, journey={"touchpoints": {"visit": {"phase": "unassigned"}}})
    result = onboarding(ws, as_of="2024-03-02")
    assert "By phase: ." not in result.summary()
    assert result.summary().startswith("3 customers are in their first 100 days; none of them")
    assert "geen van hen heeft al een fase" in result.summary("nl")
    json.dumps(result.to_dict())


def test_one_new_customer_is_one_in_both_languages(make_workspace):
    events = [{"event_id": "e1", "customer_id": "c1", "ts": "2024-03-01", "touchpoint": "visit"}]
    ws = make_workspace(events=events, journey={"touchpoints": {"visit": {"phase": "unassigned"}}})
    result = onboarding(ws, as_of="2024-03-02")
    assert result.summary().startswith("1 customer is in their first 100 days")
    assert result.summary("nl").startswith("1 klant zit in zijn of haar eerste 100 dagen")


def test_window_length_and_empty(story, make_workspace):
    recent = onboarding(story, days=30, as_of=AS_OF).to_pandas()
    assert sorted(recent["customer_id"]) == ["n_fine", "n_today"]
    empty = make_workspace(name="empty", journey=JOURNEY)
    result = onboarding(empty)
    assert result.to_pandas().empty
    assert "No customers" in result.summary("en")


def test_onboarding_on_the_demo(tmp_path):
    generate_demo(tmp_path / "demo", customers=1500, seed=2)
    with cxray.open(tmp_path / "demo") as ws:
        result = onboarding(ws)
        frame = result.to_pandas()
        assert len(frame) > 0 and (frame["days_in"] < 100).all()
        assert frame["late"].any()
        assert frame["risk"].between(0, 1).all()  # every new customer is scored
        assert set(frame["phase"].dropna()) <= set(ws.journey.phases)


def test_queries_compile_for_postgresql(story, monkeypatch):
    compiled = []
    execute = ir.Table.execute

    def checked(self, *args, **kwargs):
        sql = ibis.to_sql(self, dialect="postgres")
        assert "AS BIGINT" not in sql.upper()
        compiled.append(sql)
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(ir.Table, "execute", checked)
    onboarding(story, as_of=AS_OF)
    assert len(compiled) >= 2
