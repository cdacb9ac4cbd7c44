"""Does the churn rule fit the data? Churned customers by rule, the data span, and what to set.

A churn rule that does not fit the data changes every churn answer without a sound: an
``inactive_days`` longer than the data span sees nobody leave by inactivity; one shorter than the
time customers take to come back calls most of them churned (a webshop where most people order
once). :func:`churn_check` counts what the rule does on this data and says so in words, with a
suggestion drawn from the gaps between each customer's visits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis

from cxray.analysis._common import check_lang, count_true, fmt_num, fmt_pct
from cxray.analysis.lifetimes import (
    SECONDS_PER_DAY,
    customer_lifetimes,
    data_end,
    data_start,
    inactivity_applies,
    observed_until,
)
from cxray.results import Result, jsonable

# Round suggestions to values people choose: a week, two, a month, a quarter, ...
NICE_DAYS = (7, 14, 30, 45, 60, 90, 120, 180, 270, 365, 545, 730)
MOSTLY = 0.5  # "most customers"


@dataclass
class ChurnCheck(Result):
    """What the churn rule makes of this data."""

    customers: int
    span_days: float | None
    touchpoints: list[str]
    inactive_days: int | None
    inactivity_applies: bool
    explicit: int  # customers who left by an explicit churn (touchpoint or churned_at)
    explicit_after_window: int  # ... of them after the observation window (censored there)
    inactivity: int  # customers who left by inactivity
    too_new: int
    single_visit_share: float | None  # customers with at most one activity day
    gap_days_p90: float | None  # 90th percentile of the gaps between a customer's visits
    suggested_inactive_days: int | None
    churn_touchpoints_unseen: list[str] = field(default_factory=list)
    has_lifetime_data: bool = False

    @property
    def left(self) -> int:
        return self.explicit + self.inactivity

    @property
    def stayed(self) -> int:
        return self.customers - self.left

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["left"] = self.left
        data["warnings"] = {lang: self.warnings(lang) for lang in ("en", "nl")}
        data["notes"] = {lang: self.notes(lang) for lang in ("en", "nl")}
        return jsonable(data)

    def to_pandas(self):
        import pandas as pd

        rows = [
            ("explicit", self.explicit),
            ("inactivity", self.inactivity),
            ("not churned", self.stayed),
        ]
        return pd.DataFrame(rows, columns=["rule", "customers"])

    # -- words ----------------------------------------------------------------------------
    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        n = fmt_num(self.customers, lang)
        span = "" if self.span_days is None else _days(self.span_days, lang)
        if nl:
            parts = [f"{fmt_num(self.left, lang)} van {n} klanten afgehaakt"]
            by = [f"{fmt_num(self.explicit, lang)} door opzegging"]
            if self.inactive_days:
                by.append(f"{fmt_num(self.inactivity, lang)} door inactiviteit")
            text = f"{parts[0]} ({' en '.join(by)})"
            if span:
                text += f"; de gegevens beslaan {span}"
            return text + "."
        by = [f"{fmt_num(self.explicit, lang)} explicitly"]
        if self.inactive_days:
            by.append(f"{fmt_num(self.inactivity, lang)} by inactivity")
        text = f"{fmt_num(self.left, lang)} of {n} customers churned ({' and '.join(by)})"
        if span:
            text += f"; the data cover {span}"
        return text + "."

    def warnings(self, lang: str = "en") -> list[str]:
        """Sentences about a rule that does not fit the data, each with what to set."""
        nl = check_lang(lang) == "nl"
        out: list[str] = []
        if not self.customers:
            return out  # nothing imported yet: nothing the rule could misjudge
        days = self.inactive_days
        suggestion = self._suggestion(lang)
        if not self.touchpoints and not days and not self.has_lifetime_data:
            out.append(
                "Geen churn-regel: zet [churn] touchpoints (een opzegging) of inactive_days in "
                f"cxray.toml.{suggestion}"
                if nl
                else "No churn rule: set [churn] touchpoints (a cancellation) or inactive_days "
                f"in cxray.toml.{suggestion}"
            )
        if self.churn_touchpoints_unseen:
            names = ", ".join(self.churn_touchpoints_unseen)
            out.append(
                f"Churn-contactmoment(en) {names} komen in geen enkele interactie voor."
                if nl
                else f"Churn touchpoint(s) {names} never occur in the events."
            )
        if days and not self.inactivity_applies and self.span_days is not None:
            span = _days(self.span_days, lang)
            out.append(
                f"De gegevens beslaan {span}, korter dan inactive_days = {days}: inactiviteit is "
                f"hier niet te zien, dus telt alleen expliciete churn "
                f"({fmt_num(self.explicit, lang)} klanten).{suggestion}"
                if nl
                else f"The data cover {span}, less than inactive_days = {days}: inactivity cannot "
                f"be seen here, so only explicit churn counts "
                f"({fmt_num(self.explicit, lang)} customers).{suggestion}"
            )
        judged = self.customers - self.too_new
        if days and self.inactivity_applies and judged and self.inactivity > MOSTLY * judged:
            share = fmt_pct(self.inactivity / judged, lang)
            once = ""
            if self.single_visit_share is not None and self.single_visit_share >= MOSTLY:
                once = (
                    f"; {fmt_pct(self.single_visit_share, lang)} kwam maar één dag"
                    if nl
                    else f"; {fmt_pct(self.single_visit_share, lang)} came on one day only"
                )
            out.append(
                f"Met inactive_days = {days} tellen {share} van {fmt_num(judged, lang)} klanten "
                f"als afgehaakt door inactiviteit{once}. Churn betekent dan 'kwam niet terug'; is dat "
                f"niet bedoeld, zet dan een opzeg-contactmoment of een langere inactive_days"
                f".{suggestion}"
                if nl
                else f"With inactive_days = {days}, {share} of {fmt_num(judged, lang)} customers "
                f"count as churned by inactivity{once}. Churn then means 'did not come back'; if that "
                f"is not what you mean, name a cancellation touchpoint or a longer inactive_days"
                f".{suggestion}"
            )
        if (
            days
            and self.inactivity_applies
            and self.customers
            and self.too_new > MOSTLY * (self.customers)
        ):
            out.append(
                f"{fmt_pct(self.too_new / self.customers, lang)} van de klanten begon in de laatste "
                f"{days} dagen: te nieuw om op inactiviteit te beoordelen.{suggestion}"
                if nl
                else f"{fmt_pct(self.too_new / self.customers, lang)} of customers started in the "
                f"last {days} days: too new to judge by inactivity.{suggestion}"
            )
        return out

    def notes(self, lang: str = "en") -> list[str]:
        """What a reader should know about how the rule was applied (not a misfit)."""
        nl = check_lang(lang) == "nl"
        out: list[str] = []
        days = self.inactive_days
        if days and self.inactivity_applies and self.explicit_after_window:
            out.append(
                f"{fmt_num(self.explicit_after_window, lang)} opzeggingen in de laatste {days} "
                "dagen tellen als afgehaakt, maar analyses van de tijd tot churn stoppen "
                f"{days} dagen voor het einde van de gegevens (daarna is inactiviteit nog niet te "
                "zien)."
                if nl
                else f"{fmt_num(self.explicit_after_window, lang)} cancellations in the last "
                f"{days} days count as churned, but time-to-churn analyses stop {days} days before "
                "the end of the data (inactivity cannot be seen after that yet)."
            )
        return out

    def _suggestion(self, lang: str) -> str:
        if not self.suggested_inactive_days or self.suggested_inactive_days == self.inactive_days:
            return ""
        days = self.suggested_inactive_days
        if lang == "nl":
            return (
                f" Voorstel: inactive_days = {days} (90% van de terugkerende klanten kwam binnen "
                f"{_days(self.gap_days_p90 or 0, lang)} terug)."
            )
        return (
            f" Suggested: inactive_days = {days} (90% of returning customers came back within "
            f"{_days(self.gap_days_p90 or 0, lang)})."
        )


def _days(days: float, lang: str) -> str:
    whole = round(days)
    word = ("dag" if whole == 1 else "dagen") if lang == "nl" else ("day" if whole == 1 else "days")
    return f"{fmt_num(whole, lang)} {word}"


def _nice(days: float) -> int:
    return next((d for d in NICE_DAYS if d >= days), NICE_DAYS[-1])


def _gap_profile(ws: Any) -> tuple[float | None, float | None]:
    """(share of customers active on at most one day, 90th percentile of return gaps in days).

    Computed in the engine over activity days (one row per customer and day), so a customer
    clicking ten times in a session counts as one visit.
    """
    events = ws.events
    churn = list(ws.journey.churn.touchpoints)
    if churn:
        events = events.filter(~events.touchpoint.isin(churn))
    days = events.select("customer_id", day=events.ts.truncate("D")).distinct()
    window = ibis.window(group_by=days.customer_id, order_by=days.day)
    gaps = days.select(
        "customer_id",
        gap=(days.day.epoch_seconds() - days.day.lag().over(window).epoch_seconds())
        / SECONDS_PER_DAY,
    )
    gap = gaps.filter(gaps.gap.notnull()).gap
    p90 = gap.quantile(0.9).execute()
    per_customer = days.group_by("customer_id").aggregate(n=days.count())
    shares = per_customer.aggregate(
        single=count_true(per_customer.n <= 1), total=per_customer.count()
    ).execute()
    total = int(shares.total.iloc[0] or 0)
    single = float(shares.single.iloc[0] or 0) / total if total else None
    p90 = None if p90 is None or p90 != p90 else float(p90)
    return single, p90


def churn_check(ws: Any) -> ChurnCheck:
    """Churned customers by rule, the data span and warnings about a rule that does not fit."""
    rule = ws.journey.churn
    end = data_end(ws)
    start = data_start(ws)
    span = None if end is None or start is None else (end - start).total_seconds() / 86400
    until = observed_until(ws, end)
    life = customer_lifetimes(ws, end)
    until_lit = ibis.literal(until, type="timestamp('UTC')") if until else None
    after = (life.left_ts > until_lit) if until_lit is not None else ibis.literal(False)
    counts = life.aggregate(
        customers=life.count(),
        explicit=count_true(life.left & life.explicit),
        explicit_after=count_true(life.left & life.explicit & after),
        inactivity=count_true(life.left & ~life.explicit),
        too_new=count_true(life.too_new),
    ).execute()
    row = {k: int(v or 0) for k, v in counts.iloc[0].items()} if len(counts) else {}
    customers_n = row.get("customers", 0)
    judged = customers_n - row.get("too_new", 0)
    applies = inactivity_applies(ws, end)
    days = rule.inactive_days
    # The gap profile scans every event: only when a warning will need its suggestion.
    needs_profile = (
        (not rule.touchpoints and not days)
        or (days and not applies)
        or (days and applies and row.get("inactivity", 0) > MOSTLY * max(judged, 1))
        or (days and applies and row.get("too_new", 0) > MOSTLY * max(customers_n, 1))
    )
    single, p90 = (None, None)
    if needs_profile and int(ws.events.count().execute()):
        single, p90 = _gap_profile(ws)
    suggested = None
    if p90 is not None and p90 > 0:
        suggested = _nice(p90 * 1.5)  # a margin over the usual gap: a late return is no exit
        if span is not None and suggested >= span:
            suggested = max((d for d in NICE_DAYS if d < span / 2), default=None)
    unseen: list[str] = []
    if rule.touchpoints:
        seen = set(
            ws.events.filter(ws.events.touchpoint.isin(list(rule.touchpoints)))
            .select("touchpoint")
            .distinct()
            .execute()
            .touchpoint
        )
        unseen = [t for t in rule.touchpoints if t not in seen]
    customers = ws.customers
    lifetime_data = False
    if "churned_at" in customers.columns:
        lifetime_data = bool(
            int(
                customers.filter(customers.churned_at.notnull() | customers.last_seen.notnull())
                .count()
                .execute()
            )
        )
    return ChurnCheck(
        customers=row.get("customers", 0),
        span_days=span,
        touchpoints=list(rule.touchpoints),
        inactive_days=rule.inactive_days,
        inactivity_applies=applies,
        explicit=row.get("explicit", 0),
        explicit_after_window=row.get("explicit_after", 0),
        inactivity=row.get("inactivity", 0),
        too_new=row.get("too_new", 0) if rule.inactive_days else 0,
        single_visit_share=single,
        gap_days_p90=p90,
        suggested_inactive_days=suggested,
        churn_touchpoints_unseen=unseen,
        has_lifetime_data=lifetime_data,
    )
