"""Drivers of churn: hazard ratios with time-varying exposure, adjusted for segment and tenure.

Method (a piecewise-exponential model, the scalable equivalent of a Cox model):

1. The counting process runs in the engine (:mod:`cxray.analysis.exposure`): each candidate is a
   kind of occurrence (a touchpoint's events, low feedback scores at a touchpoint) that counts from
   its moment on, strictly before the end of the lifetime; time is split at every occurrence and
   at tenure cuts chosen from the churn times; only the grouped table reaches Python.
2. A Poisson model with log(exposure) offset (:mod:`cxray.analysis.poisson`); the tenure bands
   are its baseline. Hazard ratio = exp(coefficient), Wald 95% interval, p-values and
   Benjamini–Hochberg q-values over the estimable candidates.
3. Estimability (:mod:`cxray.analysis.estimability`): candidates the data cannot estimate (at the
   time origin for nearly everyone, part of the way out, no variation within tenure bands,
   separation, collinear, a diverging fit) are reported with their reason and no numbers; they
   are left out of the model and of the false-discovery family.
4. Customers lost to a driver: expected churners with the exposure as observed minus expected
   churners with that driver's coefficient set to zero, over the period's exposure, with a
   delta-method interval; both within [0, the churners among the exposed in the period] (a
   protective factor gives customers kept, within [0, the exposed customers who stayed]). Where the intervals
   of the top drivers overlap, they share a rank and are called tied. Value lost weighs the same
   by customers.value.

Coding ``per_occurrence`` (default): each occurrence multiplies the hazard again, up to
``max_count`` occurrences (10; see :mod:`cxray.analysis.exposure` on the cap and the bands);
``ever``: exposed from the first occurrence on. On lifetime data without events (a CRM snapshot)
the candidates are customer attributes (``by``): each level against the largest one, time-fixed.
These are associations adjusted for segment and tenure, not proven causes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from cxray.analysis._common import (
    check_lang,
    fmt_interval,
    fmt_num,
    time_bounds,
)
from cxray.analysis.candidates import (  # noqa: F401  (re-exported)
    default_attributes,
    default_candidates,
    label_of,
    level_sizes,
    occurrence_counts,
    resolve,
)
from cxray.analysis.candidates import label_of as _label  # noqa: F401
from cxray.analysis.estimability import (
    MIN_CUSTOMERS,
    partner_labels,
    reason_text,
    table_reason,
    timing_reason,
)
from cxray.analysis.exposure import (  # noqa: F401  (the counting process, re-exported)
    DEFAULT_CUTS,
    Candidate,
    at_risk,
    candidate_timing,
    episode_table,
    grouped_exposure,
    low_score_name,
    occurrences,
    tenure_cuts,
    unpack,
)
from cxray.analysis.poisson import (
    PoissonFit,
    bh_qvalues,
    collinear_columns,
    design_matrix,
    diverged_columns,
    fit_poisson,
)
from cxray.i18n import join_words
from cxray.results import Column, Result, Table, frame_records, interval

CODINGS = ("per_occurrence", "ever")
CONFIDENCE = 0.95
NO_CANDIDATE = "__none__"

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


def _empty_occurrences() -> Any:
    schema = {"customer_id": "string", "ts": "timestamp('UTC')", "candidate": "string",
              "occurrence_id": "string"}  # fmt: skip
    return ibis.memtable(pd.DataFrame({k: pd.Series(dtype=object) for k in schema}), schema=schema)


def drivers(
    ws: Any,
    candidates: Sequence[str | Candidate] | None = None,
    adjust_for: Sequence[str] = ("segment",),
    coding: str = "per_occurrence",
    period: tuple[Any, Any] | None = None,
    fdr: float = 0.05,
    max_count: int = 10,
    cuts: Sequence[float] | None = None,
    by: Sequence[str] | None = None,
) -> DriversResult:
    """Hazard ratio of every candidate driver of churn, adjusted for tenure and ``adjust_for``.

    ``candidates``: touchpoint names and/or low-score names ("low csat at delivery", "low nps");
    by default every touchpoint seen in events (churn touchpoints excepted) and every metric ×
    touchpoint with low scores, each seen by at least 20 customers. ``by``: customer attributes
    whose levels are the candidates instead (time-fixed, each against its largest level); the
    default on a workspace without events. ``coding``: "per_occurrence" or "ever". ``period``:
    (start, end) over which customers lost are counted (default: all data). ``fdr``:
    false-discovery rate for ``significant`` (Benjamini–Hochberg). ``cuts``: tenure cuts in days
    (default: chosen from the churn times). See the module docstring for the method.
    """
    if coding not in CODINGS:
        raise ValueError(f"unknown coding {coding!r}; choose one of: {', '.join(CODINGS)}")
    if not 0 < fdr < 1:
        raise ValueError("fdr must lie between 0 and 1")
    if max_count < 1:
        raise ValueError("max_count must be at least 1")
    lower, upper = time_bounds(*(period or (None, None)))
    if by is None and candidates is None and int(ws.events.count().execute()) == 0:
        by = default_attributes(ws)
        if not by:
            raise ValueError("no events and no customer attribute with 2 to 12 levels to compare")
    by = list(by or [])
    chosen = [] if by else resolve(ws, candidates)
    if not chosen and not by:
        raise ValueError("no candidate drivers: no touchpoints or low scores seen often enough")
    cuts = tuple(tenure_cuts(ws) if cuts is None else cuts)
    adjust = [a for a in adjust_for if a not in by]
    names = [c.name for c in chosen] or [NO_CANDIDATE]
    occ = occurrences(ws, chosen) if chosen else _empty_occurrences()
    frame = grouped_exposure(
        ws, occ, names, max_count, coding, [*adjust, *by], cuts, (lower, upper)
    )
    if not (frame.exposure_days > 0).all():  # a copy of a million-row table only when needed
        frame = frame[frame.exposure_days > 0].reset_index(drop=True)
    if frame.empty or frame.events.sum() == 0:
        raise ValueError("no churn observed: nothing to explain")
    adjust = [a for a in adjust if frame[a].nunique() > 1]  # one group adjusts for nothing

    labels: dict[str, dict[str, str]] = {}
    specs: list[dict[str, Any]] = []  # one per candidate column of the design
    reasons: dict[str, tuple[str, dict[str, Any]]] = {}
    if chosen:
        timing = candidate_timing(ws, occ)
        counts = occurrence_counts(ws, chosen)
        for i, c in enumerate(chosen):
            exposed, total = counts.get(c.name, (0, 0))
            specs.append({"column": f"c{i}", "driver": c.name, "kind": c.kind,
                          "touchpoint": c.touchpoint, "metric": c.metric,
                          "customers_exposed": exposed, "occurrences": total})  # fmt: skip
            labels[c.name] = {lang: label_of(ws, c, lang) for lang in ("en", "nl")}
            found = timing_reason(timing.get(c.name))
            if found:
                reasons[f"c{i}"] = found
    for attribute in by:
        sizes = level_sizes(ws, attribute)
        levels = frame.groupby(attribute)["exposure_days"].sum().sort_values(ascending=False)
        for level in levels.index[1:]:
            column = f"a{len(specs)}"
            frame[column] = (frame[attribute] == level).astype(float)
            name = f"{attribute} = {level}"
            n = sizes.get(str(level), 0)
            specs.append({"column": column, "driver": name, "kind": "attribute",
                          "touchpoint": None, "metric": None,
                          "customers_exposed": n, "occurrences": n})  # fmt: skip
            reference = f"{attribute} = {levels.index[0]}"
            labels[name] = {"en": f"{name} (vs {reference})", "nl": f"{name} (t.o.v. {reference})"}
            if n < MIN_CUSTOMERS:
                reasons[column] = ("too_few", {"n": n})
    for spec in specs:
        if spec["column"] not in reasons:
            found = table_reason(frame, spec["column"], spec["customers_exposed"])
            if found:
                reasons[spec["column"]] = found

    events = frame.events.to_numpy(dtype=float)
    exposure = frame.exposure_days.to_numpy(dtype=float)
    n_intervals = len(cuts) + 1
    remaining = [s["column"] for s in specs if s["column"] not in reasons]
    by_column = {s["column"]: s for s in specs}
    fit = design = columns = None
    for _ in range(len(remaining) + 1):
        design, columns, _refs = design_matrix(frame, remaining, adjust, n_intervals)
        # Newton steps by least squares reach the fit of the identifiable part even when
        # columns move in lockstep; the information at the fit then shows which ones do.
        fit = fit_poisson(design, events, exposure, columns)
        lockstep = collinear_columns(fit.information, columns, remaining)
        if lockstep:
            for col, partners in lockstep.items():
                reasons[col] = ("collinear", {"partners": partners})
            remaining = [c for c in remaining if c not in lockstep]
            continue
        diverged = diverged_columns(fit, remaining) if remaining else []
        if not diverged:
            break
        for col in diverged:
            reasons[col] = ("diverged", {})
        remaining = [c for c in remaining if c not in diverged]
    assert fit is not None and design is not None and columns is not None

    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    has_value = bool(frame.period_value_days.sum() > 0)
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        rate = np.exp(np.minimum(design @ fit.coef, 700.0))  # hazard per day of each row
        observed_gradient = design.T @ (frame.period_days.to_numpy(dtype=float) * rate)
        rows = []
        for spec in specs:
            base = {k: v for k, v in spec.items() if k != "column"}
            col = spec["column"]
            if col in remaining:
                rows.append({**base, **_estimate(col, columns, design, fit, se, z, frame,
                                                 has_value, rate, observed_gradient,
                                                 spec["customers_exposed"]), "estimable": True})  # fmt: skip
            else:
                rows.append({**base, "estimable": False, "reason": reasons[col][0]})
    table = _rank(pd.DataFrame(rows), fdr)
    why = {
        spec["driver"]: _why(*reasons[spec["column"]], by_column, labels)
        for spec in specs
        if spec["column"] in reasons
    }
    return DriversResult(
        drivers=table,
        adjustments=_adjustments(fit, se, z, columns, remaining),
        coding=coding,
        max_count=max_count,
        adjusted_for=adjust,
        period=(
            None if lower is None else lower.isoformat(),
            None if upper is None else upper.isoformat(),
        ),
        fdr=fdr,
        customers=int(at_risk(ws).count().execute()),
        churned=int(events.sum()),
        exposure_days=float(exposure.sum()),
        has_value=has_value,
        labels=labels,
        reasons=why,
    )


def _why(
    code: str,
    details: dict[str, Any],
    by_column: dict[str, dict[str, Any]],
    labels: dict[str, dict[str, str]],
) -> dict[str, str]:
    """The reason a candidate cannot be estimated, in each language."""
    out = {}
    for lang in ("en", "nl"):
        found = dict(details)
        if "partners" in found:
            named = [by_column[p]["driver"] if p in by_column else p for p in found["partners"]]
            found["partners"] = partner_labels(named, {d: v[lang] for d, v in labels.items()}, lang)
        out[lang] = reason_text(code, lang, **found)
    return out


def _rank(table: pd.DataFrame, fdr: float) -> pd.DataFrame:
    """q-values over the estimable rows; significant harmful first, tied where intervals overlap."""
    table = table.reindex(columns=DRIVER_COLUMNS)
    table["estimable"] = table.estimable.astype(bool)
    tested = table.estimable & table.p_value.notna()
    table["q_value"] = np.nan
    if tested.any():
        table.loc[tested, "q_value"] = bh_qvalues(table.p_value[tested])
    table["significant"] = table.q_value.le(fdr).astype(bool)
    harmful = table.significant & (table.hazard_ratio > 1)
    rest = table.estimable & ~harmful
    table = pd.concat(
        [
            table[harmful].sort_values("customers_lost", ascending=False),
            table[rest].sort_values("p_value"),
            table[~table.estimable].sort_values("driver"),
        ]
    ).reset_index(drop=True)
    ranks: list[float] = []
    tied = [False] * len(table)
    leader_lower = -np.inf
    rank = 0
    for i, row in enumerate(table.itertuples()):
        if not row.estimable:
            ranks.append(np.nan)
            continue
        is_harmful = bool(row.significant and row.hazard_ratio > 1)
        if i > 0 and is_harmful and row.lost_upper >= leader_lower:
            tied[i] = tied[i - 1] = True  # shares the rank of the group it overlaps
        else:
            rank = i + 1
            leader_lower = row.lost_lower if is_harmful else np.inf
        ranks.append(float(rank))
    table["rank"] = ranks
    table["tied"] = tied
    return table


def _adjustments(
    fit: PoissonFit, se: np.ndarray, z: float, columns: list[str], candidates: list[str]
) -> pd.DataFrame:
    rows = []
    for k, name in enumerate(columns):
        if name.startswith("interval:") or name in candidates:
            continue
        attribute, level = name.split(":", 1)
        beta, s = float(fit.coef[k]), float(se[k])
        finite = abs(beta) <= 10 and s <= 5
        rows.append(
            {
                "attribute": attribute,
                "group": level,
                "hazard_ratio": float(np.exp(beta)) if finite else np.nan,
                "hr_lower": float(np.exp(beta - z * s)) if finite else np.nan,
                "hr_upper": float(np.exp(beta + z * s)) if finite else np.nan,
            }
        )
    return pd.DataFrame(
        rows, columns=["attribute", "group", "hazard_ratio", "hr_lower", "hr_upper"]
    )


def _estimate(
    col: str,
    columns: list[str],
    design: np.ndarray,
    fit: PoissonFit,
    se: np.ndarray,
    z: float,
    frame: pd.DataFrame,
    has_value: bool,
    rate: np.ndarray,
    observed_gradient: np.ndarray,
    customers_exposed: int,
) -> dict[str, Any]:
    """Hazard ratio, p-value and customers (value) lost of the candidate in column ``col``.

    Customers lost lie in [0, churners among the exposed in the period] for a harmful driver and
    in [-(exposed customers who stayed), 0] for a protective one (customers kept); so does their
    interval.
    """
    j = columns.index(col)
    period_days = frame.period_days.to_numpy(dtype=float)
    period_value = frame.period_value_days.to_numpy(dtype=float)
    beta, s = float(fit.coef[j]), float(se[j])
    x = design[:, j]
    removed = rate * np.exp(-x * beta)
    lost = float(period_days @ (rate - removed))
    grad_removed = design.T @ (period_days * removed)
    grad_removed[j] = 0.0  # the removed coefficient no longer enters
    gradient = observed_gradient - grad_removed
    lost_se = float(np.sqrt(max(gradient @ fit.cov @ gradient, 0.0)))
    churners_exposed = int(frame.period_events.to_numpy(dtype=float)[x > 0].sum())
    # A harmful driver lost between none and every exposed churner; a protective one kept
    # between none and every exposed customer who stayed. The sign follows the hazard ratio.
    if beta >= 0:
        low_bound, high_bound = 0.0, float(churners_exposed)
    else:
        low_bound, high_bound = -float(max(customers_exposed - churners_exposed, 0)), 0.0

    def clip(v: float) -> float:
        return float(min(max(v, low_bound), high_bound))

    value_lost = float(period_value @ (rate - removed)) if has_value else np.nan
    p = float(2 * stats.norm.sf(abs(beta / s))) if s > 0 else np.nan
    return {
        "hazard_ratio": float(np.exp(beta)),
        "hr_lower": float(np.exp(beta - z * s)),
        "hr_upper": float(np.exp(beta + z * s)),
        "p_value": p,
        "customers_lost": clip(lost),
        "lost_lower": clip(lost - z * lost_se),
        "lost_upper": clip(lost + z * lost_se),
        "churners_exposed": churners_exposed,
        "value_lost": value_lost,
    }
