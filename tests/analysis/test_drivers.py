"""Drivers of churn: the counting process, the Poisson fit, the planted demo truth, lifelines."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray.analysis.drivers import (
    Candidate,
    bh_qvalues,
    drivers,
    fit_poisson,
    grouped_exposure,
    occurrences,
)
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.demo import generate_demo

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[int, cxray.Workspace]:
    opened = {}
    for seed in (1, 2):
        path = tmp_path_factory.mktemp(f"demo{seed}") / "ws"
        generate_demo(path, customers=3000, seed=seed)
        opened[seed] = cxray.open(path)
    yield opened
    for ws in opened.values():
        ws.close()


def truth(ws: cxray.Workspace) -> dict:
    return json.loads((ws.path / "ground_truth.json").read_text())


# -- small hand-checked workspaces ---------------------------------------------------------
JOURNEY = {
    "touchpoints": {
        "visit": {"phase": "consideration"},
        "late": {"phase": "loyalty", "bad_experience": True},
        "cancel": {"phase": "loyalty"},
    },
    "churn": {"touchpoints": ["cancel"], "inactive_days": 180},
}


NAMES = itertools.count()


def small_workspace(make_workspace, tenures: list[tuple[float, bool, list[float]]]):
    """One customer per tuple: (days until churn, churned, days of 'late' events).

    Customer i starts with a visit at T0 + i minutes. The observation window ends on day
    U = max(days) + 1 (the template's 180 inactive days before the last event): customers who
    do not churn stay active past it and are censored there, whatever their ``days``.
    """
    events = []
    until = max(days for days, _, _ in tenures) + 1
    last = T0 + (until + 180) * DAY
    for i, (days, churned, lates) in enumerate(tenures):
        start = T0 + pd.Timedelta(minutes=i)
        cid = f"c{i}"
        events.append({"customer_id": cid, "ts": start, "touchpoint": "visit"})
        for late in lates:
            events.append({"customer_id": cid, "ts": start + late * DAY, "touchpoint": "late"})
        if churned:
            events.append({"customer_id": cid, "ts": start + days * DAY, "touchpoint": "cancel"})
        else:
            events.append({"customer_id": cid, "ts": last, "touchpoint": "visit"})
    customers = [{"customer_id": f"c{i}", "segment": "a"} for i in range(len(tenures))]
    # a fresh workspace per call: hypothesis calls this many times within one test
    return make_workspace(
        events=events, customers=customers, journey=JOURNEY, name=f"ws{next(NAMES)}"
    )


def late_only(ws):
    return occurrences(ws, [Candidate("late", "touchpoint", "late")])


def test_grouped_exposure_splits_time_at_each_occurrence(make_workspace) -> None:
    ws = small_workspace(make_workspace, [(100, True, [10, 40]), (50, False, [70, 150])])
    frame = grouped_exposure(ws, late_only(ws), ["late"], cap=10, cuts=(30, 60))
    by_count = frame.groupby("c0")[["exposure_days", "events"]].sum()
    lifetimes = customer_lifetimes(ws).execute().set_index("customer_id")
    censored_at = lifetimes.loc["c1", "duration_days"]  # about 101 days
    assert 100 < censored_at < 101.01 and not lifetimes.loc["c1", "churned"]
    # c0: 0-10 at count 0, 10-40 at 1, 40-100 at 2 and churns; c1: 0-70 at 0, then 1 until
    # censored; its late event on day 150 lies after its observation ends and never counts
    assert by_count.loc[0, "exposure_days"] == pytest.approx(10 + 70, abs=1e-3)
    assert by_count.loc[1, "exposure_days"] == pytest.approx(30 + censored_at - 70, abs=1e-3)
    assert by_count.loc[2, "exposure_days"] == pytest.approx(60.0, abs=1e-3)
    assert by_count.events.tolist() == [0, 0, 1]
    # episodes never cross a tenure cut: interval 0 holds exactly the first 30 days of each
    assert frame[frame.interval == 0].exposure_days.sum() == pytest.approx(60.0, abs=1e-3)
    assert frame[frame.interval == 2].events.sum() == 1


def test_occurrence_at_the_churn_moment_does_not_count(make_workspace) -> None:
    ws = small_workspace(make_workspace, [(20, True, [20]), (30, False, [])])
    frame = grouped_exposure(ws, late_only(ws), ["late"], cap=10, cuts=())
    assert set(frame.c0) == {0}
    assert frame.events.sum() == 1


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=200),
            st.booleans(),
            st.lists(st.integers(min_value=0, max_value=220), max_size=4),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_grouped_totals_match_lifetimes(make_workspace, tenures) -> None:
    # the last customer stays: the observation window then ends after everyone's start
    tenures = [*tenures, (1, False, [])]
    ws = small_workspace(
        make_workspace, [(d, c, [float(x) for x in lates]) for d, c, lates in tenures]
    )
    frame = grouped_exposure(ws, late_only(ws), ["late"], cap=2)
    lifetimes = customer_lifetimes(ws).execute()
    lifetimes = lifetimes[~lifetimes.too_new & (lifetimes.duration_days > 0)]
    assert frame.exposure_days.sum() == pytest.approx(lifetimes.duration_days.sum(), rel=1e-9)
    assert frame.events.sum() == lifetimes.churned.sum()
    assert frame.c0.max() <= 2
    # days exposed (count >= 1) = sum over customers of time after their first late event
    expected = 0.0
    for row in lifetimes.itertuples():
        i = int(row.customer_id[1:])
        lates = [x for x in tenures[i][2] if x < row.duration_days - 1e-9]
        if lates:
            expected += row.duration_days - min(lates)
    assert frame[frame.c0 >= 1].exposure_days.sum() == pytest.approx(expected, abs=1e-3)


# -- the fit and the q-values ---------------------------------------------------------------
def test_fit_poisson_recovers_a_known_rate_ratio() -> None:
    # two intervals, one binary covariate; rate ratio 3 exactly in the data
    exposure = np.array([1000.0, 1000.0, 500.0, 500.0])
    events = np.array([10.0, 30.0, 20.0, 60.0])
    design = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=float)
    fit = fit_poisson(design, events, exposure, ["interval:0", "interval:1", "x"])
    assert fit.converged
    assert math.exp(fit.coef[2]) == pytest.approx(3.0, rel=1e-6)
    # Wald variance of a log rate ratio from counts: 1/a + 1/b summed over strata (pooled)
    assert fit.cov[2, 2] == pytest.approx(1 / 30 + 1 / 90, rel=0.01)


def test_bh_qvalues_match_the_definition() -> None:
    # sorted 0.01, 0.03, 0.04, 0.5 -> p*4/rank = 0.04, 0.06, 0.0533, 0.5 -> running minimum
    p = [0.01, 0.04, 0.03, 0.5]
    q = bh_qvalues(p)
    assert q.tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert bh_qvalues([]).size == 0


# -- the planted truth ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2])
def test_planted_drivers_on_top_with_true_ratio_inside(demos, seed: int) -> None:
    ws = demos[seed]
    result = drivers(ws)
    table = result.to_pandas()
    planted = truth(ws)["churn_model"]
    assert table.driver.iloc[:2].tolist() == ["delivery_late", "login_failed"]
    for name, true_hr in planted["hazard_ratios"].items():
        row = table.set_index("driver").loc[name]
        assert row.hr_lower <= true_hr <= row.hr_upper, (name, row.hazard_ratio)
        assert row.significant and row.customers_lost > 0
    nulls = table[table.driver.isin(planted["null_touchpoints"])]
    assert len(nulls) == len(planted["null_touchpoints"])
    assert not nulls.significant.any(), nulls[nulls.significant]
    business = result.adjustments.set_index("group").loc["business"]
    assert business.hr_lower <= 0.7 <= business.hr_upper


def test_summary_and_dict(demos) -> None:
    result = drivers(demos[1], candidates=["delivery_late", "login_failed", "site_visit"])
    en, nl = result.summary("en"), result.summary("nl")
    assert en.startswith("delivery_late: customers who had one churned")
    assert "not proven causes" in en and "geen bewezen oorzaken" in nl
    assert "site_visit" not in en  # not significant, so not in the summary
    json.dumps(result.to_dict())
    assert result.to_dict()["adjusted_for"] == ["tenure", "segment"]
    with pytest.raises(ValueError, match="unknown candidate"):
        drivers(demos[1], candidates=["no_such_touchpoint"])
    with pytest.raises(ValueError, match="language"):
        result.summary("de")


def test_ever_coding_and_period(demos) -> None:
    ws = demos[1]
    whole = drivers(ws, candidates=["delivery_late"], coding="ever")
    half = drivers(
        ws, candidates=["delivery_late"], coding="ever", period=("2025-01-01", "2025-06-30")
    )
    whole_row, half_row = whole.to_pandas().iloc[0], half.to_pandas().iloc[0]
    assert whole_row.hazard_ratio == pytest.approx(half_row.hazard_ratio)
    assert 0 < half_row.customers_lost < whole_row.customers_lost
    assert half_row.lost_lower < half_row.customers_lost < half_row.lost_upper
    assert "after the first time" in whole.summary()


# -- agreement with lifelines ---------------------------------------------------------------
def lifelines_long_format(ws: cxray.Workspace, names: list[str]) -> pd.DataFrame:
    """Start-stop rows built in pandas, independently of the engine code."""
    lifetimes = customer_lifetimes(ws).execute()
    lifetimes = lifetimes[~lifetimes.too_new & (lifetimes.duration_days > 0)]
    segments = ws.customers.select("customer_id", "segment").execute()
    lifetimes = lifetimes.merge(segments, on="customer_id", how="left")
    events = ws.events.filter(ws.events.touchpoint.isin(names)).execute()
    events = events.merge(lifetimes[["customer_id", "start", "duration_days"]], on="customer_id")
    events["t"] = (events.ts - events.start).dt.total_seconds() / 86400
    events = events[events.t < events.duration_days]
    by_customer = {cid: grp for cid, grp in events.groupby("customer_id")}
    rows = []
    for person in lifetimes.itertuples():
        counts = dict.fromkeys(names, 0)
        start = 0.0
        own = by_customer.get(person.customer_id)
        changes = [] if own is None else sorted(zip(own.t, own.touchpoint, strict=True))
        business = float(person.segment == "business")
        for t, touchpoint in changes:
            if t > start:
                rows.append(
                    {
                        "id": person.customer_id,
                        "start": start,
                        "stop": t,
                        "event": False,
                        "business": business,
                        **counts,
                    }
                )
                start = t
            counts[touchpoint] += 1
        rows.append(
            {
                "id": person.customer_id,
                "start": start,
                "stop": person.duration_days,
                "event": bool(person.churned),
                "business": business,
                **counts,
            }
        )
    return pd.DataFrame(rows)


def test_agrees_with_lifelines_cox_time_varying(demos) -> None:
    lifelines = pytest.importorskip("lifelines")
    ws = demos[1]
    names = ["delivery_late", "login_failed"]
    long = lifelines_long_format(ws, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = lifelines.CoxTimeVaryingFitter().fit(
            long, id_col="id", event_col="event", start_col="start", stop_col="stop"
        )
    ours = drivers(ws, candidates=names, max_count=1000).to_pandas().set_index("driver")
    summary = cox.summary
    for name in names:
        theirs = summary.loc[name]
        hr, lo, hi = (
            theirs["exp(coef)"],
            theirs["exp(coef) lower 95%"],
            theirs["exp(coef) upper 95%"],
        )
        mine = ours.loc[name]
        assert mine.hazard_ratio == pytest.approx(hr, abs=0.05)
        assert lo <= mine.hazard_ratio <= hi
        assert mine.hr_lower <= hr <= mine.hr_upper


def test_agrees_with_lifelines_on_a_larger_sample_with_default_cuts(tmp_path) -> None:
    """8,000 customers: intervals narrow enough to show a baseline too coarse for a Cox fit."""
    lifelines = pytest.importorskip("lifelines")
    generate_demo(tmp_path / "ws", customers=8000, seed=3)
    ws = cxray.open(tmp_path / "ws")
    names = ["delivery_late", "login_failed"]
    long = lifelines_long_format(ws, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = lifelines.CoxTimeVaryingFitter().fit(
            long, id_col="id", event_col="event", start_col="start", stop_col="stop"
        )
    result = drivers(ws, candidates=names, max_count=1000)
    ours = result.to_pandas().set_index("driver")
    ours.loc["business"] = result.adjustments.set_index("group").loc["business"]
    columns = ["exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%"]
    for name in [*names, "business"]:
        hr, lo, hi = cox.summary.loc[name, columns]
        mine = ours.loc[name]
        assert mine.hazard_ratio == pytest.approx(hr, abs=0.05), name
        assert lo <= mine.hazard_ratio <= hi
        assert mine.hr_lower <= hr <= mine.hr_upper
    ws.close()


def test_a_candidate_nobody_had_in_time_gets_no_estimate(make_workspace) -> None:
    # the only late event of c1 falls after its observation window: nothing to estimate
    ws = small_workspace(
        make_workspace,
        [(100, True, []), (50, False, [150]), (60, True, []), (80, False, [])],
    )
    result = drivers(ws, candidates=["late", "visit"], adjust_for=())
    row = result.to_pandas().set_index("driver").loc["late"]
    assert np.isnan(row.hazard_ratio) and np.isnan(row.q_value) and not row.significant
    assert row.customers_exposed == 1
    json.dumps(result.to_dict())


def test_sentences_use_journey_labels_and_the_period(make_workspace) -> None:
    journey = {
        **JOURNEY,
        "touchpoints": {
            **JOURNEY["touchpoints"],
            "late": {"phase": "loyalty", "label": "Late box"},
        },
    }
    events = [{"customer_id": "c0", "ts": T0, "touchpoint": "visit"}]
    ws = make_workspace(events=events, journey=journey, name="labelled")
    from cxray.analysis.drivers import DriversResult, _label

    assert _label(ws, Candidate("late", "touchpoint", "late"), "en") == "Late box"
    assert Candidate("low csat at x", "low_score", "x", "csat").label("nl") == "lage csat bij x"
    row = pd.Series(
        {
            "driver": "late",
            "kind": "touchpoint",
            "estimable": True,
            "churners_exposed": 60,
            "customers_exposed": 100,
            "hazard_ratio": 2.0,
            "hr_lower": 1.5,
            "hr_upper": 2.5,
            "customers_lost": 41.6,
            "lost_lower": 30.0,
            "lost_upper": 50.0,
            "value_lost": np.nan,
            "significant": True,
            "q_value": 0.001,
        }
    )
    result = DriversResult(
        drivers=pd.DataFrame([row]),
        adjustments=pd.DataFrame(),
        coding="per_occurrence",
        max_count=10,
        adjusted_for=["segment"],
        period=("2025-07-01T00:00:00+00:00", None),
        fdr=0.05,
        customers=10,
        churned=5,
        exposure_days=100.0,
        has_value=False,
        labels={"late": {"en": "Late box", "nl": "Late doos"}},
    )
    assert result.sentence(row, "en") == (
        "Late box: customers who had one churned 2.0× as fast (1.5–2.5, each time); "
        "≈ 42 customers lost from 2025-07-01 (30–50, of 60 churners who had it)."
    )
    assert result.sentence(row, "nl").startswith("Late doos: klanten die dit meemaakten")
    assert "vanaf 2025-07-01" in result.sentence(row, "nl")


def test_period_words_name_the_last_day_inside() -> None:
    from cxray.analysis.drivers import DriversResult

    result = DriversResult(
        drivers=pd.DataFrame(),
        adjustments=pd.DataFrame(),
        coding="ever",
        max_count=1,
        adjusted_for=[],
        period=("2025-07-01T00:00:00+00:00", "2025-10-01T00:00:00+00:00"),
        fdr=0.05,
        customers=0,
        churned=0,
        exposure_days=0.0,
        has_value=False,
    )
    assert result._period_words("en") == " from 2025-07-01 through 2025-09-30"
    assert result._period_words("nl") == " vanaf 2025-07-01 t/m 2025-09-30"


def test_information_with_one_hot_baseline_equals_the_dense_product() -> None:
    from cxray.analysis.poisson import _information

    rng = np.random.default_rng(0)
    one_hot = np.eye(4)[rng.integers(0, 4, 500)]
    covariates = rng.normal(size=(500, 3))
    design = np.column_stack([one_hot[:, :2], covariates[:, 0], one_hot[:, 2:], covariates[:, 1:]])
    names = ["interval:0", "interval:1", "x", "interval:2", "interval:3", "y", "z"]
    mu = rng.random(500)
    dense = design.T @ (design * mu[:, None])
    assert np.abs(_information(design, names)(mu) - dense).max() < 1e-9


def test_why_it_cannot_run_is_said_in_both_languages(make_workspace) -> None:
    from cxray.i18n import text_of

    feedback_only = make_workspace(
        feedback=[{"customer_id": "a", "ts": "2024-01-01", "metric": "rating", "score": 2.0}],
        customers=[{"customer_id": "a", "first_seen": "2024-01-01"}],
    )
    with pytest.raises(ValueError) as refused:
        drivers(feedback_only)
    assert text_of(refused.value, "en").startswith("no events and no customer attribute")
    assert text_of(refused.value, "nl").startswith("geen interacties en geen klantkenmerk")
