"""Did following up help? On generated companies with a planted effect, and with none."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from cxray.actions import followup_effect as E
from cxray.actions import followups as F

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FOLLOWUPS = {"within_days": 1000, "default_owner": "service"}


def company(
    make_workspace,
    *,
    n: int = 1500,
    hazard_ratio: float = 0.5,
    better: tuple[float, float] = (0.45, 0.2),
    holdout: float = 0.5,
    seed: int = 1,
    name: str = "ws",
):
    """Detractors who answer once, are followed up (unless held out) and churn later.

    Followed-up detractors churn at ``hazard_ratio`` times the rate of the others; their next
    answer is no longer a detractor's with chance ``better[0]`` (the others ``better[1]``).
    """
    rng = np.random.default_rng(seed)
    settings = {**FOLLOWUPS, "holdout_share": holdout}
    starts = [T0 + dt.timedelta(days=float(d)) for d in rng.uniform(0, 100, n)]
    answered = [s + dt.timedelta(days=30) for s in starts]
    customers = [{"customer_id": f"c{i}", "first_seen": s} for i, s in enumerate(starts)]
    feedback = [
        {
            "response_id": f"r{i}", "customer_id": f"c{i}", "ts": t, "metric": "nps",
            "score": float(rng.integers(0, 7)),
        }
        for i, t in enumerate(answered)
    ]  # fmt: skip
    ws = make_workspace(
        customers=customers,
        feedback=feedback,
        events=[{"customer_id": "c0", "ts": T0, "touchpoint": "order_placed"}],
        journey={"followups": settings, "churn": {"touchpoints": ["subscription_cancelled"]}},
        name=name,
    )
    now = max(answered) + dt.timedelta(seconds=1)
    F.open_followups(ws.warehouse, ws.journey, now)
    # every follow-up offered is worked: done, the customer called
    ws.warehouse.sql(f"UPDATE {F.TABLE} SET status = 'done', outcome = 'called' WHERE NOT held_out")
    held = {r[0] for r in ws.warehouse.query(f"SELECT customer_id FROM {F.TABLE} WHERE held_out")}
    end = max(answered) + dt.timedelta(days=365)
    events, later = [], []
    for i, t in enumerate(answered):
        treated = f"c{i}" not in held
        rate = (hazard_ratio if treated else 1.0) / 200.0
        churn = t + dt.timedelta(days=float(rng.exponential(1 / rate)))
        again = t + dt.timedelta(days=60)
        if again < min(churn, end):
            chance = better[0] if treated else better[1]
            score = float(rng.integers(7, 11) if rng.random() < chance else rng.integers(0, 7))
            later.append(
                {"response_id": f"n{i}", "customer_id": f"c{i}", "ts": again, "metric": "nps",
                 "score": score}
            )  # fmt: skip
        if churn < end:
            events.append({"customer_id": f"c{i}", "ts": churn,
                           "touchpoint": "subscription_cancelled"})  # fmt: skip
    events.append({"customer_id": "c0", "ts": end, "touchpoint": "order_placed"})
    import ibis

    from cxray import schema
    from tests.conftest import _frame_for

    for spec, rows in ((schema.EVENTS, events), (schema.FEEDBACK, later)):
        frame = _frame_for(spec, rows)
        if spec is schema.EVENTS:
            frame["event_id"] = [f"e{i}" for i in range(len(frame))]
        ws.warehouse.backend.insert(spec.name, ibis.memtable(frame, schema=spec.schema))
    return ws, now


def test_randomised_hold_out_recovers_the_planted_effect(make_workspace):
    ws, now = company(make_workspace)
    effect = E.followup_effect(ws, now=now)
    assert effect.design == "randomised"
    hr = effect.hazard_ratio
    assert hr.covers(0.5) and hr.upper < 1, hr
    diff = effect.better_difference
    assert diff.covers(0.45 - 0.2) and diff.lower > 0, diff
    assert effect.nps_difference.lower > 0
    treated = effect.group("offered")
    assert treated["better_lower"] <= 0.45 <= treated["better_upper"]
    assert effect.reached_share == pytest.approx(1.0)
    text = effect.summary("en")
    assert text.startswith("Randomised") and "times the rate" in text
    assert effect.summary("nl").startswith("Gerandomiseerd")
    # the same answer from the warehouse and the journey
    same = E.followup_effect(ws.warehouse, ws.journey, now=now)
    assert same.hazard_ratio.value == pytest.approx(hr.value)


def test_no_effect_intervals_cover_zero(make_workspace):
    ws, now = company(make_workspace, hazard_ratio=1.0, better=(0.3, 0.3), seed=2)
    effect = E.followup_effect(ws, now=now)
    assert effect.hazard_ratio.covers(1.0), effect.hazard_ratio
    assert effect.better_difference.covers(0.0), effect.better_difference
    assert effect.nps_difference.covers(0.0), effect.nps_difference
    assert "No demonstrable difference in churn" in effect.summary("en")
    assert "Geen aantoonbaar verschil in vertrek" in effect.summary("nl")


def test_without_hold_out_the_estimate_is_called_observational(make_workspace):
    ws, now = company(make_workspace, holdout=0.0, seed=3)
    # half the detractors were never worked: open long past their due time
    ws.warehouse.sql(
        f"UPDATE {F.TABLE} SET status = 'open', outcome = NULL "
        "WHERE CAST(substr(customer_id, 2) AS INTEGER) % 2 = 0"
    )
    effect = E.followup_effect(ws, now=now + dt.timedelta(days=30))
    assert effect.design == "observational"
    assert effect.treated == "followed_up" and effect.control == "not_followed_up"
    assert set(effect.adjusted_for) == {"score", "tenure", "metric"}
    assert effect.summary("en").startswith("Observational")
    assert "holdout_share" in effect.summary("en")
    assert effect.summary("nl").startswith("Observationeel")
    data = effect.to_dict()
    assert data["design"] == "observational" and data["summary"]["nl"]


def test_open_follow_ups_not_yet_due_are_no_control(make_workspace):
    ws, now = company(make_workspace, n=60, holdout=0.0, seed=4)
    ws.warehouse.sql(f"UPDATE {F.TABLE} SET status = 'open', outcome = NULL")
    effect = E.followup_effect(ws, now=now)  # nothing is past due yet
    assert effect.group("not_followed_up")["customers"] == 0


def test_too_few_to_say(make_workspace):
    ws, now = company(make_workspace, n=12, seed=5)
    effect = E.followup_effect(ws, now=now)
    assert effect.hazard_ratio.reason == "too_few" and not effect.hazard_ratio.known
    assert effect.better_difference.reason == "too_few"
    assert "Too few customers to compare churn" in effect.summary("en")
    assert "Te weinig klanten" in effect.summary("nl")


def test_nothing_to_compare(make_workspace):
    ws = make_workspace(customers=[{"customer_id": "a", "first_seen": T0}])
    effect = E.followup_effect(ws)
    assert effect.design == "none"
    assert effect.summary("en") == "No follow-ups to compare yet."
    assert effect.summary("nl") == "Nog geen opvolgingen om te vergelijken."
