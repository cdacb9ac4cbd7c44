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
from statistics import NormalDist
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from cxray.analysis._common import (
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
from cxray.analysis.drivers_result import DRIVER_COLUMNS, DriversResult
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
from cxray.i18n import Message

CODINGS = ("per_occurrence", "ever")
CONFIDENCE = 0.95
NO_CANDIDATE = "__none__"


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
            raise ValueError(
                Message(
                    "no events and no customer attribute with 2 to 12 levels to compare",
                    "geen interacties en geen klantkenmerk met 2 tot 12 waarden om te vergelijken",
                )
            )
    by = list(by or [])
    chosen = [] if by else resolve(ws, candidates)
    if not chosen and not by:
        raise ValueError(
            Message(
                "no candidate drivers: no touchpoints or low scores seen often enough",
                "geen kandidaat-oorzaken: geen contactmomenten of lage scores die vaak genoeg "
                "voorkomen",
            )
        )
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
        raise ValueError(
            Message(
                "no churn observed: nothing to explain",
                "geen vertrek waargenomen: niets te verklaren",
            )
        )
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
