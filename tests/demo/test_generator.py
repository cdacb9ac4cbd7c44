"""The demo generator: deterministic, canonical, plausible, and its planted truth is recoverable.

The checks here read the generated Parquet files with pandas, independently of the generator's
own bookkeeping, and define churn exactly as cxray.analysis.lifetimes does.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import statsmodels.api as sm
from lifelines import CoxTimeVaryingFitter

from cxray import schema
from cxray.demo.company import CHURN_TOUCHPOINT, TOUCHPOINT_NAMES, TOUCHPOINTS, DemoParameters
from cxray.demo.generator import GeneratedData, generate_sources

TABLES = {"customers": schema.CUSTOMERS, "events": schema.EVENTS, "feedback": schema.FEEDBACK}
PARAMS = DemoParameters()
CHURN = CHURN_TOUCHPOINT
INACTIVE = pd.Timedelta(days=PARAMS.inactive_days)


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> GeneratedData:
    return generate_sources(
        tmp_path_factory.mktemp("demo"),
        customers=5000,
        seed=42,
        comment_labels=tmp_path_factory.mktemp("labels") / "labels.parquet",
    )


def read(data: GeneratedData, table: str) -> pd.DataFrame:
    return pd.read_parquet(data.files[table])


def lifetimes(events: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """customer_lifetimes in pandas: start, churned, end (churn or end of observation)."""
    end = events.ts.max()
    until = end - INACTIVE
    activity = events[events.touchpoint != CHURN].groupby("customer_id").ts
    per = pd.DataFrame({"first": activity.min(), "last": activity.max()})
    per["cancel"] = events[events.touchpoint == CHURN].groupby("customer_id").ts.min()
    per = per.join(customers.set_index("customer_id")[["first_seen", "segment"]], how="outer")
    per["start"] = per[["first", "first_seen"]].min(axis=1)
    lapsed = per["last"].where(per["last"] + INACTIVE <= end)
    churn_ts = per["cancel"].fillna(lapsed)
    per["churned"] = churn_ts.notna() & (churn_ts <= until)
    per["end"] = churn_ts.where(per["churned"], until)
    return per[per.start <= until]


def exit_touchpoints(events: pd.DataFrame, per: pd.DataFrame) -> pd.Series:
    """Last non-churn touchpoint at or before each churner's churn moment; ties by name, id."""
    churners = per[per.churned]
    ev = events[events.customer_id.isin(churners.index) & (events.touchpoint != CHURN)]
    ev = ev[ev.ts <= ev.customer_id.map(churners["end"])]
    ev = ev.sort_values(["customer_id", "ts", "touchpoint", "event_id"])
    return ev.groupby("customer_id").tail(1).touchpoint.value_counts()


def counting_process(events: pd.DataFrame, customers: pd.DataFrame, covariates: list[str]):
    """Start-stop rows (days since start): counts of each touchpoint strictly before each moment."""
    per = lifetimes(events, customers)
    x = events[events.touchpoint.isin(covariates)].join(per[["start", "end"]], on="customer_id")
    x = x[(x.ts < x.end) & (x.ts > x.start)]
    x = x.assign(t=(x.ts - x.start).dt.total_seconds() / 86400).sort_values(["customer_id", "t"])
    for name in covariates:
        x[name] = (x.touchpoint == name).astype(int)
    x[covariates] = x.groupby("customer_id")[covariates].cumsum()
    zero = pd.DataFrame({"customer_id": per.index, "t": 0.0, **dict.fromkeys(covariates, 0)})
    rows = pd.concat([zero, x[["customer_id", "t", *covariates]]]).sort_values(
        ["customer_id", "t"], kind="stable"
    )
    rows = rows.groupby(["customer_id", "t"], as_index=False).last()
    length = ((per["end"] - per["start"]).dt.total_seconds() / 86400).rename("length")
    rows = rows.join(length, on="customer_id").join(per[["churned", "segment"]], on="customer_id")
    rows["stop"] = rows.groupby("customer_id").t.shift(-1).fillna(rows["length"])
    rows["event"] = (rows["stop"] == rows["length"]) & rows["churned"]
    rows["business"] = (rows.segment == "business").astype(int)
    rows = rows[rows.stop > rows.t].rename(columns={"t": "start"})
    return rows[["customer_id", "start", "stop", "event", "business", *covariates]]


# -- determinism -------------------------------------------------------------------------------
def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path):
    small = DemoParameters(chunk_customers=400)  # several chunks, so chunking is covered too
    a = generate_sources(tmp_path / "a", customers=1000, seed=7, params=small)
    b = generate_sources(tmp_path / "b", customers=1000, seed=7, params=small)
    c = generate_sources(tmp_path / "c", customers=1000, seed=8, params=small)
    for table in TABLES:
        assert pq.read_table(a.files[table]).equals(pq.read_table(b.files[table])), table
        assert not pq.read_table(a.files[table]).equals(pq.read_table(c.files[table])), table
    assert json.dumps(a.truth, default=str) == json.dumps(b.truth, default=str)


def test_refuses_an_empty_company_or_a_negative_seed(tmp_path: Path):
    with pytest.raises(ValueError, match="customers"):
        generate_sources(tmp_path, customers=0)
    with pytest.raises(ValueError, match="seed"):
        generate_sources(tmp_path, customers=10, seed=-1)


# -- the files are canonical tables ------------------------------------------------------------
@pytest.mark.parametrize("table", list(TABLES))
def test_files_have_the_canonical_columns_and_types(default_demo: GeneratedData, table: str):
    spec = TABLES[table]
    arrow = pq.read_schema(default_demo.files[table])
    # an event log, not a CRM export: customers carry no lifetime columns, and the survey
    # tool exports no extra columns for feedback's properties
    absent = {"customers": {"churned_at", "last_seen"}, "feedback": {"properties"}}
    lifetime = absent.get(table, set())
    assert arrow.names == [c for c in spec.columns if c not in lifetime]
    for name, dtype in spec.schema.items():
        if name in lifetime:
            continue
        field = arrow.field(name)
        if dtype.is_timestamp():
            assert str(field.type) == "timestamp[us, tz=UTC]", name
        elif dtype.is_floating():
            assert str(field.type) == "double", name
        else:
            assert str(field.type) == "string", name
    frame = read(default_demo, table)
    assert frame[spec.key].is_unique
    for name in spec.required:
        assert frame[name].notna().all(), name
    assert len(frame) == default_demo.counts[table]


def test_rows_refer_to_each_other_and_respect_the_journey(default_demo: GeneratedData):
    customers, events, feedback = (read(default_demo, t) for t in TABLES)
    known = set(customers.customer_id)
    assert set(events.customer_id) <= known and set(feedback.customer_id) <= known
    assert set(events.touchpoint) == set(TOUCHPOINT_NAMES)
    channel = {tp.name: tp.channel for tp in TOUCHPOINTS}
    assert (events.channel == events.touchpoint.map(channel)).all()
    # feedback tied to an event names that event's customer and touchpoint, after it happened
    tied = feedback[feedback.event_id.notna()].join(
        events.set_index("event_id")[["customer_id", "touchpoint", "ts"]],
        on="event_id",
        rsuffix="_event",
    )
    assert tied.ts_event.notna().all()
    assert (tied.customer_id == tied.customer_id_event).all()
    assert (tied.touchpoint == tied.touchpoint_event).all()
    assert (tied.ts >= tied.ts_event).all()
    assert feedback.loc[feedback.metric == "nps", "event_id"].isna().all()
    for metric, scale in PARAMS_SCALES.items():
        scores = feedback.loc[feedback.metric == metric, "score"]
        assert len(scores) and scores.between(*scale).all() and (scores % 1 == 0).all(), metric
    # nothing happens after the end of the data, nor after a customer cancelled
    assert events.ts.max() <= pd.Timestamp(PARAMS.data_end)
    cancel = events[events.touchpoint == CHURN].set_index("customer_id").ts
    assert cancel.index.is_unique
    after = events.ts > events.customer_id.map(cancel)
    assert not after.any()
    # JSON columns parse
    assert customers.attributes.map(json.loads).map(set).eq({"plan", "region"}).all()
    assert events.properties.dropna().map(json.loads).map(len).gt(0).all()


PARAMS_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}


# -- plausibility ------------------------------------------------------------------------------
def test_customers_look_like_the_planted_population(default_demo: GeneratedData):
    customers = read(default_demo, "customers")
    assert customers.language.value_counts(normalize=True)["nl"] == pytest.approx(0.6, abs=0.03)
    assert customers.segment.value_counts(normalize=True)["business"] == pytest.approx(
        0.2, abs=0.03
    )
    assert customers.first_seen.min() >= pd.Timestamp(PARAMS.data_start)
    # sign-ups grow: the second year brings more customers than the first
    midpoint = pd.Timestamp(PARAMS.data_start) + pd.Timedelta(days=365)
    assert (customers.first_seen >= midpoint).mean() > 0.55
    subscribed = customers.value > 0
    assert 0.6 < subscribed.mean() < 0.85


def test_the_phase_funnel_loses_customers_at_every_step(default_demo: GeneratedData):
    events = read(default_demo, "events")
    phase = {tp.name: tp.phase for tp in TOUCHPOINTS}
    reach = events.assign(phase=events.touchpoint.map(phase)).groupby("phase").customer_id.nunique()
    ordered = [
        reach[p] for p in ("awareness", "consideration", "conversion", "loyalty", "advocacy")
    ]
    assert ordered[0] == default_demo.counts["customers"]
    assert all(a > b for a, b in itertools.pairwise(ordered))
    assert ordered[-1] / ordered[0] > 0.2  # not an empty funnel
    assert reach.to_dict() == default_demo.truth["funnel"]["phase_reach"]


def test_churn_is_realistic_and_both_kinds_occur(default_demo: GeneratedData):
    per = lifetimes(read(default_demo, "events"), read(default_demo, "customers"))
    truth = default_demo.truth
    assert 0.2 <= truth["churn_within_100_days_share"] <= 0.4
    observed = truth["counts"]["observed_churn"]
    assert per.churned.sum() == observed["cancellation"] + observed["inactivity"]
    assert observed["inactivity"] > 0.1 * per.churned.sum()  # the inactivity rule matters
    assert 0.25 < per.churned.mean() < 0.6


def test_scores_fall_with_the_planted_bad_experiences(default_demo: GeneratedData):
    feedback = read(default_demo, "feedback")
    csat = feedback[feedback.metric == "csat"].groupby("touchpoint").score.mean()
    assert csat["delivery_late"] < csat["delivery"] - 1.5
    answered = feedback.comment.notna().mean()
    assert 0.4 <= answered <= 0.6
    assert set(feedback.language) == {"en", "nl"}


# -- the planted exit touchpoint ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [42, 1, 2])
def test_most_churners_leave_after_a_late_delivery(tmp_path: Path, seed: int):
    data = generate_sources(tmp_path, customers=5000, seed=seed)
    events = read(data, "events")
    exits = exit_touchpoints(events, lifetimes(events, read(data, "customers")))
    assert exits.index[0] == data.truth["top_exit_touchpoint"] == "delivery_late"
    assert exits.iloc[0] > 1.2 * exits.iloc[1]
    assert exits.to_dict() == data.truth["exit_touchpoints"]


# -- the planted hazard ratios -----------------------------------------------------------------
def test_time_varying_cox_recovers_the_planted_hazard_ratios(tmp_path: Path):
    data = generate_sources(tmp_path, customers=5000, seed=1)
    rows = counting_process(
        read(data, "events"), read(data, "customers"), ["delivery_late", "login_failed"]
    )
    fit = CoxTimeVaryingFitter().fit(
        rows, id_col="customer_id", start_col="start", stop_col="stop", event_col="event"
    )
    summary = fit.summary
    planted = {**PARAMS.hazard_ratios, "business": PARAMS.segment_hazard_ratios["business"]}
    sample = data.truth["sample_estimates"]
    sample_hr = {**sample["hazard_ratios"], **sample["segment_hazard_ratios"]}
    for name, true_hr in planted.items():
        low, high = summary.loc[name, ["exp(coef) lower 95%", "exp(coef) upper 95%"]]
        assert low <= true_hr <= high, (name, low, high)
        # the files carry exactly the process the generator simulated
        cox = summary.loc[name, "exp(coef)"]
        assert np.log(cox) == pytest.approx(np.log(sample_hr[name]["estimate"]), abs=0.03)


def test_no_unplanted_touchpoint_drives_churn(default_demo: GeneratedData):
    """Every touchpoint's count in one piecewise-exponential model: only the planted ones matter."""
    covariates = [n for n in TOUCHPOINT_NAMES if n != CHURN]
    rows = counting_process(
        read(default_demo, "events"), read(default_demo, "customers"), covariates
    )
    # split each interval at the planted baseline breakpoint (day 100)
    pieces = []
    for low, high in ((0.0, 100.0), (100.0, np.inf)):
        start, stop = rows.start.clip(lower=low), rows.stop.clip(upper=high)
        keep = stop > start
        pieces.append(
            rows[keep].assign(
                late_piece=float(low > 0),
                exposure=(stop - start)[keep],
                event=rows.event[keep] & (rows.stop[keep] <= high),
            )
        )
    data = pd.concat(pieces)
    names = ["late_piece", "business", *covariates]
    fit = sm.GLM(
        data.event.astype(float),
        sm.add_constant(data[names].astype(float)),
        family=sm.families.Poisson(),
        offset=np.log(data.exposure),
    ).fit()
    planted = set(PARAMS.hazard_ratios)
    nulls = [n for n in covariates if n not in planted]
    # Bonferroni over the null touchpoints: none may look like a driver
    assert (fit.pvalues[nulls] > 0.05 / len(nulls)).all(), fit.pvalues[nulls].sort_values()
    for name in planted:
        assert fit.pvalues[name] < 1e-6
        low, high = np.exp(fit.conf_int().loc[name])
        assert low <= PARAMS.hazard_ratios[name] <= high, (name, low, high)


def test_sample_estimates_agree_with_the_plant_at_scale(tmp_path: Path):
    data = generate_sources(tmp_path, customers=60_000, seed=3)
    sample = data.truth["sample_estimates"]
    estimates = {**sample["hazard_ratios"], **sample["segment_hazard_ratios"]}
    planted = {**PARAMS.hazard_ratios, **PARAMS.segment_hazard_ratios}
    for name, true_hr in planted.items():
        est = estimates[name]
        standard_error = np.log(est["ci_high"] / est["ci_low"]) / (2 * 1.96)
        # within 3 standard errors (a 95% interval misses 1 time in 20 by design)
        assert abs(np.log(est["estimate"] / true_hr)) < 3 * standard_error, (name, est)
        assert est["estimate"] == pytest.approx(true_hr, rel=0.05)
    baseline = [h for _, h in PARAMS.baseline_hazard]
    assert sample["baseline_hazard_per_30_days"] == pytest.approx(baseline, rel=0.1)
    assert sample["churns"] == sum(data.truth["counts"]["observed_churn"].values())


# -- comments and the truth about them ----------------------------------------------------------
def test_comment_themes_follow_the_planted_causes(default_demo: GeneratedData, tmp_path: Path):
    truth = default_demo.truth
    themes = truth["themes"]
    assert themes["late_delivery"]["trigger"] == "delivery_late"
    assert themes["login_problem"]["trigger"] == "login_failed"
    for theme in themes.values():
        assert theme["languages"] == ["en", "nl"]
    assert sum(t["share_of_comments"] for t in themes.values()) == pytest.approx(1, abs=1e-3)
    # what detractors write about is mostly what was planted
    detractor = truth["detractor_themes"]
    planted = detractor["late_delivery"] + detractor["login_problem"]
    assert planted > 0.6 * sum(detractor.values())
    assert detractor["late_delivery"] == max(detractor.values())


def test_comment_labels_match_the_feedback(default_demo: GeneratedData):
    feedback = read(default_demo, "feedback").set_index("response_id")
    labels = pd.read_parquet(default_demo.comment_labels)
    assert set(labels.response_id) == set(feedback.index[feedback.comment.notna()])
    late = labels[labels.theme == "late_delivery"].join(feedback, on="response_id")
    words = {
        "nl": "laat|late|later|vertra|wacht|lang|gemist|beloofde",
        "en": "late|delay|wait|long|missed|promised|on time",
    }
    for lang, pattern in words.items():
        comments = late.loc[late.language == lang, "comment"]
        assert len(comments) > 50
        assert comments.str.contains(pattern, case=False).all(), lang
