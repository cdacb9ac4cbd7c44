"""The journey canvas: its numbers against the analyses it composes, the experience measure by
hand, the unassigned phase, bad-experience counts and a workspace with too little data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cxray
from cxray.analysis.canvas import (
    MOODS,
    bad_experience_counts,
    canvas,
    mood,
    pooled_experience,
)
from cxray.analysis.funnel import funnel
from cxray.analysis.metrics import metrics
from cxray.demo import generate_demo
from cxray.journey import DEFAULT_SCALES, Scale
from cxray.web.views._page import clean

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    path = tmp_path_factory.mktemp("canvas") / "ws"
    generate_demo(path, customers=800, seed=11)
    ws = cxray.open(path)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def result(demo):
    return canvas(demo)


# -- the measure ----------------------------------------------------------------------------
def test_moods_are_fifths_of_the_scale() -> None:
    assert [mood(v) for v in (0, 19.99, 20, 39.9, 40, 60, 79.99, 80, 100)] == [
        "very_bad", "very_bad", "bad", "bad", "neutral", "good", "good", "very_good", "very_good",
    ]  # fmt: skip
    assert mood(float("nan")) is None
    assert len(MOODS) == 5


def _summary(metric: str, scores: list[float], group: str = "g") -> dict:
    values = np.array(scores, dtype=float)
    sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return {"metric": metric, "group": group, "n": len(values), "mean": values.mean(), "sd": sd}


def test_pooled_experience_equals_the_mean_of_rescaled_answers() -> None:
    scales = {**DEFAULT_SCALES, "ces": Scale(1, 7, higher_is_easier=False)}
    answers = {"csat": [1, 5, 4, 4], "nps": [10, 6], "ces": [1, 7, 2]}
    frame = pd.DataFrame([_summary(m, s) for m, s in answers.items()])
    # by hand: csat (x-1)/4, nps x/10, ces reversed (7-x)/6, each × 100
    placed = [0, 100, 75, 75, 100, 60, 100, 0, 5 / 6 * 100]
    got = pooled_experience(frame, scales).iloc[0]
    assert got["experience"] == pytest.approx(np.mean(placed))
    assert got["experience_n"] == len(placed)
    half = stats.t.ppf(0.975, len(placed) - 1) * np.std(placed, ddof=1) / math.sqrt(len(placed))
    assert got["experience_low"] == pytest.approx(np.mean(placed) - half)
    assert got["experience_high"] == pytest.approx(min(np.mean(placed) + half, 100))
    assert got["too_few"]


def test_a_metric_without_a_scale_is_left_out() -> None:
    frame = pd.DataFrame([_summary("effort_index", [3, 4]), _summary("csat", [5, 5], "h")])
    got = pooled_experience(frame, dict(DEFAULT_SCALES))
    assert got["group"].tolist() == ["h"]
    assert got["experience"].iloc[0] == 100


def test_the_demo_experience_matches_the_raw_answers(demo, result) -> None:
    """Independent of metrics(): every answer placed on 0-100 by hand, per touchpoint."""
    feedback = demo.feedback.execute()
    events = demo.events.select("event_id", "touchpoint").execute()
    feedback = feedback.merge(
        events.rename(columns={"touchpoint": "tp_event"}), on="event_id", how="left"
    )
    feedback["where"] = feedback["touchpoint"].fillna(feedback["tp_event"])
    feedback = feedback[feedback["score"].notna()]
    scales = demo.journey.scales
    low = feedback["metric"].map(lambda m: scales[m].min)
    high = feedback["metric"].map(lambda m: scales[m].max)
    feedback["placed"] = 100 * (feedback["score"] - low) / (high - low)
    rows = result.touchpoints.set_index("touchpoint")
    checked = 0
    for name, part in feedback.dropna(subset=["where"]).groupby("where"):
        assert rows.loc[name, "experience"] == pytest.approx(part["placed"].mean())
        assert rows.loc[name, "experience_n"] == len(part)
        checked += 1
    assert checked >= 2
    wide = feedback[feedback["where"].isna()]
    if len(wide):
        assert result.journey_wide["experience"] == pytest.approx(wide["placed"].mean())


# -- consistency with the analyses it composes ----------------------------------------------
def test_phases_follow_the_journey_and_the_funnel(demo, result) -> None:
    assert result.phases["phase"].tolist() == list(demo.journey.phases)  # no unassigned one
    steps = funnel(demo).frame.set_index("phase")
    for row in result.phases.itertuples():
        assert row.reached == steps.loc[row.phase, "reached"]
        if isinstance(row.next_phase, str):
            assert row.dropped == steps.loc[row.phase, "dropped"]
            assert row.censored == steps.loc[row.phase, "censored"]
            assert row.drop_low <= row.drop_share <= row.drop_high


def test_touchpoints_carry_volume_and_their_main_score(demo, result) -> None:
    events = demo.events.execute()
    per_touchpoint = events.groupby("touchpoint").agg(n=("event_id", "size"),
                                                      c=("customer_id", "nunique"))  # fmt: skip
    scores = metrics(demo, by="touchpoint").frame
    for row in result.touchpoints.itertuples():
        assert row.events == per_touchpoint.loc[row.touchpoint, "n"]
        assert row.customers == per_touchpoint.loc[row.touchpoint, "c"]
        assert row.owner == demo.journey.touchpoints[row.touchpoint].owner
        answered = scores[scores["group"] == row.touchpoint]
        if answered.empty:
            assert pd.isna(row.metric) and row.n == 0
        else:
            main = answered.sort_values("n", ascending=False).iloc[0]
            assert (row.metric, row.n) == (main["metric"], main["n"])
            assert row.score == pytest.approx(main["score"])
    per_phase = result.touchpoints.groupby("phase")["events"].sum()
    for row in result.phases.itertuples():
        assert row.events == per_phase.get(row.phase, 0)


def test_pain_points_count_bad_experiences(demo, result) -> None:
    journey = demo.journey
    for name in journey.bad_touchpoints:
        row = result.touchpoints.set_index("touchpoint").loc[name]
        assert row.bad_events == row.events
        assert row.bad_customers >= row.customers
    pain = result.pain_touchpoints()
    assert pain["bad_customers"].is_monotonic_decreasing
    themes = result.pain_themes
    assert len(themes) and result.unhappy_comments > 0
    assert (themes["comments"] <= result.unhappy_comments).all()
    assert themes["comments"].is_monotonic_decreasing
    assert (
        (themes["share_low"] <= themes["share"]) & (themes["share"] <= themes["share_high"])
    ).all()


def test_opportunities_and_words(result) -> None:
    assert result.opportunities is not None and len(result.opportunities.frame)
    assert not result.failed
    english, dutch = result.summary("en"), result.summary("nl")
    assert "lowest experience" in english and "laagste beleving" in dutch
    data = clean(result.to_dict())
    assert [p["phase"] for p in data["phases"]] == result.phases["phase"].tolist()
    total = sum(len(p["touchpoints"]) for p in data["phases"])
    assert total == len(result.touchpoints)


# -- small workspaces -----------------------------------------------------------------------
JOURNEY = {
    "touchpoints": {
        "visit": {"phase": "awareness", "owner": "marketing"},
        "late": {"phase": "loyalty", "bad_experience": True, "owner": "logistics"},
        "cancel": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancel"]},
}


def _events(extra: list[dict] | None = None) -> list[dict]:
    rows = []
    for i in range(4):
        rows.append({"customer_id": f"c{i}", "ts": T0 + i * DAY, "touchpoint": "visit"})
    rows += [
        {"customer_id": "c0", "ts": T0 + 5 * DAY, "touchpoint": "late"},
        {"customer_id": "c0", "ts": T0 + 6 * DAY, "touchpoint": "late"},
        {"customer_id": "c1", "ts": T0 + 7 * DAY, "touchpoint": "late"},
    ]
    return rows + (extra or [])


def test_bad_experience_counts_by_hand(make_workspace) -> None:
    feedback = [
        {"customer_id": "c2", "ts": T0 + 8 * DAY, "metric": "csat", "score": 1.0, "touchpoint": "late"},
        {"customer_id": "c3", "ts": T0 + 8 * DAY, "metric": "csat", "score": 5.0, "touchpoint": "late"},
        {"customer_id": "c3", "ts": T0 + 9 * DAY, "metric": "nps", "score": 3.0},
    ]  # fmt: skip
    ws = make_workspace(events=_events(), feedback=feedback, journey=JOURNEY)
    counts = bad_experience_counts(ws).set_index("touchpoint")
    assert counts.loc["late"].tolist() == [3, 1, 3]  # 3 events, 1 low csat; c0, c1, c2
    assert counts.loc["(missing)", "low_answers"] == 1
    result = canvas(ws)
    assert result.no_touchpoint_bad == 1
    late = result.touchpoints.set_index("touchpoint").loc["late"]
    assert (late.events, late.customers, late.bad_customers) == (3, 2, 3)


def test_unassigned_is_last_and_only_when_it_has_touchpoints(make_workspace) -> None:
    plain = canvas(make_workspace(events=_events(), journey=JOURNEY, name="plain"))
    assert "unassigned" not in plain.phases["phase"].tolist()
    stray = [{"customer_id": "c3", "ts": T0 + 9 * DAY, "touchpoint": "chat_opened"}]
    ws = make_workspace(events=_events(stray), journey=JOURNEY, name="stray")
    result = canvas(ws)
    assert result.phases["phase"].tolist()[-1] == "unassigned"
    row = result.touchpoints.set_index("touchpoint").loc["chat_opened"]
    assert row.phase == "unassigned" and row.events == 1


def test_too_little_data_keeps_the_reasons(make_workspace) -> None:
    ws = make_workspace(events=_events(), journey=JOURNEY, name="thin")
    result = canvas(ws)  # no feedback, no churn: parts fail, the canvas stands
    assert len(result.phases) == len(ws.journey.phases)
    assert result.touchpoints["experience"].isna().all()
    assert result.failed, "drivers and themes cannot run on this data"
    for why in result.failed.values():
        assert why.en and why.nl
    assert clean(result.to_dict())["failed"]


def test_unhappy_themes_skip_a_metric_without_a_threshold(demo) -> None:
    from types import SimpleNamespace

    from cxray.analysis.canvas import unhappy_themes

    rule = demo.journey.bad_experience
    assert rule.threshold("rating") is None and rule.threshold("csat") is not None
    comments = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "metric": ["rating", "csat", "csat"],
            "score": [1.0, 1.0, 5.0],
            "themes": [["price"], ["price"], ["price"]],
        }
    )
    themes = SimpleNamespace(comments=comments, labels={"price": {"en": "Price", "nl": "Prijs"}})
    frame, total = unhappy_themes(themes, demo.journey)
    assert total == 1  # the low csat only: a star rating has no bad-experience threshold
    assert frame["theme"].tolist() == ["price"]
    only_ratings = SimpleNamespace(comments=comments[comments["metric"] == "rating"], labels={})
    assert unhappy_themes(only_ratings, demo.journey)[1] == 0  # reviews alone: none is "bad"
