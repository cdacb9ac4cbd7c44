"""Finding customers and reading one customer's whole timeline, a page at a time."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxray
from cxray import customer_notes
from cxray.analysis.customer_lists import at_risk_list, onboarding_list, risk_of
from cxray.analysis.customers import (
    CustomerError,
    CustomerNotFound,
    find_customers,
    known_customer,
)
from cxray.analysis.onboarding import OnboardingResult
from cxray.analysis.risk import RiskResult
from cxray.analysis.timeline import customer_timeline, describe

JOURNEY = {
    "touchpoints": {
        "visit": {"phase": "awareness", "channel": "web"},
        "order": {"phase": "conversion", "channel": "web"},
        "late": {"phase": "loyalty", "bad_experience": True},
        "cancel": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancel"]},
}
CUSTOMERS = [
    {"customer_id": "c1", "first_seen": "2024-01-05", "segment": "Business", "value": 30.0,
     "attributes": json.dumps({"plan": "plus", "region": "north"})},
    {"customer_id": "C10", "first_seen": "2024-03-02", "segment": "consumer", "value": 10.0,
     "attributes": json.dumps({"plan": "basic"})},
    {"customer_id": "xc1y", "first_seen": "2024-03-20", "segment": "consumer", "value": 10.0,
     "attributes": json.dumps({"plan": "Plus"})},
    {"customer_id": "z9", "first_seen": "2024-02-01", "segment": "consumer"},
]  # fmt: skip
EVENTS = [
    {"event_id": "e1", "customer_id": "c1", "ts": "2024-01-05 10:00", "touchpoint": "visit"},
    {"event_id": "e2", "customer_id": "c1", "ts": "2024-01-06 10:00", "touchpoint": "order",
     "value": 59.85, "properties": json.dumps({"items": 2})},
    {"event_id": "e3", "customer_id": "c1", "ts": "2024-02-01 10:00", "touchpoint": "late"},
    {"event_id": "e4", "customer_id": "c1", "ts": "2024-03-01 10:00", "touchpoint": "cancel"},
    {"event_id": "e5", "customer_id": "C10", "ts": "2024-03-02 09:00", "touchpoint": "visit"},
    {"event_id": "e6", "customer_id": "ghost", "ts": "2024-03-03 09:00", "touchpoint": "visit"},
    {"event_id": "e7", "customer_id": "C10", "ts": "2024-04-01 09:00", "touchpoint": "order"},
]  # fmt: skip
FEEDBACK = [
    {"response_id": "r1", "customer_id": "c1", "ts": "2024-02-02 12:00", "metric": "nps",
     "score": 3, "comment": "parcel came a week late", "touchpoint": "late"},
    {"response_id": "r2", "customer_id": "c1", "ts": "2024-02-10 12:00", "metric": "text",
     "comment": "complaint ticket: refund asked"},
    {"response_id": "r3", "customer_id": "c1", "ts": "2024-01-07 12:00", "metric": "csat",
     "score": 5},
    {"response_id": "r4", "customer_id": "C10", "ts": "2024-03-05 12:00", "metric": "nps",
     "score": 9},
]  # fmt: skip


@pytest.fixture
def ws(make_workspace):
    return make_workspace(events=EVENTS, feedback=FEEDBACK, customers=CUSTOMERS, journey=JOURNEY)


def test_search_by_part_of_an_id_puts_the_exact_match_first(ws):
    found = find_customers(ws, "C1")
    assert found.how == "id"
    assert list(found.frame["customer_id"]) == ["c1", "C10", "xc1y"]
    assert found.total == 3
    assert found.frame.set_index("customer_id").loc["c1", "events"] == 4
    assert find_customers(ws, "c1", limit=1).total == 3
    assert len(find_customers(ws, "c1", limit=1).frame) == 1
    assert find_customers(ws, "nobody").total == 0
    assert "No customer matches" in find_customers(ws, "nobody").summary("en")
    assert "Geen klant" in find_customers(ws, "nobody").summary("nl")


def test_search_by_column_and_by_attribute(ws):
    assert set(find_customers(ws, "segment=business").frame["customer_id"]) == {"c1"}
    plus = find_customers(ws, "plan = PLUS")
    assert plus.how == "attribute"
    assert list(plus.frame["customer_id"]) == ["c1", "xc1y"]
    assert plus.frame["attributes"].iloc[0] == {"plan": "plus", "region": "north"}
    assert set(find_customers(ws, "value=10").frame["customer_id"]) == {"C10", "xc1y"}
    assert set(find_customers(ws, "first_seen=2024-03").frame["customer_id"]) == {"C10", "xc1y"}
    assert find_customers(ws, "").total == 4


def test_a_search_that_cannot_be_read_says_why(ws):
    with pytest.raises(CustomerError) as caught:
        find_customers(ws, "plna=plus")
    assert "plna" in str(caught.value)
    with pytest.raises(CustomerError):
        find_customers(ws, "value=lots")
    with pytest.raises(CustomerError):
        find_customers(ws, "c1", limit=0)


def test_the_timeline_has_every_item_in_time_order(ws):
    customer_notes.add_note(ws.warehouse, "c1", "Told sales she wants invoices by mail", "ann")
    timeline = customer_timeline(ws, "c1")
    assert timeline.counts == {"event": 4, "answer": 2, "comment": 1, "note": 1}
    items = timeline.frame
    assert len(items) == 8 == timeline.total
    stamps = list(items["ts"])
    assert stamps == sorted(stamps, reverse=True)
    assert items["kind"].iloc[0] == "note"  # written now, after everything in the data
    oldest = customer_timeline(ws, "c1", order="oldest").frame
    assert list(oldest["item_id"]) == list(items["item_id"])[::-1]
    by_id = items.set_index("item_id")
    assert by_id.loc["e3", "bad"] and by_id.loc["r1", "bad"] and not by_id.loc["r3", "bad"]
    assert by_id.loc["e4", "churn"] and not by_id.loc["e2", "churn"]
    assert by_id.loc["r2", "kind"] == "comment" and by_id.loc["r1", "kind"] == "answer"
    assert by_id.loc["e2", "phase"] == "conversion" and by_id.loc["r1", "phase"] == "loyalty"
    assert describe(by_id.loc["e2"].to_dict() | {"kind": "event"}) == "value: 59.85 · items: 2"
    assert timeline.customer["attributes"]["plan"] == "plus"
    assert timeline.status.left and timeline.status.explicit
    assert str(timeline.status.left_at)[:10] == "2024-03-01"
    assert "Cancelled on 2024-03-01" in timeline.summary("en")
    assert "Opgezegd op 2024-03-01" in timeline.summary("nl")
    json.dumps(timeline.to_dict())  # the JSON twin carries it as it is


def test_pages_cover_the_timeline_once(ws):
    seen = []
    offset = 0
    while offset is not None:
        page = customer_timeline(ws, "c1", limit=3, offset=offset)
        assert len(page.frame) <= 3
        seen.extend(page.frame["item_id"])
        offset = page.next_offset
    assert seen == list(customer_timeline(ws, "c1").frame["item_id"])
    assert customer_timeline(ws, "c1", limit=3, offset=3).previous_offset == 0
    with pytest.raises(CustomerError):
        customer_timeline(ws, "c1", offset=-1)
    with pytest.raises(CustomerError):
        customer_timeline(ws, "c1", order="sideways")


def test_unknown_and_event_only_customers(ws):
    with pytest.raises(CustomerNotFound):
        customer_timeline(ws, "nobody")
    assert not known_customer(ws, "nobody")
    ghost = customer_timeline(ws, "ghost")  # in the events, not in the customers table
    assert ghost.customer is None and ghost.counts["event"] == 1
    assert known_customer(ws, "ghost")
    assert not customer_timeline(ws, "C10").status.left


def test_lists_select_from_the_results():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "probability": [0.2, 0.9, 0.5, 0.05],
            "band": ["medium", "high", "high", "low"],
            "reasons": ["r"] * 4,
            "reasons_nl": ["r"] * 4,
            "reason_keys": [""] * 4,
        }
    )
    risk = RiskResult(frame, base_rate=0.1)
    top = at_risk_list(risk, top=2)
    assert list(top.frame["customer_id"]) == ["b", "c"]
    assert (top.total, top.matching) == (4, 4)
    assert list(at_risk_list(risk, top=5, band="medium").frame["customer_id"]) == ["a"]
    with pytest.raises(CustomerError):
        at_risk_list(risk, band="purple")
    assert risk_of(risk, "c")["probability"] == 0.5 and risk_of(risk, "zz") is None
    new = pd.DataFrame({"customer_id": ["a", "b", "c"], "late": [True, False, True]})
    tracker = OnboardingResult(new, pd.DataFrame())
    assert onboarding_list(tracker, late_only=True).matching == 2
    assert len(onboarding_list(tracker, top=1).frame) == 1


@settings(max_examples=60, deadline=None)
@given(
    probabilities=st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]), min_size=1, max_size=40),
    top=st.integers(1, 45),
)
def test_the_at_risk_list_is_the_top_of_the_whole_list_sorted(probabilities, top):
    ids = [f"c{i:02d}" for i in range(len(probabilities))][::-1]  # ties broken by id
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "probability": probabilities,
            "band": ["high"] * len(ids),
            "reasons": ["r"] * len(ids),
            "reasons_nl": ["r"] * len(ids),
            "reason_keys": [""] * len(ids),
        }
    )
    expected = frame.sort_values(["probability", "customer_id"], ascending=[False, True])
    chosen = at_risk_list(RiskResult(frame, base_rate=0.1), top=top).frame
    assert list(chosen["customer_id"]) == list(expected["customer_id"].head(top))
    assert risk_of(RiskResult(frame, base_rate=0.1), ids[-1])["customer_id"] == ids[-1]


@pytest.mark.parametrize("key", ["it's", 'say "hi"', "a/b", "~tilde", "Klant type"])
def test_an_attribute_with_any_key_can_be_searched(tmp_path, key):
    ws = cxray.init(tmp_path / "ws")
    attributes = json.dumps({key: "Gold", "other": "x"})
    ws.warehouse.sql(
        "INSERT INTO customers (customer_id, attributes) VALUES ('a', ?), ('b', '{}')", [attributes]
    )
    found = find_customers(ws, f"{key}=gold")
    assert list(found.frame["customer_id"]) == ["a"]
    with pytest.raises(CustomerError):
        find_customers(ws, "bad\x00key=1")
    ws.close()
