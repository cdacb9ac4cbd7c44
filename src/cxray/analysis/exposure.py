"""The counting process of churn drivers, in the engine: occurrences, start–stop episodes, groups.

Each candidate driver is a kind of occurrence: an event of a touchpoint, or a feedback answer at
or below the journey's bad-experience threshold for its metric (at a touchpoint). An occurrence
counts from its moment on and only when it lies strictly before the end of the customer's
lifetime (a churn moment cannot explain itself). Each customer's time (days since start, from
:func:`cxray.analysis.lifetimes.customer_lifetimes`, too-new and zero-length lifetimes left out)
is split at every occurrence and at the tenure cuts; window functions give the count of each
candidate so far. Ties in time are broken by (time, candidate, occurrence id); rows tied on time
and candidate carry equal increments, so the result does not depend on the order among them.

Counts are capped (``cap``, 10 by default for the per-occurrence coding): a driver's hazard ratio
is per occurrence up to the cap, and occurrences past it leave the hazard unchanged (stated in
the result as ``max_count``). The cap keeps the grouped table small and lets the capped counts
share a few packed integers (one running sum for up to 17 candidates at cap 10). For a neutral
touchpoint any coding is neutral; what can make it look like a driver is tenure: a frequent
touchpoint's count (capped or not) grows with tenure, so inside a wide tenure band it can stand
in for the part of a changing churn hazard the band's flat baseline misses. The tenure cuts are
therefore chosen from the data by default (:func:`tenure_cuts`: quantiles of the churn times, as
a Cox model uses every churn time), so that each band holds a similar number of churners and the
baseline follows the hazard closely.

Episodes are grouped by (tenure interval, adjustment groups, capped counts) into exposure days
and churn events: only this grouped table reaches Python. :func:`candidate_timing` gives, per
candidate, what the estimability checks need: how many customers had it at their start, and how
many churners had it within moments of leaving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from cxray.analysis._common import MISSING, customer_attribute
from cxray.analysis.lifetimes import SECONDS_PER_DAY, customer_lifetimes

# Fixed tenure cuts (days since start): monthly in the first four months, where churn changes
# fastest, then widening to yearly. Used when there are too few churners to place cuts by data.
DEFAULT_CUTS: tuple[float, ...] = (30, 60, 90, 120, 180, 270, 365, 545, 730, 1095, 1825, 3650)
MAX_INTERVALS = 24  # tenure bands chosen from the data, at most
CHURNERS_PER_INTERVAL = 40  # at least, on average, for a band chosen from the data
MOMENT_DAYS = 1 / 24  # "at the same moment": within an hour


def at_risk(ws: Any) -> ir.Table:
    """The lifetimes the drivers follow: not too new to judge and longer than zero."""
    lifetimes = customer_lifetimes(ws)
    return lifetimes.filter(~lifetimes.too_new & (lifetimes.duration_days > 0))


def tenure_cuts(ws: Any, max_intervals: int = MAX_INTERVALS) -> tuple[float, ...]:
    """Tenure cuts at quantiles of the churn times, so every band holds about as many churners.

    With fewer than two bands' worth of churners (``CHURNERS_PER_INTERVAL`` each) the fixed
    :data:`DEFAULT_CUTS` are used. Cuts are rounded to a tenth of a day.
    """
    lifetimes = at_risk(ws)
    churned = lifetimes.filter(lifetimes.churned)
    n = int(churned.count().execute())
    k = min(max_intervals, n // CHURNERS_PER_INTERVAL)
    if k < 2:
        return DEFAULT_CUTS
    probs = [i / k for i in range(1, k)]
    quantiles = churned.aggregate(
        **{f"q{i}": churned.duration_days.quantile(p) for i, p in enumerate(probs)}
    ).execute()
    cuts = sorted({round(float(v), 1) for v in quantiles.iloc[0] if v == v and v > 0.05})
    return tuple(cuts) if cuts else DEFAULT_CUTS


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
    period_events (churns inside ``period``), period_days (exposure inside ``period``), period_value_days (the same weighted by
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
        period_events=episodes.period_event.sum(),
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
    exposure (days), event (1 when the episode ends in churn), period_event (the same, for a
    churn inside ``period``), in_period (days inside
    ``period``), value (customers.value, 0 when missing).
    """
    lifetimes = at_risk(ws)
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
    # a churn inside the period: the episode's end lies in [lower, upper)
    churn_s = rows.start_s + t1 * SECONDS_PER_DAY
    churn_in_period = last & rows.churned
    if lower is not None:
        churn_in_period &= churn_s >= float(lower.timestamp())
    if upper is not None:
        churn_in_period &= churn_s < float(upper.timestamp())
    return rows.select(
        "customer_id",
        interval=interval,
        **{s: rows[s] for s in strata_names},
        **{col: rows[col] for col in word_cols},
        exposure=t1 - rows.t0,
        event=ibis.ifelse(last & rows.churned, 1, 0),
        period_event=ibis.ifelse(churn_in_period, 1, 0),
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


@dataclass(frozen=True)
class Timing:
    """What the estimability checks need to know about one candidate's occurrences."""

    exposed: int  # customers with an occurrence before their lifetime ended
    at_origin: int  # of them: the first within MOMENT_DAYS of their start
    churners: int  # churners the drivers follow
    near_exit: int  # of them: an occurrence within MOMENT_DAYS before the churn
    at_risk: int  # customers the drivers follow
    exposed_churners: int = 0  # churners with an occurrence before their churn


def candidate_timing(
    ws: Any, occurrences_table: ir.Table, moment_days: float = MOMENT_DAYS
) -> dict[str, Timing]:
    """Per candidate: who had it at the start, and which churners had it on the way out."""
    lifetimes = at_risk(ws)
    people = lifetimes.select(
        "customer_id",
        start_s=lifetimes.start.epoch_seconds().cast("float64"),
        duration=lifetimes.duration_days,
        churned=lifetimes.churned,
    )
    totals = people.aggregate(
        n=people.count(), churners=people.churned.ifelse(1, 0).sum()
    ).execute()
    n, churners = int(totals.n.iloc[0]), int(totals.churners.fillna(0).iloc[0])
    occ = occurrences_table.join(people, "customer_id")
    t = (occ.ts.epoch_seconds().cast("float64") - occ.start_s) / SECONDS_PER_DAY
    occ = occ.select("customer_id", "candidate", "duration", "churned", t=t)
    occ = occ.filter(occ.t < occ.duration)
    per_customer = occ.group_by(["candidate", "customer_id"]).aggregate(
        first=occ.t.min(),
        churned=occ.churned.any(),
        near_exit=(occ.churned & (occ.t >= occ.duration - moment_days)).any(),
    )
    grouped = (
        per_customer.group_by("candidate")
        .aggregate(
            exposed=per_customer.count(),
            at_origin=(per_customer["first"] <= moment_days).ifelse(1, 0).sum(),
            near_exit=per_customer.near_exit.ifelse(1, 0).sum(),
            exposed_churners=per_customer.churned.ifelse(1, 0).sum(),
        )
        .execute()
    )
    return {
        str(r.candidate): Timing(
            int(r.exposed),
            int(r.at_origin),
            churners,
            int(r.near_exit),
            n,
            int(r.exposed_churners),
        )
        for r in grouped.itertuples()
    }
