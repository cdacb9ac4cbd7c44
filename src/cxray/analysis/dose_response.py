"""Dose-response of bad experiences: churn hazard by the number of bad experiences so far.

A bad experience is an event of a touchpoint flagged ``bad_experience`` in the journey, or a
feedback answer (any touchpoint) at or below the journey's threshold for its metric (nps, csat,
ces). Each customer's time (days since start, from
:func:`cxray.analysis.lifetimes.customer_lifetimes`; too-new and zero-length lifetimes left out)
is split at every bad experience in the engine (counting process, the same episodes as
:mod:`cxray.analysis.drivers`): an experience counts from its moment on and only when strictly
before the end of the lifetime. Ties in time are ordered by (time, kind, occurrence id).

Per dose level (0, 1, 2, …, ``max_dose``+) the engine sums exposure days and churn events, so
censoring is handled: a customer contributes the days they were seen at each level.

- **hazard per 30 days** = 30 × events / exposure days, with the exact Poisson (Garwood) interval.
- **rate ratio vs dose 0**, exact: conditional on the total events of the two levels, the events
  at dose k are binomial; the Clopper–Pearson interval of that share gives the ratio's interval.
  A tenure-adjusted rate ratio (piecewise-exponential baseline by tenure) is given beside it,
  since bad experiences pile up with tenure while the churn hazard falls with it.
- **churn within the horizon** = 1 − exp(−h × horizon) from the level's hazard: the chance of
  churning within ``horizon_days`` for a customer who stays at that level (constant hazard
  assumption), with the interval from the hazard's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cxray.analysis._common import check_lang, fmt_interval, fmt_num
from cxray.analysis.exposure import DEFAULT_CUTS, Candidate, episode_table, occurrences
from cxray.analysis.poisson import MAX_COEF, MAX_SE, design_matrix, fit_poisson
from cxray.results import Column, Result, Table, frame_records, interval

BAD = "bad experience"
CONFIDENCE = 0.95
DOSE_COLUMNS = [
    "dose",
    "label",
    "customers",
    "churned",
    "exposure_days",
    "hazard_30d",
    "hazard_lower",
    "hazard_upper",
    "rate_ratio",
    "rr_lower",
    "rr_upper",
    "adjusted_rate_ratio",
    "adj_rr_lower",
    "adj_rr_upper",
    "churn_within_horizon",
    "churn_lower",
    "churn_upper",
]


def garwood(events: float, exposure: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact Poisson interval for a rate: events / exposure."""
    alpha = 1 - confidence
    if exposure <= 0:
        return (np.nan, np.nan)
    lower = stats.chi2.ppf(alpha / 2, 2 * events) / 2 if events > 0 else 0.0
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    return (lower / exposure, upper / exposure)


def exact_rate_ratio(
    events: float,
    exposure: float,
    ref_events: float,
    ref_exposure: float,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """Rate ratio (events/exposure) / (ref_events/ref_exposure) with its exact interval.

    Given n = events + ref_events, events ~ Binomial(n, p) with
    p = RR·E / (RR·E + E_ref); the Clopper–Pearson bounds of p map to bounds of RR.
    """
    if exposure <= 0 or ref_exposure <= 0:
        return (np.nan, np.nan, np.nan)
    n = events + ref_events
    if n == 0:
        return (np.nan, 0.0, np.inf)
    alpha = 1 - confidence
    p_low = stats.beta.ppf(alpha / 2, events, n - events + 1) if events > 0 else 0.0
    p_high = stats.beta.ppf(1 - alpha / 2, events + 1, n - events) if events < n else 1.0
    scale = ref_exposure / exposure

    def ratio(p: float) -> float:
        return np.inf if p >= 1 else p / (1 - p) * scale

    estimate = np.inf if ref_events == 0 else (events / exposure) / (ref_events / ref_exposure)
    return (estimate, ratio(p_low), ratio(p_high))


@dataclass(repr=False)
class DoseResponseResult(Result):
    """Churn hazard and churn-within-horizon per number of bad experiences so far."""

    levels: pd.DataFrame
    horizon_days: float
    max_dose: int
    bad_touchpoints: list[str]
    feedback_rules: dict[str, float]

    def display(self) -> Table:
        horizon = f"{self.horizon_days:g}"
        columns = [
            Column("label", "text", "bad experiences so far", "slechte ervaringen tot nu toe"),
            Column("customers", "count", "customers", "klanten"),
            Column("churned", "count", "churned", "vertrokken", 7),
            Column("churn_within_horizon", "share", f"churn within {horizon} days",
                   f"weg binnen {horizon} dagen"),
            interval("churn_lower", "churn_upper", "share", 5),
            Column("rate_ratio", "ratio", "× as fast", "× zo snel", 8),
            interval("rr_lower", "rr_upper", "ratio", 3),
            Column("adjusted_rate_ratio", "ratio", "× at equal tenure", "× bij gelijke duur", 6),
            interval("adj_rr_lower", "adj_rr_upper", "ratio", 2),
            Column("hazard_30d", "share", "churn per 30 days", "vertrek per 30 dagen", wide=True),
            Column("exposure_days", "count", "days followed", "dagen gevolgd", wide=True),
        ]  # fmt: skip
        levels = self.levels if (self.levels["customers"] > 0).any() else self.levels.iloc[:0]
        return Table(levels.reset_index(drop=True), columns, noun=("levels", "niveaus"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon_days": self.horizon_days,
            "max_dose": self.max_dose,
            "bad_touchpoints": self.bad_touchpoints,
            "feedback_rules": self.feedback_rules,
            "method": "counting process; hazard = events / exposure days (exact Poisson "
            "interval); churn within horizon = 1 - exp(-hazard x horizon), assuming the hazard "
            "stays at that level",
            "levels": frame_records(self.levels),
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        levels = self.levels[self.levels.exposure_days > 0]
        if levels.empty:
            return "Geen klanten om te volgen." if nl else "No customers to follow."
        horizon = fmt_num(self.horizon_days, lang)
        parts = []
        for row in levels.itertuples():
            share, interval = fmt_interval(
                row.churn_within_horizon, row.churn_lower, row.churn_upper, lang, percent=True
            )
            n = fmt_num(row.customers, lang)
            parts.append(f"{row.label}: {share} ({interval}, n = {n})")
        if nl:
            text = (
                f"Kans om binnen {horizon} dagen te vertrekken, naar aantal slechte ervaringen "
                f"tot dan toe: {'; '.join(parts)}."
            )
        else:
            text = (
                f"Chance of churning within {horizon} days by the number of bad experiences so "
                f"far: {'; '.join(parts)}."
            )
        if self.levels.customers.iloc[1:].sum() == 0:
            text += (
                " Geen klant had een slechte ervaring zoals het klantreisbestand die definieert "
                "(een contactmoment met bad_experience of een score op of onder de grens), dus "
                "iedereen staat op 0."
                if nl
                else " No customer had a bad experience as the journey file defines them (a "
                "touchpoint with bad_experience or a score at or below its threshold), so "
                "everyone stays at 0."
            )
        one = levels[levels.dose == 1]
        if not one.empty and one.rate_ratio.iloc[0] == one.rate_ratio.iloc[0]:
            r = one.iloc[0]
            rr, ci = fmt_interval(r.rate_ratio, r.rr_lower, r.rr_upper, lang, 1, reference=1.0)
            adjusted = ""
            if r.adjusted_rate_ratio == r.adjusted_rate_ratio:  # not NaN
                value, adj_ci = fmt_interval(
                    r.adjusted_rate_ratio, r.adj_rr_lower, r.adj_rr_upper, lang, 1, reference=1.0
                )
                equal = "bij gelijke klantduur" if nl else "at equal tenure"
                adjusted = f"; {equal} {value}× ({adj_ci})"
            if nl:
                text += (
                    f" Na één slechte ervaring vertrekken klanten {rr}× zo snel als zonder "
                    f"({ci}{adjusted}); een verband, geen bewezen oorzaak."
                )
            else:
                text += (
                    f" After one bad experience customers churn {rr}× as fast as with none "
                    f"({ci}{adjusted}); an association, not a proven cause."
                )
        return text


def _label(dose: int, max_dose: int, lang: str = "en") -> str:
    return f"{dose}+" if dose == max_dose else str(dose)


def bad_experience_candidates(ws: Any) -> list[Candidate]:
    """Every bad touchpoint and every feedback threshold, all counted as one kind."""
    journey = ws.journey
    found = [Candidate(BAD, "touchpoint", touchpoint=tp) for tp in journey.bad_touchpoints]
    for metric in journey.bad_experience.metrics:
        found.append(Candidate(BAD, "low_score", metric=metric, any_touchpoint=True))
    return found


def dose_response(ws: Any, horizon_days: float = 90, max_dose: int = 3) -> DoseResponseResult:
    """Churn hazard per 30 days and churn within ``horizon_days`` by bad experiences so far.

    Dose levels 0, 1, …, ``max_dose``+ (the last level collects everything above). See the
    module docstring for the definitions and intervals.
    """
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    if max_dose < 1:
        raise ValueError("max_dose must be at least 1")
    candidates = bad_experience_candidates(ws)
    rules = {
        m: float(ws.journey.bad_experience.threshold(m)) for m in ws.journey.bad_experience.metrics
    }
    levels = list(range(max_dose + 1))
    if candidates:
        episodes = episode_table(ws, occurrences(ws, candidates), [BAD], max_dose)
        # a single kind of occurrence: its packed word w0 is the capped count itself
        grouped = (
            episodes.group_by(["interval", "w0"])
            .aggregate(exposure_days=episodes.exposure.sum(), events=episodes.event.sum())
            .execute()
        )
        reached = (
            episodes.group_by("w0").aggregate(customers=episodes.customer_id.nunique()).execute()
        )
    else:  # nothing defined as bad: everyone stays at dose 0
        episodes = None
        grouped = pd.DataFrame(columns=["interval", "w0", "exposure_days", "events"])
        reached = pd.DataFrame(columns=["w0", "customers"])
    grouped = grouped[grouped.exposure_days > 0]
    per_dose = grouped.groupby("w0")[["exposure_days", "events"]].sum()
    per_dose = per_dose.reindex(levels, fill_value=0)
    customers = reached.set_index("w0")["customers"].reindex(levels, fill_value=0)
    adjusted = _adjusted_ratios(grouped, max_dose)

    rows = []
    ref_events, ref_exposure = per_dose.loc[0, "events"], per_dose.loc[0, "exposure_days"]
    for dose in levels:
        events = float(per_dose.loc[dose, "events"])
        exposure = float(per_dose.loc[dose, "exposure_days"])
        low, high = garwood(events, exposure)
        hazard = events / exposure if exposure > 0 else np.nan
        if dose == 0:
            rr = (1.0, np.nan, np.nan) if exposure > 0 else (np.nan,) * 3
        else:
            # an unbounded ratio (no churn at dose 0) is no number: it stays empty
            rr = tuple(
                x if np.isfinite(x) else np.nan
                for x in exact_rate_ratio(events, exposure, ref_events, ref_exposure)
            )
        rows.append(
            {
                "dose": dose,
                "label": _label(dose, max_dose),
                "customers": int(customers.loc[dose]),
                "churned": int(events),
                "exposure_days": exposure,
                "hazard_30d": 30 * hazard,
                "hazard_lower": 30 * low,
                "hazard_upper": 30 * high,
                "rate_ratio": rr[0],
                "rr_lower": rr[1],
                "rr_upper": rr[2],
                "adjusted_rate_ratio": adjusted[dose][0],
                "adj_rr_lower": adjusted[dose][1],
                "adj_rr_upper": adjusted[dose][2],
                "churn_within_horizon": 1 - np.exp(-hazard * horizon_days),
                "churn_lower": 1 - np.exp(-low * horizon_days),
                "churn_upper": 1 - np.exp(-high * horizon_days),
            }
        )
    return DoseResponseResult(
        levels=pd.DataFrame(rows, columns=DOSE_COLUMNS),
        horizon_days=float(horizon_days),
        max_dose=max_dose,
        bad_touchpoints=list(ws.journey.bad_touchpoints),
        feedback_rules=rules,
    )


def _adjusted_ratios(grouped: pd.DataFrame, max_dose: int) -> dict[int, tuple[float, ...]]:
    """Rate ratio of each dose vs 0 with a piecewise-exponential tenure baseline (Wald 95%)."""
    nothing = {d: (np.nan, np.nan, np.nan) for d in range(max_dose + 1)}
    nothing[0] = (1.0, np.nan, np.nan)
    frame = grouped.copy()
    doses_seen = set(frame.loc[frame.events > 0, "w0"].astype(int)) if len(frame) else set()
    if 0 not in doses_seen or frame.events.sum() == 0:
        return nothing
    dose_cols = []
    for dose in range(1, max_dose + 1):
        if dose in doses_seen:
            frame[f"d{dose}"] = (frame.w0 == dose).astype(float)
            dose_cols.append(f"d{dose}")
    if not dose_cols:
        return nothing
    frame["interval"] = frame["interval"].astype(int)
    design, names, _ = design_matrix(frame, dose_cols, (), len(DEFAULT_CUTS) + 1)
    fit = fit_poisson(
        design, frame.events.to_numpy(float), frame.exposure_days.to_numpy(float), names
    )
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    result = dict(nothing)
    for col in dose_cols:
        j = names.index(col)
        beta, se = fit.coef[j], float(np.sqrt(max(fit.cov[j, j], 0.0)))
        if abs(beta) > MAX_COEF or se > MAX_SE or not np.isfinite(beta):
            continue  # the data cannot pin this dose down (separation): no number
        result[int(col[1:])] = (np.exp(beta), np.exp(beta - z * se), np.exp(beta + z * se))
    return result
