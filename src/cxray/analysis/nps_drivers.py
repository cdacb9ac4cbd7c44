"""What drives NPS: key-driver analysis of the overall score from touchpoint scores and events.

**Rows.** One per customer with an answer on the ``target`` metric: their latest answer (latest
by time, ties broken by the higher response id), as the 0–10 (or scale) score itself. Its
predictors are built in the engine from what happened *strictly before that answer*:

- ``score`` drivers: the customer's mean score per (metric, touchpoint) for feedback tied to a
  touchpoint (other metrics than the target). A customer without such an answer gets the mean of
  those who have one **plus a missing indicator**; the two columns form one driver, so its
  importance includes what "never rated it" says.
- ``event`` drivers: the number of events of each bad-experience touchpoint of the journey.

**Importance** is Johnson's (2000) relative weights: the R² of the linear regression of the target
on all predictors, split over the predictors in a way that handles correlated predictors (close
to a Shapley decomposition of R², at the cost of one eigen-decomposition, so it scales to many
drivers and to bootstrapping). It is reported as a share of R² (the shares add up to 1), with a
95% percentile interval from ``bootstrap`` resamples of customers.

**Performance** puts every driver on 0–1, higher is better: for a score the mean's position on the
metric's scale (flipped for a CES scale where lower is easier), for an event the share of customers
without one. **Quadrant** against the medians over drivers: ``fix_first`` (importance above the
median, performance below it), ``keep_up`` (important and performing), ``nice_to_have`` (less
important, performing) and ``low_priority`` (less important, not performing).

This is association, not proof of cause: a driver can share its causes with the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxray.analysis._common import check_lang, count_true, fmt_num, fmt_pct, records
from cxray.results import Result, jsonable

MIN_ANSWERS = 10  # a score driver needs at least this many customers who gave it
DRIVER_COLUMNS = [
    "driver",
    "kind",
    "metric",
    "touchpoint",
    "n",
    "importance",
    "importance_low",
    "importance_high",
    "correlation",
    "mean",
    "performance",
    "quadrant",
]
QUADRANTS = {
    "fix_first": {"en": "fix first", "nl": "eerst verbeteren"},
    "keep_up": {"en": "keep up", "nl": "vasthouden"},
    "nice_to_have": {"en": "nice to have", "nl": "mooi meegenomen"},
    "low_priority": {"en": "low priority", "nl": "lage prioriteit"},
}


def relative_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Johnson's raw relative weights per column of ``x``; they sum to the R² of y on x.

    Constant columns get weight 0.
    """
    n, p = x.shape
    weights = np.zeros(p)
    sd = x.std(axis=0)
    keep = sd > 1e-12
    if keep.sum() == 0 or y.std() <= 1e-12 or n < 3:
        return weights
    xs = (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]
    ys = (y - y.mean()) / y.std()
    rxx = xs.T @ xs / n
    rxy = xs.T @ ys / n
    eigval, eigvec = np.linalg.eigh(rxx)
    eigval = np.clip(eigval, 0.0, None)
    # Lambda: correlations between the predictors and their closest orthogonal counterparts
    lam = eigvec @ np.diag(np.sqrt(eigval)) @ eigvec.T
    beta = np.linalg.pinv(lam) @ rxy
    weights[keep] = (lam**2) @ (beta**2)
    return weights


def _grouped_shares(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int
) -> tuple[np.ndarray, float]:
    raw = relative_weights(x, y)
    per_driver = np.bincount(groups, weights=raw, minlength=k)
    r2 = float(per_driver.sum())
    return (per_driver / r2 if r2 > 0 else np.full(k, np.nan)), r2


@dataclass
class NpsDriversResult(Result):
    """Drivers of the overall score; columns: see ``DRIVER_COLUMNS``, most important first."""

    frame: pd.DataFrame
    target: str = "nps"
    customers: int = 0
    r2: float = math.nan
    r2_low: float = math.nan
    r2_high: float = math.nan
    bootstrap: int = 200

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def how(self) -> str:
        return (
            f"{self.customers} customers' latest {self.target.upper()} answer regressed on what "
            "happened before it (mean touchpoint scores, missing ones mean-imputed with an "
            "indicator; counts of bad-experience events); importance = Johnson's relative "
            f"weights as share of R², 95% intervals from {self.bootstrap} bootstrap resamples of "
            "customers; quadrants against the median importance and performance"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": records(self.frame),
            "params": jsonable(
                {
                    "target": self.target,
                    "customers": self.customers,
                    "r2": self.r2,
                    "r2_low": self.r2_low,
                    "r2_high": self.r2_high,
                    "bootstrap": self.bootstrap,
                }
            ),
            "how": self.how,
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        metric = self.target.upper()
        if self.frame.empty:
            return (
                f"Too few {metric} answers or drivers for a key-driver analysis."
                if lang == "en"
                else f"Te weinig {metric}-antwoorden of drivers voor een driveranalyse."
            )
        fix = self.frame[self.frame["quadrant"] == "fix_first"]
        names = ", ".join(
            f"{row.driver} ({fmt_pct(row.importance, lang)})" for row in fix.itertuples()
        )
        r2 = fmt_pct(self.r2, lang)
        n = fmt_num(self.customers, lang)
        if lang == "en":
            first = (
                f"Fix first (important and poorly rated): {names}."
                if names
                else "No driver is both important and poorly rated."
            )
            return (
                f"The drivers explain {r2} of the variation in {metric} across {n} customers. "
                + first
            )
        first = (
            f"Eerst verbeteren (belangrijk en slecht beoordeeld): {names}."
            if names
            else "Geen driver is zowel belangrijk als slecht beoordeeld."
        )
        return f"De drivers verklaren {r2} van de variatie in {metric} over {n} klanten. " + first


def _latest_target(ws: Any, target: str) -> ir.Table:
    fb = ws.feedback
    answers = fb.filter((fb.metric == target) & fb.score.notnull() & fb.customer_id.notnull())
    order = [ibis.desc(answers.ts), ibis.desc(answers.response_id)]
    ranked = answers.mutate(
        rank=ibis.row_number().over(group_by=answers.customer_id, order_by=order)
    )
    latest = ranked.filter(ranked["rank"] == 0)
    return latest.select("customer_id", target_ts="ts", target_score="score")


def nps_drivers(
    ws: Any, target: str = "nps", bootstrap: int = 200, seed: int = 0
) -> NpsDriversResult:
    """Key drivers of the latest ``target`` answer per customer (see the module description)."""
    latest = _latest_target(ws, target)
    fb = ws.feedback
    rated = fb.filter(
        fb.touchpoint.notnull()
        & fb.score.notnull()
        & (fb.metric != target)
        & fb.customer_id.notnull()
    )
    rated = rated.join(latest, "customer_id").filter(lambda t: t.ts < t.target_ts)
    pairs = (
        rated.group_by(["metric", "touchpoint"])
        .aggregate(customers=rated.customer_id.nunique())
        .filter(lambda t: t.customers >= MIN_ANSWERS)
        .order_by(["metric", "touchpoint"])
        .execute()
    )
    score_drivers = list(zip(pairs["metric"], pairs["touchpoint"], strict=True))

    measures: dict[str, ir.Scalar] = {}
    for i, (metric, tp) in enumerate(score_drivers):
        measures[f"s{i}"] = rated.score.mean(
            where=(rated.metric == metric) & (rated.touchpoint == tp)
        )
    table = latest
    if measures:
        scores = rated.group_by("customer_id").aggregate(**measures)
        table = table.left_join(scores, "customer_id").drop("customer_id_right")

    bad_tps = sorted(ws.journey.bad_touchpoints)
    if bad_tps:
        events = ws.events.filter(ws.events.touchpoint.isin(bad_tps))
        before = events.join(latest, "customer_id").filter(lambda t: t.ts < t.target_ts)
        counts = before.group_by("customer_id").aggregate(
            **{f"e{j}": count_true(before.touchpoint == tp) for j, tp in enumerate(bad_tps)}
        )
        table = table.left_join(counts, "customer_id").drop("customer_id_right")
    frame = table.execute()

    y = pd.to_numeric(frame["target_score"]).to_numpy(float)
    columns: list[np.ndarray] = []
    groups: list[int] = []
    rows: list[dict[str, Any]] = []
    for i, (metric, tp) in enumerate(score_drivers):
        values = pd.to_numeric(frame[f"s{i}"]).to_numpy(float)
        present = ~np.isnan(values)
        mean = float(values[present].mean())
        columns += [np.where(present, values, mean), (~present).astype(float)]
        groups += [len(rows), len(rows)]
        scale = ws.journey.scale(metric)
        performance = math.nan
        if scale is not None:
            performance = (mean - scale.min) / (scale.max - scale.min)
            if metric == "ces" and not scale.higher_is_easier:
                performance = 1 - performance
        rows.append(
            {
                "driver": f"{tp} ({metric})",
                "kind": "score",
                "metric": metric,
                "touchpoint": tp,
                "n": int(present.sum()),
                "mean": mean,
                "performance": performance,
                "correlation": _corr(values[present], y[present]),
            }
        )
    for j, tp in enumerate(bad_tps):
        values = pd.to_numeric(frame.get(f"e{j}")).fillna(0).to_numpy(float)
        if not (values > 0).any():
            continue
        columns.append(values)
        groups.append(len(rows))
        rows.append(
            {
                "driver": tp,
                "kind": "event",
                "metric": None,
                "touchpoint": tp,
                "n": int((values > 0).sum()),
                "mean": float(values.mean()),
                "performance": float((values == 0).mean()),
                "correlation": _corr(values, y),
            }
        )

    if not rows or len(y) < 3:
        return NpsDriversResult(
            pd.DataFrame(columns=DRIVER_COLUMNS),
            target=target,
            customers=len(y),
            bootstrap=bootstrap,
        )
    x = np.column_stack(columns)
    group_index = np.array(groups)
    k = len(rows)
    shares, r2 = _grouped_shares(x, y, group_index, k)
    rng = np.random.default_rng(seed)
    boot_shares, boot_r2 = [], []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(y), len(y))
        s, r = _grouped_shares(x[idx], y[idx], group_index, k)
        boot_shares.append(s)
        boot_r2.append(r)
    if boot_shares:
        low, high = np.nanpercentile(np.array(boot_shares), [2.5, 97.5], axis=0)
        r2_low, r2_high = (float(v) for v in np.nanpercentile(boot_r2, [2.5, 97.5]))
    else:
        low = high = np.full(k, np.nan)
        r2_low = r2_high = math.nan

    result = pd.DataFrame(rows)
    result["importance"] = shares
    result["importance_low"] = low
    result["importance_high"] = high
    result["quadrant"] = quadrants(result["importance"], result["performance"])
    result = result.sort_values(
        ["importance", "driver"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    return NpsDriversResult(
        result[DRIVER_COLUMNS],
        target=target,
        customers=len(y),
        r2=r2,
        r2_low=r2_low,
        r2_high=r2_high,
        bootstrap=bootstrap,
    )


def quadrants(importance: pd.Series, performance: pd.Series) -> list[str]:
    """Importance × performance quadrant of each driver, against the medians over drivers."""
    important = importance > importance.median()
    performing = performance >= performance.median()
    return [
        ("keep_up" if good else "fix_first")
        if imp
        else ("nice_to_have" if good else "low_priority")
        for imp, good in zip(important, performing, strict=True)
    ]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
