import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from cxray.analysis.metrics import (
    benjamini_hochberg,
    compare,
    metrics,
    nps_adjusted_wald,
    nps_wald,
    wilson,
)

Z = stats.norm.ppf(0.975)


def answers(metric, scores, **extra):
    return [
        {"customer_id": f"c{i}", "ts": "2024-02-01", "metric": metric, "score": s, **extra}
        for i, s in enumerate(scores)
    ]


def replace_feedback(ws, rows):
    """Swap the feedback table's rows (cheaper than a new workspace per hypothesis example)."""
    ws.warehouse.sql("DELETE FROM feedback")
    if not rows:
        return
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["score"] = frame["score"].astype("float64")
    frame["response_id"] = [f"r{i}" for i in range(len(frame))]
    for column in ws.feedback.columns:
        if column not in frame:
            frame[column] = None
    ws.warehouse.backend.insert("feedback", frame[list(ws.feedback.columns)])


# -- NPS -------------------------------------------------------------------------------------
def test_nps_score_shares_and_intervals_match_the_multinomial_formulas(make_workspace):
    scores = [10, 10, 9, 9, 9, 8, 7, 6, 5, 0, 10, 3]  # 6 promoters, 2 passives, 4 detractors
    ws = make_workspace(feedback=answers("nps", scores))
    row = metrics(ws, "nps").to_pandas().iloc[0]
    n, p_pro, p_det = 12, 6 / 12, 4 / 12
    assert row["n"] == n
    assert row["score"] == pytest.approx(100 * (p_pro - p_det))
    assert (row["promoters"], row["passives"], row["detractors"]) == pytest.approx(
        (6 / 12, 2 / 12, 4 / 12)
    )
    half = Z * math.sqrt((p_pro + p_det - (p_pro - p_det) ** 2) / n)
    assert row["wald_low"] == pytest.approx(100 * (p_pro - p_det - half))
    assert row["wald_high"] == pytest.approx(100 * (p_pro - p_det + half))
    # adjusted Wald: 3/4 extra promoter, 3/4 extra detractor, n + 3
    a_pro, a_det, a_n = 6.75 / 15, 4.75 / 15, 15
    a_half = Z * math.sqrt((a_pro + a_det - (a_pro - a_det) ** 2) / a_n)
    assert row["low"] == pytest.approx(100 * (a_pro - a_det - a_half))
    assert row["high"] == pytest.approx(100 * (a_pro - a_det + a_half))
    assert row["method"] == "adjusted Wald" and row["unit"] == "points"
    assert metrics(ws, "nps").to_dict()["params"]["nps_interval"] == "adjusted-wald"


def _exact_coverage(interval, n, p_pro, p_det):
    true, covered = 100 * (p_pro - p_det), 0.0
    for pro in range(n + 1):
        for det in range(n + 1 - pro):
            low, high = interval(pro, det, n)
            if low - 1e-9 <= true <= high + 1e-9:
                covered += stats.multinomial.pmf(
                    [pro, det, n - pro - det], n, [p_pro, p_det, 1 - p_pro - p_det]
                )
    return covered


@pytest.mark.parametrize(("p_pro", "p_det"), [(0.65, 0.15), (0.25, 0.55), (0.85, 0.05)])
def test_adjusted_wald_covers_better_than_wald_at_small_n(p_pro, p_det):
    # exact coverage by enumerating every outcome of 12 answers
    adjusted = _exact_coverage(nps_adjusted_wald, 12, p_pro, p_det)
    wald = _exact_coverage(nps_wald, 12, p_pro, p_det)
    assert adjusted >= 0.93
    assert wald < adjusted


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), data=st.data())
def test_nps_intervals_stay_within_bounds_and_contain_the_score(n, data):
    promoters = data.draw(st.integers(0, n))
    detractors = data.draw(st.integers(0, n - promoters))
    score = 100 * (promoters - detractors) / n
    low, high = nps_adjusted_wald(promoters, detractors, n)
    assert -100 <= low <= score <= high <= 100
    w_low, w_high = nps_wald(promoters, detractors, n)
    assert w_low <= score + 1e-9 and score - 1e-9 <= w_high


def test_nps_edge_cases_on_one_workspace(make_workspace):
    ws = make_workspace()

    @settings(max_examples=15, deadline=None)
    @given(n=st.integers(1, 40), score=st.sampled_from([0, 5, 7, 9, 10]))
    def check_all_answers_alike(n, score):
        replace_feedback(ws, answers("nps", [score] * n))
        row = metrics(ws, "nps").to_pandas().iloc[0]
        expected = 100 if score >= 9 else 0 if score >= 7 else -100
        assert row["n"] == n and row["score"] == expected
        assert -100 <= row["low"] <= row["high"] <= 100
        assert row["low"] < row["high"]  # never a zero-width interval, even at n = 1
        assert row["too_few"] == (n < 30)
        if expected == 100:
            assert row["high"] == 100

    check_all_answers_alike()


# -- CSAT, CES, other ratings ----------------------------------------------------------------
def test_csat_is_top_two_box_share_with_wilson_interval(make_workspace):
    ws = make_workspace(feedback=answers("csat", [5, 4, 4, 3, 2, 1, 5, 5, 3, 4]))
    row = metrics(ws, "csat").to_pandas().iloc[0]
    assert row["top_box"] == pytest.approx(0.6) and row["score"] == pytest.approx(60)
    low, high = proportion_confint(6, 10, alpha=0.05, method="wilson")
    assert (row["low"], row["high"]) == pytest.approx((100 * low, 100 * high))
    assert row["method"] == "Wilson"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 500), data=st.data())
def test_wilson_equals_statsmodels(n, data):
    successes = data.draw(st.integers(0, n))
    expected = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson(successes, n) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("higher_is_easier", "easy_share"), [(True, 3 / 6), (False, 2 / 6)])
def test_ces_mean_t_interval_and_easy_share_follow_the_scale_direction(
    make_workspace, higher_is_easier, easy_share
):
    scores = [7, 6, 5, 4, 2, 1]
    ws = make_workspace(
        feedback=answers("ces", scores),
        journey={"scales": {"ces": {"min": 1, "max": 7, "higher_is_easier": higher_is_easier}}},
    )
    row = metrics(ws, "ces").to_pandas().iloc[0]
    mean, sd = np.mean(scores), np.std(scores, ddof=1)
    half = stats.t.ppf(0.975, 5) * sd / math.sqrt(6)
    assert row["score"] == pytest.approx(mean) and row["sd"] == pytest.approx(sd)
    assert (row["low"], row["high"]) == pytest.approx((mean - half, mean + half))
    assert row["easy"] == pytest.approx(easy_share)
    direction = "higher is easier" if higher_is_easier else "lower is easier"
    assert direction in metrics(ws, "ces").to_dict()["how"]


def test_custom_and_unscaled_metrics_and_out_of_scale_answers(make_workspace):
    ws = make_workspace(
        feedback=answers("effort", [10, 8, 7, 2, 11]) + answers("stars", [3, 4]),
        journey={"scales": {"effort": {"min": 0, "max": 10}}},
    )
    result = metrics(ws)
    rows = result.to_pandas().set_index("metric")
    # 11 lies outside the 0-10 scale: left out and counted
    assert rows.loc["effort", "n"] == 4 and result.to_dict()["params"]["out_of_scale"] == 1
    assert rows.loc["effort", "top_box"] == pytest.approx(2 / 4)  # top box: >= 7.5
    assert rows.loc["stars", "score"] == pytest.approx(3.5)
    assert math.isnan(rows.loc["stars", "top_box"])  # no scale, no top box


def test_text_feedback_without_score_is_ignored(make_workspace):
    ws = make_workspace(
        feedback=[{"ts": "2024-01-01", "metric": "text", "comment": "slow"}, *answers("nps", [10])]
    )
    assert list(metrics(ws).to_pandas()["metric"]) == ["nps"]


# -- grouping ----------------------------------------------------------------------------------
@pytest.fixture
def grouped(make_workspace):
    feedback = [
        # touchpoint given directly
        {
            "customer_id": "a",
            "ts": "2024-01-10",
            "metric": "nps",
            "score": 10,
            "touchpoint": "order",
        },
        # touchpoint known only through the event it answers
        {"customer_id": "b", "ts": "2024-01-20", "metric": "nps", "score": 0, "event_id": "e1"},
        {"customer_id": "c", "ts": "2024-02-05", "metric": "nps", "score": 8, "touchpoint": "chat"},
        {"customer_id": "x", "ts": "2024-02-06", "metric": "nps", "score": 9},
    ]
    return make_workspace(
        feedback=feedback,
        events=[
            {
                "event_id": "e1",
                "customer_id": "b",
                "ts": "2024-01-19",
                "touchpoint": "delivery",
                "channel": "logistics",
            }
        ],
        customers=[
            {"customer_id": "a", "segment": "smb", "attributes": '{"plan": "gold"}'},
            {"customer_id": "b", "segment": "smb", "attributes": '{"plan": 3}'},
            {"customer_id": "c", "segment": "ent", "attributes": "{}"},
        ],
        journey={
            "touchpoints": {
                "order": {"phase": "conversion", "channel": "web"},
                "delivery": {"phase": "loyalty"},
                "chat": {"phase": "unassigned", "channel": "app"},
            }
        },
    )


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("touchpoint", {"order": 100, "delivery": -100, "chat": 0, "(missing)": 100}),
        ("phase", {"conversion": 100, "loyalty": -100, "unassigned": 0, "(missing)": 100}),
        # configured channel first, else the channel of the answered event
        ("channel", {"web": 100, "logistics": -100, "app": 0, "(missing)": 100}),
        ("segment", {"smb": 0, "ent": 0, "(missing)": 100}),
        ("month", {"2024-01": 0, "2024-02": 50}),
        ("plan", {"gold": 100, "3": -100, "(missing)": 50}),
    ],
)
def test_groups(grouped, by, expected):
    frame = metrics(grouped, "nps", by=by).to_pandas()
    assert dict(zip(frame["group"], frame["score"], strict=True)) == pytest.approx(expected)


def test_unknown_attribute_is_refused(grouped):
    with pytest.raises(ValueError, match="no customer has an attribute 'tier'"):
        metrics(grouped, by="tier")


def test_period_filter_includes_the_end_date_and_empty_result_does_not_crash(grouped):
    frame = metrics(grouped, "nps", start="2024-01-10", end="2024-01-20").to_pandas()
    assert frame["n"].tolist() == [2]
    empty = metrics(grouped, "nps", start="2030-01-01")
    assert empty.to_pandas().empty
    assert empty.summary() and empty.summary("nl")
    json.dumps(empty.to_dict())


def test_summary_and_json(grouped):
    result = metrics(grouped, "nps", by="touchpoint", min_n=1)
    assert "highest for" in result.summary() and "lowest for delivery" in result.summary()
    assert "het laagst bij delivery" in result.summary("nl")
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["params"]["by"] == "touchpoint" and "adjusted Wald" in payload["how"]
    with pytest.raises(ValueError):
        result.summary("de")


# -- comparing ---------------------------------------------------------------------------------
def test_segment_against_rest_finds_the_real_difference_only(make_workspace):
    feedback, customers = [], []
    plan = {"happy": [10] * 30 + [9] * 10, "sad": [0] * 25 + [8] * 15, "mixed": [10, 8, 5] * 13}
    for segment, scores in plan.items():
        for i, score in enumerate(scores):
            cid = f"{segment}{i}"
            customers.append({"customer_id": cid, "segment": segment})
            feedback.append(
                {"customer_id": cid, "ts": "2024-03-01", "metric": "nps", "score": score}
            )
    ws = make_workspace(feedback=feedback, customers=customers)
    result = compare(ws, "nps")
    frame = result.to_pandas().set_index("group")
    assert frame.loc["happy", "significant"] and frame.loc["sad", "significant"]
    assert not frame.loc["mixed", "significant"]
    # q-values are Benjamini-Hochberg over the three tests
    p_values = result.to_pandas()["p_value"].to_numpy()
    expected = multipletests(p_values, method="fdr_bh")[1]
    assert result.to_pandas()["q_value"].to_numpy() == pytest.approx(expected)
    summary = result.summary()
    assert "happy" in summary and "sad" in summary and "mixed" not in summary
    assert "mixed" not in result.summary("nl")


def test_nps_period_test_uses_the_pooled_multinomial_variance(make_workspace):
    first = [10] * 10 + [8] * 5 + [3] * 5  # NPS 25
    second = [10] * 4 + [8] * 6 + [3] * 10  # NPS -30
    feedback = [{"ts": "2024-01-15", "metric": "nps", "score": s} for s in first] + [
        {"ts": "2024-02-15", "metric": "nps", "score": s} for s in second
    ]
    ws = make_workspace(feedback=feedback)
    result = compare(
        ws, "nps", periods=(("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"))
    )
    row = result.to_pandas().iloc[0]
    assert (row["score_ref"], row["score"], row["difference"]) == pytest.approx((25, -30, -55))
    pro, det = 14 / 40, 15 / 40
    se = math.sqrt((pro + det - (pro - det) ** 2) * (1 / 20 + 1 / 20))
    assert row["statistic"] == pytest.approx(-0.55 / se)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(0.55 / se))
    assert "from +25 to -30" in result.summary()


def test_csat_and_mean_tests_match_statsmodels_and_scipy(make_workspace):
    a, b = [5, 4, 4, 2, 1, 5, 3, 4, 5, 5], [2, 1, 3, 4, 2, 1, 2, 3]
    feedback = []
    for metric in ("csat", "rating"):
        feedback += [{"ts": "2024-01-15", "metric": metric, "score": s} for s in a]
        feedback += [{"ts": "2024-02-15", "metric": metric, "score": s} for s in b]
    ws = make_workspace(feedback=feedback)
    periods = (("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"))
    csat = compare(ws, "csat", periods=periods).to_pandas().iloc[0]
    z, p = proportions_ztest([1, 7], [8, 10])
    assert csat["statistic"] == pytest.approx(z) and csat["p_value"] == pytest.approx(p)
    rating = compare(ws, "rating", periods=periods).to_pandas().iloc[0]
    welch = stats.ttest_ind(b, a, equal_var=False)
    assert rating["statistic"] == pytest.approx(welch.statistic)
    assert rating["p_value"] == pytest.approx(welch.pvalue)
    assert rating["difference"] == pytest.approx(np.mean(b) - np.mean(a))


def test_compare_refuses_overlapping_periods_and_handles_empty_sides(grouped):
    with pytest.raises(ValueError, match="overlap"):
        compare(
            grouped, "nps", periods=(("2024-01-01", "2024-02-10"), ("2024-02-01", "2024-03-01"))
        )
    result = compare(
        grouped, "nps", periods=(("2023-01-01", "2023-01-31"), ("2024-01-01", "2024-12-31"))
    )
    row = result.to_pandas().iloc[0]
    assert row["n_ref"] == 0 and not row["significant"] and math.isnan(row["p_value"])
    assert "No difference" in result.summary()
    json.dumps(result.to_dict())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=30))
def test_benjamini_hochberg_equals_statsmodels(p_values):
    p_values = np.array(p_values)
    q_values = benjamini_hochberg(p_values)
    finite = np.isfinite(p_values)
    assert np.isnan(q_values[~finite]).all()
    if finite.any():
        expected = multipletests(p_values[finite], method="fdr_bh")[1]
        assert q_values[finite] == pytest.approx(expected)


def test_differences_in_sentences_have_their_interval_and_n(make_workspace):
    feedback, customers = [], []
    plan = {"happy": [10] * 30 + [9] * 10, "sad": [0] * 25 + [8] * 15, "mixed": [10, 8, 5] * 13}
    for segment, scores in plan.items():
        for i, score in enumerate(scores):
            cid = f"{segment}{i}"
            customers.append({"customer_id": cid, "segment": segment})
            feedback.append(
                {"customer_id": cid, "ts": "2024-03-01", "metric": "nps", "score": score}
            )
    ws = make_workspace(feedback=feedback, customers=customers)
    result = compare(ws, "nps")
    sad = result.to_pandas().set_index("group").loc["sad"]
    text = result.summary()
    assert "points, 95% interval " in text and "n = 40 / 79" in text
    assert f"{sad['diff_low']:.0f} to " in text
    assert "punten, 95%-interval " in result.summary("nl") and " tot " in result.summary("nl")


def test_unknown_metric_is_refused_naming_the_known_ones(make_workspace):
    ws = make_workspace(feedback=answers("nps", [9, 10, 3]) + answers("stars", [4, 5]))
    with pytest.raises(ValueError, match=r"unknown metric 'npss'.*did you mean 'nps'.*stars"):
        compare(ws, "npss")
    with pytest.raises(ValueError, match="known metrics: ces, csat, nps, rating, stars"):
        metrics(ws, "happiness")
    assert compare(ws, "ces").to_pandas().empty  # known from its scale: no answers, no error


def test_a_tiny_share_shows_its_interval(make_workspace):
    ws = make_workspace(feedback=answers("csat", [5] + [1] * 4999))
    text = metrics(ws, "csat").summary()
    assert "0% (0%–0%)" not in text and "0.0% (0.0%" not in text
    assert "CSAT: 0.020% (0.004%–0.113%, n = 5,000)." in text  # no bound reads as 0
    assert "0,020% (0,004%–0,113%, n = 5.000)" in metrics(ws, "csat").summary("nl")
