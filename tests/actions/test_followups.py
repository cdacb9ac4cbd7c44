"""Follow-ups: the [followups] rules, opening (idempotent, in the engine), hold-out,
escalation, the state machine, notes and the change log, and the customer's timeline items."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray import schema
from cxray.actions import followups as F
from cxray.actions.followup_rules import FollowupRulesError, holdout_draw, parse_rules, rules_of
from cxray.i18n import text_of
from cxray.journey import from_dict
from tests.conftest import _frame_for

NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
TOUCHPOINTS = {
    "delivery": {"phase": "loyalty", "owner": "logistics"},
    "support_call": {"phase": "loyalty"},
}


def answer(i: int, score: float, *, metric: str = "nps", days_ago: float = 1, **extra) -> dict:
    return {
        "response_id": f"r{i}", "customer_id": extra.pop("customer_id", f"c{i}"),
        "ts": NOW - dt.timedelta(days=days_ago), "metric": metric, "score": score, **extra,
    }  # fmt: skip


def workspace(make_workspace, feedback, followups=None, **kw):
    journey = {"touchpoints": TOUCHPOINTS, **({"followups": followups} if followups else {})}
    return make_workspace(feedback=feedback, journey=journey, **kw)


def stored(ws) -> dict[str, F.Followup]:
    return {f.response_id: f for f in F.list_followups(ws.warehouse, held_out=None, now=NOW,
                                                        limit=1000).rows}  # fmt: skip


# -- rules ------------------------------------------------------------------------------------
def journey_with(followups: object):
    return from_dict({"journey": {"phases": ["a", "b"]}, "followups": followups})


def test_rules_have_defaults():
    rules = rules_of(journey_with({}))
    assert rules.detractors and rules.due_hours == 48 and rules.within_days == 14
    assert rules.holdout_share == 0 and rules.assign_to == "owner"
    assert rules.thresholds(journey_with({})) == {"nps": 6.0}


def test_bad_experience_thresholds_are_the_journeys():
    journey = journey_with({"bad_experience": True})
    assert rules_of(journey).thresholds(journey) == {"nps": 6.0, "csat": 2.0, "ces": 3.0}
    journey = journey_with({"bad_experience": ["csat"], "detractors": False})
    assert rules_of(journey).thresholds(journey) == {"csat": 2.0}


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"due_hourz": 4}, "due_hourz"),
        ({"due_hours": "48"}, "due_hours"),
        ({"due_hours": 0}, "due_hours"),
        ({"holdout_share": 1.5}, "holdout_share"),
        ({"holdout_share": True}, "holdout_share"),
        ({"detractors": "yes"}, "detractors"),
        ({"bad_experience": ["nps", "effort"]}, "bad_experience"),
        ({"bad_experience": 3}, "bad_experience"),
        ({"default_owner": ""}, "default_owner"),
        ({"escalate_to": 5}, "escalate_to"),
        ({"within_days": -1}, "within_days"),
    ],
)
def test_wrong_rules_are_refused_with_the_key_named_in_both_languages(raw, key):
    with pytest.raises(FollowupRulesError) as caught:
        rules_of(journey_with(raw))
    english, dutch = text_of(caught.value, "en"), text_of(caught.value, "nl")
    assert english.startswith("cxray.toml: [followups] ") and key in english
    assert key in dutch and english != dutch


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.integers(), min_size=1, max_size=3))
def test_any_unknown_key_is_refused_by_name(raw):
    unknown = sorted(set(raw) - parse_rules.__globals__["KEYS"])
    if not unknown:
        return
    with pytest.raises(FollowupRulesError) as caught:
        parse_rules(raw)
    assert repr(unknown[0]) in str(caught.value)


# -- opening ----------------------------------------------------------------------------------
def test_detractors_open_follow_ups_for_the_touchpoints_owner(make_workspace):
    ws = workspace(
        make_workspace,
        [
            answer(1, 3, touchpoint="delivery"),
            answer(2, 6, touchpoint="support_call"),  # no owner: the fallback
            answer(3, 7, touchpoint="delivery"),  # passive: none
            answer(4, 1, metric="csat"),  # CSAT is not a rule unless asked for
            answer(5, 0, days_ago=20),  # too old
            answer(6, 2, days_ago=-1),  # after "now"
            answer(7, 2, customer_id=None),  # nobody to call
        ],
        {"default_owner": "service", "due_hours": 24},
    )
    opened = F.open_followups(ws.warehouse, ws.journey, NOW)
    assert (opened.opened, opened.held_out) == (2, 0)
    rows = stored(ws)
    assert set(rows) == {"r1", "r2"}
    assert rows["r1"].assignee == "logistics" and rows["r2"].assignee == "service"
    first = rows["r1"]
    assert first.status == "open" and first.rule == "detractor" and first.score == 3
    assert first.due_at == NOW + dt.timedelta(hours=24) and first.opened_at == NOW
    assert first.answered_at == NOW - dt.timedelta(days=1) and first.customer_id == "c1"
    assert first.followup_id.startswith("fu-")
    assert F.open_followups(ws.warehouse, ws.journey, NOW).opened == 0  # idempotent
    assert F.for_response(ws.warehouse, "r1") == first


def test_bad_experience_and_a_person_as_assignee(make_workspace):
    ws = workspace(
        make_workspace,
        [answer(1, 2, metric="csat"), answer(2, 3, metric="csat"), answer(3, 5)],
        {"bad_experience": ["csat"], "assign_to": "ann"},
    )
    F.open_followups(ws.warehouse, ws.journey, NOW)
    rows = stored(ws)
    assert set(rows) == {"r1", "r3"}
    assert rows["r1"].rule == "bad_experience" and rows["r3"].rule == "detractor"
    assert {f.assignee for f in rows.values()} == {"ann"}


def test_disabled_rules_open_nothing(make_workspace):
    ws = workspace(make_workspace, [answer(1, 0)], {"enabled": False})
    assert F.open_followups(ws.warehouse, ws.journey, NOW).opened == 0


def test_opening_many_answers_in_the_engine_opens_each_once(make_workspace):
    ws = workspace(make_workspace, [answer(0, 3)], {"within_days": 60})
    # 200,000 answers, made in the engine; how long opening takes is for a benchmark to say
    ws.warehouse.sql(
        "INSERT INTO feedback (response_id, customer_id, ts, metric, score) "
        "SELECT 'm' || i, 'k' || (i % 50000), TIMESTAMPTZ '2025-02-01' + i * INTERVAL 1 SECOND, "
        "'nps', CAST(i % 11 AS DOUBLE) FROM range(200000) AS t(i)"
    )
    first = F.open_followups(ws.warehouse, ws.journey, NOW)
    assert F.open_followups(ws.warehouse, ws.journey, NOW).opened == 0
    assert first.opened == 1 + sum(1 for i in range(200_000) if i % 11 <= 6)


# -- hold-out ---------------------------------------------------------------------------------
def test_the_engine_draws_the_hold_out_as_python_does(make_workspace):
    rows = [answer(i, i % 7) for i in range(400)]
    ws = workspace(make_workspace, rows, {"holdout_share": 0.3, "holdout_key": "k1"})
    opened = F.open_followups(ws.warehouse, ws.journey, NOW)
    rules = rules_of(ws.journey)
    found = stored(ws)
    assert all(f.held_out == rules.is_held_out(rid) for rid, f in found.items())
    assert opened.held_out == sum(f.held_out for f in found.values()) > 0
    held = [f for f in found.values() if f.held_out]
    assert all(f.assignee is None and f.due_at is None for f in held)


@settings(max_examples=30, deadline=None)
@given(share=st.floats(0.05, 0.6), key=st.text(min_size=1, max_size=10))
def test_held_out_share_is_close_to_the_setting(share, key):
    n = 4000
    drawn = sum(holdout_draw(key, f"resp-{i}") < share for i in range(n))
    sigma = (share * (1 - share) / n) ** 0.5
    assert abs(drawn / n - share) < 5 * sigma


# -- escalation -------------------------------------------------------------------------------
def test_overdue_follow_ups_escalate_once(make_workspace):
    ws = workspace(
        make_workspace, [answer(1, 3), answer(2, 4)],
        {"due_hours": 10, "escalate_after_hours": 5, "escalate_to": "lead"},
    )  # fmt: skip
    F.open_followups(ws.warehouse, ws.journey, NOW)
    F.update(ws.warehouse, stored(ws)["r2"].followup_id, actor="ann", status="done",
             outcome="resolved", now=NOW)  # fmt: skip
    later = NOW + dt.timedelta(hours=14)
    assert F.escalate_overdue(ws.warehouse, ws.journey, later) == 0  # overdue, not yet 5 h
    assert F.list_followups(ws.warehouse, overdue=True, now=later).total == 1
    much_later = NOW + dt.timedelta(hours=16)
    assert F.escalate_overdue(ws.warehouse, ws.journey, much_later) == 1
    assert F.escalate_overdue(ws.warehouse, ws.journey, much_later) == 0
    row = stored(ws)["r1"]
    assert row.assignee == "lead" and row.escalated_at == much_later
    log = [(c.field, c.old, c.new) for c in F.changes(ws.warehouse, row.followup_id)]
    assert ("assignee", None, "lead") in log
    assert F.list_followups(ws.warehouse, now=much_later).counts["escalated"] == 1


# -- working a follow-up ----------------------------------------------------------------------
@pytest.fixture
def one(make_workspace):
    ws = workspace(make_workspace, [answer(1, 2, touchpoint="delivery"), answer(2, 1)],
                   {"holdout_share": 0.0})  # fmt: skip
    F.open_followups(ws.warehouse, ws.journey, NOW)
    return ws, stored(ws)["r1"].followup_id


def test_done_needs_an_outcome(one):
    ws, followup_id = one
    with pytest.raises(F.FollowupError) as caught:
        F.update(ws.warehouse, followup_id, actor="ann", status="done")
    assert "outcome" in str(caught.value) and "uitkomst" in text_of(caught.value, "nl")
    assert F.get(ws.warehouse, followup_id).status == "open"
    done = F.update(ws.warehouse, followup_id, actor="ann", status="done", outcome="apologised",
                    root_cause=" parcel late ", note="Called her, she accepted", now=NOW)  # fmt: skip
    assert done.status == "done" and done.closed_at == NOW and done.root_cause == "parcel late"
    assert done.updated_by == "ann"
    with pytest.raises(F.FollowupError):
        F.update(ws.warehouse, followup_id, actor="ann", outcome="")  # done without outcome
    with pytest.raises(F.FollowupError):
        F.update(ws.warehouse, followup_id, actor="ann", status="open")  # not from done
    reopened = F.update(ws.warehouse, followup_id, actor="bob", status="in_progress")
    assert reopened.closed_at is None and reopened.outcome == "apologised"
    fields = [(c.actor, c.field) for c in F.changes(ws.warehouse, followup_id)]
    assert ("ann", "status") in fields and ("ann", "note") in fields
    assert ("bob", "status") in fields and ("ann", "root_cause") in fields
    (note,) = F.notes(ws.warehouse, followup_id)
    assert note.text == "Called her, she accepted" and note.author == "ann"


@pytest.mark.parametrize(
    "change",
    [{"status": "closed"}, {"outcome": "ignored"}, {"note": "x" * (F.MAX_NOTE + 1)},
     {"root_cause": "a\x1b[31m"}],
)  # fmt: skip
def test_bad_changes_are_refused_and_change_nothing(one, change):
    ws, followup_id = one
    before = F.get(ws.warehouse, followup_id)
    with pytest.raises(F.FollowupError) as caught:
        F.update(ws.warehouse, followup_id, actor="ann", **change)
    assert text_of(caught.value, "en") != text_of(caught.value, "nl")
    assert F.get(ws.warehouse, followup_id) == before
    assert F.changes(ws.warehouse, followup_id) == []


def test_unknown_and_held_out_follow_ups_cannot_be_worked(make_workspace):
    ws = workspace(make_workspace, [answer(1, 2)], {"holdout_share": 0.9, "holdout_key": "x"})
    F.open_followups(ws.warehouse, ws.journey, NOW)
    with pytest.raises(LookupError):
        F.update(ws.warehouse, "fu-nope", actor="ann", status="done", outcome="called")
    row = stored(ws)["r1"]
    if not row.held_out:  # the draw for r1 under key "x": check it is held out
        pytest.fail("r1 should be held out with key 'x' and share 0.9")
    with pytest.raises(F.FollowupError) as caught:
        F.update(ws.warehouse, row.followup_id, actor="ann", status="in_progress")
    assert "held out" in str(caught.value)


MOVES = st.lists(
    st.tuples(
        st.sampled_from([None, *F.STATES, "bogus"]), st.sampled_from([None, "", *F.OUTCOMES])
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    ws = cxray.init(tmp_path_factory.mktemp("machine") / "ws")
    frame = _frame_for(schema.FEEDBACK, [answer(1, 0)])
    ws.warehouse.backend.insert("feedback", ibis.memtable(frame, schema=schema.FEEDBACK.schema))
    F.open_followups(ws.warehouse, ws.journey, NOW)
    yield ws
    ws.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=MOVES)
def test_the_state_machine_never_reaches_done_without_an_outcome(machine, moves):
    ws = machine
    ws.warehouse.sql(f"UPDATE {F.TABLE} SET status = 'open', outcome = NULL, closed_at = NULL")
    (followup_id,) = [r[0] for r in ws.warehouse.query(f"SELECT followup_id FROM {F.TABLE}")]
    for status, outcome in moves:
        before = F.get(ws.warehouse, followup_id)
        try:
            after = F.update(ws.warehouse, followup_id, actor="p", status=status, outcome=outcome)
        except F.FollowupError:
            assert F.get(ws.warehouse, followup_id) == before  # a refusal changes nothing
            continue
        assert after.status in F.STATES
        assert after.status != "done" or after.outcome in F.OUTCOMES
        assert (after.closed_at is not None) == (after.status == "done")
        if after.status != before.status:
            assert after.status in F.TRANSITIONS[before.status]


FEEDBACK_ROWS = st.lists(
    st.tuples(st.sampled_from(["nps", "csat", "ces"]), st.integers(0, 10), st.integers(-3, 30)),
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=FEEDBACK_ROWS, bad=st.booleans())
def test_opening_is_idempotent_and_opens_exactly_the_qualifying_answers(machine, rows, bad):
    ws = machine
    for table in (F.TABLE, "feedback"):
        ws.warehouse.sql(f"DELETE FROM {table}")
    data = [answer(i, float(s), metric=m, days_ago=d) for i, (m, s, d) in enumerate(rows)]
    if data:
        frame = _frame_for(schema.FEEDBACK, data)
        ws.warehouse.backend.insert("feedback", ibis.memtable(frame, schema=schema.FEEDBACK.schema))
    journey = from_dict({"journey": {"phases": ["a"]}, "followups": {"bad_experience": bad}})
    limits = rules_of(journey).thresholds(journey)
    expected = {
        f"r{i}" for i, (m, s, d) in enumerate(rows)
        if m in limits and s <= limits[m] and 0 <= d <= 14
    }  # fmt: skip
    first = F.open_followups(ws.warehouse, journey, NOW)
    second = F.open_followups(ws.warehouse, journey, NOW)
    found = {r[0] for r in ws.warehouse.query(f"SELECT response_id FROM {F.TABLE}")}
    assert found == expected and first.opened == len(expected) and second.opened == 0


# -- the customer's timeline ------------------------------------------------------------------
def test_timeline_items_have_the_timelines_fields(one):
    ws, followup_id = one
    F.update(ws.warehouse, followup_id, actor="ann", note="Left a voicemail", now=NOW)
    items = F.timeline_items(ws.warehouse, "c1", ws.journey)
    (item,) = items
    timeline_fields = {"kind", "ts", "touchpoint", "phase", "channel", "bad", "churn",
                       "item_id", "details"}  # fmt: skip
    assert set(item) == timeline_fields
    assert item["kind"] == "followup" and item["item_id"] == followup_id
    assert item["touchpoint"] == "delivery" and item["phase"] == "loyalty"
    assert item["ts"] == NOW and item["details"]["status"] == "open"
    assert item["details"]["notes"][0]["text"] == "Left a voicemail"
    assert F.timeline_items(ws.warehouse, "nobody") == []
    assert "Follow-up: open" in F.describe_item(item, "en")
    assert "Opvolging: open" in F.describe_item(item, "nl")


def test_timeline_items_match_the_timelines_shape(one):
    """The same keys and kinds of values as customer_timeline's items, so they can merge."""
    try:  # the timeline moved to its own module; either place will do
        from cxray.analysis.timeline import customer_timeline
    except ImportError:
        from cxray.analysis.customers import customer_timeline

    ws, _ = one
    (theirs,) = customer_timeline(ws, "c1").to_dict()["items"]
    (mine,) = F.timeline_items(ws.warehouse, "c1", ws.journey)
    assert set(mine) == set(theirs)
    assert isinstance(mine["details"], dict) and isinstance(mine["bad"], bool)


def test_held_out_follow_ups_stay_off_the_timeline(make_workspace):
    ws = workspace(make_workspace, [answer(1, 2)], {"holdout_share": 0.9, "holdout_key": "x"})
    F.open_followups(ws.warehouse, ws.journey, NOW)
    assert F.timeline_items(ws.warehouse, "c1") == []
    assert len(F.timeline_items(ws.warehouse, "c1", include_held_out=True)) == 1
