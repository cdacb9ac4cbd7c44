"""Drivers of churn: hazard ratios with time-varying exposure, adjusted for segment and tenure.

Method (a piecewise-exponential model, the scalable equivalent of a Cox model):

1. Lifetimes come from :func:`cxray.analysis.lifetimes.customer_lifetimes` (customers too new to
   judge and customers with a zero-length lifetime are left out). Time is days since the
   customer's start.
2. Each candidate driver is a kind of occurrence: an event of a touchpoint, or a feedback answer
   at or below the journey's bad-experience threshold for its metric at a touchpoint ("low csat at
   delivery"). An occurrence counts from its moment on and only when it lies strictly before the
   end of the customer's lifetime (a churn moment cannot explain itself).
3. In the engine each customer's time is split at every occurrence and at fixed tenure cuts
   (counting process, start–stop episodes); window functions give the count of each candidate so
   far. Ties in time are broken by (time, candidate, occurrence id); rows tied on time and
   candidate carry equal increments, so the result does not depend on the order among them.
   Occurrences past the cap are dropped first (they leave the capped count unchanged), which
   lets the capped counts share a few packed integers (one running sum for up to 17 candidates
   at the default cap). Episodes are then grouped by (tenure interval, adjustment groups, capped
   counts) into exposure days and churn events: only this grouped table reaches Python.
4. A Poisson log-linear model with log(exposure) offset is fitted on the grouped table by Newton
   iterations; the tenure intervals form the baseline (that is the tenure adjustment). Hazard
   ratio = exp(coefficient), Wald 95% interval, p-values and Benjamini–Hochberg q-values.
5. Customers lost to a driver: expected churners with the exposure as observed minus expected
   churners with that driver's coefficient set to zero, over the period's exposure, with a
   delta-method interval. Value lost weighs the same by customers.value.

Coding ``per_occurrence`` (default): each occurrence multiplies the hazard again (counts capped at
``max_count``); ``ever``: exposed from the first occurrence on. Candidates nobody had before their
lifetime ended are reported without an estimate. These are associations adjusted for segment and
tenure, not proven causes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from cxray.analysis._common import (
    MISSING,
    check_lang,
    count_true,
    customer_attribute,
    fmt_num,
    time_bounds,
)
from cxray.analysis.lifetimes import SECONDS_PER_DAY, customer_lifetimes
from cxray.results import Result, frame_records

# Tenure cuts (days since start): monthly in the first four months, where churn changes fastest,
# then widening to yearly. Fine enough for the piecewise baseline to track a Cox baseline, and
# few enough to keep the grouped table small: every cut splits every lifetime it crosses.
DEFAULT_CUTS: tuple[float, ...] = (30, 60, 90, 120, 180, 270, 365, 545, 730, 1095, 1825, 3650)
CODINGS = ("per_occurrence", "ever")
FEEDBACK_METRICS = ("nps", "csat", "ces")  # metrics with a bad-experience threshold
CONFIDENCE = 0.95

DRIVER_COLUMNS = [
    "rank",
    "driver",
    "kind",
    "touchpoint",
    "metric",
    "customers_exposed",
    "occurrences",
    "hazard_ratio",
    "hr_lower",
    "hr_upper",
    "p_value",
    "q_value",
    "significant",
    "customers_lost",
    "lost_lower",
    "lost_upper",
    "value_lost",
]


@dataclass(frozen=True)
class Candidate:
    """One candidate driver: events of a touchpoint, or low feedback scores (at a touchpoint)."""

    name: str
    kind: str  # "touchpoint" or "low_score"
    touchpoint: str | None = None
    metric: str | None = None
    any_touchpoint: bool = False  # low scores wherever given (for the bad-experience count)

    def label(self, lang: str) -> str:
        if self.kind == "touchpoint":
            return str(self.touchpoint)
        where = f" {'bij' if lang == 'nl' else 'at'} {self.touchpoint}" if self.touchpoint else ""
        return f"{'lage' if lang == 'nl' else 'low'} {self.metric}{where}"


def low_score_name(metric: str, touchpoint: str | None) -> str:
    return f"low {metric} at {touchpoint}" if touchpoint else f"low {metric}"


# -- the counting process in the engine ---------------------------------------------------
def occurrences(ws: Any, candidates: Sequence[Candidate]) -> ir.Table:
    """(customer_id, ts, candidate, occurrence_id) for every occurrence of a candidate."""
    parts: list[ir.Table] = []
    touchpoints = [c for c in candidates if c.kind == "touchpoint"]
    if touchpoints:
        events = ws.events
        names = ibis.memtable(
            pd.DataFrame(
                {
                    "touchpoint": [c.touchpoint for c in touchpoints],
                    "candidate": [c.name for c in touchpoints],
                }
            ),
            schema={"touchpoint": "string", "candidate": "string"},
        )
        joined = events.join(names, "touchpoint")
        parts.append(
            joined.select(
                customer_id=joined.customer_id.cast("string"),
                ts=joined.ts.cast("timestamp('UTC')"),
                candidate=joined.candidate.cast("string"),
                occurrence_id=joined.event_id.cast("string"),
            )
        )
    low = [c for c in candidates if c.kind == "low_score"]
    if low:
        thresholds = ws.journey.bad_experience
        feedback = ws.feedback.filter(ws.feedback.customer_id.notnull())
        for candidate in low:
            limit = thresholds.threshold(str(candidate.metric))
            if limit is None:
                continue
            where = (feedback.metric == candidate.metric) & (feedback.score <= limit)
            if candidate.touchpoint:
                where &= feedback.touchpoint == candidate.touchpoint
            elif not candidate.any_touchpoint:
                where &= feedback.touchpoint.isnull()
            rows = feedback.filter(where)
            parts.append(
                rows.select(
                    customer_id=rows.customer_id.cast("string"),
                    ts=rows.ts.cast("timestamp('UTC')"),
                    candidate=ibis.literal(candidate.name, type="string"),
                    occurrence_id=rows.response_id.cast("string"),
                )
            )
    if not parts:
        raise ValueError("no candidate drivers to count")
    return ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]


def grouped_exposure(
    ws: Any,
    occurrences_table: ir.Table,
    candidate_names: Sequence[str],
    cap: int,
    coding: str = "per_occurrence",
    adjust_for: Sequence[str] = (),
    cuts: Sequence[float] = DEFAULT_CUTS,
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None),
) -> pd.DataFrame:
    """Exposure days and churn events per (tenure interval, adjustment groups, capped counts).

    Columns: interval, one column per ``adjust_for`` name, c0..c{k-1} (capped counts of each
    candidate so far, or 0/1 when ``coding == "ever"``), exposure_days, events,
    period_days (exposure inside ``period``), period_value_days (the same weighted by
    customers.value). Only this small table leaves the engine.
    """
    episodes = episode_table(
        ws, occurrences_table, candidate_names, cap, coding, adjust_for, cuts, period
    )
    strata_names = [f"s{i}" for i in range(len(adjust_for))]
    word_cols = [c for c in episodes.columns if c.startswith("w")]
    grouped = episodes.group_by(["interval", *strata_names, *word_cols]).aggregate(
        exposure_days=episodes.exposure.sum(),
        events=episodes.event.sum(),
        period_days=episodes.in_period.sum(),
        period_value_days=(episodes.in_period * episodes.value).sum(),
    )
    frame = grouped.execute()
    limit = cap if coding == "per_occurrence" else 1
    counts = unpack(frame, _packing(candidate_names, limit), limit)
    frame = pd.concat([frame.drop(columns=word_cols), counts], axis=1)
    # relabel in place: rename() would copy the whole (possibly million-row) table
    names = dict(zip(strata_names, adjust_for, strict=True))
    frame.columns = [names.get(c, c) for c in frame.columns]
    return frame


def _packing(candidate_names: Sequence[str], limit: int) -> pd.DataFrame:
    """Where each candidate's count lives: a digit in base (limit + 1) of one of a few words.

    Counts never exceed ``limit``, so summing ``base ** digit`` per occurrence keeps each digit
    exact; a window then needs one running sum per word instead of one per candidate.
    Columns: candidate, order_key (its position), w0, w1, ... (the increment for each word).
    """
    base = limit + 1
    per_word = max(1, int(62 // math.log2(base)))
    n_words = max(1, -(-len(candidate_names) // per_word))
    rows = []
    for i, name in enumerate(candidate_names):
        word, digit = divmod(i, per_word)
        increments = {f"w{w}": (base**digit if w == word else 0) for w in range(n_words)}
        rows.append({"candidate": name, "order_key": i, **increments})
    frame = pd.DataFrame(rows)
    return frame.astype({c: "int64" for c in frame.columns if c != "candidate"})


def unpack(frame: pd.DataFrame, packing: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The capped count of each candidate (c0, c1, ...) from the packed words."""
    words = [c for c in packing.columns if c.startswith("w")]
    counts = {}
    for i, row in packing.reset_index(drop=True).iterrows():
        word = next(w for w in words if row[w] > 0)
        packed = frame[word].to_numpy(dtype="int64")
        counts[f"c{i}"] = (packed // int(row[word])) % (limit + 1)
    return pd.DataFrame(counts, index=frame.index)


def episode_table(
    ws: Any,
    occurrences_table: ir.Table,
    candidate_names: Sequence[str],
    cap: int,
    coding: str = "per_occurrence",
    adjust_for: Sequence[str] = (),
    cuts: Sequence[float] = DEFAULT_CUTS,
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None),
) -> ir.Table:
    """The start–stop episodes as an Ibis expression (one row per customer × episode).

    Columns: customer_id, interval, s0.. (adjustment groups), c0.. (capped counts so far),
    exposure (days), event (1 when the episode ends in churn), in_period (days inside
    ``period``), value (customers.value, 0 when missing).
    """
    lifetimes = customer_lifetimes(ws)
    lifetimes = lifetimes.filter(~lifetimes.too_new & (lifetimes.duration_days > 0))
    people = lifetimes.select(
        "customer_id",
        start_s=lifetimes.start.epoch_seconds().cast("float64"),
        duration=lifetimes.duration_days,
        churned=lifetimes.churned,
    )
    customers = ws.customers.select("customer_id", value=ws.customers.value.fill_null(0.0))
    people = people.left_join(customers, "customer_id").select(
        "customer_id",
        "start_s",
        "duration",
        "churned",
        value=ibis.coalesce(ibis._.value, 0.0),
    )
    strata_names = [f"s{i}" for i in range(len(adjust_for))]
    for name, column in zip(adjust_for, strata_names, strict=True):
        attribute = customer_attribute(ws, name).rename(attribute_id="customer_id")
        joined = people.left_join(attribute, people.customer_id == attribute.attribute_id)
        people = joined.select(*people.columns, **{column: joined.group.fill_null(MISSING)})

    occ = occurrences_table.join(people, "customer_id")
    t = (occ.ts.epoch_seconds().cast("float64") - occ.start_s) / SECONDS_PER_DAY
    occ = occ.select(
        "customer_id",
        t=ibis.greatest(t, 0.0),
        candidate=occ.candidate,
        occurrence_id=occ.occurrence_id,
        duration=occ.duration,
    )
    # strictly before the end of the lifetime: a churn moment cannot explain itself
    occ = occ.filter(occ.t < occ.duration)
    # Occurrences past the cap leave the capped count unchanged: drop them. That keeps every
    # count below the packing base, so several counts can share one integer (see _packing).
    limit = cap if coding == "per_occurrence" else 1
    nth = ibis.row_number().over(
        ibis.window(group_by=[occ.customer_id, occ.candidate], order_by=[occ.t, occ.occurrence_id])
    )
    occ = occ.mutate(nth=nth).filter(ibis._.nth < limit)
    weights = _packing(candidate_names, limit)
    word_cols = [c for c in weights.columns if c.startswith("w")]
    occ = occ.join(ibis.memtable(weights), "candidate")
    occ_rows = occ.select(
        "customer_id",
        "t",
        order_key=occ.order_key.cast("int64"),
        **{col: occ[col].cast("int64") for col in word_cols},
    )
    zeros = {col: ibis.literal(0, type="int64") for col in word_cols}
    cut_table = ibis.memtable(
        pd.DataFrame({"cut": [float(c) for c in cuts]}, dtype="float64"), schema={"cut": "float64"}
    )
    crossed = people.select("customer_id", "duration").cross_join(cut_table)
    crossed = crossed.filter(crossed.cut < crossed.duration)
    cut_rows = crossed.select(
        "customer_id", t=crossed.cut, order_key=ibis.literal(-1, type="int64"), **zeros
    )
    start_rows = people.select(
        "customer_id", t=ibis.literal(0.0), order_key=ibis.literal(-1, type="int64"), **zeros
    )
    rows = ibis.union(start_rows, cut_rows, occ_rows, distinct=False)

    # Ties in time are ordered by candidate; rows tied on both carry equal increments, so the
    # running totals at the end of each tie (the only ones with exposure) do not depend on it.
    order = [rows.t, rows.order_key]
    running = ibis.cumulative_window(group_by=rows.customer_id, order_by=order)
    following = ibis.window(group_by=rows.customer_id, order_by=order)
    rows = rows.select(
        "customer_id",
        t0=rows.t,
        t1=rows.t.lead().over(following),
        **{col: rows[col].sum().over(running).cast("int64") for col in word_cols},
    )
    rows = rows.join(people, "customer_id")
    last = rows.t1.isnull()
    t1 = ibis.coalesce(rows.t1, rows.duration)
    interval = _interval_of(rows.t0, cuts)
    lower, upper = period
    seg_start = rows.start_s + rows.t0 * SECONDS_PER_DAY
    seg_end = rows.start_s + t1 * SECONDS_PER_DAY
    if lower is not None:
        seg_start = ibis.greatest(seg_start, float(lower.timestamp()))
    if upper is not None:
        seg_end = ibis.least(seg_end, float(upper.timestamp()))
    in_period = ibis.greatest(seg_end - seg_start, 0.0) / SECONDS_PER_DAY
    return rows.select(
        "customer_id",
        interval=interval,
        **{s: rows[s] for s in strata_names},
        **{col: rows[col] for col in word_cols},
        exposure=t1 - rows.t0,
        event=ibis.ifelse(last & rows.churned, 1, 0),
        in_period=in_period,
        value=rows.value,
    )


def _candidate_index(candidate: ir.StringValue, names: Sequence[str]) -> ir.IntegerValue:
    return ibis.cases(*[(candidate == name, i) for i, name in enumerate(names)], else_=-1)


def _interval_of(t0: ir.FloatingValue, cuts: Sequence[float]) -> ir.IntegerValue:
    """Index of the tenure interval an episode starts in (episodes never cross a cut)."""
    if not cuts:
        return ibis.literal(0, type="int64")
    branches = [(t0 < float(c), i) for i, c in enumerate(cuts)]
    return ibis.cases(*branches, else_=len(cuts))


# -- the model on the grouped table --------------------------------------------------------
@dataclass
class PoissonFit:
    coef: np.ndarray
    cov: np.ndarray
    names: list[str]
    iterations: int
    converged: bool


def fit_poisson(
    design: np.ndarray,
    events: np.ndarray,
    exposure: np.ndarray,
    names: list[str],
    max_iter: int = 50,
    tol: float = 1e-9,
) -> PoissonFit:
    """Poisson log-linear fit with log(exposure) offset by Newton iterations with step halving.

    The likelihood of grouped rows equals that of the ungrouped episodes up to a constant, so the
    grouped table is all it needs. BLAS runs single-threaded here: for these tall, narrow
    matrices thread start-up costs more than it saves, badly so on a busy machine.
    """
    if np.any(exposure <= 0):
        raise ValueError("every grouped row needs positive exposure")
    with threadpool_limits(limits=1, user_api="blas"):
        return _newton(design, events, np.log(exposure), names, max_iter, tol)


def _newton(
    design: np.ndarray,
    events: np.ndarray,
    offset: np.ndarray,
    names: list[str],
    max_iter: int,
    tol: float,
) -> PoissonFit:
    # start from the overall rate: the first column block is the baseline per interval
    rate = max(events.sum(), 0.5) / np.exp(offset).sum()
    beta = np.zeros(design.shape[1])
    baseline_cols = [i for i, n in enumerate(names) if n.startswith("interval:")]
    beta[baseline_cols] = np.log(rate)

    information = _information(design, names)

    def loglik(b: np.ndarray) -> float:
        eta = design @ b + offset
        return float(events @ eta - np.exp(eta).sum())

    current = loglik(beta)
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        mu = np.exp(design @ beta + offset)
        gradient = design.T @ (events - mu)
        hessian = information(mu)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        scale = 1.0
        while scale > 1e-6:
            trial = beta + scale * step
            value = loglik(trial)
            if value >= current - 1e-12:
                break
            scale /= 2
        beta, previous, current = trial, current, value
        if abs(current - previous) < tol * (abs(current) + 1):
            converged = True
            break
    cov = np.linalg.pinv(information(np.exp(design @ beta + offset)))
    return PoissonFit(beta, cov, names, iterations, converged)


def _information(design: np.ndarray, names: list[str]):
    """X' diag(mu) X, using that the baseline columns are one-hot (one interval per row).

    The baseline blocks reduce to sums per interval, so the dense product only involves the
    other columns: several times faster when there are many tenure intervals.
    """
    baseline = np.array([n.startswith("interval:") for n in names])
    others = np.flatnonzero(~baseline)
    blocks = np.flatnonzero(baseline)
    one_hot = design[:, blocks]
    if blocks.size == 0 or not np.all(one_hot.sum(axis=1) == 1):
        return lambda mu: design.T @ (design * mu[:, None])
    block_of_row = one_hot.argmax(axis=1)
    rest = np.ascontiguousarray(design[:, others])
    one_hot_t = np.ascontiguousarray(one_hot.T)

    def information(mu: np.ndarray) -> np.ndarray:
        k = blocks.size
        weighted = rest * mu[:, None]
        full = np.zeros((design.shape[1], design.shape[1]))
        full[np.ix_(blocks, blocks)] = np.diag(np.bincount(block_of_row, mu, minlength=k))
        # sums of the weighted covariates per interval, as one matrix product
        cross = one_hot_t @ weighted if others.size else np.zeros((k, 0))
        full[np.ix_(blocks, others)] = cross
        full[np.ix_(others, blocks)] = cross.T
        full[np.ix_(others, others)] = rest.T @ weighted
        return full

    return information


def bh_qvalues(p_values: Iterable[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values)."""
    p = np.asarray(list(p_values), dtype=float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(ranked, 1.0)
    return q


def design_matrix(
    frame: pd.DataFrame, count_cols: Sequence[str], adjust_for: Sequence[str], n_intervals: int
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Interval indicators (the baseline), adjustment-group indicators, then the covariates.

    Intervals without any churn would push their baseline to minus infinity; they are merged
    with their neighbour first. The reference adjustment group is the largest one.
    """
    intervals = frame["interval"].to_numpy()
    events_per = np.bincount(intervals, weights=frame["events"], minlength=n_intervals)
    merged = np.zeros(n_intervals, dtype=int)
    block = 0
    has_event = False
    for i in range(n_intervals):
        if has_event and events_per[i] > 0:
            block += 1
            has_event = False
        merged[i] = block
        has_event = has_event or events_per[i] > 0
    blocks = merged[intervals]
    used = np.unique(blocks)
    columns = [(blocks == b).astype(float) for b in used]
    names = [f"interval:{b}" for b in used]
    references: dict[str, str] = {}
    for name in adjust_for:
        levels = frame.groupby(name)["exposure_days"].sum().sort_values(ascending=False)
        references[name] = str(levels.index[0])
        for level in levels.index[1:]:
            columns.append((frame[name] == level).to_numpy(dtype=float))
            names.append(f"{name}:{level}")
    for col in count_cols:
        columns.append(frame[col].to_numpy(dtype=float))
        names.append(col)
    return np.column_stack(columns), names, references


# -- the analysis ---------------------------------------------------------------------------
@dataclass
class DriversResult(Result):
    """Churn drivers ranked: hazard ratios, q-values and customers (and value) lost."""

    drivers: pd.DataFrame
    adjustments: pd.DataFrame  # hazard ratios of the adjustment groups (e.g. segment)
    coding: str
    max_count: int
    adjusted_for: list[str]
    period: tuple[str | None, str | None]
    fdr: float
    customers: int
    churned: int
    exposure_days: float
    has_value: bool
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        return self.drivers

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "piecewise-exponential Poisson model, time-varying exposure",
            "interpretation": "associations adjusted for tenure and "
            + ", ".join(self.adjusted_for or ["nothing else"])
            + "; not proven causes",
            "coding": self.coding,
            "max_count": self.max_count,
            "adjusted_for": ["tenure", *self.adjusted_for],
            "period": list(self.period),
            "fdr": self.fdr,
            "customers": self.customers,
            "churned": self.churned,
            "exposure_days": self.exposure_days,
            "drivers": frame_records(self.drivers),
            "adjustments": frame_records(self.adjustments),
        }

    def _period_words(self, lang: str) -> str:
        start, end = self.period
        if start is None and end is None:
            return ""
        nl = lang == "nl"
        parts = []
        if start is not None:
            parts.append(f"{'vanaf' if nl else 'from'} {start[:10]}")
        if end is not None:  # the bound is exclusive: name the last day inside the period
            last_day = (pd.Timestamp(end) - pd.Timedelta(microseconds=1)).date().isoformat()
            parts.append(f"{'t/m' if nl else 'through'} {last_day}")
        return " " + " ".join(parts)

    def sentence(self, row: pd.Series, lang: str = "en") -> str:
        """One plain sentence for one driver (a row of ``to_pandas()``)."""
        nl = check_lang(lang) == "nl"
        label = self.labels.get(row.driver, {}).get(lang, row.driver)
        hr = fmt_num(row.hazard_ratio, lang, 1)
        interval = f"{fmt_num(row.hr_lower, lang, 1)}–{fmt_num(row.hr_upper, lang, 1)}"
        lost = fmt_num(max(row.customers_lost, 0.0), lang)
        lost_ci = f"{fmt_num(row.lost_lower, lang)}–{fmt_num(row.lost_upper, lang)}"
        once = "per keer" if nl else "each time"
        if self.coding == "ever":
            once = "na de eerste keer" if nl else "after the first time"
        if nl:
            text = (
                f"{label}: klanten die dit meemaakten vertrokken {hr}× zo snel ({interval}, "
                f"{once}); ≈ {lost} klanten verloren{self._period_words(lang)} ({lost_ci})"
            )
            if self.has_value and row.value_lost == row.value_lost:
                text += f", waarde ≈ {fmt_num(row.value_lost, lang)}"
            if not row.significant:
                text += " — niet aantoonbaar (q = " + fmt_num(row.q_value, lang, 2) + ")"
            return text + "."
        text = (
            f"{label}: customers who had one churned {hr}× as fast ({interval}, {once}); "
            f"≈ {lost} customers lost{self._period_words(lang)} ({lost_ci})"
        )
        if self.has_value and row.value_lost == row.value_lost:
            text += f", value ≈ {fmt_num(row.value_lost, lang)}"
        if not row.significant:
            text += " — not demonstrable (q = " + fmt_num(row.q_value, lang, 2) + ")"
        return text + "."

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        significant = self.drivers[self.drivers.significant]
        adjusted = ", ".join(["tenure", *self.adjusted_for])
        if nl:
            adjusted = adjusted.replace("tenure", "klantduur")
            caveat = f"Verbanden, gecorrigeerd voor {adjusted}; geen bewezen oorzaken."
            if significant.empty:
                head = "Geen aantoonbare churn-drivers"
                return f"{head} (FDR {fmt_num(100 * self.fdr, lang)}%). {caveat}"
        else:
            caveat = f"Associations adjusted for {adjusted}; not proven causes."
            if significant.empty:
                head = "No demonstrable churn drivers"
                return f"{head} (FDR {fmt_num(100 * self.fdr, lang)}%). {caveat}"
        harmful = significant[significant.hazard_ratio > 1]
        sentences = [self.sentence(row, lang) for _, row in harmful.head(5).iterrows()]
        return " ".join([*sentences, caveat])


def default_candidates(ws: Any, min_customers: int = 20) -> list[Candidate]:
    """Every touchpoint seen in events but churn touchpoints, and low scores per metric × touchpoint.

    Touchpoints and low-score kinds seen by fewer than ``min_customers`` customers are left out:
    there is too little to estimate.
    """
    churn = set(ws.journey.churn.touchpoints)
    events = ws.events
    seen = (
        events.group_by("touchpoint")
        .aggregate(customers=events.customer_id.nunique())
        .filter(ibis._.customers >= min_customers)
        .order_by("touchpoint")
        .execute()
    )
    result = [
        Candidate(tp, "touchpoint", touchpoint=tp) for tp in seen.touchpoint if tp not in churn
    ]
    thresholds = ws.journey.bad_experience
    feedback = ws.feedback.filter(ws.feedback.customer_id.notnull())
    metrics = [m for m in FEEDBACK_METRICS if thresholds.threshold(m) is not None]
    if metrics:
        bad = ibis.literal(False)
        for metric in metrics:
            bad |= (feedback.metric == metric) & (feedback.score <= thresholds.threshold(metric))
        lows = (
            feedback.filter(bad)
            .group_by(["metric", "touchpoint"])
            .aggregate(customers=feedback.customer_id.nunique())
            .filter(ibis._.customers >= min_customers)
            .order_by(["metric", "touchpoint"])
            .execute()
        )
        for row in lows.itertuples():
            touchpoint = row.touchpoint if isinstance(row.touchpoint, str) else None
            result.append(
                Candidate(
                    low_score_name(row.metric, touchpoint), "low_score", touchpoint, row.metric
                )
            )
    return result


def _resolve(ws: Any, candidates: Sequence[str | Candidate] | None) -> list[Candidate]:
    if candidates is None:
        return default_candidates(ws)
    known = {c.name: c for c in default_candidates(ws, min_customers=1)}
    resolved = []
    for item in candidates:
        if isinstance(item, Candidate):
            resolved.append(item)
        elif item in known:
            resolved.append(known[item])
        else:
            raise ValueError(
                f"unknown candidate driver {item!r}; choose from: {', '.join(sorted(known))}"
            )
    return resolved


def drivers(
    ws: Any,
    candidates: Sequence[str | Candidate] | None = None,
    adjust_for: Sequence[str] = ("segment",),
    coding: str = "per_occurrence",
    period: tuple[Any, Any] | None = None,
    fdr: float = 0.05,
    max_count: int = 10,
    cuts: Sequence[float] = DEFAULT_CUTS,
) -> DriversResult:
    """Hazard ratio of every candidate driver of churn, adjusted for tenure and ``adjust_for``.

    ``candidates``: touchpoint names and/or low-score names ("low csat at delivery", "low nps");
    by default every touchpoint seen in events (churn touchpoints excepted) and every metric ×
    touchpoint with low scores, each seen by at least 20 customers. ``coding``: "per_occurrence"
    (hazard ratio per occurrence, counts capped at ``max_count``) or "ever". ``period``: (start,
    end) over which customers lost are counted (default: all data). ``fdr``: false-discovery rate
    for ``significant`` (Benjamini–Hochberg). See the module docstring for the method.
    """
    if coding not in CODINGS:
        raise ValueError(f"unknown coding {coding!r}; choose one of: {', '.join(CODINGS)}")
    if not 0 < fdr < 1:
        raise ValueError("fdr must lie between 0 and 1")
    chosen = _resolve(ws, candidates)
    if not chosen:
        raise ValueError("no candidate drivers: no touchpoints or low scores seen often enough")
    lower, upper = time_bounds(*(period or (None, None)))
    names = [c.name for c in chosen]
    count_cols = [f"c{i}" for i in range(len(chosen))]
    adjust_for = list(adjust_for)
    frame = grouped_exposure(
        ws, occurrences(ws, chosen), names, max_count, coding, adjust_for, cuts, (lower, upper)
    )
    frame = frame[frame.exposure_days > 0].reset_index(drop=True)
    if frame.empty or frame.events.sum() == 0:
        raise ValueError("no churn observed: nothing to explain")
    # a candidate nobody had before their lifetime ended cannot be estimated: leave it out
    estimable = [col for col in count_cols if (frame[col] > 0).any()]
    design, columns, _ = design_matrix(frame, estimable, adjust_for, len(cuts) + 1)
    events = frame.events.to_numpy(dtype=float)
    exposure = frame.exposure_days.to_numpy(dtype=float)
    fit = fit_poisson(design, events, exposure, columns)

    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    has_value = bool(frame.period_value_days.sum() > 0)
    occurrence_counts = _occurrence_counts(ws, chosen)

    with threadpool_limits(limits=1, user_api="blas"):
        rate = np.exp(design @ fit.coef)  # hazard per day of each grouped row
        period_days = frame.period_days.to_numpy(dtype=float)
        observed_gradient = design.T @ (period_days * rate)
        rows = [
            _driver_row(
                candidate,
                columns.index(col),
                design,
                fit,
                se,
                z,
                frame,
                has_value,
                occurrence_counts,
                rate,
                observed_gradient,
            )
            if col in estimable
            else _inestimable_row(candidate, occurrence_counts)
            for candidate, col in zip(chosen, count_cols, strict=True)
        ]
    table = pd.DataFrame(rows)
    tested = table.p_value.notna()
    table["q_value"] = np.nan
    table.loc[tested, "q_value"] = bh_qvalues(table.p_value[tested])
    table["significant"] = table.q_value.le(fdr)
    # significant harmful drivers first, by customers lost; then the rest by p-value
    harmful = table.significant & (table.hazard_ratio > 1)
    table = pd.concat(
        [
            table[harmful].sort_values("customers_lost", ascending=False),
            table[~harmful].sort_values("p_value"),
        ]
    ).reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    table = table.reindex(columns=DRIVER_COLUMNS)
    table["significant"] = table.significant.astype(bool)

    adjustments = []
    for k, name in enumerate(columns):
        if name.startswith("interval:") or name in estimable:
            continue
        attribute, level = name.split(":", 1)
        adjustments.append(
            {
                "attribute": attribute,
                "group": level,
                "hazard_ratio": float(np.exp(fit.coef[k])),
                "hr_lower": float(np.exp(fit.coef[k] - z * se[k])),
                "hr_upper": float(np.exp(fit.coef[k] + z * se[k])),
            }
        )
    labels = {c.name: {lang: _label(ws, c, lang) for lang in ("en", "nl")} for c in chosen}
    customers = _customer_count(ws)
    return DriversResult(
        drivers=table,
        adjustments=pd.DataFrame(
            adjustments, columns=["attribute", "group", "hazard_ratio", "hr_lower", "hr_upper"]
        ),
        coding=coding,
        max_count=max_count,
        adjusted_for=adjust_for,
        period=(
            None if lower is None else lower.isoformat(),
            None if upper is None else upper.isoformat(),
        ),
        fdr=fdr,
        customers=customers,
        churned=int(events.sum()),
        exposure_days=float(exposure.sum()),
        has_value=has_value,
        labels=labels,
    )


def _label(ws: Any, candidate: Candidate, lang: str) -> str:
    """The touchpoint's label from the journey when it has one, else its name."""
    configured = ws.journey.touchpoints.get(candidate.touchpoint or "")
    if candidate.kind == "touchpoint" and configured is not None and configured.label:
        return configured.label
    return candidate.label(lang)


def _customer_count(ws: Any) -> int:
    lifetimes = customer_lifetimes(ws)
    return int(
        lifetimes.filter(~lifetimes.too_new & (lifetimes.duration_days > 0)).count().execute()
    )


def _occurrence_counts(ws: Any, chosen: Sequence[Candidate]) -> dict[str, tuple[int, int]]:
    """Customers with at least one occurrence and occurrences in total, per candidate."""
    occ = occurrences(ws, chosen)
    counts = (
        occ.group_by("candidate")
        .aggregate(customers=occ.customer_id.nunique(), total=count_true(occ.ts.notnull()))
        .execute()
    )
    return {r.candidate: (int(r.customers), int(r.total)) for r in counts.itertuples()}


def _inestimable_row(
    candidate: Candidate, occurrence_counts: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    exposed, total = occurrence_counts.get(candidate.name, (0, 0))
    return {
        "driver": candidate.name,
        "kind": candidate.kind,
        "touchpoint": candidate.touchpoint,
        "metric": candidate.metric,
        "customers_exposed": exposed,
        "occurrences": total,
    }


def _driver_row(
    candidate: Candidate,
    j: int,
    design: np.ndarray,
    fit: PoissonFit,
    se: np.ndarray,
    z: float,
    frame: pd.DataFrame,
    has_value: bool,
    occurrence_counts: dict[str, tuple[int, int]],
    rate: np.ndarray,
    observed_gradient: np.ndarray,
) -> dict[str, Any]:
    """Hazard ratio, p-value and customers (value) lost of the candidate in column ``j``.

    ``rate``: the fitted hazard per day of each grouped row; ``observed_gradient``: the
    gradient of the expected churners in the period over the coefficients (shared by all rows).
    """
    period_days = frame.period_days.to_numpy(dtype=float)
    period_value = frame.period_value_days.to_numpy(dtype=float)
    beta, s = fit.coef[j], se[j]
    x = design[:, j]
    removed = rate * np.exp(-x * beta)
    lost = float(period_days @ (rate - removed))
    # delta method: gradient of the attributable number over all coefficients
    grad_removed = design.T @ (period_days * removed)
    grad_removed[j] = 0.0  # the removed coefficient no longer enters
    gradient = observed_gradient - grad_removed
    lost_se = float(np.sqrt(max(gradient @ fit.cov @ gradient, 0.0)))
    value_lost = float(period_value @ (rate - removed)) if has_value else np.nan
    p = float(2 * stats.norm.sf(abs(beta / s))) if s > 0 else np.nan
    exposed, total = occurrence_counts.get(candidate.name, (0, 0))
    return {
        "driver": candidate.name,
        "kind": candidate.kind,
        "touchpoint": candidate.touchpoint,
        "metric": candidate.metric,
        "customers_exposed": exposed,
        "occurrences": total,
        "hazard_ratio": float(np.exp(beta)),
        "hr_lower": float(np.exp(beta - z * s)),
        "hr_upper": float(np.exp(beta + z * s)),
        "p_value": p,
        "customers_lost": lost,
        "lost_lower": lost - z * lost_se,
        "lost_upper": lost + z * lost_se,
        "value_lost": value_lost,
    }
