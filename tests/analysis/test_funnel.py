import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxray.analysis.funnel import funnel
from cxray.analysis.lifetimes import customer_lifetimes

PHASES = ["awareness", "consideration", "conversion", "loyalty", "advocacy"]
JOURNEY = {
    "touchpoints": {
        "ad": {"phase": "awareness"},
        "visit": {"phase": "consideration"},
        "order": {"phase": "conversion"},
        "repeat": {"phase": "loyalty"},
        "review": {"phase": "advocacy"},
        "cancel": {"phase": "loyalty"},  # a churn touchpoint places nobody in a phase
    },
    "churn": {"touchpoints": ["cancel"], "inactive_days": 30},
}
STEP = {"ad": 0, "visit": 1, "order": 2, "repeat": 3, "review": 4}


def events_of(*rows):
    return [{"customer_id": c, "ts": ts, "touchpoint": tp} for c, ts, tp in rows]


# data ends 2024-06-01, so customers are observed until 2024-05-02 (30 days of inactivity)
STORY = events_of(
    ("a", "2024-01-01", "ad"),
    ("a", "2024-01-03", "visit"),
    ("a", "2024-01-10", "order"),
    ("a", "2024-02-10", "repeat"),  # then inactive: churned at 02-10 after reaching loyalty
    ("b", "2024-01-01", "ad"),
    ("b", "2024-01-02", "cancel"),  # left after awareness
    ("c", "2024-01-01", "ad"),
    ("c", "2024-06-01", "visit"),  # still active: censored
    ("d", "2024-01-05", "order"),  # skipped the first phases; inactive after conversion
    ("e", "2024-01-01", "visit"),
    ("e", "2024-03-01", "cancel"),
)


@pytest.fixture
def story(make_workspace):
    customers = [
        {
            "customer_id": c,
            "segment": "x" if c in "abc" else "y",
            "attributes": '{"tier": "gold"}' if c == "a" else None,
        }
        for c in "abcde"
    ]
    return make_workspace(events=STORY, journey=JOURNEY, customers=customers)


def table(result, group="all"):
    frame = result.to_pandas()
    return frame[frame["group"] == group].set_index("phase")


def test_counts_without_window(story):
    rows = table(funnel(story))
    assert rows["reached"].tolist() == [5, 4, 2, 1, 0]
    assert rows["converted"].tolist()[:4] == [4, 2, 1, 0]
    assert rows["dropped"].tolist()[:4] == [1, 1, 1, 1]
    # c is still active after consideration: censored, not a drop-off
    assert rows["censored"].tolist()[:4] == [0, 1, 0, 0]
    assert rows.loc["consideration", "conversion"] == pytest.approx(2 / 4)
    assert rows.loc["consideration", "conversion_known"] == pytest.approx(2 / 3)
    assert rows.loc["consideration", "drop_share"] == pytest.approx(1 / 4)
    # days from awareness to consideration for a, c, d, e: 2, 152, 0, 0
    gaps = [2, 152, 0, 0]
    assert rows.loc["awareness", "median_days_to_next"] == pytest.approx(np.median(gaps))
    assert rows.loc["awareness", "p90_days_to_next"] == pytest.approx(np.percentile(gaps, 90))
    assert pd.isna(rows.loc["advocacy", "next_phase"])


def test_counts_with_window(story):
    rows = table(funnel(story, window_days=30))
    assert rows["converted"].tolist()[:4] == [3, 2, 0, 0]
    # c's visit came 152 days after the ad: a drop-off within the window
    assert rows["dropped"].tolist()[:4] == [2, 1, 2, 1]
    # c reached consideration on the last day: the window has not passed, censored
    assert rows["censored"].tolist()[:4] == [0, 1, 0, 0]
    assert "30 days" in funnel(story, window_days=30).to_dict()["how"]


def test_breakdowns(story):
    by_segment = funnel(story, by="segment")
    assert table(by_segment, "x")["reached"].tolist() == [3, 2, 1, 1, 0]
    assert table(by_segment, "y")["reached"].tolist() == [2, 2, 1, 0, 0]
    cohorts = funnel(story, by="cohort").to_pandas()
    assert set(cohorts["group"]) == {"2024-01"}
    tiers = funnel(story, by="tier").to_pandas()
    assert set(tiers["group"]) == {"gold", "(missing)"}


def test_phase_subset_and_validation(story):
    rows = table(funnel(story, phases=["consideration", "conversion", "loyalty"]))
    assert rows["reached"].tolist() == [4, 2, 1]
    with pytest.raises(ValueError, match="unknown phase"):
        funnel(story, phases=["awareness", "checkout"])
    with pytest.raises(ValueError, match="journey's order"):
        funnel(story, phases=["loyalty", "awareness"])
    with pytest.raises(ValueError, match="window_days"):
        funnel(story, window_days=0)


def test_leaving_before_reaching_a_phase_is_not_a_drop_off_after_it(make_workspace):
    ws = make_workspace(
        events=events_of(
            ("g", "2024-01-01", "ad"),
            ("g", "2024-01-02", "cancel"),
            ("g", "2024-03-01", "visit"),  # came back after cancelling
            ("h", "2024-03-02", "ad"),
        ),
        journey={**JOURNEY, "churn": {"touchpoints": ["cancel"], "inactive_days": 1}},
    )
    rows = table(funnel(ws))
    assert rows.loc["awareness", "converted"] == 1
    assert rows.loc["consideration", "dropped"] == 0
    assert rows.loc["consideration", "censored"] == 1


def test_summary_and_json(story):
    result = funnel(story, window_days=30)
    assert "biggest drop-off is after" in result.summary()
    assert "grootste uitval" in result.summary("nl")
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["rows"][-1]["converted"] is None
    assert "censored" in payload["how"]


def test_empty_workspace(make_workspace):
    result = funnel(make_workspace(journey=JOURNEY))
    assert result.to_pandas().empty
    assert result.summary() and result.summary("nl")
    json.dumps(result.to_dict())


def replace_events(ws, rows):
    ws.warehouse.sql("DELETE FROM events")
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "touchpoint"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    for column in ("channel", "value", "properties"):
        frame[column] = None
    frame["value"] = frame["value"].astype("float64")
    ws.warehouse.backend.insert("events", frame[list(ws.events.columns)])


def reference(ws, rows):
    """The funnel without window, computed row by row from its stated rules."""
    lives = customer_lifetimes(ws).execute().set_index("customer_id")
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "touchpoint"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame = frame[frame["touchpoint"].isin(STEP)]
    counts = {k: {"reached": 0, "converted": 0, "dropped": 0, "censored": 0} for k in range(5)}
    for customer, events in frame.groupby("customer_id"):
        steps = events["touchpoint"].map(STEP)
        reached = [events.loc[steps >= k, "ts"].min() for k in range(5)]
        life = lives.loc[customer]
        for k in range(5):
            if pd.isna(reached[k]):
                continue
            counts[k]["reached"] += 1
            if k == 4:
                continue
            if pd.notna(reached[k + 1]):
                counts[k]["converted"] += 1
            # leaving as the funnel reads it: every explicit cancellation counts
            elif life["left"] and life["left_ts"] >= reached[k]:
                counts[k]["dropped"] += 1
            else:
                counts[k]["censored"] += 1
    return counts


def test_properties_on_random_journeys(make_workspace):
    ws = make_workspace(journey=JOURNEY)
    event = st.tuples(
        st.sampled_from("pqrstu"),
        st.integers(0, 200).map(
            lambda d: pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d)
        ),
        st.sampled_from([*STEP, "cancel"]),
    )

    @settings(max_examples=20, deadline=None)
    @given(st.lists(event, min_size=1, max_size=25))
    def check(rows):
        replace_events(ws, rows)
        frame = funnel(ws).to_pandas().set_index("phase")
        expected = reference(ws, rows)
        if frame.empty:  # only churn events: nobody is in the funnel
            assert expected[0]["reached"] == 0
            return
        reached = frame["reached"].tolist()
        assert reached == sorted(reached, reverse=True)  # never grows along the funnel
        steps = frame.iloc[:-1]
        assert (steps["converted"] + steps["dropped"] + steps["censored"] == steps["reached"]).all()
        assert steps["converted"].tolist() == reached[1:]
        for k, phase in enumerate(PHASES[:-1]):
            for column in ("reached", "converted", "dropped", "censored"):
                assert frame.loc[phase, column] == expected[k][column], (phase, column)

    check()


def test_summary_says_when_no_touchpoint_is_placed(make_workspace):
    events = [{"customer_id": "a", "ts": "2024-01-01", "touchpoint": "visit"}]
    ws = make_workspace(events=events, journey={"touchpoints": {"visit": {"phase": "unassigned"}}})
    result = funnel(ws)
    assert "no touchpoint is placed in one of its phases" in result.summary()
    assert "nog geen contactmoment is in een van de fasen ingedeeld" in result.summary("nl")
