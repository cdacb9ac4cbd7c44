"""What ``cxray.analysis.drivers`` answers: the ranked drivers, their table and their sentences.

Kept apart from the model (``drivers``): this module only describes and words a result that is
already computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxray.analysis._common import (
    check_lang,
    fmt_interval,
    fmt_num,
)
from cxray.i18n import join_words
from cxray.results import Column, Result, Table, frame_records, interval

DRIVER_COLUMNS = [
    "rank",
    "tied",
    "driver",
    "kind",
    "touchpoint",
    "metric",
    "estimable",
    "reason",
    "customers_exposed",
    "occurrences",
    "hazard_ratio",
    "hr_lower",
    "hr_upper",
    "p_value",
    "q_value",
    "significant",
    "customers_lost",
    "lost_lower",
    "lost_upper",
    "churners_exposed",
    "value_lost",
]


@dataclass(repr=False)
class DriversResult(Result):
    """Churn drivers ranked: hazard ratios, q-values and customers (and value) lost."""

    drivers: pd.DataFrame
    adjustments: pd.DataFrame  # hazard ratios of the adjustment groups (e.g. segment)
    coding: str
    max_count: int
    adjusted_for: list[str]
    period: tuple[str | None, str | None]
    fdr: float
    customers: int
    churned: int
    exposure_days: float
    has_value: bool
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # driver: {lang: why}

    def display(self) -> Table:
        data = self.drivers.reset_index(drop=True)
        for lang in ("en", "nl"):  # ``reason`` is a key; the words say it per language
            data[f"reason_{lang}"] = [self.reasons.get(d, {}).get(lang) for d in data["driver"]]
        names = {d: {lang: self._label(d, lang) for lang in ("en", "nl")} for d in data["driver"]}
        columns = [
            Column("rank", "rank", "rank", "rang", tie="tied"),
            Column("driver", "text", "driver", "oorzaak", values=names),
            Column("customers_exposed", "count", "customers with it", "klanten met dit", 7),
            Column("hazard_ratio", "ratio", "churn ×", "vertrek ×"),
            interval("hr_lower", "hr_upper", "ratio", 6),
            Column("q_value", "p", "q", priority=4),
            Column("significant", "flag", "significant", priority=5),
            Column("customers_lost", "count", "customers lost", "klanten verloren"),
            interval("lost_lower", "lost_upper", "count", 3),
        ]
        if self.has_value:
            columns.append(Column("value_lost", "count", "value lost", "waarde verloren", 5))
        if not data["estimable"].all():
            why = ("not estimable because", "niet te schatten want")
            columns.append(Column("reason_en", "text", *why, 6, nl_key="reason_nl"))
        columns += [
            Column("occurrences", "count", "occurrences", "keren", wide=True),
            Column("p_value", "p", "p", wide=True),
        ]
        return Table(data, columns, noun=("drivers", "oorzaken"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "piecewise-exponential Poisson model, time-varying exposure",
            "interpretation": "associations adjusted for tenure and "
            + ", ".join(self.adjusted_for or ["nothing else"])
            + "; not proven causes",
            "coding": self.coding,
            "max_count": self.max_count,
            "adjusted_for": ["tenure", *self.adjusted_for],
            "period": list(self.period),
            "fdr": self.fdr,
            "customers": self.customers,
            "churned": self.churned,
            "exposure_days": self.exposure_days,
            "drivers": frame_records(self.drivers),
            "not_estimable": [
                {"driver": name, "reason": why["en"], "reason_nl": why["nl"]}
                for name, why in self.reasons.items()
            ],
            "adjustments": frame_records(self.adjustments),
        }

    def _period_words(self, lang: str) -> str:
        start, end = self.period
        if start is None and end is None:
            return ""
        nl = lang == "nl"
        parts = []
        if start is not None:
            parts.append(f"{'vanaf' if nl else 'from'} {start[:10]}")
        if end is not None:  # the bound is exclusive: name the last day inside the period
            last_day = (pd.Timestamp(end) - pd.Timedelta(microseconds=1)).date().isoformat()
            parts.append(f"{'t/m' if nl else 'through'} {last_day}")
        return " " + " ".join(parts)

    def _label(self, driver: str, lang: str) -> str:
        return self.labels.get(driver, {}).get(lang, driver)

    def sentence(self, row: pd.Series, lang: str = "en") -> str:
        """One plain sentence for one driver (a row of ``to_pandas()``)."""
        nl = check_lang(lang) == "nl"
        label = self._label(row.driver, lang)
        if not row.estimable:
            why = self.reasons.get(row.driver, {}).get(lang, str(row.reason))
            head = (
                "niet te schatten uit deze gegevens" if nl else "cannot be estimated from this data"
            )
            return f"{label}: {head}: {why}."
        hr, interval = fmt_interval(
            row.hazard_ratio, row.hr_lower, row.hr_upper, lang, 1, reference=1.0
        )
        protective = row.hazard_ratio < 1
        lost, lost_ci = fmt_interval(
            abs(row.customers_lost),
            abs(row.lost_upper) if protective else row.lost_lower,
            abs(row.lost_lower) if protective else row.lost_upper,
            lang,
        )
        of = fmt_num(row.churners_exposed, lang)
        stayed = fmt_num(max(row.customers_exposed - row.churners_exposed, 0), lang)
        at_bound = row.lost_lower == row.lost_upper  # clipped at what is possible
        if nl:
            whom = (
                f"{stayed} die dit hadden en bleven"
                if protective
                else f"{of} vertrekkers die dit hadden"
            )
            lost_ci = f"de grens: alle {whom}" if at_bound else f"{lost_ci}, van {whom}"
        else:
            whom = f"{stayed} who had it and stayed" if protective else f"{of} churners who had it"
            lost_ci = f"the bound: all {whom}" if at_bound else f"{lost_ci}, of {whom}"
        once = "per keer" if nl else "each time"
        if row.kind == "attribute":
            once = "tegenover de referentiegroep" if nl else "against the reference group"
        elif self.coding == "ever":
            once = "na de eerste keer" if nl else "after the first time"
        period = self._period_words(lang)
        if nl:
            word = "behouden" if protective else "verloren"
            effect = f"≈ {lost} klanten {word}{period} ({lost_ci})"
            who = (
                "klanten in deze groep" if row.kind == "attribute" else "klanten die dit meemaakten"
            )
            text = f"{label}: {who} vertrokken {hr}× zo snel ({interval}, {once}); {effect}"
            if self.has_value and row.value_lost == row.value_lost and not protective:
                text += f", waarde ≈ {fmt_num(row.value_lost, lang)}"
            if not row.significant:
                text += " — niet aantoonbaar (q = " + fmt_num(row.q_value, lang, 2) + ")"
            return text + "."
        word = "kept" if protective else "lost"
        effect = f"≈ {lost} customers {word}{period} ({lost_ci})"
        text = (
            f"{label}: {'customers in this group' if row.kind == 'attribute' else 'customers who had one'}"
            f" churned {hr}× as fast ({interval}, {once}); {effect}"
        )
        if self.has_value and row.value_lost == row.value_lost and not protective:
            text += f", value ≈ {fmt_num(row.value_lost, lang)}"
        if not row.significant:
            text += " — not demonstrable (q = " + fmt_num(row.q_value, lang, 2) + ")"
        return text + "."

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        table = self.drivers
        significant = table[table.estimable & table.significant]
        adjusted = join_words(["klantduur" if nl else "tenure", *self.adjusted_for], lang)
        fdr = fmt_num(100 * self.fdr, lang)
        tested = int(table.estimable.sum())
        if nl:
            caveat = f"Verbanden, gecorrigeerd voor {adjusted}; geen bewezen oorzaken."
            if (table.kind == "attribute").any():
                caveat = caveat.replace("; geen", " en voor elkaar; geen")
        else:
            caveat = f"Associations adjusted for {adjusted}; not proven causes."
            if (table.kind == "attribute").any():
                caveat = caveat.replace("; not", " and for each other; not")
        parts: list[str] = []
        harmful = significant[significant.hazard_ratio > 1]
        if harmful.empty:
            parts.append(
                f"Geen aantoonbare churn-drivers onder {fmt_num(tested, lang)} geschatte kandidaten (FDR {fdr}%)."
                if nl
                else f"No demonstrable churn drivers among {fmt_num(tested, lang)} estimated candidates (FDR {fdr}%)."
            )
        else:
            shown = harmful.head(5)
            for rank, group in shown.groupby("rank", sort=True):
                if len(group) > 1:
                    names = ", ".join(self._label(d, lang) for d in group.driver)
                    where = ("de eerste" if nl else "the top") if rank == 1 else fmt_num(rank, lang)
                    parts.append(
                        f"Gedeelde plaats {where}, want hun intervallen van verloren klanten "
                        f"overlappen: {names}."
                        if nl
                        else f"Tied at {'' if rank == 1 else 'rank '}{where}, as their "
                        f"customers-lost intervals overlap: {names}."
                    )
                parts.extend(self.sentence(row, lang) for _, row in group.iterrows())
        kept = significant[significant.hazard_ratio < 1]
        if not kept.empty:
            parts.extend(self.sentence(row, lang) for _, row in kept.head(3).iterrows())
        refused = table[~table.estimable]
        if not refused.empty:
            items = "; ".join(
                f"{self._label(d, lang)} ({self.reasons.get(d, {}).get(lang, '')})"
                for d in refused.driver
            )
            parts.append(
                f"Niet te schatten uit deze gegevens: {items}."
                if nl
                else f"Cannot be estimated from this data: {items}."
            )
        return " ".join([*parts, caveat])
