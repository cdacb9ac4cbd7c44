"""The model behind churn drivers: a Poisson fit on the grouped table, and what it can estimate.

A Poisson log-linear model with log(exposure) offset is fitted on the grouped table of
:mod:`cxray.analysis.exposure` by Newton iterations with step halving; the tenure intervals form
the baseline (that is the tenure adjustment). Its likelihood equals that of the ungrouped
episodes up to a constant, so the grouped table is all it needs.

Before a hazard ratio is reported, :func:`collinear_columns` finds covariates that lie in the
span of the others on the weighted design (the information matrix X'WX, checked column by column
as a pivoted Cholesky factorisation would: a column whose residual variance after the columns
kept so far is a negligible share of its own variance adds nothing). After the fit,
:func:`diverged_columns` finds coefficients the data cannot pin down: larger than
``MAX_COEF`` in magnitude (a hazard ratio beyond e^10 ≈ 22,000), a standard error above
``MAX_SE``, or a fit that did not converge. Both are symptoms of separation or of a design that
cannot separate the candidate from the baseline; the analysis reports such candidates as not
estimable instead of printing a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

MAX_ETA = 700.0  # exp() of more overflows a float64
MAX_COEF = 10.0
MAX_SE = 5.0
COLLINEAR_TOLERANCE = 1e-7  # residual share of a column's weighted variance


@dataclass
class PoissonFit:
    coef: np.ndarray
    cov: np.ndarray
    names: list[str]
    iterations: int
    converged: bool
    information: np.ndarray | None = None  # X' diag(mu) X at the fitted rates


def fit_poisson(
    design: np.ndarray,
    events: np.ndarray,
    exposure: np.ndarray,
    names: list[str],
    max_iter: int = 50,
    tol: float = 1e-9,
) -> PoissonFit:
    """Poisson log-linear fit with log(exposure) offset by Newton iterations with step halving.

    The likelihood of grouped rows equals that of the ungrouped episodes up to a constant, so the
    grouped table is all it needs. BLAS runs single-threaded here: for these tall, narrow
    matrices thread start-up costs more than it saves, badly so on a busy machine.
    """
    if np.any(exposure <= 0):
        raise ValueError("every grouped row needs positive exposure")
    with threadpool_limits(limits=1, user_api="blas"):
        return _newton(design, events, np.log(exposure), names, max_iter, tol)


def _newton(
    design: np.ndarray,
    events: np.ndarray,
    offset: np.ndarray,
    names: list[str],
    max_iter: int,
    tol: float,
) -> PoissonFit:
    # start from the overall rate: the first column block is the baseline per interval
    rate = max(events.sum(), 0.5) / np.exp(offset).sum()
    beta = np.zeros(design.shape[1])
    baseline_cols = [i for i, n in enumerate(names) if n.startswith("interval:")]
    beta[baseline_cols] = np.log(rate)

    information = _information(design, names)

    def loglik(b: np.ndarray) -> float:
        eta = design @ b + offset
        if not np.all(np.isfinite(eta)) or eta.max() > MAX_ETA:
            return -np.inf  # a diverging step: rejected by the step halving below
        return float(events @ eta - np.exp(eta).sum())

    current = loglik(beta)
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        mu = np.exp(design @ beta + offset)
        gradient = design.T @ (events - mu)
        hessian = information(mu)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        if not np.all(np.isfinite(step)):
            break
        scale = 1.0
        while scale > 1e-6:
            trial = beta + scale * step
            value = loglik(trial)
            if value >= current - 1e-12:
                break
            scale /= 2
        beta, previous, current = trial, current, value
        if abs(current - previous) < tol * (abs(current) + 1):
            converged = True
            break
    eta = np.minimum(design @ beta + offset, MAX_ETA)
    fitted_information = information(np.exp(eta))
    cov = np.linalg.pinv(fitted_information)
    return PoissonFit(beta, cov, names, iterations, converged, fitted_information)


def _information(design: np.ndarray, names: list[str]):
    """X' diag(mu) X, using that the baseline columns are one-hot (one interval per row).

    The baseline blocks reduce to sums per interval, so the dense product only involves the
    other columns: several times faster when there are many tenure intervals.
    """
    baseline = np.array([n.startswith("interval:") for n in names])
    others = np.flatnonzero(~baseline)
    blocks = np.flatnonzero(baseline)
    one_hot = design[:, blocks]
    if blocks.size == 0 or not np.all(one_hot.sum(axis=1) == 1):
        return lambda mu: design.T @ (design * mu[:, None])
    block_of_row = one_hot.argmax(axis=1)
    rest = np.ascontiguousarray(design[:, others])
    one_hot_t = np.ascontiguousarray(one_hot.T)

    def information(mu: np.ndarray) -> np.ndarray:
        k = blocks.size
        weighted = rest * mu[:, None]
        full = np.zeros((design.shape[1], design.shape[1]))
        full[np.ix_(blocks, blocks)] = np.diag(np.bincount(block_of_row, mu, minlength=k))
        # sums of the weighted covariates per interval, as one matrix product
        cross = one_hot_t @ weighted if others.size else np.zeros((k, 0))
        full[np.ix_(blocks, others)] = cross
        full[np.ix_(others, blocks)] = cross.T
        full[np.ix_(others, others)] = rest.T @ weighted
        return full

    return information


def bh_qvalues(p_values: Iterable[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values)."""
    p = np.asarray(list(p_values), dtype=float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(ranked, 1.0)
    return q


def design_matrix(
    frame: pd.DataFrame, count_cols: Sequence[str], adjust_for: Sequence[str], n_intervals: int
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Interval indicators (the baseline), adjustment-group indicators, then the covariates.

    Intervals without any churn would push their baseline to minus infinity; they are merged
    with their neighbour first. The reference adjustment group is the largest one.
    """
    intervals = frame["interval"].to_numpy()
    events_per = np.bincount(intervals, weights=frame["events"], minlength=n_intervals)
    merged = np.zeros(n_intervals, dtype=int)
    block = 0
    has_event = False
    for i in range(n_intervals):
        if has_event and events_per[i] > 0:
            block += 1
            has_event = False
        merged[i] = block
        has_event = has_event or events_per[i] > 0
    blocks = merged[intervals]
    used = np.unique(blocks)
    columns = [(blocks == b).astype(float) for b in used]
    names = [f"interval:{b}" for b in used]
    references: dict[str, str] = {}
    for name in adjust_for:
        levels = frame.groupby(name)["exposure_days"].sum().sort_values(ascending=False)
        references[name] = str(levels.index[0])
        for level in levels.index[1:]:
            columns.append((frame[name] == level).to_numpy(dtype=float))
            names.append(f"{name}:{level}")
    for col in count_cols:
        columns.append(frame[col].to_numpy(dtype=float))
        names.append(col)
    return np.column_stack(columns), names, references


def collinear_columns(
    information: np.ndarray, names: Sequence[str], candidates: Sequence[str]
) -> dict[str, list[str]]:
    """Candidate columns in the span of the columns before them: {column: columns it follows}.

    ``information`` is X'WX of the whole design. Non-candidate columns (baseline, adjustments)
    come first and are kept whenever they add anything; each candidate is then kept only when its
    residual weighted variance after everything kept so far exceeds ``COLLINEAR_TOLERANCE`` of
    its own. The columns named for a dropped one are those with a non-negligible weight in its
    projection on the kept columns.
    """
    chosen = set(candidates)
    order = [i for i, n in enumerate(names) if n not in chosen] + [
        i for i, n in enumerate(names) if n in chosen
    ]
    kept: list[int] = []
    dropped: dict[str, list[str]] = {}
    for i in order:
        own = information[i, i]
        if own <= 0:
            if names[i] in chosen:
                dropped[names[i]] = []
            continue
        if kept:
            g = information[np.ix_(kept, kept)]
            b = information[kept, i]
            weights = np.linalg.lstsq(g, b, rcond=None)[0]
            residual = own - b @ weights
        else:
            weights, residual = np.zeros(0), own
        if residual > COLLINEAR_TOLERANCE * own:
            kept.append(i)
        elif names[i] in chosen:
            scale = np.sqrt(np.clip(np.diag(information)[kept], 1e-300, None) / own)
            partners = [
                names[k] for k, w in zip(kept, weights * scale, strict=True) if abs(w) > 1e-3
            ]
            dropped[names[i]] = partners
    return dropped


def diverged_columns(fit: PoissonFit, candidates: Sequence[str]) -> list[str]:
    """Candidate columns whose coefficient the data cannot pin down (see the module docstring)."""
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    found = []
    for name in candidates:
        j = fit.names.index(name)
        beta, s = fit.coef[j], se[j]
        if (
            not (np.isfinite(beta) and np.isfinite(s))
            or abs(beta) > MAX_COEF
            or s > MAX_SE
            or (not fit.converged and s > 1.0)
        ):
            found.append(name)
    return found
