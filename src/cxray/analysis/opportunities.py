"""What to do first: the drivers of churn as opportunities, ranked by the customers at stake.

Each candidate driver whose hazard ratio is above 1 (more churn with it) is an opportunity; its
*customers at stake* are the drivers' ``customers_lost`` (expected churners with the exposure as
observed minus expected churners without the driver, with its 95% interval), and its *value at
stake* the drivers' ``value_lost`` when customers carry a value. Demonstrable drivers (significant
at the drivers' false-discovery rate) come first, ranked by customers at stake (then value);
drivers not yet demonstrable follow in the same order, so that a large but uncertain estimate
never outranks a shown one. Protective drivers (hazard ratio below 1) are no opportunity to win
back customers and are left out.

Each opportunity is marked ``quick_win`` or ``long_term``. It is a quick win when all of these
hold, and long term with the first that fails as its reason:

1. **demonstrable**: significant at the false-discovery rate (an effect not yet shown is no
   place to spend a sprint);
2. **at one touchpoint**: a touchpoint's events or low scores at one touchpoint, not a customer
   attribute (a segment, a plan) nor low scores anywhere in the journey (a relationship score);
3. **one team owns it**: the touchpoint has an ``owner`` in the journey file;
4. **a cause fixable at the touchpoint**: low scores there (the experience at that moment), or a
   touchpoint flagged ``bad_experience`` (a failure such as a late delivery, prevented where it
   happens). A plain touchpoint whose occurrences go with churn (a support call) is a symptom:
   the cause lies before it, so finding it is long-term work;
5. **an incident, not a pattern**: fewer than ``RECURRING`` (2) occurrences per exposed customer
   on average, i.e. most customers meet it once; one that recurs is a process problem.

The rule uses only the drivers' test, the journey file and the counts, with one fixed cut (two
occurrences per customer, "more than once on average"); nothing in it is tuned to a data set.
These are associations adjusted for tenure and segment, not proven causes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxray.analysis._common import check_lang, fmt_interval, fmt_num
from cxray.i18n import Message
from cxray.results import Column, Result, Table, frame_records, interval

QUICK_WIN, LONG_TERM = "quick_win", "long_term"
RECURRING = 2.0  # occurrences per exposed customer from which a driver is a pattern
OPPORTUNITY_COLUMNS = [
    "rank",
    "driver",
    "label",
    "label_nl",
    "kind",
    "touchpoint",
    "metric",
    "phase",
    "owner",
    "customers_lost",
    "lost_lower",
    "lost_upper",
    "value_lost",
    "hazard_ratio",
    "hr_lower",
    "hr_upper",
    "q_value",
    "significant",
    "customers_exposed",
    "occurrences",
    "per_customer",
    "horizon",
    "rule",
    "reason",
    "reason_nl",
]
HORIZON_WORDS = {
    QUICK_WIN: {"en": "quick win", "nl": "snel resultaat"},
    LONG_TERM: {"en": "long term", "nl": "lange termijn"},
}


def classify(row: Any, journey: Any) -> tuple[str, str, Message]:
    """(horizon, rule, reason) of one driver row; ``rule`` names the test that decided."""
    tp = journey.touchpoints.get(row.touchpoint) if isinstance(row.touchpoint, str) else None
    owner = tp.owner if tp is not None else None
    exposed = float(row.customers_exposed or 0)
    per_customer = float(row.occurrences or 0) / exposed if exposed else np.nan
    per = fmt_num(per_customer, "en", 1) if per_customer == per_customer else "–"
    per_nl = fmt_num(per_customer, "nl", 1) if per_customer == per_customer else "–"
    if not bool(row.significant):
        return (
            LONG_TERM,
            "not_demonstrable",
            Message(
                "the effect is not yet demonstrable (not significant at the false-discovery "
                "rate): follow it up and measure again before investing",
                "het effect is nog niet aantoonbaar (niet significant bij de false-discovery "
                "rate): volg het en meet opnieuw voordat je investeert",
            ),
        )
    if row.kind == "attribute":
        return (
            LONG_TERM,
            "attribute",
            Message(
                "a customer attribute, not a touchpoint: it asks for a change in offer or "
                "targeting across the journey",
                "een klantkenmerk, geen contactmoment: het vraagt om een ander aanbod of een "
                "andere doelgroep over de hele klantreis",
            ),
        )
    if tp is None and not isinstance(row.touchpoint, str):
        return (
            LONG_TERM,
            "journey_wide",
            Message(
                "low scores not tied to one touchpoint: the relationship as a whole, a "
                "journey-wide cause",
                "lage scores die niet bij één contactmoment horen: de relatie als geheel, een "
                "oorzaak over de hele klantreis",
            ),
        )
    if not owner:
        return (
            LONG_TERM,
            "no_owner",
            Message(
                "no team owns this touchpoint in the journey file yet: name an owner first",
                "nog geen team is eigenaar van dit contactmoment in het klantreisbestand: wijs "
                "eerst een eigenaar aan",
            ),
        )
    bad_touchpoint = tp is not None and tp.bad_experience
    if row.kind != "low_score" and not bad_touchpoint:
        return (
            LONG_TERM,
            "symptom",
            Message(
                "the touchpoint itself goes with churn, not a failure at it: it is a symptom "
                "whose cause lies earlier in the journey",
                "het contactmoment zelf gaat samen met vertrek, geen fout erin: het is een "
                "symptoom waarvan de oorzaak eerder in de klantreis ligt",
            ),
        )
    if per_customer == per_customer and per_customer >= RECURRING:
        return (
            LONG_TERM,
            "recurring",
            Message(
                f"it recurs ({per} times per customer who had it): a process problem, not an "
                "incident",
                f"het komt steeds terug ({per_nl} keer per klant die het had): een "
                "procesprobleem, geen incident",
            ),
        )
    what = (
        ("low scores there", "lage scores daar")
        if row.kind == "low_score"
        else ("a failure flagged as bad experience", "een fout die als slechte ervaring telt")
    )
    return (
        QUICK_WIN,
        "quick_win",
        Message(
            f"a demonstrable driver at one touchpoint owned by {owner}; the cause ({what[0]}) "
            f"can be fixed where it happens, and it does not recur (on average {per} times per "
            "customer who had it)",
            f"een aantoonbare oorzaak bij één contactmoment van {owner}; de oorzaak ({what[1]}) "
            f"is daar te verhelpen, en het keert niet steeds terug (gemiddeld {per_nl} keer per "
            "klant die het had)",
        ),
    )


@dataclass(repr=False)
class OpportunitiesResult(Result):
    """Opportunities ranked by customers at stake; columns: see ``OPPORTUNITY_COLUMNS``."""

    frame: pd.DataFrame
    has_value: bool = False
    fdr: float = 0.05
    churned: int = 0

    def display(self) -> Table:
        words = {k: dict(v) for k, v in HORIZON_WORDS.items()}
        columns = [
            Column("rank", "rank", "rank", "rang"),
            Column("label", "text", "opportunity", "kans", nl_key="label_nl"),
            Column("owner", "text", "owner", "eigenaar", 6),
            Column("customers_lost", "count", "customers at stake", "klanten op het spel"),
            interval("lost_lower", "lost_upper", "count", 5),
        ]
        if self.has_value:
            columns.append(Column("value_lost", "count", "value at stake", "waarde op het spel", 6))
        columns += [
            Column("horizon", "text", "horizon", "termijn", values=words),
            Column("reason", "text", "why", "waarom", 4, nl_key="reason_nl"),
            Column("hazard_ratio", "ratio", "churn ×", "vertrek ×", wide=True),
            Column("per_customer", "number", "per customer", "per klant", wide=True),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("opportunities", "kansen"))

    @property
    def quick_wins(self) -> pd.DataFrame:
        return self.frame[self.frame["horizon"] == QUICK_WIN]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": "quick win: demonstrable, at one touchpoint, owned by a team, a cause "
            "fixable at the touchpoint (low scores there or a bad-experience touchpoint), "
            f"fewer than {RECURRING:g} occurrences per customer; otherwise long term",
            "ranking": "demonstrable first, then by customers at stake (drivers' customers "
            "lost), then by value at stake",
            "has_value": self.has_value,
            "fdr": self.fdr,
            "churned": self.churned,
            "rows": frame_records(self.frame),
        }

    def sentence(self, row: Any, lang: str = "en", horizon: bool = True) -> str:
        """One opportunity in words; ``horizon=False`` leaves out "quick win" / "long term"
        (for a face that shows it as a tag)."""
        nl = check_lang(lang) == "nl"
        label = row.label_nl if nl else row.label
        lost, ci = fmt_interval(row.customers_lost, row.lost_lower, row.lost_upper, lang)
        reason = row.reason_nl if nl else row.reason
        if horizon:
            reason = f"{HORIZON_WORDS[row.horizon][lang]}: {reason}"
        stake = f"≈ {lost} {'klanten' if nl else 'customers'} ({ci})"
        if self.has_value and row.value_lost == row.value_lost:
            stake += f", {'waarde' if nl else 'value'} ≈ {fmt_num(row.value_lost, lang)}"
        return f"{label}: {stake} — {reason}."

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        if self.frame.empty:
            return (
                "Geen oorzaak van vertrek om aan te pakken: geen enkele kandidaat gaat samen "
                "met meer vertrek."
                if nl
                else "No driver of churn to act on: no candidate goes with more churn."
            )
        shown = self.frame[self.frame["significant"]].head(3)
        if shown.empty:
            head = (
                "Nog geen aantoonbare kans; de grootste onzekere:"
                if nl
                else "No demonstrable opportunity yet; the largest uncertain one:"
            )
            return f"{head} {self.sentence(self.frame.iloc[0], lang)}"
        wins = int((self.frame["horizon"] == QUICK_WIN).sum())
        if nl:
            count = f"{fmt_num(wins, lang)} snel{' resultaat' if wins == 1 else 'le resultaten'}"
        else:
            count = f"{fmt_num(wins, lang)} quick win{'' if wins == 1 else 's'}"
        lead = "Grootste kansen" if nl else "Largest opportunities"
        sentences = " ".join(self.sentence(row, lang) for row in shown.itertuples())
        return f"{lead} ({count}): {sentences}"


def opportunities(ws: Any, drivers_result: Any = None) -> OpportunitiesResult:
    """Drivers of churn as opportunities: ranked by customers at stake, quick win or long term.

    ``drivers_result``: a :class:`~cxray.analysis.drivers_result.DriversResult` already computed
    on ``ws`` (default: ``drivers(ws)``). The ranking and the rule are in the module
    documentation.
    """
    if drivers_result is None:
        from cxray.analysis.drivers import drivers

        drivers_result = drivers(ws)
    table = drivers_result.drivers
    harmful = table[table["estimable"] & (table["hazard_ratio"] > 1)]
    journey = ws.journey
    rows = []
    for row in harmful.itertuples(index=False):
        horizon, rule, reason = classify(row, journey)
        tp = journey.touchpoints.get(row.touchpoint) if isinstance(row.touchpoint, str) else None
        labels = drivers_result.labels.get(row.driver, {})
        exposed = float(row.customers_exposed or 0)
        rows.append(
            {
                "driver": row.driver,
                "label": labels.get("en", row.driver),
                "label_nl": labels.get("nl", labels.get("en", row.driver)),
                "kind": row.kind,
                "touchpoint": row.touchpoint if isinstance(row.touchpoint, str) else None,
                "metric": row.metric if isinstance(row.metric, str) else None,
                "phase": tp.phase if tp is not None else None,
                "owner": tp.owner if tp is not None else None,
                "customers_lost": row.customers_lost,
                "lost_lower": row.lost_lower,
                "lost_upper": row.lost_upper,
                "value_lost": row.value_lost if drivers_result.has_value else np.nan,
                "hazard_ratio": row.hazard_ratio,
                "hr_lower": row.hr_lower,
                "hr_upper": row.hr_upper,
                "q_value": row.q_value,
                "significant": bool(row.significant),
                "customers_exposed": int(exposed),
                "occurrences": int(row.occurrences or 0),
                "per_customer": float(row.occurrences or 0) / exposed if exposed else np.nan,
                "horizon": horizon,
                "rule": rule,
                "reason": reason.en,
                "reason_nl": reason.nl,
            }
        )
    frame = pd.DataFrame(rows, columns=OPPORTUNITY_COLUMNS)
    if len(frame):
        frame["_value"] = frame["value_lost"].fillna(-np.inf)
        frame = frame.sort_values(
            ["significant", "customers_lost", "_value", "driver"],
            ascending=[False, False, False, True],
            kind="stable",
        ).drop(columns="_value")
        frame["rank"] = range(1, len(frame) + 1)
    return OpportunitiesResult(
        frame=frame.reset_index(drop=True),
        has_value=bool(drivers_result.has_value),
        fdr=float(drivers_result.fdr),
        churned=int(drivers_result.churned),
    )
