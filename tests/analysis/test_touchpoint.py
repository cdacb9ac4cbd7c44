"""One touchpoint and the list of them: volume, scores, trend, flows and comments against pandas
on the demo tables, the driver words, and a small workspace with names the journey lacks."""

from __future__ import annotations

import pandas as pd
import pytest

import cxray
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.analysis.flows import END, START
from cxray.analysis.touchpoint import (
    AtTouchpoints,
    TouchpointError,
    comment_page,
    known_touchpoints,
    touchpoint,
    touchpoints,
)
from cxray.demo import generate_demo
from cxray.web.views._page import clean

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    path = tmp_path_factory.mktemp("touchpoint") / "ws"
    generate_demo(path, customers=800, seed=11)
    ws = cxray.open(path)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def tables(demo) -> dict[str, pd.DataFrame]:
    return {"events": demo.events.execute(), "feedback": demo.feedback.execute()}


@pytest.fixture(scope="module")
def delivery(demo):
    return touchpoint(demo, "delivery")


def answers_at(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Scored answers with their touchpoint: their own, else the answered event's (pandas)."""
    feedback = tables["feedback"]
    events = tables["events"][["event_id", "touchpoint"]].rename(columns={"touchpoint": "ev"})
    joined = feedback.merge(events, on="event_id", how="left")
    joined["at"] = joined["touchpoint"].fillna(joined["ev"])
    return joined[joined["score"].notna()]


def test_the_list_has_every_touchpoint_in_journey_order_with_its_volume(demo, tables):
    result = touchpoints(demo)
    journey = demo.journey
    names = list(result.frame["touchpoint"])
    assert set(names) == set(journey.touchpoints)
    phases = [journey.phases.index(journey.touchpoints[n].phase) for n in names]
    assert phases == sorted(phases)
    counts = (
        tables["events"]
        .groupby("touchpoint")
        .agg(events=("event_id", "size"), customers=("customer_id", "nunique"))
    )
    for row in result.frame.itertuples():
        assert row.events == counts.loc[row.touchpoint, "events"]
        assert row.customers == counts.loc[row.touchpoint, "customers"]
        assert row.owner == journey.touchpoints[row.touchpoint].owner


def test_scores_per_touchpoint_match_pandas(demo, tables):
    data = touchpoints(demo).to_dict()
    answers = answers_at(tables)
    csat = answers[(answers["at"] == "delivery") & (answers["metric"] == "csat")]
    row = next(tp for tp in data["touchpoints"] if tp["touchpoint"] == "delivery")
    (scored,) = [s for s in row["scores"] if s["metric"] == "csat"]
    assert scored["n"] == len(csat)
    assert scored["score"] == pytest.approx(100 * (csat["score"] >= 4).mean())
    assert scored["low"] < scored["score"] < scored["high"]
    assert row["answers"] == len(answers[answers["at"] == "delivery"])
    # answers at no touchpoint (the relationship NPS) are kept apart, not lost
    nowhere = answers[answers["at"].isna()]
    assert sum(s["n"] for s in data["no_touchpoint"]) == len(nowhere)
    ad = next(tp for tp in data["touchpoints"] if tp["touchpoint"] == "ad_click")
    assert ad["scores"] == [] and ad["answers"] == 0


def test_at_touchpoints_keeps_only_their_answers(demo, tables):
    answers = answers_at(tables)
    view = AtTouchpoints(demo, ["delivery", "support_call"])
    seen = view.feedback.execute()
    expected = answers[answers["at"].isin(["delivery", "support_call"])]
    assert sorted(seen["response_id"]) == sorted(expected["response_id"])
    assert set(seen["touchpoint"]) == {"delivery", "support_call"}
    assert view.journey is demo.journey and view.events is not None


def test_one_touchpoint_scores_and_trend(delivery, tables):
    answers = answers_at(tables)
    csat = answers[(answers["at"] == "delivery") & (answers["metric"] == "csat")]
    info = delivery.info
    assert info["owner"] == "logistics" and info["phase"] == "loyalty"
    events = tables["events"]
    assert info["events"] == int((events["touchpoint"] == "delivery").sum())
    (row,) = delivery.to_dict()["scores"]
    assert row["n"] == len(csat)
    months = csat["ts"].dt.strftime("%Y-%m").value_counts()
    trend = delivery.to_dict()["trend"]
    assert {r["group"]: r["n"] for r in trend} == months.to_dict()
    assert all(r["too_few"] == (r["n"] < 30) for r in trend)


def test_before_and_after_match_the_event_order(delivery, tables):
    events = tables["events"].sort_values(["customer_id", "ts", "touchpoint", "event_id"])
    by_customer = events.groupby("customer_id")["touchpoint"]
    events = events.assign(
        previous=by_customer.shift(1).fillna(START), next=by_customer.shift(-1).fillna(END)
    )
    here = events[events["touchpoint"] == "delivery"]
    assert delivery.steps == len(here)
    for frame, column in ((delivery.previous, "previous"), (delivery.following, "next")):
        counts = here[column].value_counts()
        assert len(frame) <= 8
        for row in frame.itertuples():
            assert row.count == counts[row.touchpoint], (column, row.touchpoint)
            assert row.share == pytest.approx(counts[row.touchpoint] / len(here))
        assert frame["count"].iloc[0] == counts.max()


def test_comments_are_those_at_the_touchpoint_newest_first(delivery, tables):
    feedback = answers_at(tables)
    feedback = tables["feedback"].merge(
        feedback[["response_id", "at"]], on="response_id", how="left"
    )
    expected = feedback[
        (feedback["at"] == "delivery") & feedback["comment"].fillna("").str.strip().ne("")
    ]
    assert len(delivery.comments) == len(expected)
    assert delivery.comments["ts"].is_monotonic_decreasing
    assert delivery.themes_found(), "the demo's delivery comments have themes"


def test_comment_search_and_filters_narrow(delivery):
    everything = comment_page(delivery, per_page=10_000)
    assert everything.matched == everything.total == len(delivery.comments)
    texts = delivery.comments["comment"].str.casefold()
    word = "delivery"
    found = comment_page(delivery, q="DELIVERY", per_page=10_000)
    assert 0 < found.matched < everything.matched
    assert found.matched == int(texts.str.contains(word, regex=False).sum())
    assert all(word in text.casefold() for text in found.rows["comment"])
    theme = delivery.themes_found()[0]
    themed = comment_page(delivery, theme=theme["theme"], per_page=10_000)
    assert themed.matched == theme["comments"]
    assert all(theme["theme"] in found for found in themed.rows["themes"])
    low = comment_page(delivery, min_score=1, max_score=2, per_page=10_000)
    assert low.matched == int(delivery.comments["score"].between(1, 2).sum())
    assert set(low.rows["score"]) <= {1.0, 2.0}
    dutch = comment_page(delivery, language="nl", per_page=10_000)
    assert 0 < dutch.matched < everything.matched and set(dutch.rows["language"]) == {"nl"}
    both = comment_page(delivery, q=word, language="nl", per_page=10_000)
    assert both.matched <= min(found.matched, dutch.matched)


def test_comment_pages(delivery):
    first = comment_page(delivery, per_page=20)
    assert first.pages == -(-first.total // 20) and len(first.rows) == 20
    second = comment_page(delivery, page=2, per_page=20)
    assert list(second.rows["comment"]) == list(delivery.comments["comment"].iloc[20:40])
    beyond = comment_page(delivery, page=999, per_page=20)
    assert beyond.page == beyond.pages
    assert clean(first.to_dict())["rows"][0]["comment"]


@pytest.mark.parametrize(
    "options",
    [{"min_score": "x"}, {"max_score": "inf"}, {"min_score": 4, "max_score": 2},
     {"page": 0}, {"page": "two"}, {"theme": "no_such_theme"}],
)  # fmt: skip
def test_bad_comment_questions_are_refused_in_words(delivery, options):
    with pytest.raises(TouchpointError) as caught:
        comment_page(delivery, **options)
    assert caught.value.args[0].nl != caught.value.args[0].en


def test_the_effect_on_churn_in_words(demo):
    late = touchpoint(demo, "delivery_late")
    rows = late.drivers
    main = rows[rows["kind"] == "touchpoint"].iloc[0]
    assert main["hazard_ratio"] > 1, "the demo plants late deliveries as a driver"
    assert late.driver_sentences["en"] and late.driver_sentences["nl"]
    assert late.no_driver is None
    leaving = touchpoint(demo, "subscription_cancelled")
    assert leaving.drivers.empty and "outcome" in leaving.no_driver.en
    assert "uitkomst" in leaving.no_driver.nl


def test_filters_apply(demo, tables):
    loyalty = touchpoints(apply_filters(demo, ReportFilter.parse(phase="loyalty")))
    assert set(loyalty.frame["phase"]) == {"loyalty"}
    period = ReportFilter.parse(start="2025-01-01", end="2025-03-31")
    early = touchpoint(apply_filters(demo, period), "delivery")
    events = tables["events"]
    inside = events[
        (events["touchpoint"] == "delivery")
        & (events["ts"] >= pd.Timestamp("2025-01-01", tz="UTC"))
        & (events["ts"] < pd.Timestamp("2025-04-01", tz="UTC"))
    ]
    assert early.info["events"] == len(inside)
    assert {r["group"] for r in early.to_dict()["trend"]} <= {"2025-01", "2025-02", "2025-03"}


def test_names_the_journey_lacks_and_little_data(make_workspace):
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": T0, "touchpoint": "returns / refunds desk"},
            {"customer_id": "a", "ts": T0 + DAY, "touchpoint": "pickup"},
            {"customer_id": "b", "ts": T0, "touchpoint": "pickup"},
        ],
        feedback=[
            {
                "customer_id": "a",
                "ts": T0 + DAY,
                "metric": "csat",
                "score": 2,
                "touchpoint": "chat bot",
                "comment": "Slow answers, slow chat",
            },
            {
                "customer_id": "b",
                "ts": T0 + DAY,
                "metric": "csat",
                "score": 5,
                "touchpoint": "chat bot",
                "comment": "Quick and kind",
            },
        ],
        customers=[{"customer_id": "a", "first_seen": T0}, {"customer_id": "b", "first_seen": T0}],
        journey={"touchpoints": {"pickup": {"phase": "loyalty", "owner": "logistics"}}},
    )
    assert set(known_touchpoints(ws)) == {"pickup", "returns / refunds desk", "chat bot"}
    listing = touchpoints(ws)
    assert list(listing.frame["touchpoint"]) == ["pickup", "chat bot", "returns / refunds desk"]
    assert list(listing.frame["phase"]) == ["loyalty", "unassigned", "unassigned"]
    chat = touchpoint(ws, "chat bot")
    (score,) = chat.to_dict()["scores"]
    assert (score["n"], score["score"], score["too_few"]) == (2, 50.0, True)
    assert chat.info["events"] == 0 and chat.steps == 0
    assert chat.no_driver is not None  # no churn here: said in words, no number
    assert comment_page(chat, q="slow").matched == 1
    odd = touchpoint(ws, "returns / refunds desk")
    assert list(odd.following["touchpoint"]) == ["pickup"]
    assert list(odd.previous["touchpoint"]) == [START]
    assert clean(odd.to_dict())["flows"]["next"][0]["share"] == 1.0
