"""Cohort retention and churn in the first days of a customer's life.

Both build on :func:`cxray.analysis.lifetimes.customer_lifetimes`, so "churned" means what it means
everywhere in cxray, and both leave out customers who are too new to judge.

**Retention matrix** (:func:`retention`). A customer's cohort is the calendar period (month by
default) of their start. Period ``k`` of a cohort is the ``k``-th calendar period after it
(``k = 0`` is the acquisition period itself). A cell is the share of the cohort that had **not
churned** by the end of period ``k``. We measure "not churned" rather than "active in the period"
(had an event in it) on purpose: it is the same notion of churn as the survival curve and the
funnel, it never rises again, and it does not mistake a customer who simply had nothing to do
that month for one who left. A cell whose period ends after the observation window (the end of
the data, less the inactivity days of the churn rule) cannot be known yet and is missing (NaN),
never zero.

**Early churn** (:func:`early_churn`). The share of new customers who churned within their first
``days`` days (churn at most ``days`` after their start), per acquisition month, with a Wilson
95% interval. Only customers whose first ``days`` days lie wholly inside the observation window
count: for them the answer is known either way. Customers who started later are reported apart
as ``not_yet_known`` — even those who already left, because counting the early leavers of a
recent cohort without its stayers would overstate the share.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import ibis
import numpy as np
import pandas as pd

from cxray.analysis._common import check_lang, fmt_interval, fmt_num
from cxray.analysis.lifetimes import (
    customer_lifetimes,
    data_end,
    observed_until,
    snapshot_date,
)
from cxray.analysis.metrics import wilson
from cxray.results import Column, Result, Table, frame_records, group_column, interval, jsonable

PERIODS = ("week", "month", "quarter")
_TRUNCATE_UNIT = {"week": "W", "month": "M", "quarter": "Q"}
# (period word, the acquisition period) per language
_PERIOD_WORDS = {
    "en": {
        "week": ("week", "acquisition week"),
        "month": ("month", "acquisition month"),
        "quarter": ("quarter", "acquisition quarter"),
    },
    "nl": {
        "week": ("week", "instapweek"),
        "month": ("maand", "instapmaand"),
        "quarter": ("kwartaal", "instapkwartaal"),
    },
}
ALL_COHORTS = "all"
MIN_CUSTOMERS = 30  # customers a later period needs before the summary names it

RETENTION_COLUMNS = ["cohort", "cohort_start", "period", "customers", "retained", "share"]
POOLED_COLUMNS = ["period", "cohorts", "customers", "retained", "share"]
EARLY_CHURN_COLUMNS = [
    "cohort",
    "customers",
    "known",
    "churned",
    "share",
    "lower",
    "upper",
    "not_yet_known",
]


def wilson_interval(
    successes: Any, trials: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial shares (vectorised; NaN where there are no trials)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lower = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lower, upper


def _period_offset(start: pd.DatetimeIndex, period: str, steps: int) -> pd.DatetimeIndex:
    if period == "week":
        return start + pd.Timedelta(weeks=steps)
    months = steps * (3 if period == "quarter" else 1)
    return start + pd.DateOffset(months=months)


def _period_index(start: pd.Series, moment: pd.Series, period: str) -> pd.Series:
    """Whole calendar periods from ``start`` to ``moment`` (both truncated to period starts)."""
    if period == "week":
        return ((moment - start).dt.days // 7).astype("Int64")
    months = (moment.dt.year - start.dt.year) * 12 + (moment.dt.month - start.dt.month)
    return (months // (3 if period == "quarter" else 1)).astype("Int64")


def _cohort_label(start: pd.Timestamp, period: str) -> str:
    if period == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if period == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return start.strftime("%Y-%m-%d")  # the Monday the week starts on


def _as_utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


# -- retention matrix -----------------------------------------------------------------------
@dataclass(repr=False)
class RetentionResult(Result):
    """Cohort x period share not churned; unobservable cells are NaN."""

    cells: pd.DataFrame  # long: one row per (cohort, period)
    pooled: pd.DataFrame  # per period, over the cohorts for which it is observable
    period: str
    observed_until: pd.Timestamp | None
    # one snapshot of lifetimes: no cohorts, retention by time since start (Kaplan–Meier)
    snapshot_as_of: pd.Timestamp | None = None

    def display(self) -> Table:
        """The cohort grid: a row per cohort (and one over all), a column per period.

        A narrow screen keeps the round periods (1, 3, 6, 12… months); one snapshot of lifetimes
        has no cohorts and shows retention per period since the start.
        """
        en, nl = _PERIOD_WORDS["en"][self.period][0], _PERIOD_WORDS["nl"][self.period][0]
        if self.snapshot_as_of is not None:
            columns = [
                Column("period", "count", en, nl),
                Column("customers", "count", "customers", "klanten"),
                Column("retained", "count", "retained", "behouden"),
                Column("share", "share", "share retained", "aandeel behouden"),
            ]
            return Table(self.pooled.reset_index(drop=True), columns, noun=("periods", "perioden"))
        if self.cells.empty:
            return Table(pd.DataFrame(columns=["cohort", "customers"]), [])
        grid = self.matrix()
        grid.columns = [str(p) for p in grid.columns]
        sizes = self.cells.groupby("cohort")["customers"].first()
        grid.insert(0, "customers", sizes.reindex(grid.index).to_numpy())
        pooled = self.pooled.set_index("period")
        total = {str(p): pooled.at[p, "share"] for p in pooled.index if str(p) in grid.columns}
        total["customers"] = int(sizes.sum())
        grid.loc[ALL_COHORTS] = pd.Series(total)
        grid = grid.reset_index().rename(columns={"index": "cohort"})
        periods = [c for c in grid.columns[2:] if grid[c].notna().any()]
        columns = [
            group_column("cohort", "cohort"),
            Column("customers", "count", "cohort size", "cohortgrootte", 8),
            *(Column(p, "share", f"{en} {p}", f"{nl} {p}", _roundness(int(p), self.period))
              for p in periods),
        ]  # fmt: skip
        return Table(grid, columns, pinned=1, noun=("cohorts", "cohorten"))

    def matrix(self, value: str = "share") -> pd.DataFrame:
        """Cohorts as rows, periods as columns (the usual triangle)."""
        if self.cells.empty:
            return pd.DataFrame()
        return self.cells.pivot(index="cohort", columns="period", values=value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "observed_until": jsonable(self.observed_until),
            "cells": frame_records(self.cells),
            "pooled": frame_records(self.pooled),
            "snapshot_as_of": jsonable(self.snapshot_as_of),
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        if self.snapshot_as_of is not None:
            return self._snapshot_summary(lang)
        unit, first = _PERIOD_WORDS[lang][self.period]
        observable = self.pooled.dropna(subset=["share"])
        observable = observable[observable.period > 0]
        if self.cells.empty or observable.empty:
            return (
                "Nog te weinig historie voor een retentiematrix."
                if nl
                else "Not enough history yet for a retention matrix."
            )
        picks = [observable.iloc[0]]
        # a later period is worth a headline only over enough customers to say something:
        # 30, or half the first period's when the whole workspace is smaller than that
        enough = min(MIN_CUSTOMERS, picks[0].customers / 2)
        later = observable[(observable.period <= 12) & (observable.customers >= enough)]
        if len(later) and later.iloc[-1].period != picks[0].period:
            picks.append(later.iloc[-1])

        def cohorts_of(row: pd.Series) -> str:
            n = int(row.cohorts)
            word = (
                ("cohort" if n == 1 else "cohorten") if nl else ("cohort" if n == 1 else "cohorts")
            )
            people = int(row.customers)
            low, high = wilson(float(row.retained), people)
            share, interval = fmt_interval(row.share, low, high, lang, percent=True)
            who = (
                ("klant" if people == 1 else "klanten")
                if nl
                else ("customer" if people == 1 else "customers")
            )
            ci = "95%-interval" if nl else "95% interval"
            return (
                f"{share} ({ci} {interval}; {fmt_num(n, lang)} {word}, "
                f"{fmt_num(people, lang)} {who})"
            )

        first_pick, *rest = picks
        k = int(first_pick.period)
        n_cohorts = int(self.cells.cohort.nunique())
        n_customers = int(self.cells.drop_duplicates("cohort").customers.sum())
        cohorts = fmt_num(n_cohorts, lang) + (
            (" cohort" if n_cohorts == 1 else " cohorten")
            if nl
            else (" cohort" if n_cohorts == 1 else " cohorts")
        )
        customers = fmt_num(n_customers, lang) + (
            (" klant" if n_customers == 1 else " klanten")
            if nl
            else (" customer" if n_customers == 1 else " customers")
        )
        if nl:
            text = (
                f"Aandeel klanten dat aan het eind van {unit} {k} na de {first} nog niet "
                f"vertrokken was: {cohorts_of(first_pick)}"
            )
            for row in rest:
                text += f"; aan het eind van {unit} {int(row.period)}: {cohorts_of(row)}"
            return f"{text}. {cohorts}, {customers}."
        text = (
            f"Share of customers not churned by the end of {unit} {k} after their {first}: "
            f"{cohorts_of(first_pick)}"
        )
        for row in rest:
            text += f"; by the end of {unit} {int(row.period)}: {cohorts_of(row)}"
        return f"{text}. {cohorts}, {customers}."


def retention(ws: Any, period: str = "month", max_periods: int = 24) -> RetentionResult:
    """Cohort retention: share of each acquisition cohort not churned by the end of period k.

    ``period`` is "week", "month" or "quarter" (calendar periods in UTC; weeks start on Monday).
    Periods run from 0 (the acquisition period) to ``max_periods``. Cells beyond the observation
    window are NaN. Long frame columns: cohort, cohort_start, period, customers, retained, share.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    if max_periods < 0:
        raise ValueError("max_periods must be zero or more")
    as_of = snapshot_date(ws)
    if as_of is not None:
        from cxray.analysis.snapshot import snapshot_retention

        pooled = snapshot_retention(ws, period, max_periods)
        empty = pd.DataFrame(columns=RETENTION_COLUMNS)
        return RetentionResult(empty, pooled, period, _as_utc(as_of), snapshot_as_of=_as_utc(as_of))
    end = data_end(ws)
    until = observed_until(ws, end)
    if until is None:
        return RetentionResult(
            pd.DataFrame(columns=RETENTION_COLUMNS),
            pd.DataFrame(columns=POOLED_COLUMNS),
            period,
            None,
        )
    until = _as_utc(until)
    lifetimes = customer_lifetimes(ws, end)
    lifetimes = lifetimes.filter(~lifetimes.too_new)
    unit = _TRUNCATE_UNIT[period]
    # Only (cohort, churn period, count) leaves the engine: a few hundred rows at most.
    counts = (
        lifetimes.select(
            cohort_start=lifetimes.start.truncate(unit),
            churn_period_start=lifetimes.churn_ts.truncate(unit),
        )
        .group_by(["cohort_start", "churn_period_start"])
        .aggregate(customers=ibis._.count())
        .execute()
    )
    if counts.empty:
        return RetentionResult(
            pd.DataFrame(columns=RETENTION_COLUMNS),
            pd.DataFrame(columns=POOLED_COLUMNS),
            period,
            until,
        )
    counts["cohort_start"] = pd.to_datetime(counts.cohort_start, utc=True)
    counts["churn_period_start"] = pd.to_datetime(counts.churn_period_start, utc=True)
    counts["churn_index"] = _period_index(counts.cohort_start, counts.churn_period_start, period)

    sizes = counts.groupby("cohort_start").customers.sum().sort_index()
    starts = pd.DatetimeIndex(sizes.index)
    labels = [_cohort_label(start, period) for start in starts]
    churned = counts.dropna(subset=["churn_index"])
    # gone[k]: customers of each cohort who had churned by the end of period k
    gone = (
        churned.pivot_table(
            index="cohort_start", columns="churn_index", values="customers", aggfunc="sum"
        )
        .reindex(index=sizes.index, columns=range(max_periods + 1))
        .fillna(0)
        .cumsum(axis=1)
    )
    frames = []
    for k in range(max_periods + 1):
        observable = _period_offset(starts, period, k + 1) <= until
        retained = np.where(observable, sizes.to_numpy() - gone[k].to_numpy(), np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "cohort": labels,
                    "cohort_start": starts,
                    "period": k,
                    "customers": sizes.to_numpy(),
                    "retained": retained,
                    "share": retained / sizes.to_numpy(),
                }
            )
        )
    cells = pd.concat(frames, ignore_index=True).sort_values(
        ["cohort_start", "period"], ignore_index=True
    )
    cells = cells.astype(
        {"period": "int64", "customers": "int64", "retained": "float64", "share": "float64"}
    )
    return RetentionResult(cells, _pooled(cells), period, until)


def _pooled(cells: pd.DataFrame) -> pd.DataFrame:
    """Per period: customer-weighted share over the cohorts for which that period is known."""
    known = cells.dropna(subset=["share"])
    pooled = known.groupby("period", as_index=False).agg(
        cohorts=("cohort", "size"), customers=("customers", "sum"), retained=("retained", "sum")
    )
    pooled["share"] = pooled.retained / pooled.customers
    every = pd.DataFrame({"period": sorted(cells.period.unique())})
    pooled = every.merge(pooled, on="period", how="left")
    pooled["cohorts"] = pooled.cohorts.fillna(0).astype("int64")
    pooled["customers"] = pooled.customers.fillna(0).astype("int64")
    return pooled[POOLED_COLUMNS]


def _snapshot_summary(self: RetentionResult, lang: str) -> str:
    nl = lang == "nl"
    unit = _PERIOD_WORDS[lang][self.period][0]
    picks = self.pooled[self.pooled.period.isin([0, 11])]
    as_of = f"{self.snapshot_as_of:%Y-%m-%d}"
    parts = []
    for row in picks.itertuples():
        share, bounds = fmt_interval(row.share, row.lower, row.upper, lang, percent=True)
        interval = f"95%-interval {bounds}" if nl else f"95% interval {bounds}"
        at_risk = fmt_num(row.customers, lang)
        if nl:
            parts.append(
                f"na {unit} {row.period + 1}: {share} ({interval}; nog {at_risk} in beeld)"
            )
        else:
            parts.append(
                f"after {unit} {row.period + 1}: {share} ({interval}; {at_risk} still followed)"
            )
    if nl:
        return (
            f"Eén momentopname per {as_of}: geen cohorten te onderscheiden, dus retentie naar tijd "
            f"sinds de start (Kaplan–Meier) — nog klant {'; '.join(parts)}. Klanten die lang vóór "
            "de momentopname vertrokken, staan er niet in."
        )
    return (
        f"One snapshot as of {as_of}: cohorts cannot be told apart, so retention is by time since "
        f"start (Kaplan–Meier) — still a customer {'; '.join(parts)}. Customers who left long "
        "before the snapshot are not in it."
    )


RetentionResult._snapshot_summary = _snapshot_summary  # type: ignore[attr-defined]


def _roundness(period: int, unit: str) -> int:
    """How much a period is worth keeping on a narrow screen: 12 months before 5 months."""
    year = {"week": 52, "month": 12, "quarter": 4}[unit]
    half, quarter = year // 2, max(year // 4, 1)
    if period and period % year == 0:
        return 8
    if period == 1 or (period and period % half == 0):
        return 7
    if period and period % quarter == 0:
        return 6
    return 2 if period else 1


# -- churn in the first days ----------------------------------------------------------------
@dataclass(repr=False)
class EarlyChurnResult(Result):
    """Share of new customers who churned within their first ``days`` days, per cohort."""

    cohorts: pd.DataFrame  # per acquisition month, then an overall row (cohort "all")
    days: int
    observed_until: pd.Timestamp | None
    confidence: float = 0.95
    snapshot_as_of: pd.Timestamp | None = None  # one snapshot: Kaplan–Meier, no cohorts

    @property
    def overall(self) -> pd.Series | None:
        rows = self.cohorts[self.cohorts.cohort == ALL_COHORTS]
        return rows.iloc[0] if len(rows) else None

    def display(self) -> Table:
        days = fmt_num(self.days, "en")
        frame = self.cohorts.reset_index(drop=True)
        columns = [
            group_column("cohort", "cohort"),
            Column("customers", "count", "customers", "klanten"),
            Column("known", "count", f"followed {days} days", f"{days} dagen gevolgd", 5),
            Column("churned", "count", "left", "vertrokken", 8),
            Column("share", "share", f"left within {days} days", f"weg binnen {days} dagen"),
            interval("lower", "upper", "share", 6),
            Column("not_yet_known", "count", "too recent to tell", "te recent", 4),
        ]
        pinned = int(len(frame) > 0 and frame["cohort"].iloc[-1] == ALL_COHORTS)
        return Table(frame, columns, pinned=pinned, noun=("cohorts", "cohorten"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "observed_until": jsonable(self.observed_until),
            "confidence": self.confidence,
            "cohorts": frame_records(self.cohorts),
            "snapshot_as_of": jsonable(self.snapshot_as_of),
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        row = self.overall
        if row is None or row.known == 0:
            return (
                f"Nog geen klanten die al {self.days} dagen gevolgd zijn."
                if nl
                else f"No customers observed for {self.days} days yet."
            )
        share, bounds = fmt_interval(row.share, row.lower, row.upper, lang, percent=True)
        interval = f"(95%-interval {bounds})" if nl else f"(95% interval {bounds})"
        known, unknown = fmt_num(row.known, lang), fmt_num(row.not_yet_known, lang)
        if self.snapshot_as_of is not None:
            as_of = f"{self.snapshot_as_of:%Y-%m-%d}"
            if nl:
                return (
                    f"{share} van de klanten vertrok binnen de eerste {self.days} dagen {interval}; "
                    f"Kaplan–Meier over {known} klanten van één momentopname per {as_of} (geen "
                    "cohorten te onderscheiden; wie lang vóór de momentopname vertrok, staat er "
                    "niet in)."
                )
            return (
                f"{share} of customers left within their first {self.days} days {interval}; "
                f"Kaplan–Meier over {known} customers of one snapshot as of {as_of} (cohorts "
                "cannot be told apart; who left long before the snapshot is not in it)."
            )
        if nl:
            text = (
                f"{share} van de nieuwe klanten vertrok binnen de eerste {self.days} dagen "
                f"{interval}, op basis van {known} klanten"
            )
            if row.not_yet_known:
                text += f"; van {unknown} recentere klanten is het nog niet bekend"
            return text + "."
        text = (
            f"{share} of new customers left within their first {self.days} days {interval}, "
            f"based on {known} customers"
        )
        if row.not_yet_known:
            text += f"; for {unknown} more recent customers it is not yet known"
        return text + "."


def early_churn(ws: Any, days: int = 100, by_cohort: bool = True) -> EarlyChurnResult:
    """Share of new customers who churned within their first ``days`` days, with a Wilson interval.

    Per acquisition month (``by_cohort``) and overall (cohort "all"). Columns: cohort, customers,
    known (first ``days`` days wholly observed), churned (within them), share = churned / known,
    lower, upper (95% Wilson), not_yet_known = customers - known.
    """
    if days <= 0:
        raise ValueError("days must be a positive number of days")
    as_of = snapshot_date(ws)
    if as_of is not None:
        from cxray.analysis.snapshot import snapshot_early_churn

        frame = snapshot_early_churn(ws, days)
        return EarlyChurnResult(frame, days, _as_utc(as_of), snapshot_as_of=_as_utc(as_of))
    end = data_end(ws)
    until = observed_until(ws, end)
    if until is None:
        return EarlyChurnResult(pd.DataFrame(columns=EARLY_CHURN_COLUMNS), days, None)
    until = _as_utc(until)
    lifetimes = customer_lifetimes(ws, end)
    lifetimes = lifetimes.filter(~lifetimes.too_new)
    latest_known_start = ibis.literal(
        (until - dt.timedelta(days=days)).to_pydatetime(), type="timestamp('UTC')"
    )
    known = lifetimes.start <= latest_known_start
    early = known & lifetimes.churned & (lifetimes.duration_days <= days)
    table = lifetimes.select(cohort_start=lifetimes.start.truncate("M"), known=known, early=early)
    counts = (
        table.group_by("cohort_start")
        .aggregate(
            customers=table.count(),
            known=table.known.sum(),
            churned=table.early.sum(),
        )
        .execute()
        .sort_values("cohort_start")
    )
    counts["cohort_start"] = pd.to_datetime(counts.cohort_start, utc=True)
    counts["cohort"] = [_cohort_label(c, "month") for c in counts.cohort_start]
    rows = counts[["cohort", "customers", "known", "churned"]] if by_cohort else None
    overall = pd.DataFrame(
        {
            "cohort": [ALL_COHORTS],
            "customers": [counts.customers.sum()],
            "known": [counts.known.sum()],
            "churned": [counts.churned.sum()],
        }
    )
    frame = pd.concat([rows, overall], ignore_index=True) if rows is not None else overall
    frame = frame.astype({"customers": "int64", "known": "int64", "churned": "int64"})
    frame["share"] = frame.churned / frame.known.where(frame.known > 0)
    frame["lower"], frame["upper"] = wilson_interval(frame.churned, frame.known)
    frame["not_yet_known"] = frame.customers - frame.known
    return EarlyChurnResult(frame[EARLY_CHURN_COLUMNS].reset_index(drop=True), days, until)
