"""The flows page and its JSON twin on the demo company: every number recounted with pandas
from the demo's own tables (churn by the documented rule, re-implemented here), and equal to
what the Workspace API answers."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.analysis.flows import END, START, flows

UNASSIGNED = "unassigned"


# -- independent recounts -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables(app):
    """The demo's events, feedback and customers as pandas, and its journey."""
    with app.state.host.workspace() as ws:
        events = ws.events.select("customer_id", "ts", "touchpoint", "event_id").execute()
        feedback = ws.feedback.select("customer_id", "ts").execute()
        customers = ws.customers.execute()
        journey = ws.journey
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    events = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"], kind="stable")
    return {"events": events, "feedback": feedback, "customers": customers, "journey": journey}


def fates(tables) -> pd.DataFrame:
    """churned / too_new per customer by the rule of docs/journey.md, written out in pandas."""
    events, journey, customers = tables["events"], tables["journey"], tables["customers"]
    rule = journey.churn
    ends = [events.ts.max(), pd.to_datetime(tables["feedback"].ts, utc=True).max()]
    for column in ("last_seen", "churned_at"):
        if customers[column].notna().any():
            ends.append(pd.to_datetime(customers[column], utc=True).max())
    end = max(ends)
    first_seen = pd.to_datetime(customers.set_index("customer_id").first_seen, utc=True)
    start_of_data = min(events.ts.min(), first_seen.min())
    until = end
    if rule.inactive_days and end - dt.timedelta(days=rule.inactive_days) > start_of_data:
        until = end - dt.timedelta(days=rule.inactive_days)
    leaving = events.touchpoint.isin(rule.touchpoints)
    per = pd.DataFrame(
        {
            "first": events.groupby("customer_id").ts.min(),
            "explicit": events[leaving].groupby("customer_id").ts.min(),
            "last": events[~leaving].groupby("customer_id").ts.max(),
        }
    )
    per = per.join(first_seen.rename("first_seen"), how="outer")
    start = per[["first", "first_seen"]].min(axis=1)
    lapsed = per["last"].where(per["last"] <= until) if until < end else pd.NaT
    left_ts = per["explicit"].fillna(lapsed) if until < end else per["explicit"]
    churned = left_ts.notna() & (left_ts <= until)
    return pd.DataFrame({"churned": churned, "too_new": start > until})


def group_events(tables, who: str) -> pd.DataFrame:
    events = tables["events"]
    if who == "all":
        return events
    fate = fates(tables)
    wanted = fate.churned if who == "churned" else ~fate.churned & ~fate.too_new
    return events[events.customer_id.isin(fate.index[wanted])]


def phase_moves(events: pd.DataFrame, journey) -> Counter:
    """(from, to) phase moves, consecutive events in one phase merged, with START and END."""
    phase = events.touchpoint.map(lambda tp: journey.touchpoints[tp].phase
                                  if tp in journey.touchpoints else UNASSIGNED)  # fmt: skip
    moves: Counter = Counter()
    for _, phases in phase.groupby(events.customer_id, sort=False):
        path = [p for i, p in enumerate(phases) if i == 0 or p != phases.iloc[i - 1]]
        path = [START, *path, END]
        moves.update(itertools.pairwise(path))
    return moves


def steps(events: pd.DataFrame) -> pd.Series:
    """How often each touchpoint is directly followed by another (same customer)."""
    following = events.groupby("customer_id").touchpoint.shift(-1)
    pairs = pd.DataFrame({"source": events.touchpoint, "target": following}).dropna()
    return pairs.value_counts()


def paths(events: pd.DataFrame) -> pd.Series:
    return events.groupby("customer_id").touchpoint.agg(tuple).value_counts()


def figure_of(html: str, div_id: str) -> dict:
    found = re.search(
        rf'class="chart-spec" data-for="{div_id}">(.*?)</script>', html, flags=re.DOTALL
    )
    assert found, f"no chart {div_id}"
    return json.loads(found.group(1))["wide"]


def values(array) -> np.ndarray:
    """A Plotly array, plain or as typed base64 data."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


# -- the page -------------------------------------------------------------------------------
def test_json_equals_the_workspace_api(analyst, app):
    data = analyst.get("/flows.json").json()
    with app.state.host.workspace() as ws:
        expected = ws.flows(top_variants=10)
    assert data["flows"]["customers"] == expected.customers
    assert data["flows"]["events"] == expected.events
    assert [row["customers"] for row in data["flows"]["variants"]] == list(
        expected.variants.customers
    )
    assert data["flows"]["variants"][0]["variant"] == list(expected.variants.variant.iloc[0])
    assert [row["transitions"] for row in data["flows"]["sankey"]] == list(
        expected.sankey.transitions
    )
    assert data["group"] == {
        "who": "all",
        "name": {"en": "All customers", "nl": "Alle klanten"},
        "customers": expected.customers,
        "events": expected.events,
        "all_customers": expected.customers,
    }


def test_the_numbers_are_the_demo_recounted(analyst, tables):
    data = analyst.get("/flows.json").json()
    events = tables["events"]
    assert data["flows"]["customers"] == events.customer_id.nunique()
    assert data["flows"]["events"] == len(events)
    moves = phase_moves(events, tables["journey"])
    got = {
        (r["source_phase"], r["target_phase"]): r["transitions"] for r in data["flows"]["sankey"]
    }
    assert got == {move: count for move, count in moves.items() if move[0] != move[1]}
    counted = paths(events)
    for row in data["flows"]["variants"]:
        assert row["customers"] == counted[tuple(row["variant"])]
    assert data["flows"]["variants"][0]["customers"] == counted.max()


def test_sankey_links_sum_to_the_transitions_counted(analyst, tables):
    page = analyst.get("/flows?top=7")
    assert page.status_code == 200
    events = tables["events"]
    moves = phase_moves(events, tables["journey"])
    phase_links = figure_of(page.text, "chart-phase-sankey")["data"][0]["link"]["value"]
    assert values(phase_links).sum() == sum(c for (a, b), c in moves.items() if a != b)

    counted = steps(events)
    data = analyst.get("/flows.json?top=7").json()
    assert len(data["touchpoint_sankey"]) == 7
    for row in data["touchpoint_sankey"]:
        assert row["count"] == counted[(row["source"], row["target"])]
    assert sorted(row["count"] for row in data["touchpoint_sankey"]) == sorted(counted.head(7))
    links = figure_of(page.text, "chart-touchpoint-sankey")["data"][0]["link"]["value"]
    assert values(links).sum() == counted.head(7).sum()


@pytest.mark.parametrize("who", ["churned", "retained"])
def test_one_group_is_recounted_for_its_customers(analyst, tables, who):
    everyone = analyst.get("/flows.json").json()
    data = analyst.get(f"/flows.json?who={who}").json()
    events = group_events(tables, who)
    assert 0 < data["group"]["customers"] < everyone["group"]["customers"]
    assert data["group"]["customers"] == events.customer_id.nunique()
    assert data["group"]["all_customers"] == everyone["group"]["customers"]
    assert data["flows"]["events"] == len(events)
    moves = phase_moves(events, tables["journey"])
    got = {
        (r["source_phase"], r["target_phase"]): r["transitions"] for r in data["flows"]["sankey"]
    }
    assert got == {move: count for move, count in moves.items() if move[0] != move[1]}
    counted = steps(events)
    for row in data["touchpoint_sankey"]:
        assert row["count"] == counted[(row["source"], row["target"])]
    variants = paths(events)
    for row in data["flows"]["variants"]:
        assert row["customers"] == variants[tuple(row["variant"])]
        assert row["share"] == pytest.approx(row["customers"] / events.customer_id.nunique())
    shown = {"churned": ["churners_last", "share_of_churners"],
             "retained": ["stayers_last", "share_of_stayers"]}[who]  # fmt: skip
    assert data["dropoff"]["shown"] == shown


def test_the_page_says_which_group_it_shows(analyst):
    data = analyst.get("/flows.json?who=churned").json()
    page = analyst.get("/flows?who=churned")
    text = page.text.replace("&#39;", "'")
    assert "Shown: Customers who left (churned)" in text
    assert f"{data['group']['customers']:,} customers with interactions" in text
    # the filter bar keeps the group and the number of steps when filters are applied
    assert '<option value="churned" selected>' in text
    assert re.search(r'<select name="top">.*<option value="15" selected>', text, re.DOTALL)
    assert 'href="/flows?who=retained"' in text


def test_filters_apply_to_every_number(analyst, app):
    with app.state.host.workspace() as ws:
        segment = sorted(ws.customers.select("segment").distinct().execute()["segment"])[0]
        filtered = apply_filters(ws, ReportFilter(segment=segment))
        expected = flows(filtered, only="churned", top_variants=10)
        everyone = ws.flows(only="churned")
    data = analyst.get(f"/flows.json?who=churned&segment={segment}").json()
    assert data["group"]["customers"] == expected.customers < everyone.customers
    assert data["flows"]["events"] == expected.events
    assert [r["transitions"] for r in data["flows"]["sankey"]] == list(expected.sankey.transitions)
    assert data["filters"] == {"segment": segment}


def test_dropoff_is_the_analysis(analyst, app):
    data = analyst.get("/flows.json").json()
    with app.state.host.workspace() as ws:
        expected = ws.dropoff(top=15)
    assert data["dropoff"]["params"]["churners"] == expected.churners
    rows = {r["touchpoint"]: r["churners_last"] for r in data["dropoff"]["rows"]}
    assert rows == dict(zip(expected.frame.touchpoint, expected.frame.churners_last, strict=True))
    assert data["dropoff"]["sentence"]["en"] == expected.summary("en")
    assert expected.summary("en") in analyst.get("/flows").text.replace("&#39;", "'")


@pytest.mark.parametrize(
    "query", ["who=everyone", "who=", "top=0", "top=51", "top=many", "top=2.5", "segment=nope"]
)
def test_bad_values_are_a_clear_400(analyst, query):
    if query == "who=":  # an empty value is the default, not an error
        assert analyst.get(f"/flows.json?{query}").status_code == 200
        return
    answer = analyst.get(f"/flows?{query}")
    assert answer.status_code == 400
    assert "Filter not understood" in answer.text
    twin = analyst.get(f"/flows.json?{query}")
    assert twin.status_code == 400 and twin.json()["detail"]


def test_dutch_headings(analyst):
    page = analyst.get("/flows?lang=nl&who=retained")
    assert page.status_code == 200
    for heading in ("Van fase naar fase", "Meest gevolgde paden", "Getoond: Klanten die bleven"):
        assert heading in page.text
    assert "From phase to phase" not in page.text
    analyst.cookies.delete("cxray_lang")


def test_unsigned_clients_and_agents_are_refused(app, client_as):
    with TestClient(app) as stranger:
        assert stranger.get("/flows.json").status_code == 401
        answer = stranger.get("/flows", follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
    assert client_as("agent").get("/flows").status_code == 403
    assert client_as("agent").get("/flows.json").status_code == 403
