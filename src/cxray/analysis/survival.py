"""Kaplan–Meier survival to churn, with the exponential Greenwood interval and median lifetime.

Lifetimes come from :func:`cxray.analysis.lifetimes.customer_lifetimes` (customers too new to judge
are left out; customers still there at the end of the observation window are censored). The engine
reduces them to one row per (group, duration, number churned, number removed), so only the
distinct durations reach Python, however many customers there are.

The estimator and its interval are those of lifelines' ``KaplanMeierFitter`` and match it to
rounding: at each distinct duration ``t`` with ``n`` customers at risk and ``d`` churning,
``S(t) = prod(1 - d/n)``; Greenwood's ``V(t) = sum d / (n (n - d))``; the 95% interval is computed
on the log(-log S) scale: ``exp(-exp(log(-log S) ± z sqrt(V) / log S))`` (1 where S = 1). The curve
starts with a row at time 0.

The median lifetime is the first time at which ``S(t) <= 0.5`` (infinite when the curve never gets
there: more than half never churned while observed). Its interval is read off the interval curves
the same way — the first time the lower curve, and the first time the upper curve, reach 0.5 — as
lifelines' ``median_survival_times(kmf.confidence_interval_)`` does.

When there is more than one group, a log-rank test says whether the curves differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from cxray.analysis._common import (
    ALL,
    MISSING,
    check_lang,
    customer_attribute,
    fmt_interval,
    fmt_num,
)
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.results import Column, Result, Table, frame_records, group_column, interval

CURVE_COLUMNS = [
    "group",
    "time_days",
    "at_risk",
    "events",
    "censored",
    "survival",
    "lower",
    "upper",
]
GROUP_COLUMNS = [
    "group",
    "customers",
    "churned",
    "median_days",
    "median_lower",
    "median_upper",
    "survival_at_horizon",
    "horizon_lower",
    "horizon_upper",
]


@dataclass(repr=False)
class SurvivalResult(Result):
    """Kaplan–Meier curves per group and their median lifetimes."""

    curve: pd.DataFrame
    groups: pd.DataFrame
    by: str | None
    horizon_days: float | None
    confidence: float = 0.95
    logrank_statistic: float | None = None
    logrank_p: float | None = None

    def display(self) -> Table:
        """Per group: customers, churned, median lifetime; the curve itself is ``.curve``."""
        days = {"kind": "duration", "unit": "days"}
        columns = [
            group_column(self.by),
            Column("customers", "count", "customers", "klanten"),
            Column("churned", "count", "churned", "vertrokken", 7),
            Column("median_days", en="median lifetime", nl="mediane levensduur", **days),
            interval("median_lower", "median_upper", **days),
        ]
        if self.horizon_days is not None:
            horizon = f"{self.horizon_days:g}"
            columns += [
                Column("survival_at_horizon", "share", f"still a customer after {horizon} days",
                       f"na {horizon} dagen nog klant", 8),
                interval("horizon_lower", "horizon_upper", "share", 4),
            ]  # fmt: skip
        return Table(self.groups.reset_index(drop=True), columns, noun=("groups", "groepen"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "horizon_days": self.horizon_days,
            "confidence": self.confidence,
            "logrank_statistic": self.logrank_statistic,
            "logrank_p": self.logrank_p,
            "groups": frame_records(self.groups),
            "curve": frame_records(self.curve),
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        if self.groups.empty:
            return "Geen klanten om te volgen." if nl else "No customers to follow."
        sentences = [_group_sentence(row, lang) for _, row in self.groups.iterrows()]
        if self.logrank_p is not None and np.isfinite(self.logrank_p):
            differ = self.logrank_p < 0.05
            p = f"p = {self.logrank_p:.2g}".replace(".", "," if nl else ".")
            if nl:
                sentences.append(
                    f"De groepen verschillen ({p}, log-ranktoets)."
                    if differ
                    else f"Geen aantoonbaar verschil tussen de groepen ({p}, log-ranktoets)."
                )
            else:
                sentences.append(
                    f"The groups differ ({p}, log-rank test)."
                    if differ
                    else f"No demonstrable difference between the groups ({p}, log-rank test)."
                )
        return " ".join(sentences)


def _group_sentence(row: pd.Series, lang: str) -> str:
    nl = lang == "nl"
    prefix = "" if row.group == ALL else f"{row.group}: "
    if np.isinf(row.median_days):
        body = (
            "meer dan de helft is nog niet vertrokken; mediane levensduur nog niet bereikt"
            if nl
            else "more than half have not churned; median lifetime not reached"
        )
    else:
        # enough decimals that the interval shows (a median under a day: "0.8 days (0.7–0.9)")
        median, interval = fmt_interval(
            row.median_days, row.median_lower, row.median_upper, lang, digits=0
        )
        unit = ("dag" if nl else "day") if median == "1" else ("dagen" if nl else "days")
        days = f"{median} {unit}"
        body = (
            f"mediane levensduur {days} ({interval})"
            if nl
            else f"median lifetime {days} ({interval})"
        )
    customers, churned = fmt_num(row.customers, lang), fmt_num(row.churned, lang)
    count = (
        f" ({customers} klanten, {churned} vertrokken)"
        if nl
        else f" ({customers} customers, {churned} churned)"
    )
    return f"{prefix}{body}{count}."


def survival(ws: Any, by: str | None = None, horizon_days: float | None = None) -> SurvivalResult:
    """Kaplan–Meier survival to churn, overall or per group.

    ``by`` is a customers column (segment, language, ...) or a key in customers.attributes;
    customers without a value form the group "(missing)", listed last. ``horizon_days`` cuts the
    returned curve there and adds the survival at that horizon (with its interval) to each
    group; the median is always taken from the whole curve.

    Frames: ``curve`` (group, time_days, at_risk, events, censored, survival, lower, upper) and
    ``groups`` (group, customers, churned, median_days, median_lower, median_upper,
    survival_at_horizon, horizon_lower, horizon_upper).
    """
    if horizon_days is not None and horizon_days < 0:
        raise ValueError("horizon_days must be zero or more")
    lifetimes = customer_lifetimes(ws)
    lifetimes = lifetimes.filter(~lifetimes.too_new)
    table = _with_group(ws, lifetimes, by).select("group", "duration_days", "churned")
    # Without groups the label is added here: one text per distinct duration (up to one per
    # customer) need not travel from the engine.
    keys = ["group", "duration_days"] if by is not None else ["duration_days"]
    # A filtered count, not a sum of booleans: DuckDB sums those into 128-bit integers, slow to
    # convert at a row per customer.
    counts = (
        table.group_by(keys)
        .aggregate(events=table.count(where=table.churned), removed=table.count())
        .order_by(keys)  # sorted by the engine in parallel; sorted input is cheap to re-sort
        .execute()
    )
    if by is None:
        counts.insert(0, "group", ALL)
    labels = sorted(set(counts.group) - {MISSING})
    if (counts.group == MISSING).any():
        labels.append(MISSING)  # last, after the real groups

    curves, rows = [], []
    for label in labels:
        part = counts if len(labels) == 1 else counts[counts.group == label]
        curve = kaplan_meier(part.duration_days, part.events, part.removed)
        median, median_lower, median_upper = (
            first_time_at_or_below(curve[column], curve.time_days)
            for column in ("survival", "lower", "upper")
        )
        row = {
            "group": label,
            "customers": int(part.removed.sum()),
            "churned": int(part.events.sum()),
            "median_days": median,
            "median_lower": median_lower,
            "median_upper": median_upper,
            "survival_at_horizon": np.nan,
            "horizon_lower": np.nan,
            "horizon_upper": np.nan,
        }
        if horizon_days is not None:
            reached = curve[curve.time_days <= horizon_days]
            last = reached.iloc[-1]
            row.update(
                survival_at_horizon=last.survival,
                horizon_lower=last.lower,
                horizon_upper=last.upper,
            )
            curve = reached
        curve.insert(0, "group", label)
        curves.append(curve)
        rows.append(row)
    curve_frame = (
        pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    result = SurvivalResult(
        curve=curve_frame[CURVE_COLUMNS],
        groups=pd.DataFrame(rows, columns=GROUP_COLUMNS),
        by=by,
        horizon_days=horizon_days,
    )
    if len(labels) > 1:
        result.logrank_statistic, result.logrank_p = logrank_test(counts)
    return result


def _with_group(ws: Any, lifetimes: ir.Table, by: str | None) -> ir.Table:
    """Lifetimes with the group each customer belongs to (MISSING when they have no value)."""
    if by is None:
        return lifetimes.mutate(group=ibis.literal(ALL))
    if by in ("customer_id", "attributes"):
        raise ValueError(f"cannot split survival by {by!r}")
    groups = customer_attribute(ws, by).rename(group_customer_id="customer_id")
    joined = lifetimes.left_join(groups, lifetimes.customer_id == groups.group_customer_id)
    return joined.mutate(group=joined.group.fill_null(MISSING)).drop("group_customer_id")


def kaplan_meier(
    durations: Any, events: Any, removed: Any, confidence: float = 0.95
) -> pd.DataFrame:
    """Kaplan–Meier curve from counts per distinct duration.

    ``events`` churned and ``removed`` left the risk set (churned + censored) at each duration.
    Returns time_days, at_risk, events, censored, survival, lower, upper, with a row at time 0.
    """
    times = np.asarray(durations, dtype=float)
    deaths = np.asarray(events, dtype=np.int64)
    leaving = np.asarray(removed, dtype=np.int64)
    known = ~np.isnan(times)
    order = np.argsort(times[known], kind="stable")
    times, deaths, leaving = times[known][order], deaths[known][order], leaving[known][order]
    if len(times):
        # add up the counts of equal durations (numpy on up to a row per customer: fast)
        firsts = np.flatnonzero(np.concatenate([[True], times[1:] != times[:-1]]))
        times = times[firsts]
        deaths = np.add.reduceat(deaths, firsts)
        leaving = np.add.reduceat(leaving, firsts)
    if not len(times) or times[0] > 0:
        times = np.concatenate([[0.0], times])
        deaths = np.concatenate([[0], deaths]).astype(np.int64)
        leaving = np.concatenate([[0], leaving]).astype(np.int64)
    total = int(leaving.sum())
    removed_before = np.concatenate([[0], np.cumsum(leaving)[:-1]])
    at_risk = total - removed_before
    with np.errstate(divide="ignore", invalid="ignore"):
        log_survival = np.cumsum(np.log(at_risk - deaths) - np.log(at_risk))
        # Greenwood terms in exact integer arithmetic; a step that empties the risk set adds 0.
        denominator = at_risk.astype(np.int64) * (at_risk - deaths).astype(np.int64)
        terms = np.where(denominator > 0, deaths / np.where(denominator > 0, denominator, 1), 0.0)
        greenwood = np.cumsum(terms)
        survival_values = np.exp(log_survival)
        z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
        log_s = np.log(survival_values)
        spread = z * np.sqrt(greenwood) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    lower = np.where(np.isnan(lower), 1.0, lower)
    upper = np.where(np.isnan(upper), 1.0, upper)
    return pd.DataFrame(
        {
            "time_days": times,
            "at_risk": at_risk.astype(np.int64),
            "events": deaths.astype(np.int64),
            "censored": (leaving - deaths).astype(np.int64),
            "survival": survival_values,
            "lower": lower,
            "upper": upper,
        }
    )


def first_time_at_or_below(curve: pd.Series, times: pd.Series, level: float = 0.5) -> float:
    """First time at which a survival curve is at or below ``level``; inf if it never is."""
    reached = np.flatnonzero(np.asarray(curve) <= level)
    return float(np.asarray(times)[reached[0]]) if len(reached) else float("inf")


def logrank_test(counts: pd.DataFrame) -> tuple[float, float]:
    """Log-rank test that all groups share one survival curve, from per-duration counts.

    ``counts`` has group, duration_days, events, removed. Returns (chi-square, p-value) with
    (groups - 1) degrees of freedom; the hypergeometric variance handles tied durations.
    """
    frame = counts.assign(group=counts.group.astype(object).where(counts.group.notna(), "\0"))
    deaths = frame.pivot_table(
        index="duration_days", columns="group", values="events", aggfunc="sum", fill_value=0
    ).sort_index()
    removed = frame.pivot_table(
        index="duration_days", columns="group", values="removed", aggfunc="sum", fill_value=0
    ).reindex(index=deaths.index, columns=deaths.columns)
    d = deaths.to_numpy(dtype=float)
    r = removed.to_numpy(dtype=float)
    at_risk = r.sum(axis=0) - np.vstack([np.zeros(r.shape[1]), np.cumsum(r, axis=0)[:-1]])
    n = at_risk.sum(axis=1)
    d_total = d.sum(axis=1)
    keep = (n > 0) & (d_total > 0)
    d, at_risk, n, d_total = d[keep], at_risk[keep], n[keep], d_total[keep]
    expected = at_risk * (d_total / n)[:, None]
    observed_minus_expected = (d - expected).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, d_total * (n - d_total) / (n * n * (n - 1)), 0.0)
    share = at_risk
    covariance = np.einsum("t,ti,tj->ij", factor, share, share) * -1
    covariance[np.diag_indices_from(covariance)] += (factor[:, None] * share * n[:, None]).sum(
        axis=0
    )
    # The k deviations sum to zero: drop one group and invert the rest.
    reduced = covariance[:-1, :-1]
    deviation = observed_minus_expected[:-1]
    statistic = float(deviation @ np.linalg.pinv(reduced) @ deviation)
    dof = covariance.shape[0] - 1
    return statistic, float(stats.chi2.sf(statistic, dof))
