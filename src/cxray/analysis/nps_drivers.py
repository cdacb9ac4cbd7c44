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

**Target.** By default the workspace's main metric: NPS when it has at least
``MIN_TARGET_ANSWERS`` NPS answers, else the metric with the most answers (a star rating, say).
Anything that happened at or after a customer's answer is left out, and the result says how much.

**Performance** puts every driver on 0–1, higher is better: for a score the mean's position on the
metric's scale (flipped for a scale where lower is easier), for an event the share of customers
without one. **Quadrants** use fixed criteria, not a split at the medians over drivers (which
makes one driver always "nice to have" and, of three, only one important):

- *important*: the driver's share of R² is at least an equal share (1/k of k drivers) **and** the
  lower end of the bootstrap interval of the variance it explains (share × R²) is at least
  ``MIN_EXPLAINED`` (1% of the variation in the score), so a driver that explains nothing is never
  important, however few drivers there are;
- *performing*: its performance is at least the target's own position on its scale (how well the
  overall score does), ½ when the target has no scale.

``fix_first`` (important, not performing), ``keep_up`` (important, performing), ``nice_to_have``
(less important, performing), ``low_priority`` (less important, not performing).

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

from cxray.analysis._common import check_lang, count_true, fmt_interval, fmt_num, records
from cxray.results import Column, Result, Table, interval, jsonable

MIN_ANSWERS = 10  # a score driver needs at least this many customers who gave it
MIN_TARGET_ANSWERS = 30  # NPS is the default target from this many answers on
MIN_EXPLAINED = 0.01  # an important driver reliably explains at least 1% of the score's variance
DRIVER_COLUMNS = [
    "driver",
    "kind",
    "metric",
    "touchpoint",
    "n",
    "importance",
    "importance_low",
    "importance_high",
    "explained",
    "explained_low",
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
) -> tuple[np.ndarray, float, np.ndarray]:
    """(share of R² per driver, R², variance explained per driver)."""
    raw = relative_weights(x, y)
    per_driver = np.bincount(groups, weights=raw, minlength=k)
    r2 = float(per_driver.sum())
    return (per_driver / r2 if r2 > 0 else np.full(k, np.nan)), r2, per_driver


QUADRANT_WORDS = {
    "fix_first": {"en": "fix first", "nl": "eerst verbeteren"},
    "keep_up": {"en": "keep up", "nl": "zo houden"},
    "nice_to_have": {"en": "nice to have", "nl": "mooi meegenomen"},
    "low_priority": {"en": "low priority", "nl": "lage prioriteit"},
}


@dataclass(repr=False)
class NpsDriversResult(Result):
    """Drivers of the overall score; columns: see ``DRIVER_COLUMNS``, most important first."""

    frame: pd.DataFrame
    target: str = "nps"
    customers: int = 0
    r2: float = math.nan
    r2_low: float = math.nan
    r2_high: float = math.nan
    bootstrap: int = 200
    reference: float = math.nan  # the target's position on its scale: the performance bar
    later_events: int = 0  # bad-experience events at or after the customer's answer, left out
    later_answers: int = 0  # touchpoint answers at or after the customer's answer, left out

    def display(self) -> Table:
        columns = [
            Column("driver", "text", "driver", "drijfveer"),
            Column("n", "count", "n", priority=6),
            Column("importance", "share", "share of R²", "aandeel in R²"),
            interval("importance_low", "importance_high", "share", 5),
            Column("performance", "share", "performance", "prestatie", 7),
            Column("quadrant", "text", "what to do", "wat te doen", values=QUADRANT_WORDS),
            Column("correlation", "number", "correlation", "correlatie", wide=True),
            Column("mean", "number", "mean", "gemiddelde", wide=True),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("drivers", "drijfveren"))

    @property
    def how(self) -> str:
        return (
            f"{self.customers} customers' latest {self.target.upper()} answer regressed on what "
            "happened before it (mean touchpoint scores, missing ones mean-imputed with an "
            "indicator; counts of bad-experience events); left out as happening at or after "
            f"the answer: {self.later_events} events and {self.later_answers} answers; "
            "importance = Johnson's relative weights as share of R², 95% intervals from "
            f"{self.bootstrap} bootstrap resamples of customers; important = at least an equal "
            f"share of R² and the variance explained (share × R²) at least {MIN_EXPLAINED:.0%} "
            "at the lower end of its interval; performing = performance (0–1) at least the "
            "target's own position on its scale ("
            + (f"{self.reference:.2f}" if self.reference == self.reference else "0.50: no scale")
            + ")"
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
                    "reference": self.reference,
                    "min_explained": MIN_EXPLAINED,
                    "later_events": self.later_events,
                    "later_answers": self.later_answers,
                }
            ),
            "how": self.how,
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        metric = self.target.upper()
        n = fmt_num(self.customers, lang)
        if self.frame.empty:
            if self.customers < 3:
                return (
                    f"Too few {metric} answers for a key-driver analysis ({n} customers)."
                    if lang == "en"
                    else f"Te weinig {metric}-antwoorden voor een driveranalyse ({n} klanten)."
                )
            return (
                f"No drivers to explain {metric} with ({n} customers): no other touchpoint scores "
                f"from at least {MIN_ANSWERS} customers and no bad-experience events before "
                "their answers."
                if lang == "en"
                else f"Geen drivers om {metric} mee te verklaren ({n} klanten): geen andere "
                f"scores per contactmoment van minstens {MIN_ANSWERS} klanten en geen slechte "
                "ervaringen vóór hun antwoorden."
            )
        r2, r2_interval = fmt_interval(
            self.r2, self.r2_low, self.r2_high, lang, reference=0.0, percent=True
        )
        r2_text = (
            f"{r2} (95% interval {r2_interval})"
            if lang == "en"
            else (f"{r2} (95%-interval {r2_interval})")
        )
        if self.r2_low != self.r2_low:  # no bootstrap: no interval
            r2_text = r2
        fix = self.frame[self.frame["quadrant"] == "fix_first"]
        names = ", ".join(self._driver(row, lang) for row in fix.itertuples())
        if lang == "en":
            first = (
                f"Fix first (important and performing below the overall score): {names}."
                if names
                else "No driver is both important and performing below the overall score."
            )
            text = (
                f"The drivers explain {r2_text} of the variation in {metric} across {n} "
                f"customers. {first}"
            )
        else:
            first = (
                f"Eerst verbeteren (belangrijk en slechter dan de totaalscore): {names}."
                if names
                else "Geen driver is zowel belangrijk als slechter dan de totaalscore."
            )
            text = (
                f"De drivers verklaren {r2_text} van de variatie in {metric} over {n} "
                f"klanten. {first}"
            )
        return text + self._left_out(lang)

    def _driver(self, row: Any, lang: str) -> str:
        share, interval = fmt_interval(
            row.importance, row.importance_low, row.importance_high, lang, percent=True
        )
        if row.importance_low != row.importance_low:
            return (
                f"{row.driver} ({share} of R²)"
                if lang == "en"
                else f"{row.driver} ({share} van R²)"
            )
        if lang == "en":
            return f"{row.driver} ({share} of R², 95% interval {interval}; n = {row.n})"
        return f"{row.driver} ({share} van R², 95%-interval {interval}; n = {row.n})"

    def _left_out(self, lang: str) -> str:
        if not (self.later_events or self.later_answers):
            return ""
        events, answers = fmt_num(self.later_events, lang), fmt_num(self.later_answers, lang)
        if lang == "en":
            return (
                f" Left out as happening at or after the {self.target.upper()} answer: "
                f"{events} bad-experience event{'' if self.later_events == 1 else 's'} and "
                f"{answers} touchpoint answer{'' if self.later_answers == 1 else 's'}."
            )
        return (
            f" Weggelaten omdat ze op of na het {self.target.upper()}-antwoord vielen: "
            f"{events} slechte ervaring{'' if self.later_events == 1 else 'en'} en "
            f"{answers} antwoord{'' if self.later_answers == 1 else 'en'} per contactmoment."
        )


def main_metric(ws: Any) -> str | None:
    """The workspace's main score: NPS with enough answers, else the most answered metric."""
    fb = ws.feedback
    answered = fb.filter(fb.score.notnull() & fb.customer_id.notnull())
    counts = answered.group_by("metric").aggregate(n=answered.count()).execute()
    if counts.empty:
        return None
    counts = counts.sort_values(["n", "metric"], ascending=[False, True], kind="stable")
    nps = counts.loc[counts["metric"] == "nps", "n"]
    if len(nps) and int(nps.iloc[0]) >= MIN_TARGET_ANSWERS:
        return "nps"
    return str(counts["metric"].iloc[0])


def _check_target(ws: Any, target: str | None) -> str:
    if target is None:
        return main_metric(ws) or "nps"
    fb = ws.feedback
    seen = sorted(
        fb.filter(fb.score.notnull()).select("metric").distinct().execute()["metric"].tolist()
    )
    if seen and target not in seen:
        raise ValueError(
            f"no {target!r} answers in this workspace; its scored metrics are: {', '.join(seen)}"
        )
    return target


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
    ws: Any, target: str | None = None, bootstrap: int = 200, seed: int = 0
) -> NpsDriversResult:
    """Key drivers of the latest ``target`` answer per customer (see the module description).

    ``target`` defaults to the workspace's main metric (:func:`main_metric`); a metric the
    workspace has no answers on is refused, naming the ones it has.
    """
    target = _check_target(ws, target)
    latest = _latest_target(ws, target)
    fb = ws.feedback
    rated = fb.filter(
        fb.touchpoint.notnull()
        & fb.score.notnull()
        & (fb.metric != target)
        & fb.customer_id.notnull()
    )
    rated_all = rated.join(latest, "customer_id")
    later_answers = rated_all.filter(rated_all.ts >= rated_all.target_ts).count()
    rated = rated_all.filter(rated_all.ts < rated_all.target_ts)
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
    later_events = 0
    if bad_tps:
        events = ws.events.filter(ws.events.touchpoint.isin(bad_tps))
        joined = events.join(latest, "customer_id")
        later_events = int(joined.filter(joined.ts >= joined.target_ts).count().execute())
        before = joined.filter(joined.ts < joined.target_ts)
        counts = before.group_by("customer_id").aggregate(
            **{f"e{j}": count_true(before.touchpoint == tp) for j, tp in enumerate(bad_tps)}
        )
        table = table.left_join(counts, "customer_id").drop("customer_id_right")
    # in customer order: the engine returns rows in any order, and the bootstrap resamples by
    # position, so the same data must give the same interval every time
    frame = table.order_by("customer_id").execute()
    left_out = {"later_events": later_events, "later_answers": int(later_answers.execute())}
    reference = _position(ws, target, pd.to_numeric(frame["target_score"]).astype(float))

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
            performance = _position(ws, metric, pd.Series([mean]))
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
            reference=reference,
            **left_out,
        )
    x = np.column_stack(columns)
    group_index = np.array(groups)
    k = len(rows)
    shares, r2, explained = _grouped_shares(x, y, group_index, k)
    rng = np.random.default_rng(seed)
    boot_shares, boot_r2, boot_explained = [], [], []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(y), len(y))
        s, r, e = _grouped_shares(x[idx], y[idx], group_index, k)
        boot_shares.append(s)
        boot_r2.append(r)
        boot_explained.append(e)
    if boot_shares:
        low, high = np.nanpercentile(np.array(boot_shares), [2.5, 97.5], axis=0)
        r2_low, r2_high = (float(v) for v in np.nanpercentile(boot_r2, [2.5, 97.5]))
        explained_low = np.nanpercentile(np.array(boot_explained), 2.5, axis=0)
    else:
        low = high = np.full(k, np.nan)
        r2_low = r2_high = math.nan
        explained_low = explained  # no interval: the estimate itself must clear the floor

    result = pd.DataFrame(rows)
    result["importance"] = shares
    result["importance_low"] = low
    result["importance_high"] = high
    result["explained"] = explained
    result["explained_low"] = explained_low
    result["quadrant"] = quadrants(
        result["importance"], result["explained_low"], result["performance"], reference
    )
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
        reference=reference,
        **left_out,
    )


def _position(ws: Any, metric: str, scores: pd.Series) -> float:
    """The mean score's place on its scale, 0 (worst) to 1 (best); NaN without a scale."""
    scale = ws.journey.scale(metric)
    if scale is None or scale.max <= scale.min or scores.empty:
        return math.nan
    position = (float(scores.mean()) - scale.min) / (scale.max - scale.min)
    return position if scale.higher_is_easier else 1 - position


def quadrants(
    importance: pd.Series,
    explained_low: pd.Series,
    performance: pd.Series,
    reference: float = math.nan,
) -> list[str]:
    """Importance × performance quadrant of each driver, from fixed criteria (module docs).

    ``importance``: share of R²; ``explained_low``: lower end of the variance it explains;
    ``performance`` against ``reference`` (½ when unknown). A driver without a performance
    counts as not performing: nobody can say it does well.
    """
    k = len(importance)
    bar = 0.5 if reference != reference else reference
    important = (importance >= 1 / k - 1e-9) & (explained_low >= MIN_EXPLAINED) if k else importance
    performing = performance >= bar
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
