"""Where customers leave: the last touchpoint before churn, against the last one before staying.

For each customer, the **last touchpoint** is their latest event up to the end of their observed
lifetime (:func:`cxray.analysis.lifetimes.customer_lifetimes`): up to the churn moment for
customers who churned, up to the censoring moment for customers who did not (so for them it is a
touchpoint that was followed by more activity: it preceded staying). Churn touchpoints themselves
are never a last touchpoint: a cancellation is the leaving, not what came before it. Customers
too new to judge are left out.

Events with the same timestamp are ordered by touchpoint name and then event id (the latest in
that order is the last), so the answer never depends on the order rows were stored in. In the
engine this is the latest time, then the alphabetically last touchpoint at that time (event id
only orders events of one touchpoint, which cannot change the touchpoint): a maximum and a join
back rather than a sorted window, which is several times faster on large event logs.

Per touchpoint: how many churned customers had it last (``churners_last``) and their share of all
churned customers with a last touchpoint, the same for customers who stayed, and the **lift** =
share among churners / share among stayers: how many times more often it precedes leaving than
staying (a risk ratio). Its 95% interval is Katz's log interval; when a cell of the 2×2 table is
zero, 0.5 is added to every cell (lift and interval both use the corrected table then). Each row
also gets Fisher's exact test of "as common among churners as among stayers" and its
Benjamini–Hochberg **q-value** across all rows (touchpoints or phases), before ``top`` cuts them.

**The sentence** names the first row in the requested ranking (``rank_by``) that precedes leaving
*significantly more often* than staying: lift above 1, its interval above 1 and q ≤ 0.05. When
no row does, it says so instead of naming the most frequent last touchpoint (which may well be
just as common among customers who stayed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cxray.analysis._common import (
    check_lang,
    count_true,
    fmt_interval,
    fmt_num,
    fmt_pct,
    records,
)
from cxray.analysis.lifetimes import customer_lifetimes, data_end
from cxray.analysis.metrics import benjamini_hochberg
from cxray.results import Column, Result, Table, interval, jsonable

CONFIDENCE = 0.95
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
RANKINGS = ("count", "lift")
FDR = 0.05  # the q-value at or below which a lift counts as more than chance

DROPOFF_COLUMNS = [
    "touchpoint",
    "phase",
    "churners_last",
    "share_of_churners",
    "stayers_last",
    "share_of_stayers",
    "lift",
    "lift_low",
    "lift_high",
    "q_value",
]


def katz_lift(a: float, n1: float, c: float, n2: float, z: float = Z) -> tuple[float, float, float]:
    """Risk ratio (a/n1)/(c/n2) with Katz's log interval; 0.5 added to each cell if one is 0."""
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan, math.nan
    b, d = n1 - a, n2 - c
    if min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
        n1, n2 = a + b, c + d
    ratio = (a / n1) / (c / n2)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


@dataclass(repr=False)
class DropoffResult(Result):
    """Ranked last touchpoints before leaving; columns: see ``DROPOFF_COLUMNS``.

    With ``by_phase`` the rows are phases and the ``touchpoint`` column is left out.
    """

    frame: pd.DataFrame
    churners: int = 0  # churned customers with a last touchpoint
    stayers: int = 0  # customers who did not churn, with a last touchpoint
    churners_without_touchpoint: int = 0
    top: int = 20
    by_phase: bool = False
    rank_by: str = "count"
    labels: dict[str, str] | None = None
    full: pd.DataFrame | None = None  # every row in ranking order, before ``top``

    def display(self) -> Table:
        columns = (
            [] if self.by_phase else [Column("touchpoint", "text", "touchpoint", "contactmoment")]
        )
        columns += [
            Column("phase", "text", "phase", "fase", 9 if self.by_phase else 5),
            Column(
                "churners_last", "count", "churners last here", "vertrekkers die hier eindigden"
            ),
            Column("share_of_churners", "share", "share of churners", "aandeel vertrekkers", 7),
            Column("stayers_last", "count", "stayers last here", "blijvers die hier eindigden", 4),
            Column("share_of_stayers", "share", "share of stayers", "aandeel blijvers", 6),
            Column("lift", "ratio", "lift"),
            interval("lift_low", "lift_high", "ratio"),
            Column("q_value", "p", "q", priority=3),
        ]
        noun = ("phases", "fasen") if self.by_phase else ("touchpoints", "contactmomenten")
        return Table(self.frame.reset_index(drop=True), columns, noun=noun)

    @property
    def how(self) -> str:
        unit = "phase" if self.by_phase else "touchpoint"
        ranking = (
            "number of churned customers"
            if self.rank_by == "count"
            else "lower end of the lift interval"
        )
        return (
            f"{self.churners} churned and {self.stayers} staying customers; last {unit} before "
            "churn (churn touchpoints excluded) or before the end of observation (censored); ties "
            "in time broken by touchpoint then event id; lift = share among churners / share "
            f"among stayers with Katz 95% interval; Fisher's exact test with Benjamini–Hochberg "
            f"q-values; ranked by {ranking}; the sentence names the first row with its interval "
            f"above 1 and q ≤ {FDR}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": records(self.frame),
            "params": jsonable(
                {
                    "top": self.top,
                    "by_phase": self.by_phase,
                    "rank_by": self.rank_by,
                    "churners": self.churners,
                    "stayers": self.stayers,
                    "churners_without_touchpoint": self.churners_without_touchpoint,
                    "confidence": CONFIDENCE,
                }
            ),
            "how": self.how,
        }

    def lead(self) -> pd.Series | None:
        """The row the sentence names: first in the ranking whose lift is clearly above 1."""
        if self.frame.empty:
            return None
        frame = self.full if self.full is not None else self.frame
        clear = frame[_precedes_leaving(frame)]
        return None if clear.empty else clear.iloc[0]

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        if self.churners == 0 or self.frame.empty:
            return (
                "No customer churned in the observed period, so there is no last touchpoint "
                "before leaving."
                if lang == "en"
                else "Geen klant is afgehaakt in de waargenomen periode, dus er is geen laatste "
                "contactmoment voor vertrek."
            )
        unit_en = "phase" if self.by_phase else "touchpoint"
        unit_nl = "fase" if self.by_phase else "contactmoment"
        churners, stayers = fmt_num(self.churners, lang), fmt_num(self.stayers, lang)
        row = self.lead()
        if row is None:
            if lang == "en":
                return (
                    f"No {unit_en} precedes leaving significantly more often than staying "
                    f"({churners} customers who left, {stayers} who stayed; false-discovery "
                    f"rate {fmt_pct(FDR, lang)})."
                )
            return (
                f"Geen {unit_nl} gaat significant vaker vooraf aan vertrek dan aan blijven "
                f"({churners} vertrokken klanten, {stayers} gebleven; false-discovery rate "
                f"{fmt_pct(FDR, lang)})."
            )
        key = row["phase"] if self.by_phase else row["touchpoint"]
        name = (self.labels or {}).get(key) or key
        count, share = fmt_num(row["churners_last"], lang), fmt_pct(row["share_of_churners"], lang)
        stay_count = fmt_num(row["stayers_last"], lang)
        stay_share = fmt_pct(row["share_of_stayers"], lang) if self.stayers else "–"
        lift, interval = fmt_interval(
            row["lift"],
            row["lift_low"],
            row["lift_high"],
            lang,
            digits=1 if row["lift"] < 10 else 0,
            reference=1.0,
        )
        q = _fmt_q(row["q_value"], lang)
        if lang == "en":
            where = f"the {name} phase" if self.by_phase else name
            return (
                f"Of {churners} customers who left, {count} ({share}) had {where} as their last "
                f"{unit_en}, against {stay_count} of {stayers} who stayed ({stay_share}): "
                f"{lift} times as often (95% interval {interval}, {q})."
            )
        where = f"de fase {name}" if self.by_phase else name
        return (
            f"Van de {churners} vertrokken klanten hadden er {count} ({share}) {where} als "
            f"laatste {unit_nl}, tegen {stay_count} van de {stayers} die bleven ({stay_share}): "
            f"{lift} keer zo vaak (95%-interval {interval}, {q})."
        )


def _precedes_leaving(frame: pd.DataFrame) -> pd.Series:
    """Rows whose lift is above 1 beyond chance: interval above 1 and q ≤ FDR."""
    return (frame["lift_low"] > 1) & (frame["q_value"] <= FDR)


def _fmt_q(q: float, lang: str) -> str:
    if q < 0.001:
        return "q < " + fmt_num(0.001, lang, 3)
    return "q = " + fmt_num(q, lang, 3)


def dropoff(
    ws: Any, top: int = 20, by_phase: bool = False, rank_by: str = "count"
) -> DropoffResult:
    """The last touchpoint before churn, ranked by count (default) or by lift.

    ``top``: how many rows to keep. ``by_phase``: count the last touchpoint's phase instead.
    ``rank_by``: ``count`` (most churned customers first) or ``lift`` (highest lower end of the
    lift interval first, so a touchpoint seen for two customers does not top the list by
    chance). Definitions: see the module documentation.
    """
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of: {', '.join(RANKINGS)}")
    if top < 1:
        raise ValueError("top must be at least 1")
    end = data_end(ws)
    if end is None:
        return DropoffResult(_empty(by_phase), top=top, by_phase=by_phase, rank_by=rank_by)

    lives = customer_lifetimes(ws, end)
    lives = lives.filter(~lives.too_new).select("churned", "end_ts", customer_id_life="customer_id")
    events = ws.events
    churn_touchpoints = list(ws.journey.churn.touchpoints)
    if churn_touchpoints:
        events = events.filter(~events.touchpoint.isin(churn_touchpoints))
    events = events.select("customer_id", "ts", "touchpoint")
    observed = events.join(lives, events.customer_id == lives.customer_id_life)
    observed = observed.filter(observed.ts <= observed.end_ts)
    latest = observed.group_by("customer_id").aggregate(last_ts=observed.ts.max())
    latest = latest.rename(latest_customer_id="customer_id")
    at_latest = events.join(
        latest,
        (events.customer_id == latest.latest_customer_id) & (events.ts == latest.last_ts),
    )
    last = at_latest.group_by("customer_id").aggregate(touchpoint=at_latest.touchpoint.max())
    # Every judged customer, with a null touchpoint when no event preceded the end of observation.
    per_customer = lives.left_join(last, lives.customer_id_life == last.customer_id)
    churned = per_customer.churned.fill_null(False)
    counts = (
        per_customer.group_by("touchpoint")
        .aggregate(
            churners_last=count_true(churned),
            stayers_last=count_true(~churned),
        )
        .execute()
    )
    all_churners = int(counts["churners_last"].sum())
    counts = counts[counts["touchpoint"].notna()].reset_index(drop=True)

    counts["phase"] = [ws.journey.phase_of(tp) for tp in counts["touchpoint"]]
    if by_phase:
        counts = counts.groupby("phase", as_index=False)[["churners_last", "stayers_last"]].sum()
    churners, stayers = int(counts["churners_last"].sum()), int(counts["stayers_last"].sum())
    frame = _with_lift(counts, churners, stayers)
    frame = _rank(frame, rank_by, "phase" if by_phase else "touchpoint")
    columns = [c for c in DROPOFF_COLUMNS if not (by_phase and c == "touchpoint")]
    full = frame[columns].reset_index(drop=True)
    frame = frame.head(top)
    labels = {name: tp.label for name, tp in ws.journey.touchpoints.items() if tp.label}
    return DropoffResult(
        frame=frame[columns].reset_index(drop=True),
        churners=churners,
        stayers=stayers,
        churners_without_touchpoint=all_churners - churners,
        top=top,
        by_phase=by_phase,
        rank_by=rank_by,
        labels=labels,
        full=full,
    )


def _with_lift(counts: pd.DataFrame, churners: int, stayers: int) -> pd.DataFrame:
    frame = counts.copy()
    frame["churners_last"] = frame["churners_last"].astype("int64")
    frame["stayers_last"] = frame["stayers_last"].astype("int64")
    frame["share_of_churners"] = frame["churners_last"] / churners if churners else np.nan
    frame["share_of_stayers"] = frame["stayers_last"] / stayers if stayers else np.nan
    lifts = [
        katz_lift(a, churners, c, stayers)
        for a, c in zip(frame["churners_last"], frame["stayers_last"], strict=True)
    ]
    frame["lift"] = [lift[0] for lift in lifts]
    frame["lift_low"] = [lift[1] for lift in lifts]
    frame["lift_high"] = [lift[2] for lift in lifts]
    p_values = [
        float(stats.fisher_exact([[a, churners - a], [c, stayers - c]])[1])
        if churners and stayers
        else math.nan
        for a, c in zip(frame["churners_last"], frame["stayers_last"], strict=True)
    ]
    frame["q_value"] = benjamini_hochberg(np.array(p_values, dtype=float))
    return frame


def _rank(frame: pd.DataFrame, rank_by: str, key: str) -> pd.DataFrame:
    if rank_by == "count":
        order = ["churners_last", "lift", key]
    else:
        order = ["lift_low", "churners_last", key]
    ascending = [False, False, True]
    return frame.sort_values(order, ascending=ascending, na_position="last", kind="stable")


def _empty(by_phase: bool) -> pd.DataFrame:
    return pd.DataFrame(
        columns=[c for c in DROPOFF_COLUMNS if not (by_phase and c == "touchpoint")]
    )
