"""How customers experience each touchpoint: NPS, CES, CSAT and other ratings, with intervals.

``metrics(ws, ...)`` gives each score overall or per touchpoint, phase, channel, segment, month or
customer attribute, always with its n, a 95% interval and a flag when n is too small to trust.
``compare(ws, ...)`` tests which differences between two periods, or between each group and the
rest, are real, with the false-discovery rate controlled (Benjamini–Hochberg).

Counting runs in the engine (answers per metric, group and score); the intervals and tests are
computed on that small table.

Definitions (scales from the journey file's ``[scales]``):

- **NPS**: answers are placed on the 0–10 scale (a configured NPS scale is mapped onto it
  linearly); promoters score 9–10, detractors 0–6. NPS = 100 × (share of promoters − share of
  detractors), in points from −100 to +100.
- **CSAT**: the share of the top two boxes (4–5 on a 1–5 scale; in general scores at or above
  max − (max − min)/4), in percent.
- **CES**: the mean score, plus the share of "easy" answers: at or above min + ⅔ (max − min) when
  higher is easier (5–7 on 1–7), at or below min + ⅓ (max − min) when lower is easier (1–3).
- **Other ratings** (``rating`` or any metric with a scale): the mean, plus the top-box share as
  for CSAT. A metric without a configured scale gets its mean only.

Intervals (95%):

- **NPS**: the adjusted Wald interval of Rocks (2016, *The American Statistician* 70(4)): add ¾ of
  an answer to the promoters and ¾ to the detractors (3 answers in all, the rest to the
  passives) and use the multinomial variance (p₊ + p₋ − (p₊ − p₋)²)/n; widened where needed to
  contain the observed score (only at tiny n) and clipped to [−100, 100]. The plain Wald interval
  from the same variance on the raw counts undercovers at small n (exact coverage averaged over
  true shares: 81% at n = 5, 88% at n = 10, 93% at n = 30, against 95% for the adjusted one; with
  all answers alike it has width zero); it is reported next to it as ``wald_low``/``wald_high``.
- **CSAT / top-box shares**: the Wilson score interval.
- **Means**: the t-interval (none for n = 1).

Scores outside a metric's configured scale are left out and counted in the result's parameters.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from cxray.analysis._common import (
    ALL,
    MISSING,
    check_lang,
    customer_attribute,
    fmt_num,
    interval_digits,
    time_bounds,
    touchpoint_table,
    within,
)
from cxray.journey import UNASSIGNED, Scale
from cxray.results import (
    Column,
    Result,
    Table,
    frame_records,
    group_column,
    interval,
    jsonable,
    missing_label,
)

CONFIDENCE = 0.95
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
NPS_INTERVAL = "adjusted-wald"  # Rocks (2016): +3/4 promoter, +3/4 detractor, n + 3
NPS_PSEUDO = 0.75
# groupings with their own meaning; any other ``by`` is read as a customer attribute
BUILT_IN_BY = ("touchpoint", "phase", "channel", "segment", "month")

# what the headline score of each kind of metric is
KIND_NPS, KIND_SHARE, KIND_MEAN = "nps", "share", "mean"
UNITS = {KIND_NPS: "points", KIND_SHARE: "percent", KIND_MEAN: "mean"}
METHODS = {KIND_NPS: "adjusted Wald", KIND_SHARE: "Wilson", KIND_MEAN: "t"}

METRIC_COLUMNS = [
    "metric",
    "group",
    "n",
    "score",
    "low",
    "high",
    "method",
    "unit",
    "too_few",
    "promoters",
    "passives",
    "detractors",
    "wald_low",
    "wald_high",
    "top_box",
    "easy",
    "mean",
    "sd",
]
COMPARE_COLUMNS = [
    "group",
    "n",
    "score",
    "n_ref",
    "score_ref",
    "difference",
    "diff_low",
    "diff_high",
    "statistic",
    "p_value",
    "q_value",
    "significant",
    "too_few",
]


# -- interval formulas (small, pure; tested against their textbook forms) ------------------
def nps_wald(promoters: float, detractors: float, n: float, z: float = Z) -> tuple[float, float]:
    """Wald interval for NPS (in points) from the multinomial variance."""
    if n <= 0:
        return math.nan, math.nan
    p_pro, p_det = promoters / n, detractors / n
    net = p_pro - p_det
    variance = max(p_pro + p_det - net**2, 0.0) / n
    half = z * math.sqrt(variance)
    return 100 * (net - half), 100 * (net + half)


def nps_adjusted_wald(
    promoters: float, detractors: float, n: float, z: float = Z
) -> tuple[float, float]:
    """Adjusted Wald interval for NPS (Rocks 2016), clipped to [−100, 100]."""
    if n <= 0:
        return math.nan, math.nan
    low, high = nps_wald(promoters + NPS_PSEUDO, detractors + NPS_PSEUDO, n + 4 * NPS_PSEUDO, z)
    # At tiny n the shifted centre can leave the observed score outside (1 promoter of 1:
    # up to +98); widen to include it, which only adds coverage.
    score = 100 * (promoters - detractors) / n
    return max(min(low, score), -100.0), min(max(high, score), 100.0)


def wilson(successes: float, n: float, z: float = Z) -> tuple[float, float]:
    """Wilson score interval for a proportion (as a share, 0–1)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    # exactly 0 (1) with no (only) successes: rounding error must not read as a bound above 0
    low = 0.0 if successes <= 0 else max(centre - half, 0.0)
    high = 1.0 if successes >= n else min(centre + half, 1.0)
    return low, high


def t_interval(mean: float, sd: float, n: float) -> tuple[float, float]:
    if n < 2 or not np.isfinite(sd):
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


# -- metric definitions -------------------------------------------------------------------
@dataclass(frozen=True)
class MetricRule:
    """How one metric turns answers into a score."""

    name: str
    kind: str
    scale: Scale | None

    @classmethod
    def of(cls, name: str, scales: dict[str, Scale]) -> MetricRule:
        scale = scales.get(name)
        if name == "nps":
            return cls(name, KIND_NPS, scale or Scale(0, 10))
        if name == "csat":
            return cls(name, KIND_SHARE, scale or Scale(1, 5))
        return cls(name, KIND_MEAN, scale)

    def in_scale(self, scores: np.ndarray) -> np.ndarray:
        if self.scale is None:
            return np.ones(len(scores), dtype=bool)
        return (scores >= self.scale.min) & (scores <= self.scale.max)

    def on_ten(self, scores: np.ndarray) -> np.ndarray:
        """NPS answers on the 0–10 scale (rounded so 9.0000001 from a rescale still counts)."""
        scale = self.scale or Scale(0, 10)
        return np.round((scores - scale.min) / (scale.max - scale.min) * 10, 9)

    def top_box(self, scores: np.ndarray) -> np.ndarray | None:
        if self.scale is None:
            return None
        span = self.scale.max - self.scale.min
        return scores >= self.scale.max - span / 4 - 1e-9

    def easy(self, scores: np.ndarray) -> np.ndarray | None:
        if self.name != "ces" or self.scale is None:
            return None
        span = self.scale.max - self.scale.min
        if self.scale.higher_is_easier:
            return scores >= self.scale.min + 2 * span / 3 - 1e-9
        return scores <= self.scale.min + span / 3 + 1e-9

    def describe(self) -> str:
        if self.kind == KIND_NPS:
            return "NPS: promoters 9–10 minus detractors 0–6 on 0–10, adjusted Wald interval"
        if self.kind == KIND_SHARE:
            return f"{self.name}: top-two-box share in percent, Wilson interval"
        direction = ""
        if self.name == "ces" and self.scale is not None:
            direction = ", higher is easier" if self.scale.higher_is_easier else ", lower is easier"
        return f"{self.name}: mean with t-interval{direction}"


def _summarise(rule: MetricRule, scores: np.ndarray, counts: np.ndarray, min_n: int) -> dict:
    """One row of the metrics table from the answer counts per score of one group."""
    n = float(counts.sum())
    mean = float((scores * counts).sum() / n)
    sd = float(np.sqrt(((scores - mean) ** 2 * counts).sum() / (n - 1))) if n > 1 else math.nan
    row: dict[str, Any] = {
        "metric": rule.name,
        "n": int(n),
        "method": METHODS[rule.kind],
        "unit": UNITS[rule.kind],
        "too_few": n < min_n,
        "mean": mean,
        "sd": sd,
    }
    top = rule.top_box(scores)
    if top is not None:
        row["top_box"] = float(counts[top].sum() / n)
    easy = rule.easy(scores)
    if easy is not None:
        row["easy"] = float(counts[easy].sum() / n)
    if rule.kind == KIND_NPS:
        ten = rule.on_ten(scores)
        promoters, detractors = float(counts[ten >= 9].sum()), float(counts[ten <= 6].sum())
        row.update(
            promoters=promoters / n,
            passives=(n - promoters - detractors) / n,
            detractors=detractors / n,
            score=100 * (promoters - detractors) / n,
        )
        row["low"], row["high"] = nps_adjusted_wald(promoters, detractors, n)
        row["wald_low"], row["wald_high"] = nps_wald(promoters, detractors, n)
    elif rule.kind == KIND_SHARE:
        successes = float(counts[top].sum())
        low, high = wilson(successes, n)
        row.update(score=100 * successes / n, low=100 * low, high=100 * high)
    else:
        row["score"] = mean
        low, high = t_interval(mean, sd, n)
        if rule.scale is not None:  # a mean cannot leave its scale
            low, high = max(low, rule.scale.min), min(high, rule.scale.max)
        row["low"], row["high"] = low, high
    return row


# -- counting in the engine ---------------------------------------------------------------
def known_metrics(ws: Any) -> list[str]:
    """Metrics with scored answers in the workspace, and those the journey has a scale for."""
    fb = ws.feedback
    seen = fb.filter(fb.score.notnull()).select("metric").distinct().execute()["metric"]
    return sorted({str(m) for m in seen.dropna()} | set(ws.journey.scales))


def check_metric(ws: Any, metric: str) -> None:
    """Refuse a metric nobody answered and no scale defines, naming the known ones."""
    known = known_metrics(ws)
    if metric not in known:
        close = difflib.get_close_matches(metric, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown metric {metric!r}{hint}; known metrics: {', '.join(known) or 'none'}"
        )


def _grouped_feedback(ws: Any, metrics: list[str] | None, by: str | None) -> ir.Table:
    """Scored feedback with a ``group`` column for ``by`` (metric, score, ts, group)."""
    feedback = ws.feedback.filter(ws.feedback.score.notnull())
    if metrics is not None:
        feedback = feedback.filter(feedback.metric.isin(metrics))
    base = feedback.select("metric", "score", "ts", "customer_id", "touchpoint", "event_id")
    if by is None:
        return base.mutate(group=ibis.literal(ALL))
    if by == "month":
        # truncated here, written as YYYY-MM on the small result (portable across engines)
        return base.mutate(group=base.ts.truncate("M"))
    if by in ("touchpoint", "phase", "channel"):
        events = ws.events.select(
            event_id_ev="event_id", touchpoint_ev="touchpoint", channel_ev="channel"
        )
        joined = base.left_join(events, base.event_id == events.event_id_ev)
        # the feedback's own touchpoint first; else the touchpoint of the event it answers
        joined = joined.mutate(touchpoint=ibis.coalesce(joined.touchpoint, joined.touchpoint_ev))
        touchpoints = touchpoint_table(ws.journey)
        joined = joined.left_join(touchpoints, "touchpoint").drop("touchpoint_right")
        if by == "touchpoint":
            group = joined.touchpoint
        elif by == "phase":
            group = joined.touchpoint.notnull().ifelse(
                joined.phase.fill_null(UNASSIGNED), ibis.null("string")
            )
        else:
            group = ibis.coalesce(joined.tp_channel, joined.channel_ev)
        return joined.select("metric", "score", "ts", group=group)
    attribute = customer_attribute(ws, by)
    joined = base.left_join(attribute, base.customer_id == attribute.customer_id)
    return joined.select("metric", "score", "ts", "group")


def _score_counts(table: ir.Table, by: str | None, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    counts = (
        table.group_by(["metric", "group", *extra, "score"])
        .aggregate(count=ibis._.count())
        .execute()
    )
    if by == "month" and len(counts):
        months = pd.to_datetime(counts["group"], utc=True)
        counts["group"] = months.dt.strftime("%Y-%m")
    counts["group"] = counts["group"].astype("object").where(counts["group"].notna(), MISSING)
    return counts


def _rules(ws: Any, names: list[str]) -> dict[str, MetricRule]:
    return {name: MetricRule.of(name, ws.journey.scales) for name in names}


def _drop_out_of_scale(
    counts: pd.DataFrame, rules: dict[str, MetricRule]
) -> tuple[pd.DataFrame, int]:
    keep = np.ones(len(counts), dtype=bool)
    for name, rule in rules.items():
        rows = (counts["metric"] == name).to_numpy()
        keep[rows] = rule.in_scale(counts.loc[rows, "score"].to_numpy(dtype=float))
    return counts[keep], int(counts.loc[~keep, "count"].sum())


# -- results ------------------------------------------------------------------------------
def _label(metric: str) -> str:
    return metric.upper() if metric in ("nps", "ces", "csat") else metric


def _fmt_score(value: float, unit: str, lang: str, digits: int = 0) -> str:
    if unit == "points":
        return ("+" if value > 0 else "") + fmt_num(value, lang, digits)
    if unit == "percent":
        return f"{fmt_num(value, lang, digits)}%"
    return fmt_num(value, lang, max(2, digits))


@dataclass(repr=False)
class MetricsResult(Result):
    """Experience scores with n and interval. Columns: see ``METRIC_COLUMNS``."""

    frame: pd.DataFrame
    metric: str | None = None
    by: str | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    min_n: int = 30
    out_of_scale: int = 0
    definitions: dict[str, str] = field(default_factory=dict)
    nps_interval: str = NPS_INTERVAL

    def display(self) -> Table:
        names = {m: {"en": _label(m), "nl": _label(m)} for m in self.frame.get("metric", [])}
        columns = [Column("metric", "text", "metric", "metriek", values=names)]
        if self.by is not None:
            columns.append(group_column(self.by))
        columns += [
            Column("n", "count", "n"),
            Column("score", "score", "score", unit_key="unit"),
            interval("low", "high", "score", unit_key="unit"),
            Column("too_few", "flag", f"n < {self.min_n}", priority=6),
            Column("promoters", "share", "promoters", "promotors", wide=True),
            Column("detractors", "share", "detractors", "criticasters", wide=True),
            Column("method", "text", "interval method", "intervalmethode", wide=True),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("groups", "groepen"))

    @property
    def how(self) -> str:
        n = int(self.frame["n"].sum()) if len(self.frame) else 0
        parts = list(self.definitions.values()) or ["no scored feedback"]
        return (
            f"{n} answers; "
            + "; ".join(parts)
            + f"; 95% intervals; groups with n < {self.min_n} flagged too_few"
            + (
                f"; {self.out_of_scale} answers outside the scale left out"
                if self.out_of_scale
                else ""
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": frame_records(self.frame),
            "params": jsonable(
                {
                    "metric": self.metric,
                    "by": self.by,
                    "start": self.start,
                    "end": self.end,
                    "min_n": self.min_n,
                    "confidence": CONFIDENCE,
                    "nps_interval": self.nps_interval,
                    "out_of_scale": self.out_of_scale,
                }
            ),
            "how": self.how,
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        if self.frame.empty:
            return (
                "No scored feedback to report."
                if lang == "en"
                else ("Geen feedback met een score om te rapporteren.")
            )
        return " ".join(
            self._sentence(metric, rows, lang)
            for metric, rows in self.frame.groupby("metric", sort=False)
        )

    def _sentence(self, metric: str, rows: pd.DataFrame, lang: str) -> str:
        label, unit = _label(metric), rows["unit"].iloc[0]
        # a group without a value says what is missing: "(no touchpoint)", not "(missing)"
        rows = rows.assign(group=rows["group"].replace({MISSING: missing_label(self.by, lang)}))

        def scored(row: pd.Series) -> str:
            # enough decimals that the bounds differ from each other and from the score
            base = 2 if unit == "mean" else 0
            digits = interval_digits(row["score"], row["low"], row["high"], base)
            interval = (
                f"{_fmt_score(row['low'], unit, lang, digits)}–"
                f"{_fmt_score(row['high'], unit, lang, digits)}"
                if pd.notna(row["low"])
                else "–"
            )
            score = _fmt_score(row["score"], unit, lang, digits)
            return f"{score} ({interval}, n = {fmt_num(row['n'], lang)})"

        if self.by is None:
            row = rows.iloc[0]
            text = f"{label}: {scored(row)}."
            if row["too_few"]:
                text += (
                    " Too few answers to trust."
                    if lang == "en"
                    else " Te weinig antwoorden om op te vertrouwen."
                )
            return text
        trusted = rows[~rows["too_few"]].sort_values(["score", "group"], ascending=[False, True])
        few = int(rows["too_few"].sum())
        if lang == "en":
            text = f"{label} by {self.by}: "
            if len(trusted) >= 2:
                best, worst = trusted.iloc[0], trusted.iloc[-1]
                text += (
                    f"highest for {best['group']} {scored(best)}, "
                    f"lowest for {worst['group']} {scored(worst)}."
                )
            elif len(trusted) == 1:
                text += f"{trusted.iloc[0]['group']} {scored(trusted.iloc[0])}."
            else:
                text += "no group has enough answers to trust."
            if few:
                text += f" {few} of {len(rows)} groups have fewer than {self.min_n} answers."
            return text
        text = f"{label} per {self.by}: "
        if len(trusted) >= 2:
            best, worst = trusted.iloc[0], trusted.iloc[-1]
            text += (
                f"het hoogst bij {best['group']} {scored(best)}, "
                f"het laagst bij {worst['group']} {scored(worst)}."
            )
        elif len(trusted) == 1:
            text += f"{trusted.iloc[0]['group']} {scored(trusted.iloc[0])}."
        else:
            text += "geen groep heeft genoeg antwoorden om op te vertrouwen."
        if few:
            text += f" {few} van {len(rows)} groepen hebben minder dan {self.min_n} antwoorden."
        return text


def metrics(
    ws: Any,
    metric: str | None = None,
    by: str | None = None,
    start: Any = None,
    end: Any = None,
    min_n: int = 30,
) -> MetricsResult:
    """NPS, CES, CSAT and other ratings, overall or per group, with n and a 95% interval.

    ``metric``: one metric, or None for every metric with scored feedback. ``by``: touchpoint
    (the feedback's touchpoint, else that of the event it answers), phase, channel (the
    touchpoint's configured channel, else the event's), segment, month (of the answer), or any
    customer attribute (a customers column or a key of its ``attributes``). ``start``/``end``
    limit the answers to [start, end); a plain date as ``end`` includes that day. Groups with
    fewer than ``min_n`` answers are flagged ``too_few``. Definitions and intervals: see the
    module documentation.
    """
    if metric:
        check_metric(ws, metric)
    lower, upper = time_bounds(start, end)
    table = _grouped_feedback(ws, [metric] if metric else None, by)
    table = table.filter(within(table.ts, lower, upper))
    counts = _score_counts(table, by)
    rules = _rules(ws, sorted(counts["metric"].unique()) if len(counts) else [])
    counts, out_of_scale = _drop_out_of_scale(counts, rules)
    rows = []
    for (name, group), part in counts.groupby(["metric", "group"], sort=True):
        row = _summarise(
            rules[name], part["score"].to_numpy(float), part["count"].to_numpy(float), min_n
        )
        row["group"] = group
        rows.append(row)
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    if len(frame):
        # metrics by name; within a metric months in time order, other groups largest first
        if by == "month":
            frame = frame.sort_values(["metric", "group"])
        else:
            frame = frame.sort_values(["metric", "n", "group"], ascending=[True, False, True])
        frame = frame.reset_index(drop=True)
    return MetricsResult(
        frame=frame,
        metric=metric,
        by=by,
        start=lower,
        end=upper,
        min_n=min_n,
        out_of_scale=out_of_scale,
        definitions={name: rule.describe() for name, rule in rules.items()},
    )


# Comparing lives in its own module; re-exported here, where callers have always found it.
from cxray.analysis.compare import (  # noqa: E402, F401
    ComparisonResult,
    benjamini_hochberg,
    compare,
)
