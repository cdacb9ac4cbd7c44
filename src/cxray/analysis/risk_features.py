"""Churn-risk features per customer as of a cutoff, and churn labels after it.

See :mod:`cxray.analysis.risk` for what the features are. The heavy work (counts per touchpoint
and window, latest answers) runs in the engine; only the per-customer numeric table comes back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from cxray.analysis._common import count_true
from cxray.analysis.lifetimes import customer_lifetimes, observed_until
from cxray.analysis.risk_reasons import SEP, WINDOWS

MAX_SEGMENTS = 10  # one indicator per segment for the most common ones


def _utc(value: Any) -> dt.datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _ts(value: dt.datetime) -> ir.TimestampScalar:
    return ibis.literal(value, type="timestamp('UTC')")


# -- features ---------------------------------------------------------------------------------
def _feature_touchpoints(ws: Any) -> list[str]:
    churn = set(ws.journey.churn.touchpoints)
    seen = ws.events.select("touchpoint").distinct().execute()["touchpoint"].tolist()
    return sorted(tp for tp in seen if tp not in churn)


def _scored_metrics(ws: Any) -> list[str]:
    fb = ws.feedback
    seen = fb.filter(fb.score.notnull()).select("metric").distinct().execute()["metric"]
    return sorted(seen.tolist())


def _segments(ws: Any) -> list[str]:
    counts = ws.customers.segment.value_counts().execute()
    counts = counts.dropna().sort_values(counts.columns[1], ascending=False, kind="stable")
    return [str(s) for s in counts.iloc[:MAX_SEGMENTS, 0]]


def active_customers(ws: Any, cutoff: dt.datetime) -> ir.Table:
    """Lifetimes of the customers active at ``cutoff``: started by then and not churned by then.

    Churn is :func:`customer_lifetimes`' churn; in addition a churn-touchpoint event at or before
    the cutoff counts even after the observed period (a cancellation is known at once, while
    churn by inactivity only shows later), so scoring at the data end skips who just cancelled.
    """
    cut = _ts(cutoff)
    life = customer_lifetimes(ws)
    active = life.filter(life.start <= cut, life.churn_ts.isnull() | (life.churn_ts > cut))
    churn_tps = list(ws.journey.churn.touchpoints)
    if churn_tps:
        events = ws.events
        cancelled = events.filter(events.touchpoint.isin(churn_tps) & (events.ts <= cut))
        active = active.anti_join(cancelled, "customer_id")
    return active


def feature_table(
    ws: Any, cutoff: dt.datetime, touchpoints: list[str], metrics: list[str]
) -> ir.Table:
    """The engine expression behind :func:`customer_features` (raw counts, last event, scores)."""
    cut = _ts(cutoff)
    active = active_customers(ws, cutoff).select("customer_id", "start")

    events = ws.events
    churn_tps = list(ws.journey.churn.touchpoints)
    known = events.filter(events.ts < cut)
    if churn_tps:
        known = known.filter(~known.touchpoint.isin(churn_tps))
    bad_tps = ws.journey.bad_touchpoints
    measures: dict[str, ir.Scalar] = {
        "last_event": known.ts.max(),
        "bad_events": count_true(known.touchpoint.isin(bad_tps)) if bad_tps else ibis.literal(0),
    }
    for tp in touchpoints:
        is_tp = known.touchpoint == tp
        measures[f"tp{SEP}{tp}{SEP}ever"] = count_true(is_tp)
        for days in WINDOWS:
            since = _ts(cutoff - dt.timedelta(days=days))
            measures[f"tp{SEP}{tp}{SEP}{days}d"] = count_true(is_tp & (known.ts >= since))
    event_counts = known.group_by("customer_id").aggregate(**measures)

    feedback = ws.feedback
    answers = feedback.filter(
        (feedback.ts < cut) & feedback.score.notnull() & feedback.customer_id.notnull()
    )
    bad_answer = ibis.literal(False)
    for metric in metrics:
        limit = ws.journey.bad_experience.threshold(metric)
        if limit is not None:
            bad_answer |= (answers.metric == metric) & (answers.score <= limit)
    # latest answer per metric: a window, not an ordered aggregate (portable to every engine)
    order = [ibis.desc(answers.ts), ibis.desc(answers.response_id)]
    ranked = answers.mutate(
        rank=ibis.row_number().over(group_by=[answers.customer_id, answers.metric], order_by=order),
        bad=bad_answer,
    )
    score_measures: dict[str, ir.Scalar] = {"bad_answers": count_true(ranked.bad)}
    for metric in metrics:
        latest = (ranked.metric == metric) & (ranked["rank"] == 0)
        score_measures[f"score{SEP}{metric}"] = ranked.score.max(where=latest)
    scores = ranked.group_by("customer_id").aggregate(**score_measures)

    seg = ws.customers.select("customer_id", "segment")
    table = (
        active.left_join(event_counts, "customer_id")
        .drop("customer_id_right")
        .left_join(scores, "customer_id")
        .drop("customer_id_right")
        .left_join(seg, "customer_id")
        .drop("customer_id_right")
    )
    return table


def customer_features(
    ws: Any,
    cutoff: Any,
    *,
    touchpoints: list[str] | None = None,
    metrics: list[str] | None = None,
    segments: list[str] | None = None,
) -> pd.DataFrame:
    """One row per customer active at ``cutoff`` with features from data strictly before it.

    Columns: customer_id, then the features (see the module description). The heavy work (counts
    per touchpoint and window, latest answers) runs in the engine.
    """
    cutoff = _utc(cutoff)
    touchpoints = _feature_touchpoints(ws) if touchpoints is None else touchpoints
    metrics = _scored_metrics(ws) if metrics is None else metrics
    segments = _segments(ws) if segments is None else segments
    frame = feature_table(ws, cutoff, touchpoints, metrics).execute()

    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str)})
    start = pd.to_datetime(frame["start"], utc=True)
    last = pd.to_datetime(frame["last_event"], utc=True)
    cutoff_stamp = pd.Timestamp(cutoff)
    out["tenure_days"] = ((cutoff_stamp - start).dt.total_seconds() / 86400).to_numpy()
    if last.notna().any():  # lifetime data without events has no activity to speak of
        since_last = (cutoff_stamp - last).dt.total_seconds() / 86400
        out["days_since_last_event"] = since_last.fillna(out["tenure_days"]).to_numpy()
    bad = pd.to_numeric(frame["bad_events"]).fillna(0) + pd.to_numeric(frame["bad_answers"]).fillna(
        0
    )
    out["bad_experiences"] = bad.astype(float).to_numpy()
    for tp in touchpoints:
        for suffix in ("ever", *(f"{d}d" for d in WINDOWS)):
            name = f"tp{SEP}{tp}{SEP}{suffix}"
            out[name] = pd.to_numeric(frame[name]).fillna(0).astype(float).to_numpy()
    for metric in metrics:
        name = f"score{SEP}{metric}"
        out[name] = pd.to_numeric(frame[name]).astype(float).to_numpy()
        out[f"{name}{SEP}missing"] = out[name].isna().astype(float)
    for value in segments:
        out[f"segment{SEP}{value}"] = (frame["segment"].astype(object) == value).astype(float)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def churn_labels(ws: Any, cutoff: Any, horizon_days: int) -> pd.DataFrame:
    """customer_id, churned: churn in (cutoff, cutoff + horizon] for customers active at cutoff.

    Raises ValueError when the horizon reaches past the observed period (labels not yet known).
    """
    cutoff = _utc(cutoff)
    until = observed_until(ws)
    horizon_end = cutoff + dt.timedelta(days=horizon_days)
    if until is None or horizon_end > until:
        raise ValueError(
            f"churn within {horizon_days} days after {cutoff:%Y-%m-%d} is not fully observed "
            f"(data observed until {until:%Y-%m-%d}); choose an earlier cutoff"
            if until
            else "the workspace has no data"
        )
    active = active_customers(ws, cutoff)
    labelled = active.select(
        "customer_id",
        churned=(active.churned & (active.churn_ts <= _ts(horizon_end))).fill_null(False),
    )
    frame = labelled.execute()
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["churned"] = frame["churned"].astype(bool)
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
