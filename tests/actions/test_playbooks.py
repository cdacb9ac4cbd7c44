"""Playbooks: the [playbooks.<name>] tables, each moment found at the right time, tasks and
mails created once per customer and moment, outcomes recorded, the hold-out and the effect."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cxray.actions import jobs, outbox
from cxray.actions import playbooks as P
from cxray.actions.followup_rules import holdout_draw
from cxray.actions.playbook_effect import playbook_effect
from cxray.i18n import text_of
from cxray.journey import from_dict
from cxray.warehouse import literal

NOW = dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)
TOUCHPOINTS = {
    "order": {"phase": "conversion", "owner": "sales"},
    "first_success": {"phase": "loyalty"},
    "visit": {"phase": "awareness"},
    "browse": {"phase": "consideration"},
    "cancel": {"phase": "loyalty"},
}
MAIL = {
    "moment": "silence", "days": 30, "action": "mail",
    "subject_en": "We miss you", "subject_nl": "We missen u",
    "text_en": "Hello again.", "text_nl": "Hallo weer.",
}  # fmt: skip


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def make(make_workspace, playbooks: dict, **journey):
    return make_workspace(
        journey={
            "touchpoints": TOUCHPOINTS,
            "churn": {"touchpoints": ["cancel"]},
            "playbooks": playbooks,
            **journey,
        }
    )


def customer(wh, cid: str, start: float = 200, *, email: str | None = "auto", lang: str = "en"):
    attributes = {} if email is None else {"email": f"{cid}@example.com"}
    wh.sql(
        "INSERT INTO customers (customer_id, first_seen, language, attributes) "
        f"VALUES (?, {literal(days_ago(start))}, ?, ?)",
        [cid, lang, json.dumps(attributes)],
    )


def event(wh, cid: str, touchpoint: str, ago: float, eid: str | None = None):
    wh.sql(
        f"INSERT INTO events (event_id, customer_id, ts, touchpoint) "
        f"VALUES (?, ?, {literal(days_ago(ago))}, ?)",
        [eid or f"{cid}-{touchpoint}-{ago}", cid, touchpoint],
    )


def tasks(ws, **where) -> list[P.Task]:
    return P.list_tasks(ws.warehouse, held_out=None, limit=1000, **where)


def journey_with(playbooks: object):
    return from_dict({"journey": {"phases": ["a", "b"]}, "playbooks": playbooks})


# -- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, key",
    [
        ({"x": {"moment": "birthday"}}, "moment"),
        ({"x": {"touchpoint": "order"}}, "moment"),
        ({"x": {"moment": "after_purchase"}}, "touchpoint"),
        ({"x": {"moment": "silence", "dayz": 3}}, "dayz"),
        ({"x": {"moment": "silence", "days": "30"}}, "days"),
        ({"x": {"moment": "silence", "action": "call"}}, "action"),
        ({"x": {"moment": "silence", "action": "mail", "subject_en": "Hi"}}, "text_en"),
        ({"x": {"moment": "silence", "holdout_share": 2}}, "holdout_share"),
    ],
)
def test_wrong_playbooks_are_refused_with_the_key_named_in_both_languages(raw, key):
    with pytest.raises(P.PlaybookError) as caught:
        P.read_playbooks(journey_with(raw))
    english, dutch = text_of(caught.value, "en"), text_of(caught.value, "nl")
    assert english.startswith("cxray.toml: [playbooks.x] ") and key in english
    assert key in dutch and english != dutch


def test_defaults_and_the_owner_as_assignee():
    (book,) = P.read_playbooks(journey_with({"hi": {"moment": "silence"}}))
    assert book.days == 30 and book.action == "task" and book.within_days == 14
    journey = from_dict(
        {"journey": {"phases": ["awareness", "consideration", "conversion", "loyalty"]},
         "touchpoints": TOUCHPOINTS}
    )  # fmt: skip
    after = P.Playbook("a", "after_purchase", touchpoint="order")
    assert after.assignee(journey) == "sales"
    assert P.Playbook("b", "silence", default_owner="cx").assignee(journey) == "cx"


# -- moments ----------------------------------------------------------------------------------
def test_after_purchase_tasks_come_at_the_right_time_and_once(make_workspace):
    ws = make(make_workspace, {"reassure": {"moment": "after_purchase", "touchpoint": "order",
                                            "days": 1}})  # fmt: skip
    wh = ws.warehouse
    for cid, ago in (("due", 2), ("early", 0.5), ("old", 30), ("gone", 3)):
        customer(wh, cid)
        event(wh, cid, "order", ago)
    event(wh, "gone", "cancel", 1)
    ran = P.run_playbooks(wh, ws.journey, NOW)
    assert ran.created == {"reassure": 1} and "1 new" in ran.summary("en")
    (task,) = tasks(ws)
    assert task.customer_id == "due" and task.assignee == "sales" and task.status == "open"
    assert task.moment_at == days_ago(1) and task.moment == "after_purchase"
    assert P.run_playbooks(wh, ws.journey, NOW).total == 0  # idempotent
    later = P.run_playbooks(wh, ws.journey, NOW + dt.timedelta(days=1))
    assert later.created == {"reassure": 1}  # "early" is due by then
    assert "nieuw" in later.summary("nl")


def test_first_success_anniversary_and_silence(make_workspace):
    ws = make(make_workspace, {
        "celebrate": {"moment": "first_success", "touchpoint": "first_success"},
        "anniversary": {"moment": "anniversary", "assign_to": "ann"},
        "silence": {"moment": "silence", "days": 30},
    })  # fmt: skip
    wh = ws.warehouse
    customer(wh, "a", start=366)  # one year and a day
    customer(wh, "b", start=300)
    customer(wh, "c", start=365 * 2 + 3)
    for cid in ("a", "b", "c"):
        event(wh, cid, "first_success", 5)
    event(wh, "a", "first_success", 3)  # a second success is no first one
    event(wh, "b", "visit", 40, "quiet")  # b silent: that visit and first_success... (see below)
    P.run_playbooks(wh, ws.journey, NOW)
    celebrate = tasks(ws, playbook="celebrate")
    assert sorted(t.customer_id for t in celebrate) == ["a", "b", "c"]
    assert {t.moment_at for t in celebrate} == {days_ago(5)}
    anniversaries = {t.customer_id: t for t in tasks(ws, playbook="anniversary")}
    assert set(anniversaries) == {"a", "c"} and anniversaries["a"].moment_key == "year-1"
    assert anniversaries["c"].moment_key == "year-2" and anniversaries["a"].assignee == "ann"
    assert tasks(ws, playbook="silence") == []  # everyone was active 3-5 days ago
    quiet = NOW + dt.timedelta(days=28)  # a: 31 days quiet, b and c: 33
    P.run_playbooks(wh, ws.journey, quiet)
    assert sorted(t.customer_id for t in tasks(ws, playbook="silence")) == ["a", "b", "c"]
    event(wh, "c", "cancel", -20)  # c leaves; a later silence is not theirs to get
    P.run_playbooks(wh, ws.journey, quiet + dt.timedelta(days=1))
    assert len(tasks(ws, playbook="silence")) == 3


def test_late_onboarding_uses_the_onboarding_tracker(make_workspace):
    ws = make(make_workspace, {"nudge": {"moment": "late_onboarding", "default_owner": "cx"}})
    wh = ws.warehouse
    for i in range(12):  # retained customers: from awareness to consideration in 5 days
        customer(wh, f"r{i}", start=90)
        event(wh, f"r{i}", "visit", 90)
        event(wh, f"r{i}", "browse", 85)
    customer(wh, "late", start=40)
    event(wh, "late", "visit", 40)
    customer(wh, "fine", start=2)
    event(wh, "fine", "visit", 2)
    P.run_playbooks(wh, ws.journey, NOW)
    (task,) = tasks(ws, playbook="nudge")
    assert task.customer_id == "late" and task.moment_key == "late-awareness"
    assert task.assignee == "cx"
    assert P.run_playbooks(wh, ws.journey, NOW).total == 0


# -- mails, tasks and their outcomes -----------------------------------------------------------
def test_mails_are_queued_once_and_skipped_without_address_or_after_opt_out(make_workspace):
    ws = make(make_workspace, {"miss": MAIL})
    wh = ws.warehouse
    for cid, kw in (("nl", {"lang": "nl"}), ("en", {}), ("none", {"email": None}), ("out", {})):
        customer(wh, cid, **kw)
        event(wh, cid, "visit", 35)
    wh.sql("CREATE TABLE cxray_survey_optouts (customer_id VARCHAR, opted_out_at TIMESTAMPTZ, "
           "invitation_id VARCHAR)")  # fmt: skip
    wh.sql(f"INSERT INTO cxray_survey_optouts VALUES ('out', {literal(NOW)}, NULL)")
    ran = P.run_playbooks(wh, ws.journey, NOW)
    assert (ran.mails, ran.skipped) == (2, 2)
    P.run_playbooks(wh, ws.journey, NOW)
    P.run_playbooks(wh, ws.journey, NOW + dt.timedelta(days=1))
    mails = outbox.latest(wh, 10)
    assert len(mails) == 2 and {m.kind for m in mails} == {"playbook-mail"}
    by_customer = {t.customer_id: t for t in tasks(ws)}
    dutch = outbox.get(wh, by_customer["nl"].message_id)
    assert dutch.subject == "We missen u" and dutch.text == "Hallo weer."
    assert dutch.ref == by_customer["nl"].task_id and by_customer["nl"].status == "queued"
    assert by_customer["none"].status == "skipped" and by_customer["none"].outcome == "no_address"
    assert by_customer["out"].outcome == "opted_out"


def test_a_task_is_done_with_an_outcome(make_workspace):
    ws = make(make_workspace, {"hi": {"moment": "silence", "assign_to": "ann"}})
    customer(ws.warehouse, "a")
    event(ws.warehouse, "a", "visit", 35)
    P.run_playbooks(ws.warehouse, ws.journey, NOW)
    (task,) = tasks(ws, status="open")
    with pytest.raises(P.PlaybookError) as caught:
        P.complete_task(ws.warehouse, task.task_id, "shrugged", actor="ann")
    assert "uitkomst" in text_of(caught.value, "nl")
    done = P.complete_task(ws.warehouse, task.task_id, "letter_sent", actor="ann",
                           note="  wrote by hand ", now=NOW)  # fmt: skip
    assert (done.status, done.outcome, done.note, done.closed_by) == (
        "done", "letter_sent", "wrote by hand", "ann")  # fmt: skip
    assert done.closed_at == NOW and tasks(ws, status="open") == []
    with pytest.raises(P.PlaybookError):
        P.complete_task(ws.warehouse, task.task_id, "reached", actor="ann")
    with pytest.raises(P.PlaybookError):
        P.list_tasks(ws.warehouse, status="nope")


def test_the_hold_out_is_the_follow_ups_draw(make_workspace):
    ws = make(
        make_workspace, {"hi": {"moment": "silence", "holdout_share": 0.5, "assign_to": "ann"}}
    )
    for i in range(40):
        customer(ws.warehouse, f"c{i}")
        event(ws.warehouse, f"c{i}", "visit", 35)
    ran = P.run_playbooks(ws.warehouse, ws.journey, NOW)
    assert 5 < ran.held_out["hi"] < 35
    for task in tasks(ws):
        assert task.held_out == (holdout_draw("cxray-holdout:hi", task.task_id) < 0.5)
        assert (task.status == "held_out") == task.held_out
        assert task.held_out == (task.assignee is None)
    assert len(P.list_tasks(ws.warehouse)) == 40 - ran.held_out["hi"]  # held out: not listed


def test_the_job_is_registered(make_workspace):
    ws = make(make_workspace, {"hi": {"moment": "silence"}})
    customer(ws.warehouse, "a")
    event(ws.warehouse, "a", "visit", 35)
    (run,) = jobs.run_all(ws.warehouse, ws.journey, NOW, only={"run-playbooks"})
    assert run.ok and "1 new" in run.result.en and "nieuw" in run.result.nl


# -- the effect -------------------------------------------------------------------------------
def test_the_effect_of_a_planted_benefit_is_found_with_a_hold_out(make_workspace):
    ws = make(make_workspace, {"celebrate": {"moment": "first_success",
                                             "touchpoint": "first_success",
                                             "holdout_share": 0.5}})  # fmt: skip
    wh = ws.warehouse
    for i in range(120):
        customer(wh, f"c{i}", start=100)
        event(wh, f"c{i}", "first_success", 2)
    P.run_playbooks(wh, ws.journey, NOW)
    assert playbook_effect(ws, now=NOW).design == "randomised"
    for k, task in enumerate(tasks(ws)):  # planted: held out churn 60%, the others 10%
        churns = (k % 10 < 6) if task.held_out else (k % 10 == 0)
        event(wh, task.customer_id, "cancel" if churns else "visit", -30 - k % 50)
    effect = playbook_effect(ws, now=NOW, end=NOW + dt.timedelta(days=120))
    assert effect.design == "randomised" and effect.tasks == 120
    hr = effect.hazard_ratio
    assert hr.known and hr.upper < 1, hr
    assert effect.groups["control"]["churned"] > effect.groups["treated"]["churned"]
    assert "hazard ratio" in effect.summary("en") and "gerandomiseerd" in effect.summary("nl")


def test_without_a_hold_out_the_effect_says_it_is_observational(make_workspace):
    ws = make(make_workspace, {"hi": {"moment": "silence"}})
    assert playbook_effect(ws, now=NOW).design == "none"
    customer(ws.warehouse, "a")
    event(ws.warehouse, "a", "visit", 35)
    P.run_playbooks(ws.warehouse, ws.journey, NOW)
    effect = playbook_effect(ws, now=NOW + dt.timedelta(days=30))
    assert effect.design == "observational" and not effect.hazard_ratio.known
    assert "observational" in effect.summary("en") and "observationeel" in effect.summary("nl")


def test_an_anniversary_just_after_new_year_is_found(make_workspace):
    ws = make(make_workspace, {"anniversary": {"moment": "anniversary", "assign_to": "ann"}})
    january = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    ws.warehouse.sql(
        "INSERT INTO customers (customer_id, first_seen) "
        f"VALUES ('d', {literal(dt.datetime(2023, 12, 28, tzinfo=dt.UTC))})"
    )
    P.run_playbooks(ws.warehouse, ws.journey, january)
    (task,) = tasks(ws)
    assert task.moment_key == "year-2" and task.moment_at == dt.datetime(
        2025, 12, 28, tzinfo=dt.UTC
    )
