"""Opportunities: the quick-win rule case by case, the ranking, and the demo against drivers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import cxray
from cxray.analysis.drivers import drivers
from cxray.analysis.drivers_result import DRIVER_COLUMNS
from cxray.analysis.opportunities import (
    LONG_TERM,
    QUICK_WIN,
    RECURRING,
    classify,
    opportunities,
)
from cxray.demo import generate_demo
from cxray.journey import Journey, Touchpoint

JOURNEY = Journey(
    name="test",
    phases=("conversion", "loyalty"),
    touchpoints={
        "late": Touchpoint("late", "loyalty", owner="logistics", bad_experience=True),
        "call": Touchpoint("call", "loyalty", owner="service"),
        "orphan": Touchpoint("orphan", "loyalty", bad_experience=True),
        "delivery": Touchpoint("delivery", "loyalty", owner="logistics"),
    },
)


def row(**values) -> SimpleNamespace:
    base = {"driver": "late", "kind": "touchpoint", "touchpoint": "late", "metric": None,
            "significant": True, "customers_exposed": 100, "occurrences": 120}  # fmt: skip
    return SimpleNamespace(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "horizon", "rule"),
    [
        ({}, QUICK_WIN, "quick_win"),
        ({"significant": False}, LONG_TERM, "not_demonstrable"),
        (
            {"kind": "attribute", "touchpoint": None, "driver": "plan = basic"},
            LONG_TERM,
            "attribute",
        ),
        ({"kind": "low_score", "touchpoint": None, "metric": "nps"}, LONG_TERM, "journey_wide"),
        ({"touchpoint": "orphan"}, LONG_TERM, "no_owner"),
        ({"touchpoint": "call"}, LONG_TERM, "symptom"),
        ({"kind": "low_score", "touchpoint": "delivery", "metric": "csat"}, QUICK_WIN, "quick_win"),
        ({"occurrences": int(100 * RECURRING)}, LONG_TERM, "recurring"),
        ({"occurrences": int(100 * RECURRING) - 1}, QUICK_WIN, "quick_win"),
    ],
)
def test_the_rule_case_by_case(values, horizon, rule) -> None:
    found, decided, reason = classify(row(**values), JOURNEY)
    assert (found, decided) == (horizon, rule)
    assert reason.en and reason.nl and reason.en != reason.nl


def fake_drivers(rows: list[dict], has_value: bool = True) -> SimpleNamespace:
    frame = pd.DataFrame(
        [{**{c: np.nan for c in DRIVER_COLUMNS}, "estimable": True, **r} for r in rows],
        columns=DRIVER_COLUMNS,
    )
    labels = {r["driver"]: {"en": r["driver"], "nl": f"nl {r['driver']}"} for r in rows}
    return SimpleNamespace(drivers=frame, labels=labels, has_value=has_value, fdr=0.05, churned=50)


def test_ranking_puts_demonstrable_first_then_customers_then_value() -> None:
    common = {
        "kind": "touchpoint",
        "touchpoint": "late",
        "customers_exposed": 10,
        "occurrences": 10,
    }
    found = fake_drivers(
        [
            {**common, "driver": "big_unsure", "hazard_ratio": 1.5, "significant": False,
             "customers_lost": 90.0, "value_lost": 1.0},
            {**common, "driver": "small_sure", "hazard_ratio": 1.5, "significant": True,
             "customers_lost": 5.0, "value_lost": 1.0},
            {**common, "driver": "tie_less_value", "hazard_ratio": 1.5, "significant": True,
             "customers_lost": 20.0, "value_lost": 10.0},
            {**common, "driver": "tie_more_value", "hazard_ratio": 1.5, "significant": True,
             "customers_lost": 20.0, "value_lost": 30.0},
            {**common, "driver": "protective", "hazard_ratio": 0.5, "significant": True,
             "customers_lost": -40.0, "value_lost": -5.0},
            {**common, "driver": "unknown", "estimable": False},
        ]
    )  # fmt: skip
    ws = SimpleNamespace(journey=JOURNEY)
    result = opportunities(ws, found)
    assert result.frame["driver"].tolist() == [
        "tie_more_value", "tie_less_value", "small_sure", "big_unsure",
    ]  # fmt: skip
    assert result.frame["rank"].tolist() == [1, 2, 3, 4]
    assert result.frame["label_nl"].iloc[0] == "nl tie_more_value"
    assert result.frame.set_index("driver").loc["big_unsure", "horizon"] == LONG_TERM


def test_nothing_harmful_is_said_plainly() -> None:
    found = fake_drivers([{"driver": "x", "kind": "touchpoint", "touchpoint": "late",
                           "hazard_ratio": 0.8, "significant": False}])  # fmt: skip
    result = opportunities(SimpleNamespace(journey=JOURNEY), found)
    assert result.frame.empty
    assert "No driver" in result.summary("en") and "Geen oorzaak" in result.summary("nl")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    path = tmp_path_factory.mktemp("opportunities") / "ws"
    generate_demo(path, customers=800, seed=11)
    ws = cxray.open(path)
    yield ws
    ws.close()


def test_the_demo_opportunities_are_the_harmful_drivers(demo) -> None:
    found = drivers(demo)
    result = opportunities(demo, found)
    table = found.drivers.set_index("driver")
    harmful = table[table.estimable & (table.hazard_ratio > 1)]
    assert sorted(result.frame["driver"]) == sorted(harmful.index)
    for opportunity in result.frame.itertuples():
        source = table.loc[opportunity.driver]
        assert opportunity.customers_lost == pytest.approx(source.customers_lost)
        assert opportunity.lost_lower <= opportunity.customers_lost <= opportunity.lost_upper
        assert opportunity.value_lost == pytest.approx(source.value_lost)
    shown = result.frame[result.frame["significant"]]
    assert len(shown), "the demo plants drivers of churn"
    assert shown["customers_lost"].is_monotonic_decreasing
    assert result.frame["significant"].is_monotonic_decreasing  # demonstrable ones first
    for win in result.quick_wins.itertuples():
        tp = demo.journey.touchpoints[win.touchpoint]
        assert win.significant and tp.owner and win.per_customer < RECURRING
        assert tp.bad_experience or win.kind == "low_score"
    assert len(result.quick_wins), "a planted failure at an owned touchpoint is a quick win"


def test_the_demo_in_both_languages(demo) -> None:
    result = opportunities(demo)
    english, dutch = result.summary("en"), result.summary("nl")
    assert "Largest opportunities" in english and "quick win" in english
    assert "Grootste kansen" in dutch and "snel" in dutch
    assert english != dutch
    data = result.to_dict()
    assert data["rows"][0]["reason_nl"] and data["rule"]
    assert "klanten op het spel" in result._repr_html_("nl")
