"""Advocacy asks: the [advocacy] settings, the plan (who and why not), no review gating,
never before min_days, never twice within every_days, opt-outs, bounces, mails queued once,
the results recorded and the scheduler's job."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxray.actions import advocacy as A
from cxray.actions import bounces, jobs, outbox
from cxray.i18n import text_of
from cxray.journey import from_dict
from cxray.warehouse import literal

NOW = dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)
ADVOCACY = {
    "value_touchpoint": "first_success",
    "min_days": 30,
    "every_days": 90,
    "review_url": "https://reviews.example/acme",
    "referral_url": "https://acme.example/refer",
}


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture
def ws(make_workspace):
    return make_workspace(
        journey={"touchpoints": {"first_success": {"phase": "loyalty"}}, "advocacy": ADVOCACY}
    )


def add_customer(
    wh, cid: str, *, start: float = 200, value: float | None = 100, nps: float | None = None,
    email: str | None = "auto", language: str = "en", churned: bool = False,
) -> None:  # fmt: skip
    """A customer since ``start`` days, at the value moment ``value`` days ago, last NPS."""
    attributes = (
        {} if email is None else {"email": f"{cid}@example.com" if email == "auto" else email}
    )
    wh.sql(
        "INSERT INTO customers (customer_id, first_seen, churned_at, language, attributes) "
        f"VALUES (?, {literal(days_ago(start))}, {literal(days_ago(1) if churned else None)}, ?, ?)",
        [cid, language, json.dumps(attributes)],
    )
    if value is not None:
        wh.sql(
            "INSERT INTO events (event_id, customer_id, ts, touchpoint) "
            f"VALUES (?, ?, {literal(days_ago(value))}, 'first_success')",
            [f"e-{cid}", cid],
        )
    if nps is not None:
        wh.sql(
            "INSERT INTO feedback (response_id, customer_id, ts, metric, score) "
            f"VALUES (?, ?, {literal(days_ago(5))}, 'nps', ?)",
            [f"r-{cid}", cid, nps],
        )


def journey_with(advocacy: object):
    return from_dict({"journey": {"phases": ["a", "b"]}, "advocacy": advocacy})


# -- settings ---------------------------------------------------------------------------------
def test_settings_defaults_and_asks_follow_the_urls():
    s = A.read_settings(journey_with({"value_touchpoint": "x", "review_url": "https://r.example"}))
    assert s.asks == ("review",) and s.min_days == 30 and s.every_days == 180 and s.active
    assert s.referral_promoters_only and s.promoter_at_least == 9
    assert not A.read_settings(from_dict({"journey": {"phases": ["a"]}})).active


@pytest.mark.parametrize(
    "raw, key",
    [
        ({**ADVOCACY, "min_dayz": 3}, "min_dayz"),
        ({**ADVOCACY, "min_days": "30"}, "min_days"),
        ({**ADVOCACY, "every_days": -1}, "every_days"),
        ({**ADVOCACY, "review_url": "reviews.example"}, "review_url"),
        ({**ADVOCACY, "asks": ["review", "praise"]}, "asks"),
        ({"value_touchpoint": "x", "asks": ["referral"]}, "referral_url"),
        ({"min_days": 3}, "value_touchpoint"),
        ({**ADVOCACY, "referral_promoters_only": "yes"}, "referral_promoters_only"),
    ],
)
def test_wrong_settings_are_refused_with_the_key_named_in_both_languages(raw, key):
    with pytest.raises(A.AdvocacyError) as caught:
        A.read_settings(journey_with(raw))
    english, dutch = text_of(caught.value, "en"), text_of(caught.value, "nl")
    assert english.startswith("cxray.toml: [advocacy] ") and key in english
    assert key in dutch and english != dutch


# -- planning and asking ----------------------------------------------------------------------
def test_the_plan_says_who_and_why_not_and_stores_nothing(ws):
    wh = ws.warehouse
    add_customer(wh, "due", nps=3)
    add_customer(wh, "unreached", value=None)
    add_customer(wh, "new", start=10, value=5)
    add_customer(wh, "gone", churned=True)
    add_customer(wh, "silent", email=None)
    add_customer(wh, "bad", email="not-an-address")
    add_customer(wh, "later", value=-3)  # the value moment lies after now
    plan = A.plan_asks(wh, ws.journey, NOW)
    assert [d.customer_id for d in plan.due] == ["due"] and plan.due[0].kind == "review"
    assert plan.counts["not_reached"] == 2 and plan.samples["not_reached"] == ["later", "unreached"]
    assert plan.counts["too_new"] == 1 and plan.counts["left"] == 1
    assert plan.counts["no_address"] == 2
    assert not A.table_exists(wh, A.TABLE) and not outbox.has_table(wh)  # a dry run
    assert "Due to ask: 1 review" in plan.summary("en") and "Te vragen" in plan.summary("nl")


def test_review_asks_go_to_detractors_and_passives_too(ws):
    """No review gating: every customer at the value moment is asked for a review."""
    wh = ws.warehouse
    for cid, score in (("detractor", 2), ("passive", 7), ("promoter", 10), ("silent", None)):
        add_customer(wh, cid, nps=score)
    done = A.make_asks(wh, ws.journey, NOW)
    asks = {a.customer_id: a for a in A.list_asks(wh)}
    assert set(asks) == {"detractor", "passive", "promoter", "silent"}
    assert {a.kind for a in asks.values()} == {"review"} and done.asked == {"review": 4}
    # after every_days: the promoter is asked for a referral, the others for a review again
    later = NOW + dt.timedelta(days=91)
    A.make_asks(wh, ws.journey, later)
    second = {a.customer_id: a.kind for a in A.list_asks(wh) if a.asked_at == later}
    assert second == {"detractor": "review", "passive": "review", "promoter": "referral",
                      "silent": "review"}  # fmt: skip


def test_referral_only_goes_to_promoters_when_limited(make_workspace):
    ws = make_workspace(journey={"advocacy": {**ADVOCACY, "asks": ["referral"]}})
    for cid, score in (("detractor", 2), ("passive", 8), ("promoter", 9), ("silent", None)):
        add_customer(ws.warehouse, cid, nps=score)
    plan = A.plan_asks(ws.warehouse, ws.journey, NOW)
    assert [(d.customer_id, d.kind) for d in plan.due] == [("promoter", "referral")]
    assert plan.counts["not_promoter"] == 3


def test_mails_are_queued_once_with_the_url_in_the_customers_language(ws):
    wh = ws.warehouse
    add_customer(wh, "ann", language="nl")
    add_customer(wh, "bob")
    A.make_asks(wh, ws.journey, NOW)
    A.make_asks(wh, ws.journey, NOW)  # the same run again: nothing twice
    A.make_asks(wh, ws.journey, NOW + dt.timedelta(days=30))  # within every_days
    mails = outbox.latest(wh, 10)
    assert len(mails) == 2 and {m.kind for m in mails} == {"advocacy-review"}
    asks = {a.customer_id: a for a in A.list_asks(wh)}
    by_ref = {m.ref: m for m in mails}
    assert set(by_ref) == {a.ask_id for a in asks.values()}
    ann = outbox.get(wh, asks["ann"].message_id)
    assert ann.recipient == "ann@example.com" and "review" in ann.subject.lower()
    assert "https://reviews.example/acme" in ann.text and "Hallo" in ann.text
    assert "Hello" in by_ref[asks["bob"].ask_id].text and asks["ann"].channel == "email"


def test_opted_out_and_bounced_customers_are_not_asked(ws):
    wh = ws.warehouse
    add_customer(wh, "out")
    add_customer(wh, "gone")
    add_customer(wh, "fine")
    wh.sql("CREATE TABLE cxray_survey_optouts (customer_id VARCHAR, opted_out_at TIMESTAMPTZ, "
           "invitation_id VARCHAR)")  # fmt: skip
    wh.sql(f"INSERT INTO cxray_survey_optouts VALUES ('out', {literal(days_ago(3))}, NULL)")
    bounces.record(wh, "gone@example.com", days_ago(2), "m1", 550, "no such user")
    done = A.make_asks(wh, ws.journey, NOW)
    assert done.plan.counts["opted_out"] == 1 and done.skipped_bounced == 1
    assert [a.customer_id for a in A.list_asks(wh)] == ["fine"]
    assert "onbestelbaar" in done.summary("nl")


def test_results_are_recorded(ws):
    add_customer(ws.warehouse, "ann")
    A.make_asks(ws.warehouse, ws.journey, NOW)
    (ask,) = A.list_asks(ws.warehouse)
    assert ask.result == "none" and ask.result_at is None
    after = A.record_result(ws.warehouse, ask.ask_id, "reviewed", actor="ann", now=NOW)
    assert after.result == "reviewed" and after.result_at == NOW and after.result_by == "ann"
    assert A.list_asks(ws.warehouse, result="reviewed") == [after]
    with pytest.raises(A.AdvocacyError) as caught:
        A.record_result(ws.warehouse, ask.ask_id, "loved")
    assert "resultaat" in text_of(caught.value, "nl")
    with pytest.raises(A.AdvocacyError):
        A.record_result(ws.warehouse, "ask-nope", "clicked")


def test_the_job_is_registered_and_asks(ws):
    add_customer(ws.warehouse, "ann")
    assert "advocacy-asks" in {j.name for j in jobs.registered()}
    (run,) = jobs.run_all(ws.warehouse, ws.journey, NOW, only={"advocacy-asks"})
    assert run.ok and "Asked: 1 review" in run.result.en and "Gevraagd" in run.result.nl


# -- the rules hold for any customers and any schedule of runs ---------------------------------
customers = st.lists(
    st.tuples(
        st.integers(0, 400),  # days as a customer before NOW
        st.one_of(st.none(), st.integers(-20, 400)),  # the value moment, days before NOW
        st.one_of(st.none(), st.integers(0, 10)),  # latest NPS
    ),
    min_size=1,
    max_size=8,
)
runs = st.lists(st.integers(0, 300), min_size=1, max_size=6, unique=True)  # days after NOW


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=customers, days=runs)
def test_asks_never_come_early_never_twice_in_a_period_and_reviews_are_not_gated(ws, people, days):
    wh = ws.warehouse
    for table in ("customers", "events", "feedback", A.TABLE, outbox.OUTBOX_TABLE):
        wh.sql(f"DELETE FROM {table}") if A.table_exists(wh, table) else None
    for i, (start, value, score) in enumerate(people):
        add_customer(wh, f"c{i}", start=start, value=value, nps=score)
    moments = [NOW + dt.timedelta(days=d) for d in sorted(days)]
    for moment in moments:
        plan = A.make_asks(wh, ws.journey, moment).plan
        # not gated: every customer due is asked for a review first, whatever their score
        for due in plan.due:
            earlier = A.list_asks(wh, customer_id=due.customer_id, kind="review")
            assert any(a.asked_at == moment for a in earlier) or due.kind == "referral"
    asks = A.list_asks(wh, limit=1000)
    for i, (start, value, _score) in enumerate(people):
        mine = sorted(a.asked_at for a in asks if a.customer_id == f"c{i}")
        for at in mine:
            assert at - days_ago(start) >= dt.timedelta(days=30)  # never before min_days
            assert value is not None and days_ago(value) <= at  # only after the value moment
        for a, b in itertools.pairwise(mine):
            assert b - a >= dt.timedelta(days=90)  # never twice within every_days
        first = [a for a in asks if a.customer_id == f"c{i}"]
        if first:
            assert min(first, key=lambda a: a.asked_at).kind == "review"
        # everyone eligible at some run was asked at the first run they were eligible
        eligible = [m for m in moments if value is not None and days_ago(value) <= m
                    and m - days_ago(start) >= dt.timedelta(days=30)]  # fmt: skip
        if eligible:
            assert mine and mine[0] == eligible[0]
    assert len(outbox.latest(wh, 1000)) == len(asks)


def test_the_address_is_read_from_the_surveys_email_key(make_workspace):
    ws = make_workspace(journey={"surveys": {"email": "contact"}, "advocacy": ADVOCACY})
    assert A.read_settings(ws.journey).email == "contact"
    add_customer(ws.warehouse, "ann", email=None)
    ws.warehouse.sql("""UPDATE customers SET attributes = '{"contact": "ann@example.org"}'""")
    (due,) = A.plan_asks(ws.warehouse, ws.journey, NOW).due
    assert due.email == "ann@example.org"
