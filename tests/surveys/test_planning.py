"""Planning rules on small hand-made workspaces: due, not yet, fatigue, opt-out, no address..."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxray.surveys import answers, create_invitations, plan_invitations, store, tokens
from cxray.surveys.planning import months_before
from tests.surveys.helpers import NOW, SURVEYS, build, days_ago

KEY = bytes(32)


def delivery(customer: str, days: float, event_id: str | None = None) -> dict:
    row = {"customer_id": customer, "touchpoint": "delivery", "ts": days_ago(days)}
    if event_id:
        row["event_id"] = event_id
    return row


def reasons_of(plan, survey="after_delivery"):
    return {reason: n for reason, n in plan.counts[survey].items() if n}


@pytest.fixture
def ws(tmp_path):
    opened = []

    def make(customers, events, toml=SURVEYS):
        opened.append(build(tmp_path / f"ws{len(opened)}", customers, events, toml))
        return opened[-1]

    yield make
    for workspace in opened:
        workspace.close()


def test_a_customer_is_due_once_the_delay_has_passed(ws):
    w = ws(
        [{"customer_id": "ann", "email": "ann@example.com", "language": "nl-NL"},
         {"customer_id": "bob", "email": "bob@example.com"}],
        [delivery("ann", 3, "e-ann"), delivery("bob", 1, "e-bob")],
    )  # fmt: skip
    plan = plan_invitations(w.warehouse, w.journey, NOW)
    assert [(d.customer_id, d.event_id, d.language) for d in plan.due] == [("ann", "e-ann", "nl")]
    assert reasons_of(plan) == {"not_due": 1}
    assert plan.samples["after_delivery"]["not_due"] == ["bob"]
    assert plan.due_counts == {"after_delivery": 1}
    # a plan stores nothing
    assert not store.has_tables(w.warehouse)


def test_no_address_unknown_customer_and_a_bad_address_are_not_invited(ws):
    w = ws(
        [{"customer_id": "ann"}, {"customer_id": "bob", "email": "not an address"},
         {"customer_id": "cy", "email": "  cy@example.com "}],
        [delivery("ann", 3), delivery("bob", 3), delivery("ghost", 3), delivery("cy", 3)],
    )  # fmt: skip
    plan = plan_invitations(w.warehouse, w.journey, NOW)
    assert [(d.customer_id, d.email) for d in plan.due] == [("cy", "cy@example.com")]
    assert reasons_of(plan) == {"no_address": 3}


def test_events_older_than_the_link_would_live_are_skipped(ws):
    w = ws([{"customer_id": "ann", "email": "a@example.com"}], [delivery("ann", 45)])
    assert reasons_of(plan_invitations(w.warehouse, w.journey, NOW)) == {"too_old": 1}


def test_one_invitation_per_event_and_fatigue_across_surveys(ws):
    toml = SURVEYS + '\n[surveys.after_order]\ntouchpoint = "order_placed"\nmetric = "ces"\n'
    w = ws(
        [{"customer_id": "ann", "email": "a@example.com"}],
        [delivery("ann", 3, "d1"),
         {"customer_id": "ann", "touchpoint": "order_placed", "ts": days_ago(4), "event_id": "o1"}],
        toml,
    )  # fmt: skip
    plan = plan_invitations(w.warehouse, w.journey, NOW)
    # one customer, two due events in two surveys: the latest event wins, the other waits
    assert [(d.survey, d.event_id) for d in plan.due] == [("after_delivery", "d1")]
    assert reasons_of(plan, "after_order") == {"one_per_customer": 1}
    create_invitations(w.warehouse, w.journey, KEY, NOW, plan=plan)
    again = plan_invitations(w.warehouse, w.journey, NOW + dt.timedelta(days=1))
    assert again.due == []
    assert reasons_of(again) == {"already_invited": 1}
    assert reasons_of(again, "after_order") == {"fatigue": 1}
    # after the fatigue window the other survey may ask (if its event is still recent enough)
    later = plan_invitations(w.warehouse, w.journey, NOW + dt.timedelta(days=31))
    assert reasons_of(later, "after_order") == {"too_old": 1}


def test_an_opted_out_customer_is_never_invited_again(ws):
    w = ws([{"customer_id": "ann", "email": "a@example.com"}], [delivery("ann", 3)])
    made = create_invitations(w.warehouse, w.journey, KEY, NOW)
    invitation = store.get_invitation(w.warehouse, made.invitations[0])
    assert answers.opt_out(w.warehouse, invitation, NOW)
    assert not answers.opt_out(w.warehouse, invitation, NOW)  # once is enough
    w.warehouse.sql(
        "INSERT INTO events (event_id, customer_id, ts, touchpoint) VALUES (?, ?, ?, ?)",
        ["d2", "ann", NOW + dt.timedelta(days=40), "delivery"],
    )
    plan = plan_invitations(w.warehouse, w.journey, NOW + dt.timedelta(days=43))
    assert plan.due == [] and reasons_of(plan)["opted_out"] == 1
    # the queued mail was cancelled with the opt-out
    assert w.warehouse.query("SELECT state FROM cxray_outbox") == [("cancelled",)]


def test_a_customer_who_left_is_not_asked(ws):
    w = ws(
        [{"customer_id": "ann", "email": "a@example.com"}, {"customer_id": "bob", "email": "b@example.com"}],
        [delivery("ann", 3), delivery("bob", 3),
         {"customer_id": "bob", "touchpoint": "cancelled", "ts": days_ago(2)}],
    )  # fmt: skip
    text = w.journey_path.read_text().replace("touchpoints = []", 'touchpoints = ["cancelled"]', 1)
    w.journey_path.write_text(text)
    w.reload_journey()
    w.warehouse.sql("UPDATE customers SET churned_at = ? WHERE customer_id = 'ann'", [days_ago(1)])
    plan = plan_invitations(w.warehouse, w.journey, NOW)
    assert plan.due == [] and reasons_of(plan) == {"left": 2}


def test_a_scheduled_survey_asks_every_n_months(ws):
    toml = SURVEYS + "\n[surveys.relationship]\nevery_months = 6\n"
    w = ws(
        [{"customer_id": "old", "email": "o@example.com", "first_seen": days_ago(400)},
         {"customer_id": "new", "email": "n@example.com", "first_seen": days_ago(5)}],
        [],
        toml,
    )  # fmt: skip
    plan = plan_invitations(w.warehouse, w.journey, NOW)
    assert [(d.survey, d.customer_id, d.event_id) for d in plan.due] == [
        ("relationship", "old", None)
    ]
    assert reasons_of(plan, "relationship") == {"not_due": 1}  # a customer for 5 days only
    create_invitations(w.warehouse, w.journey, KEY, NOW, plan=plan)
    soon = plan_invitations(w.warehouse, w.journey, NOW + dt.timedelta(days=100))
    assert reasons_of(soon, "relationship")["already_invited"] == 1
    later = plan_invitations(w.warehouse, w.journey, months_before(NOW, -7))
    assert {d.customer_id for d in later.due} == {"old", "new"}


def test_months_before_keeps_the_day_or_the_months_last():
    assert months_before(dt.datetime(2025, 3, 31, tzinfo=dt.UTC), 1).day == 28
    assert months_before(dt.datetime(2025, 1, 15, tzinfo=dt.UTC), 6).month == 7
    assert months_before(dt.datetime(2025, 1, 15, tzinfo=dt.UTC), 6).year == 2024


# -- the rules as properties: over any small history, never a rule broken ---------------------
CUSTOMER = st.fixed_dictionaries(
    {
        "email": st.sampled_from([None, "x@example.com", "bad"]),
        "opted_out": st.booleans(),
        "last_invited_days_ago": st.none() | st.floats(0, 90),
    }
)
HISTORY = st.lists(
    st.tuples(st.integers(0, 5), st.floats(0, 60)), max_size=12
)  # (customer index, days ago) of delivery events


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(CUSTOMER, min_size=6, max_size=6), HISTORY)
def test_the_rules_hold_for_any_history(tmp_path_factory, people, history):
    w = build(
        tmp_path_factory.mktemp("prop") / "ws",
        [{"customer_id": f"c{i}", **({"email": p["email"]} if p["email"] else {})}
         for i, p in enumerate(people)],
        [delivery(f"c{i}", days, f"e{n}") for n, (i, days) in enumerate(history)],
    )  # fmt: skip
    try:
        store.ensure_tables(w.warehouse)
        for i, person in enumerate(people):
            if person["opted_out"]:
                w.warehouse.sql(
                    "INSERT INTO cxray_survey_optouts VALUES (?, ?, NULL)", [f"c{i}", days_ago(99)]
                )
            if person["last_invited_days_ago"] is not None:
                w.warehouse.sql(
                    "INSERT INTO cxray_survey_invitations (invitation_id, survey, customer_id, "
                    "trigger_key, metric, language, created_at, expires_at) "
                    "VALUES (?, 'other', ?, 'k', 'nps', 'en', ?, ?)",
                    [tokens.new_invitation_id(), f"c{i}",
                     days_ago(person["last_invited_days_ago"]), NOW],
                )  # fmt: skip
        plan = plan_invitations(w.warehouse, w.journey, NOW)
        due_customers = [d.customer_id for d in plan.due]
        assert len(due_customers) == len(set(due_customers))  # one per customer
        for d in plan.due:
            person = people[int(d.customer_id[1:])]
            assert not person["opted_out"]
            assert person["email"] == "x@example.com"
            last = person["last_invited_days_ago"]
            assert last is None or last >= 30
            assert d.event_ts is not None and 2 <= (NOW - d.event_ts).total_seconds() / 86400 <= 30
        # every candidate event is either due or counted under one reason
        counted = sum(plan.counts["after_delivery"].values())
        assert counted + len(plan.due) == len(history)
        # inviting them all changes the next plan: none of them is due again
        create_invitations(w.warehouse, w.journey, KEY, NOW, plan=plan)
        again = plan_invitations(w.warehouse, w.journey, NOW)
        assert again.due == []
    finally:
        w.close()
