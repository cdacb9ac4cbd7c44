"""Owners: the owners the journey file names, their volume, pooled scores and pain points against
pandas on the demo tables; unowned touchpoints; a filter that leaves an owner nothing."""

from __future__ import annotations

import tomllib

import pandas as pd
import pytest

import cxray
from cxray.analysis.canvas import bad_experience_counts
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.analysis.owners import HINT, known_owners, owner, owners
from cxray.demo import generate_demo
from cxray.web.views._page import clean

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    path = tmp_path_factory.mktemp("owners") / "ws"
    generate_demo(path, customers=800, seed=11)
    ws = cxray.open(path)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def tables(demo) -> dict[str, pd.DataFrame]:
    feedback = demo.feedback.execute()
    events = demo.events.execute()
    answered = events[["event_id", "touchpoint"]].rename(columns={"touchpoint": "ev"})
    feedback = feedback.merge(answered, on="event_id", how="left")
    feedback["at"] = feedback["touchpoint"].fillna(feedback["ev"])
    return {"events": events, "feedback": feedback}


@pytest.fixture(scope="module")
def owned(demo) -> dict[str, list[str]]:
    """Owner: its touchpoints, read straight from the demo's cxray.toml."""
    journey = tomllib.loads(demo.journey_path.read_text())
    found: dict[str, list[str]] = {}
    for name, spec in journey["touchpoints"].items():
        if spec.get("owner"):
            found.setdefault(spec["owner"], []).append(name)
    return found


def test_every_owner_of_the_journey_file_with_its_volume(demo, tables, owned):
    result = owners(demo)
    assert list(result.frame["owner"]) == sorted(owned)
    assert known_owners(demo) == sorted(owned)
    events = tables["events"]
    for row in result.frame.itertuples():
        mine = events[events["touchpoint"].isin(owned[row.owner])]
        assert sorted(row.names) == sorted(owned[row.owner])
        assert row.touchpoints == len(owned[row.owner])
        assert row.events == len(mine)
        assert row.customers == mine["customer_id"].nunique()
    assert result.unowned.empty, "every demo touchpoint has an owner"
    assert "every touchpoint has an owner" in result.summary("en")


def test_pooled_scores_match_pandas(demo, tables, owned):
    data = owners(demo).to_dict()
    feedback = tables["feedback"]
    answers = feedback[feedback["at"].isin(owned["logistics"]) & feedback["score"].notna()]
    csat = answers[answers["metric"] == "csat"]
    logistics = next(o for o in data["owners"] if o["owner"] == "logistics")
    (scored,) = logistics["scores"]
    assert scored["metric"] == "csat" and scored["n"] == len(csat)
    assert scored["score"] == pytest.approx(100 * (csat["score"] >= 4).mean())
    assert logistics["answers"] == len(answers)
    it = next(o for o in data["owners"] if o["owner"] == "it")
    assert it["scores"] == [] and it["answers"] == 0


def test_one_owner_pain_points_and_trend(demo, tables, owned):
    result = owner(demo, "logistics")
    feedback = tables["feedback"]
    assert list(result.touchpoints["touchpoint"]) == owned["logistics"]
    bad = bad_experience_counts(demo).set_index("touchpoint")
    for row in result.pain.itertuples():
        answers = feedback[(feedback["at"] == row.touchpoint) & feedback["score"].notna()]
        low = answers[(answers["metric"] == "csat") & (answers["score"] <= 2)]
        assert row.low_answers == len(low) == bad.loc[row.touchpoint, "low_answers"]
        assert row.answers == len(answers)
        assert row.low_share == pytest.approx(len(low) / len(answers))
        assert row.low_share_low <= row.low_share <= row.low_share_high
        assert row.bad_customers == bad.loc[row.touchpoint, "bad_customers"]
    late = result.pain.set_index("touchpoint").loc["delivery_late"]
    assert late["bad_events"] == int((tables["events"]["touchpoint"] == "delivery_late").sum())
    # unhappy comments: answers at or below the threshold with a comment
    mine = feedback[feedback["at"].isin(owned["logistics"])]
    unhappy = mine[
        (mine["metric"] == "csat")
        & (mine["score"] <= 2)
        & mine["comment"].fillna("").str.strip().ne("")
    ]
    assert result.unhappy_comments == len(unhappy)
    assert len(result.themes) and (result.themes["comments"] <= len(unhappy)).all()
    assert result.themes["comments"].is_monotonic_decreasing
    trend = result.to_dict()["trend"]
    scored = mine[mine["score"].notna() & (mine["metric"] == "csat")]
    assert {r["group"]: r["n"] for r in trend} == (
        scored["ts"].dt.strftime("%Y-%m").value_counts().to_dict()
    )
    assert "logistics owns 2 touchpoints" in result.summary("en")
    assert "eigenaar van 2 contactmomenten" in result.summary("nl")


def test_an_owner_without_answers_and_an_unknown_one(demo):
    marketing = owner(demo, "marketing")
    assert len(marketing.touchpoints) == 4 and marketing.themes.empty
    assert not marketing.failed
    with pytest.raises(KeyError):
        owner(demo, "nobody")
    # a phase filter may leave an owner none of its touchpoints: an empty page, no error
    awareness = apply_filters(demo, ReportFilter.parse(phase="awareness"))
    sales = owner(awareness, "sales")
    assert sales.touchpoints.empty and sales.pain.empty
    assert clean(sales.to_dict())["touchpoints"] == []


def test_unowned_touchpoints_are_listed_with_a_hint(make_workspace):
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": T0, "touchpoint": "pickup"},
            {"customer_id": "a", "ts": T0 + DAY, "touchpoint": "helpdesk"},
            {"customer_id": "b", "ts": T0, "touchpoint": "helpdesk"},
        ],
        customers=[{"customer_id": "a", "first_seen": T0}, {"customer_id": "b", "first_seen": T0}],
        journey={
            "touchpoints": {
                "pickup": {"phase": "loyalty", "owner": "customer care / returns"},
                "helpdesk": {"phase": "loyalty"},
            }
        },
    )
    result = owners(ws)
    data = result.to_dict()
    assert [o["owner"] for o in data["owners"]] == ["customer care / returns"]
    assert [u["touchpoint"] for u in data["unowned"]] == ["helpdesk"]
    assert data["unowned"][0]["events"] == 2
    assert "owner =" in data["hint"]["en"] and "owner =" in data["hint"]["nl"]
    assert HINT.nl != HINT.en
    assert "1 contactmoment heeft nog geen eigenaar" in result.summary("nl")
    assert "1 touchpoint has no owner yet" in result.summary("en")


def test_feedback_without_touchpoints_is_not_every_touchpoint_owned(make_workspace):
    ws = make_workspace(
        feedback=[{"customer_id": "a", "ts": T0, "metric": "rating", "score": 2.0}],
        customers=[{"customer_id": "a", "first_seen": T0}],
    )
    result = owners(ws)
    assert result.summary("en") == "0 owners; there are no touchpoints."
    assert result.summary("nl") == "0 eigenaars; er zijn geen contactmomenten."
