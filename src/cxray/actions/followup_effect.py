"""Did following up help? Churn and later answers of detractors followed up against the rest.

**Groups.** With a hold-out (some follow-ups ``held_out``, drawn at random by
:mod:`cxray.actions.followup_rules`) the estimate is *randomised*: every detractor offered a
follow-up since the first one held out is compared with those held out (intention to treat: the
effect of the policy of following up, whoever was reached). Without one it is *observational*:
detractors followed up (done, with an outcome other than ``no_answer``) against those never
worked (still open past their due time). Those followed up first may be the easy ones, so that
comparison is adjusted for the score, the tenure at the answer and the metric, and said to be
observational. Each customer counts once, with their first follow-up in the comparison.

**Churn.** Time runs from the answer that opened the follow-up to the churn or the end of the
observation window, both exactly as :func:`cxray.analysis.lifetimes.customer_lifetimes` defines
them for every analysis; customers whose window ends before the answer (too recent to judge with
the inactivity rule) are left out. Kaplan–Meier per group (lifelines) gives the churned share at a
horizon; a Cox model gives the hazard ratio of the followed-up group with its 95% interval.

**Later answers.** The customer's next answer of the same metric after the one that opened the
follow-up: the difference in mean next NPS (Welch's t interval), and the share no longer past
the threshold that opened the follow-up (Wilson intervals; the difference with Newcombe's).

**Too few.** Fewer than ``MIN_GROUP`` customers in a group (or ``MIN_EVENTS`` churned in all)
gives no number, and the sentence says so.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxray.actions.followup_rules import rules_of
from cxray.actions.followup_store import TABLE, has_tables
from cxray.actions.followup_words import sentences
from cxray.analysis._common import check_lang
from cxray.analysis.lifetimes import customer_lifetimes, data_end
from cxray.results import Column, Result, Table, frame_records, interval
from cxray.warehouse import literal, utc

MIN_GROUP = 10
MIN_EVENTS = 5
GROUP_COLUMNS = [
    "group", "detractors", "customers", "churned", "churn_at_horizon", "churn_lower", "churn_upper",
    "answered_again", "better", "better_share", "better_lower", "better_upper",
    "next_nps", "next_nps_lower", "next_nps_upper",
]  # fmt: skip
GROUP_WORDS = {
    "followed_up": {"en": "followed up", "nl": "opgevolgd"},
    "not_followed_up": {"en": "not followed up", "nl": "niet opgevolgd"},
    "offered": {"en": "offered a follow-up", "nl": "opvolging aangeboden"},
    "held_out": {"en": "held out at random", "nl": "willekeurig achtergehouden"},
}


class _Source:
    """What the lifetime functions read (``.warehouse``, ``.journey``, the tables), from a
    workspace or from a warehouse with its journey."""

    def __init__(self, source: Any, journey: Any = None):
        self.warehouse = getattr(source, "warehouse", source)
        self.journey = journey if journey is not None else source.journey
        self.events = self.warehouse.events
        self.customers = self.warehouse.customers
        self.feedback = self.warehouse.feedback


@dataclass
class Estimate:
    """One number with its 95% interval (None: too few to say)."""

    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    p: float | None = None
    reason: str | None = None  # why there is no number: "too_few", "not_estimable"

    @property
    def known(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    def covers(self, value: float) -> bool:
        return self.known and self.lower <= value <= self.upper  # type: ignore[operator]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(repr=False)
class FollowupEffect(Result):
    """The effect of following up detractors (see the module text)."""

    design: str  # "randomised", "observational" or "none" (nothing to compare)
    treated: str  # the group names compared: treated against control
    control: str
    groups: pd.DataFrame
    hazard_ratio: Estimate = field(default_factory=Estimate)
    nps_difference: Estimate = field(default_factory=Estimate)
    better_difference: Estimate = field(default_factory=Estimate)
    horizon_days: float = 90.0
    reached_share: float | None = None  # randomised: share of those offered who were reached
    adjusted_for: tuple[str, ...] = ()
    followups: int = 0

    def group(self, name: str) -> dict[str, Any]:
        rows = self.groups[self.groups["group"] == name]
        return rows.iloc[0].to_dict() if len(rows) else {}

    def display(self) -> Table:
        horizon = f"{self.horizon_days:g}"
        columns = [
            Column("group", "text", "group", "groep", values=GROUP_WORDS),
            Column("detractors", "count", "detractors", "detractors"),
            Column("customers", "count", "followed for churn", "gevolgd voor vertrek", 6),
            Column("churned", "count", "churned", "vertrokken", 7),
            Column("churn_at_horizon", "share", f"churned within {horizon} days",
                   f"binnen {horizon} dagen vertrokken", 8),
            interval("churn_lower", "churn_upper", "share", 5),
            Column("answered_again", "count", "answered again", "opnieuw geantwoord", 6),
            Column("better_share", "share", "no longer past the threshold",
                   "niet meer onder de drempel", 8),
            interval("better_lower", "better_upper", "share", 5),
            Column("next_nps", "number", "next NPS answer (mean)", "volgend NPS-antwoord (gem.)", 6),
        ]  # fmt: skip
        return Table(self.groups.reset_index(drop=True), columns, noun=("groups", "groepen"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "treated": self.treated,
            "control": self.control,
            "followups": self.followups,
            "horizon_days": self.horizon_days,
            "reached_share": self.reached_share,
            "adjusted_for": list(self.adjusted_for),
            "hazard_ratio": self.hazard_ratio.to_dict(),
            "nps_difference": self.nps_difference.to_dict(),
            "better_difference": self.better_difference.to_dict(),
            "groups": frame_records(self.groups),
            "summary": {"en": self.summary("en"), "nl": self.summary("nl")},
        }

    def summary(self, lang: str = "en") -> str:
        return " ".join(self.sentences(lang))

    def sentences(self, lang: str = "en") -> list[str]:
        return sentences(self, check_lang(lang))


# -- reading ----------------------------------------------------------------------------------
def _followups(warehouse: Any) -> pd.DataFrame:
    columns = (
        "followup_id", "customer_id", "metric", "score", "touchpoint", "status", "outcome",
        "held_out",
    )  # fmt: skip
    times = ("answered_at", "opened_at", "due_at")
    rows = warehouse.query(
        f"SELECT {', '.join(columns)}, {', '.join(utc(t) for t in times)} FROM {TABLE} "
        "WHERE customer_id IS NOT NULL AND answered_at IS NOT NULL"
    )
    frame = pd.DataFrame(rows, columns=[*columns, *times])
    for name in times:
        frame[name] = pd.to_datetime(frame[name]).dt.tz_localize("UTC")
    frame["held_out"] = frame["held_out"].astype(bool)
    return frame


def _next_answers(warehouse: Any, ids: list[str]) -> pd.DataFrame:
    """Per follow-up: the customer's next answer of the same metric after the one that opened it."""
    if not ids:
        return pd.DataFrame(columns=["followup_id", "next_score"])
    wanted = ", ".join(literal(i) for i in ids)
    rows = warehouse.query(
        f"""
        SELECT followup_id, score FROM (
            SELECT x.followup_id, f.score,
                ROW_NUMBER() OVER (PARTITION BY x.followup_id ORDER BY f.ts, f.response_id) AS k
            FROM {TABLE} AS x JOIN feedback AS f
                ON f.customer_id = x.customer_id AND f.metric = x.metric
                AND f.ts > x.answered_at AND f.response_id <> x.response_id
            WHERE x.followup_id IN ({wanted}) AND f.score IS NOT NULL
        ) AS later WHERE k = 1
        """
    )
    return pd.DataFrame(rows, columns=["followup_id", "next_score"])


def _comparison(
    frame: pd.DataFrame, now: dt.datetime
) -> tuple[str, str, str, pd.DataFrame, float | None]:
    """(design, treated, control, the compared follow-ups with ``treated``, reached share)."""
    reached = (frame["status"] == "done") & frame["outcome"].notna()
    reached &= frame["outcome"] != "no_answer"
    held = frame[frame["held_out"]]
    if len(held):
        since = held["opened_at"].min()
        chosen = frame[frame["opened_at"] >= since].copy()
        chosen["treated"] = ~chosen["held_out"]
        offered = chosen[chosen["treated"]]
        share = float(reached[offered.index].mean()) if len(offered) else None
        return "randomised", "offered", "held_out", chosen, share
    never = (frame["status"] == "open") & (frame["due_at"] < pd.Timestamp(now))
    chosen = frame[reached | never].copy()
    chosen["treated"] = reached[chosen.index]
    return "observational", "followed_up", "not_followed_up", chosen, None


def followup_effect(
    source: Any,
    journey: Any = None,
    *,
    horizon_days: float = 90.0,
    now: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> FollowupEffect:
    """The effect of following up detractors (see the module text).

    ``source`` is a workspace, or a warehouse with ``journey`` given. ``now`` decides which
    open follow-ups are past due (default: the clock); ``end`` the end of the data (default:
    its latest timestamp).
    """
    src = _Source(source, journey)
    now = now or dt.datetime.now(dt.UTC)
    if not has_tables(src.warehouse):
        return _empty(horizon_days)
    frame = _followups(src.warehouse)
    if frame.empty:
        return _empty(horizon_days)
    design, treated, control, chosen, reached = _comparison(frame, now)
    chosen = chosen.sort_values(["answered_at", "followup_id"])
    chosen = chosen.drop_duplicates("customer_id", keep="first")  # each customer once
    end = end or data_end(src)
    lives = _lifetimes(src, chosen, end)
    later = _next_answers(src.warehouse, list(chosen["followup_id"]))
    chosen = chosen.merge(later, on="followup_id", how="left")
    limits = rules_of(src.journey).thresholds(src.journey)
    chosen["limit"] = chosen["metric"].map(limits)
    chosen["better"] = chosen["next_score"] > chosen["limit"]
    adjust = ("score", "tenure", "metric") if design == "observational" else ()
    groups = pd.DataFrame(
        [
            _group_row(
                name,
                chosen[chosen["treated"] == flag],
                lives[lives["treated"] == flag],
                horizon_days,
            )
            for name, flag in ((treated, True), (control, False))
        ],
        columns=GROUP_COLUMNS,
    )
    return FollowupEffect(
        design, treated, control, groups,
        hazard_ratio=_hazard_ratio(lives, adjust),
        nps_difference=_nps_difference(chosen),
        better_difference=_better_difference(chosen),
        horizon_days=horizon_days, reached_share=reached, adjusted_for=adjust,
        followups=len(frame),
    )  # fmt: skip


def _empty(horizon_days: float) -> FollowupEffect:
    groups = pd.DataFrame(columns=GROUP_COLUMNS)
    return FollowupEffect(
        "none", "followed_up", "not_followed_up", groups, horizon_days=horizon_days
    )


def _lifetimes(src: _Source, chosen: pd.DataFrame, end: dt.datetime | None) -> pd.DataFrame:
    """Per compared customer: days from the answer to churn or censoring, and whether churned."""
    columns = ["customer_id", "treated", "duration", "churned", "score", "tenure", "metric"]
    if chosen.empty or end is None:
        return pd.DataFrame(columns=columns)
    lives = customer_lifetimes(src, end=end)
    ids = [str(c) for c in chosen["customer_id"]]
    found = lives.filter(lives.customer_id.isin(ids)).select(
        "customer_id", "start", "churned", "end_ts", "too_new"
    )
    found = found.execute()
    found["customer_id"] = found["customer_id"].astype(str)
    merged = chosen.assign(customer_id=chosen["customer_id"].astype(str)).merge(
        found, on="customer_id", how="inner"
    )
    end_ts = pd.to_datetime(merged["end_ts"], utc=True)
    start = pd.to_datetime(merged["start"], utc=True)
    merged["duration"] = (end_ts - merged["answered_at"]).dt.total_seconds() / 86400.0
    merged["tenure"] = (merged["answered_at"] - start).dt.total_seconds() / 86400.0
    # observed after the answer only: churn or censoring before it says nothing about follow-up
    merged = merged[(merged["duration"] > 0) & ~merged["too_new"].astype(bool)]
    merged["churned"] = merged["churned"].astype(bool)
    merged["tenure"] = merged["tenure"].clip(lower=0).fillna(0)
    return merged[columns].reset_index(drop=True)


def _group_row(name: str, rows: pd.DataFrame, mine: pd.DataFrame, horizon: float) -> dict[str, Any]:
    """One group's churn, later answers and their intervals (NaN where too few)."""
    from statsmodels.stats.proportion import proportion_confint

    churn = lower = upper = math.nan
    if len(mine) >= MIN_GROUP:
        churn, lower, upper = _churn_at(mine, horizon)
    again = rows[rows["next_score"].notna()]
    better = int(again["better"].sum())
    share = b_low = b_high = math.nan
    if len(again) >= MIN_GROUP:
        share = better / len(again)
        b_low, b_high = proportion_confint(better, len(again), method="wilson")
    nps = again[again["metric"] == "nps"]["next_score"].astype(float)
    mean = m_low = m_high = math.nan
    if len(nps) >= MIN_GROUP:
        from scipy import stats

        mean = float(nps.mean())
        half = float(stats.t.ppf(0.975, len(nps) - 1) * nps.std(ddof=1) / math.sqrt(len(nps)))
        m_low, m_high = mean - half, mean + half
    return {
        "group": name, "detractors": len(rows), "customers": len(mine), "churned": int(mine["churned"].sum()),
        "churn_at_horizon": churn, "churn_lower": lower, "churn_upper": upper,
        "answered_again": len(again), "better": better, "better_share": share,
        "better_lower": b_low, "better_upper": b_high,
        "next_nps": mean, "next_nps_lower": m_low, "next_nps_upper": m_high,
    }  # fmt: skip


def _churn_at(lives: pd.DataFrame, horizon: float) -> tuple[float, float, float]:
    """1 - S(horizon) by Kaplan–Meier, with lifelines' exponential Greenwood interval."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(lives["duration"], lives["churned"])
    if lives["duration"].max() < horizon:  # nobody followed that long: no share at the horizon
        return math.nan, math.nan, math.nan
    survival = float(kmf.survival_function_at_times(horizon).iloc[0])
    band = kmf.confidence_interval_survival_function_
    at = band[band.index <= horizon].iloc[-1]
    return 1 - survival, 1 - float(at.iloc[1]), 1 - float(at.iloc[0])


def _hazard_ratio(lives: pd.DataFrame, adjust: tuple[str, ...]) -> Estimate:
    groups = lives.groupby("treated").size()
    if len(groups) < 2 or groups.min() < MIN_GROUP or int(lives["churned"].sum()) < MIN_EVENTS:
        return Estimate(reason="too_few")
    from lifelines import CoxPHFitter

    data = pd.DataFrame(
        {
            "duration": lives["duration"].astype(float),
            "churned": lives["churned"].astype(int),
            "treated": lives["treated"].astype(int),
        }
    )
    if "score" in adjust:
        data["score"] = lives["score"].astype(float)
    if "tenure" in adjust:
        data["log_tenure"] = np.log1p(lives["tenure"].astype(float))
    if "metric" in adjust and lives["metric"].nunique() > 1:
        dummies = pd.get_dummies(lives["metric"], prefix="metric", drop_first=True, dtype=float)
        data = pd.concat([data, dummies], axis=1)
    # a (nearly) constant covariate cannot be estimated: all but 1% of rows share one value
    varies = [
        c
        for c in data
        if c in ("duration", "churned")
        or data[c].round(9).value_counts(normalize=True).iloc[0] < 0.99
    ]
    data = data[varies]
    if "treated" not in data or "churned" not in data:
        return Estimate(reason="not_estimable")
    try:
        fitted = CoxPHFitter().fit(data, "duration", "churned")
    except Exception:  # lifelines' convergence errors: no number rather than a wrong one
        return Estimate(reason="not_estimable")
    row = fitted.summary.loc["treated"]
    value = float(row["exp(coef)"])
    lower, upper = float(row["exp(coef) lower 95%"]), float(row["exp(coef) upper 95%"])
    if not all(math.isfinite(x) and x > 0 for x in (value, lower, upper)):
        return Estimate(reason="not_estimable")
    return Estimate(value, lower, upper, float(row["p"]))


def _nps_difference(chosen: pd.DataFrame) -> Estimate:
    from scipy import stats

    nps = chosen[(chosen["metric"] == "nps") & chosen["next_score"].notna()]
    a = nps[nps["treated"]]["next_score"].astype(float)
    b = nps[~nps["treated"]]["next_score"].astype(float)
    if len(a) < MIN_GROUP or len(b) < MIN_GROUP:
        return Estimate(reason="too_few")
    test = stats.ttest_ind(a, b, equal_var=False)
    if not math.isfinite(float(test.statistic)):  # no spread in either group
        return Estimate(float(a.mean() - b.mean()), reason="not_estimable")
    low, high = test.confidence_interval(0.95)
    return Estimate(float(a.mean() - b.mean()), float(low), float(high), float(test.pvalue))


def _better_difference(chosen: pd.DataFrame) -> Estimate:
    from statsmodels.stats.proportion import confint_proportions_2indep

    again = chosen[chosen["next_score"].notna()]
    a, b = again[again["treated"]], again[~again["treated"]]
    if len(a) < MIN_GROUP or len(b) < MIN_GROUP:
        return Estimate(reason="too_few")
    x1, x2 = int(a["better"].sum()), int(b["better"].sum())
    low, high = confint_proportions_2indep(x1, len(a), x2, len(b), method="newcomb", compare="diff")
    return Estimate(x1 / len(a) - x2 / len(b), float(low), float(high))


__all__ = ["MIN_EVENTS", "MIN_GROUP", "Estimate", "FollowupEffect", "followup_effect"]
