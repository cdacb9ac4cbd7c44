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

from cxray.analysis._common import check_lang, fmt_num, fmt_pct
from cxray.analysis.lifetimes import (
    CUSTOMER_COLUMNS,
    EVENT_COLUMNS,
    SECONDS_PER_DAY,
    data_end,
    data_start,
    inactivity_applies,
    lifetime_counts,
)
from cxray.i18n import count_of, join_words
from cxray.i18n import days as days_text
from cxray.results import Result, jsonable
from cxray.warehouse import literals

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
            left = "is" if self.left == 1 else "zijn"
            parts = [f"{fmt_num(self.left, lang)} van de {n} klanten {left} afgehaakt"]
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
            unseen = self.churn_touchpoints_unseen
            one = len(unseen) == 1
            out.append(
                f"{'Churn-contactmoment' if one else 'De churn-contactmomenten'} "
                f"{join_words(unseen, lang)} {'komt' if one else 'komen'} in geen enkele "
                "interactie voor."
                if nl
                else f"{'Churn touchpoint' if one else 'Churn touchpoints'} "
                f"{join_words(unseen, lang)} never {'occurs' if one else 'occur'} in the events."
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
                f"{_days(days, lang)}: te nieuw om op inactiviteit te beoordelen.{suggestion}"
                if nl
                else f"{fmt_pct(self.too_new / self.customers, lang)} of customers started in the "
                f"last {_days(days, lang)}: too new to judge by inactivity.{suggestion}"
            )
        return out

    def notes(self, lang: str = "en") -> list[str]:
        """What a reader should know about how the rule was applied (not a misfit)."""
        nl = check_lang(lang) == "nl"
        out: list[str] = []
        days = self.inactive_days
        if days and self.inactivity_applies and self.explicit_after_window:
            n = self.explicit_after_window
            window = _days(days, lang)
            out.append(
                f"{count_of(n, lang, ('', ''), ('opzegging', 'opzeggingen'))} in de laatste "
                f"{window} {'telt' if n == 1 else 'tellen'} als afgehaakt, maar analyses van de "
                f"tijd tot churn stoppen {window} vóór het einde van de gegevens (daarna is "
                "inactiviteit nog niet te zien)."
                if nl
                else f"{count_of(n, lang, ('cancellation', 'cancellations'), ('', ''))} in the "
                f"last {window} {'counts' if n == 1 else 'count'} as churned, but time-to-churn "
                f"analyses stop {window} before the end of the data (inactivity cannot be seen "
                "after that yet)."
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


def _days(count: float, lang: str) -> str:
    return days_text(round(count), lang)


def _nice(days: float) -> int:
    return next((d for d in NICE_DAYS if d >= days), NICE_DAYS[-1])


def _gap_profile(ws: Any) -> tuple[float | None, float | None]:
    """(share of customers active on at most one day, 90th percentile of return gaps in days).

    Computed in the engine over activity days (one row per customer and day), so a customer
    clicking ten times in a session counts as one visit.
    """
    warehouse = ws.warehouse
    events = warehouse.relation("events", EVENT_COLUMNS)
    churn = list(ws.journey.churn.touchpoints)
    not_churn = f"WHERE touchpoint NOT IN {literals(churn)}" if churn else ""
    (row,) = warehouse.query(
        f"""
        WITH days AS (
            SELECT DISTINCT customer_id, DATE_TRUNC('day', ts) AS day FROM {events} {not_churn}
        ), gaps AS (
            SELECT (EXTRACT(EPOCH FROM day) - EXTRACT(EPOCH FROM LAG(day) OVER (
                PARTITION BY customer_id ORDER BY day))) / {SECONDS_PER_DAY} AS gap
            FROM days
        ), visits AS (
            SELECT customer_id, COUNT(*) AS n FROM days GROUP BY customer_id
        )
        SELECT
            (SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY gap) FROM gaps
                WHERE gap IS NOT NULL),
            (SELECT COUNT(*) FILTER (WHERE n <= 1) FROM visits),
            (SELECT COUNT(*) FROM visits)
        """
    )
    p90, single_n, total = row
    single = float(single_n or 0) / total if total else None
    p90 = None if p90 is None or p90 != p90 else float(p90)
    return single, p90


def churn_check(ws: Any) -> ChurnCheck:
    """Churned customers by rule, the data span and warnings about a rule that does not fit.

    In plain SQL (``lifetime_counts``): `cxray status` and every churn answer ask for it, and it
    must not wait for Ibis to load.
    """
    rule = ws.journey.churn
    warehouse = ws.warehouse
    end = data_end(ws)
    start = data_start(ws)
    span = None if end is None or start is None else (end - start).total_seconds() / 86400
    row = lifetime_counts(ws, end)
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
    if needs_profile and warehouse.count("events"):
        single, p90 = _gap_profile(ws)
    suggested = None
    if p90 is not None and p90 > 0:
        suggested = _nice(p90 * 1.5)  # a margin over the usual gap: a late return is no exit
        if span is not None and suggested >= span:
            suggested = max((d for d in NICE_DAYS if d < span / 2), default=None)
    unseen: list[str] = []
    if rule.touchpoints:
        names = list(rule.touchpoints)
        events = warehouse.relation("events", EVENT_COLUMNS)
        seen = {
            name
            for (name,) in warehouse.query(
                f"SELECT DISTINCT touchpoint FROM {events} WHERE touchpoint IN {literals(names)}"
            )
        }
        unseen = [t for t in rule.touchpoints if t not in seen]
    customers = warehouse.relation("customers", CUSTOMER_COLUMNS)
    (with_lifetimes,) = warehouse.query(
        f"SELECT COUNT(*) FROM {customers} WHERE churned_at IS NOT NULL OR last_seen IS NOT NULL"
    )[0]
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
        has_lifetime_data=bool(with_lifetimes),
    )
