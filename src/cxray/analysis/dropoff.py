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
zero, 0.5 is added to every cell (lift and interval both use the corrected table then).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cxray.analysis._common import check_lang, count_true, fmt_num, fmt_pct, records
from cxray.analysis.lifetimes import customer_lifetimes, data_end
from cxray.results import Result, jsonable

CONFIDENCE = 0.95
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
RANKINGS = ("count", "lift")

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


@dataclass
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

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

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
            f"among stayers with Katz 95% interval; ranked by {ranking}"
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
        row = self.frame.sort_values(
            ["churners_last", "lift"], ascending=False, kind="stable"
        ).iloc[0]
        key = row["phase"] if self.by_phase else row["touchpoint"]
        name = (self.labels or {}).get(key) or key
        count, share = fmt_num(row["churners_last"], lang), fmt_pct(row["share_of_churners"], lang)
        churners = fmt_num(self.churners, lang)
        if lang == "en":
            where = f"the {name} phase" if self.by_phase else name
            text = (
                f"Of {churners} customers who left, {count} ({share}) had {where} as "
                f"their last {'phase' if self.by_phase else 'touchpoint'}"
            )
        else:
            where = f"de fase {name}" if self.by_phase else name
            text = (
                f"Van de {churners} vertrokken klanten hadden er {count} ({share}) "
                f"{where} als laatste {'fase' if self.by_phase else 'contactmoment'}"
            )
        if pd.notna(row["lift"]):
            lift = fmt_num(row["lift"], lang, 1)
            low, high = fmt_num(row["lift_low"], lang, 1), fmt_num(row["lift_high"], lang, 1)
            text += (
                f": {lift} times as often as among customers who stayed (95% interval {low}–{high})"
                if lang == "en"
                else f": {lift} keer zo vaak als bij klanten die bleven (95%-interval {low}–{high})"
            )
            if row["lift_low"] <= 1 <= row["lift_high"]:
                text += (
                    "; not clearly different from them"
                    if lang == "en"
                    else "; geen duidelijk verschil"
                )
        return text + "."


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
    frame = _rank(frame, rank_by, "phase" if by_phase else "touchpoint").head(top)
    columns = [c for c in DROPOFF_COLUMNS if not (by_phase and c == "touchpoint")]
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
