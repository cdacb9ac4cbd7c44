"""The plain-SQL lifetime counts (status, churn check) say what the Ibis definition says.

`lifetime_counts` restates `customer_lifetimes` in SQL so that `cxray status` need not load Ibis;
here both count the same customers, rule for rule, on data that exercises each rule.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from cxray.analysis._common import count_true
from cxray.analysis.churn_rules import churn_check
from cxray.analysis.lifetimes import (
    customer_lifetimes,
    data_end,
    data_start,
    lifetime_counts,
    observed_until,
)

EVENTS = [
    # a: comes back often, still active at the end
    *({"customer_id": "a", "ts": f"2024-{m:02d}-03", "touchpoint": "order"} for m in range(1, 13)),
    # b: cancels early
    {"customer_id": "b", "ts": "2024-01-10", "touchpoint": "order"},
    {"customer_id": "b", "ts": "2024-02-10", "touchpoint": "cancel"},
    # c: cancels in the last weeks (after the observation window of a 60-day rule)
    {"customer_id": "c", "ts": "2024-03-01", "touchpoint": "order"},
    {"customer_id": "c", "ts": "2024-12-01", "touchpoint": "cancel"},
    # d: one visit long ago (inactive)
    {"customer_id": "d", "ts": "2024-02-01", "touchpoint": "order"},
    # e: starts in the last month (too new to judge by a 60-day rule)
    {"customer_id": "e", "ts": "2024-12-20", "touchpoint": "order"},
    # f: activity after a cancellation, and a name with a quote in it
    {"customer_id": "f'o", "ts": "2024-04-01", "touchpoint": "cancel"},
    {"customer_id": "f'o", "ts": "2024-05-01", "touchpoint": "order"},
]
CUSTOMERS = [
    {"customer_id": "a", "first_seen": "2023-12-01"},
    # g: lifetime data only (a CRM export): left, and known until a date
    {"customer_id": "g", "first_seen": "2024-01-01", "churned_at": "2024-06-01"},
    {"customer_id": "h", "first_seen": "2024-02-01", "last_seen": "2024-12-15"},
    {"customer_id": "i"},  # nothing known but the id
]
FEEDBACK = [{"customer_id": "a", "ts": "2024-12-31", "metric": "nps", "score": 9}]

RULES = {
    "cancel and inactivity": {"touchpoints": ["cancel"], "inactive_days": 60},
    "cancel, a touchpoint never seen": {"touchpoints": ["cancel", "it's never there"]},
    "inactivity only": {"touchpoints": [], "inactive_days": 30},
    "inactivity longer than the data": {"touchpoints": ["cancel"], "inactive_days": 900},
    "no rule": {"touchpoints": []},
}


def ibis_counts(ws) -> dict[str, int]:
    """The same counts as churn_check made them from the Ibis expression."""
    end = data_end(ws)
    until = observed_until(ws, end)
    life = customer_lifetimes(ws, end)
    until_lit = ibis.literal(until, type="timestamp('UTC')") if until else None
    after = (life.left_ts > until_lit) if until_lit is not None else ibis.literal(False)
    row = (
        life.aggregate(
            customers=life.count(),
            explicit=count_true(life.left & life.explicit),
            explicit_after=count_true(life.left & life.explicit & after),
            inactivity=count_true(life.left & ~life.explicit),
            too_new=count_true(life.too_new),
        )
        .execute()
        .iloc[0]
    )
    return {key: int(value or 0) for key, value in row.items()}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_sql_counts_equal_the_ibis_definition(make_workspace, rule) -> None:
    ws = make_workspace(
        events=EVENTS, customers=CUSTOMERS, feedback=FEEDBACK, journey={"churn": RULES[rule]}
    )
    expected = ibis_counts(ws)
    assert lifetime_counts(ws) == expected
    assert expected["customers"] == 9  # every rule sees every customer, events or not


def test_each_rule_is_exercised(make_workspace) -> None:
    ws = make_workspace(
        events=EVENTS,
        customers=CUSTOMERS,
        feedback=FEEDBACK,
        journey={"churn": RULES["cancel and inactivity"]},
    )
    counts = lifetime_counts(ws)
    # the data end on 2024-12-31, so the window closes on 2024-11-01
    assert counts["explicit"] == 4  # b, c and f'o cancel; g has churned_at
    assert counts["explicit_after"] == 1  # c, in December
    assert counts["inactivity"] == 1  # d; h was seen in December, i never active
    assert counts["too_new"] == 1  # e


def test_data_end_and_start_equal_the_engine(make_workspace) -> None:
    ws = make_workspace(events=EVENTS, customers=CUSTOMERS, feedback=FEEDBACK)
    ends = [
        ws.events.ts.max().execute(),
        ws.feedback.ts.max().execute(),
        ws.customers.last_seen.max().execute(),
        ws.customers.churned_at.max().execute(),
    ]
    starts = [ws.events.ts.min().execute(), ws.customers.first_seen.min().execute()]
    assert data_end(ws) == max(ends).to_pydatetime()
    assert data_start(ws) == min(starts).to_pydatetime()
    assert data_end(ws).tzinfo == dt.UTC


def test_an_empty_workspace_has_no_span_and_counts_nothing(make_workspace) -> None:
    ws = make_workspace(journey={"churn": RULES["cancel and inactivity"]})
    assert data_end(ws) is None and data_start(ws) is None
    assert (
        lifetime_counts(ws)
        == ibis_counts(ws)
        == dict.fromkeys(("customers", "explicit", "explicit_after", "inactivity", "too_new"), 0)
    )
    check = churn_check(ws)
    assert check.customers == 0 and check.span_days is None


def test_churn_check_reads_an_unseen_churn_touchpoint_with_a_quote(make_workspace) -> None:
    ws = make_workspace(
        events=EVENTS,
        customers=CUSTOMERS,
        journey={"churn": RULES["cancel, a touchpoint never seen"]},
    )
    check = churn_check(ws)
    assert check.churn_touchpoints_unseen == ["it's never there"]
    assert check.has_lifetime_data


def test_the_gap_profile_counts_visit_days(make_workspace) -> None:
    events = [
        # x: three visits 10 days apart, twice on the first day
        {"customer_id": "x", "ts": "2024-01-01 09:00", "touchpoint": "visit"},
        {"customer_id": "x", "ts": "2024-01-01 17:00", "touchpoint": "visit"},
        {"customer_id": "x", "ts": "2024-01-11 00:00", "touchpoint": "visit"},
        {"customer_id": "x", "ts": "2024-01-21 00:00", "touchpoint": "visit"},
        {"customer_id": "y", "ts": "2024-01-05 00:00", "touchpoint": "visit"},  # one day only
    ]
    ws = make_workspace(events=events, journey={"churn": RULES["no rule"]})
    check = churn_check(ws)  # no rule: the suggestion needs the profile
    assert check.single_visit_share == pytest.approx(0.5)
    assert check.gap_days_p90 == pytest.approx(10.0)
