"""The onboarding tracker: customers in their first days, their phase, and who is running late.

A customer is **new** at ``as_of`` when they started (:func:`customer_lifetimes` start) less than
``days`` days before it and have not churned by then (as :func:`cxray.analysis.risk.active_customers`
says: a cancellation counts at once). Their **phase** is the furthest journey phase they reached
with an event at or before ``as_of`` (journey order; unassigned touchpoints and
churn touchpoints do not count); ``days_in_phase`` counts from their first event in that phase.

**Late** compares ``days_in_phase`` with the time *retained* customers took from this phase to the
next: customers not churned by ``as_of`` who reached both phases by then; the time is from their
first event in the phase to their first event in the next one (only where the next came later).
``typical_days_to_next`` is the 75th percentile of that time (computed in the engine); late means
more days in the phase than that. The last phase has no next phase, so nobody is late there.

``risk`` is the churn probability from :func:`cxray.analysis.risk.risk` at the same moment, left
empty when no risk model can be trained (e.g. too little history).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from cxray.analysis._common import check_lang, fmt_num, records, touchpoint_table
from cxray.analysis.lifetimes import data_end
from cxray.analysis.risk import active_customers, risk
from cxray.analysis.risk_reasons import days_text
from cxray.labels import phase_label
from cxray.results import Column, Result, Table, jsonable

QUANTILE = 0.75
ONBOARDING_COLUMNS = [
    "customer_id",
    "start",
    "days_in",
    "phase",
    "days_in_phase",
    "typical_days_to_next",
    "late",
    "risk",
]
SECONDS_PER_DAY = 86400.0


@dataclass(repr=False)
class OnboardingResult(Result):
    """New customers and where they are; columns: see ``ONBOARDING_COLUMNS``."""

    frame: pd.DataFrame
    typical: pd.DataFrame  # phase, next_phase, n (retained customers), typical_days_to_next
    as_of: dt.datetime | None = None
    days: int = 100
    phases: tuple[str, ...] = ()

    def display(self) -> Table:
        days = {"kind": "duration", "unit": "days"}
        columns = [
            Column("customer_id", "text", "customer", "klant"),
            Column("start", "date", "start", "start", 5),
            Column("days_in", en="customer for", nl="klant sinds", priority=6, **days),
            Column("phase", "text", "phase", "fase"),
            Column("days_in_phase", en="in this phase", nl="in deze fase", priority=8, **days),
            Column("typical_days_to_next", en="usual time to next", nl="gebruikelijke tijd tot volgende",
                   priority=4, **days),
            Column("late", "flag", "late", "te laat"),
            Column("risk", "share", "risk", "risico", 7),
        ]  # fmt: skip
        return Table(self.frame.reset_index(drop=True), columns, noun=("customers", "klanten"))

    def by_phase(self) -> pd.DataFrame:
        """phase, customers, late: counts per current phase, in journey order."""
        if self.frame.empty:
            return pd.DataFrame(columns=["phase", "customers", "late"])
        grouped = (
            self.frame.groupby("phase", sort=False)
            .agg(customers=("customer_id", "size"), late=("late", "sum"))
            .reset_index()
        )
        order = {phase: i for i, phase in enumerate(self.phases)}
        grouped["order"] = grouped["phase"].map(order)
        grouped = grouped.sort_values(["order", "phase"], kind="stable")
        return grouped.drop(columns="order").reset_index(drop=True)

    def to_dict(self, rows: bool = True) -> dict[str, Any]:
        """Everything as JSON; ``rows=False`` leaves out the customers (a list shows its own)."""
        return {
            "rows": records(self.frame) if rows else [],
            "by_phase": records(self.by_phase()),
            "typical": records(self.typical),
            "params": jsonable({"as_of": self.as_of, "days": self.days, "quantile": QUANTILE}),
            "how": (
                f"customers who started less than {self.days} days before the reference moment "
                "and had not churned; phase = furthest phase reached; late = longer in the phase "
                f"than {int(QUANTILE * 100)}% of retained customers took to reach the next phase"
            ),
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        if self.frame.empty:
            return (
                f"No customers in their first {self.days} days."
                if lang == "en"
                else f"Geen klanten in hun eerste {self.days} dagen."
            )
        nl = lang == "nl"
        n = fmt_num(len(self.frame), lang)
        within = days_text(self.days, lang)
        placed = self.frame[self.frame["phase"].notna()]
        unplaced = len(self.frame) - len(placed)
        one = len(self.frame) == 1
        head = (
            f"{n} {'klant zit' if one else 'klanten zitten'} in {'zijn of haar' if one else 'hun'} "
            f"eerste {within}"
            if nl
            else f"{n} {'customer is' if one else 'customers are'} in their first {within}"
        )
        if placed.empty:
            return head + (
                "; geen van hen heeft al een fase van de klantreis bereikt (hun contactmomenten "
                "zijn nog niet in fasen ingedeeld), dus niemand kan te laat zijn."
                if nl
                else "; none of them has reached a phase of the journey yet (their touchpoints "
                "are not placed in phases), so none can be late."
            )
        judged = placed[placed["typical_days_to_next"].notna()]
        late = fmt_num(int(judged["late"].sum()), lang)
        judged_n = fmt_num(len(judged), lang)
        parts = [
            f"{phase_label(row.phase, lang)}: {fmt_num(row.customers, lang)} "
            f"({fmt_num(row.late, lang)} " + ("te laat)" if nl else "late)")
            for row in self.by_phase().dropna(subset=["phase"]).itertuples()
        ]
        if nl:
            text = (
                f"{head}; {late} van de {judged_n} met een bekende gebruikelijke doorlooptijd "
                f"zijn later dan gebruikelijk voor hun volgende fase. Per fase: {', '.join(parts)}."
            )
            if unplaced:
                text += f" {fmt_num(unplaced, lang)} hebben nog geen fase bereikt."
            return text
        text = (
            f"{head}; {late} of the {judged_n} with a known usual time are later than usual "
            f"for their next phase. By phase: {', '.join(parts)}."
        )
        if unplaced:
            text += f" {fmt_num(unplaced, lang)} have not reached a phase yet."
        return text


def onboarding(ws: Any, days: int = 100, as_of: Any = None) -> OnboardingResult:
    """New customers at ``as_of`` (default: the data end), their phase and whether they are late."""
    end = data_end(ws)
    if end is None:
        return OnboardingResult(pd.DataFrame(columns=ONBOARDING_COLUMNS), pd.DataFrame())
    if as_of is None:
        as_of = end
    stamp = pd.Timestamp(as_of)
    as_of = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    as_of = as_of.to_pydatetime()
    cut = ibis.literal(as_of, type="timestamp('UTC')")
    phases = list(ws.journey.phases)

    not_churned = active_customers(ws, as_of)

    # first time each customer reached each phase, up to and including as_of
    events = ws.events
    known = events.filter(events.ts <= cut)
    churn_tps = list(ws.journey.churn.touchpoints)
    if churn_tps:
        known = known.filter(~known.touchpoint.isin(churn_tps))
    tps = touchpoint_table(ws.journey)
    placed = known.join(tps, "touchpoint").filter(lambda t: t.phase_index.notnull())
    reached = placed.group_by(["customer_id", "phase_index"]).aggregate(first=placed.ts.min())

    # retained customers' time from phase k to phase k + 1 (p75, in the engine)
    retained = reached.semi_join(not_churned, "customer_id")
    following = retained.select(
        "customer_id", next_first="first", phase_index=retained.phase_index - 1
    )
    pairs = retained.join(following, ["customer_id", "phase_index"])
    gap = (pairs.next_first.epoch_seconds() - pairs["first"].epoch_seconds()) / SECONDS_PER_DAY
    pairs = pairs.mutate(gap=gap).filter(lambda t: t.gap >= 0)
    typical = (
        pairs.group_by("phase_index")
        .aggregate(n=pairs.count(), typical_days_to_next=pairs.gap.quantile(QUANTILE))
        .execute()
    )
    typical["phase"] = [phases[int(i)] for i in typical["phase_index"]]
    typical["next_phase"] = [phases[int(i) + 1] for i in typical["phase_index"]]
    typical = typical.sort_values("phase_index").reset_index(drop=True)

    since = ibis.literal(as_of - dt.timedelta(days=days), type="timestamp('UTC')")
    new = not_churned.filter(not_churned.start > since).select("customer_id", "start")
    furthest = reached.group_by("customer_id").aggregate(phase_index=reached.phase_index.max())
    current = furthest.join(reached, ["customer_id", "phase_index"]).select(
        "customer_id", "phase_index", phase_start="first"
    )
    frame = new.left_join(current, "customer_id").drop("customer_id_right").execute()

    frame["customer_id"] = frame["customer_id"].astype(str)
    start = pd.to_datetime(frame["start"], utc=True)
    phase_start = pd.to_datetime(frame["phase_start"], utc=True)
    frame["days_in"] = (pd.Timestamp(as_of) - start).dt.total_seconds() / SECONDS_PER_DAY
    frame["days_in_phase"] = (
        pd.Timestamp(as_of) - phase_start
    ).dt.total_seconds() / SECONDS_PER_DAY
    index = pd.to_numeric(frame["phase_index"])
    frame["phase"] = [phases[int(i)] if i == i else None for i in index]
    lookup = dict(
        zip(typical["phase_index"].astype(int), typical["typical_days_to_next"], strict=True)
    )
    frame["typical_days_to_next"] = [
        lookup.get(int(i), math.nan) if i == i else math.nan for i in index
    ]
    frame["late"] = (frame["days_in_phase"] > frame["typical_days_to_next"]).fillna(False)
    frame["late"] = frame["late"].astype(bool)
    frame["risk"] = _risk_at(ws, as_of, frame["customer_id"])
    frame = frame.sort_values(
        ["late", "days_in_phase", "customer_id"], ascending=[False, False, True], kind="stable"
    )
    return OnboardingResult(
        frame[ONBOARDING_COLUMNS].reset_index(drop=True),
        typical[["phase", "next_phase", "n", "typical_days_to_next"]],
        as_of=as_of,
        days=days,
        phases=tuple(phases),
    )


def _risk_at(ws: Any, as_of: dt.datetime, customer_ids: pd.Series) -> list[float]:
    try:
        scores = risk(ws, as_of=as_of).to_pandas().set_index("customer_id")["probability"]
    except ValueError:
        return [math.nan] * len(customer_ids)
    return [float(scores.get(c, math.nan)) for c in customer_ids]
