"""Which metric a text analysis reads, and how its answers split into detractors and promoters.

Themes and phrases work on the metrics the workspace has. The **main metric** is NPS when at
least :data:`ENOUGH_ANSWERS` NPS answers carry a comment; otherwise the scored metric with the
most commented answers (a star rating, CSAT, ...); a workspace with comments but no scores
(metric ``text``: tickets, social posts) gets its most commented metric, volume only.

Groups: for NPS, detractors 0–6, passives 7–8, promoters 9–10 (on the 0–10 scale). For another
metric with a scale, detractors are answers at or below the journey's bad-experience threshold
for it (``[bad_experience] rating_at_most = 2``), or the bottom quarter of the scale when the
journey sets none; promoters are the scale's top box (the top quarter: 4–5 on 1–5). A metric
without a scale is split at the quartiles of its own answers. :func:`describe_groups` says which
rule was used, in English or Dutch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cxray.analysis._common import check_lang, count_true, fmt_num
from cxray.analysis.metrics import KIND_NPS, MetricRule

ALL_METRICS = "all"
ENOUGH_ANSWERS = 30  # fewer NPS answers are "too few to trust" (docs/methods.md)


@dataclass(frozen=True)
class MetricCounts:
    """Per metric: answers, answers with a score, answers with a comment, scored with a comment."""

    metric: str
    answers: int
    scored: int
    comments: int
    scored_comments: int


def metric_counts(ws: Any) -> list[MetricCounts]:
    """The metrics in the feedback table with their answer counts (one small engine query)."""
    feedback = ws.feedback
    has_comment = feedback.comment.notnull() & (feedback.comment.strip().length() > 0)
    counts = (
        feedback.group_by("metric")
        .aggregate(
            answers=feedback.count(),
            scored=count_true(feedback.score.notnull()),
            comments=count_true(has_comment),
            scored_comments=count_true(has_comment & feedback.score.notnull()),
        )
        .execute()
    )
    rows = [
        MetricCounts(
            str(r.metric), int(r.answers), int(r.scored), int(r.comments), int(r.scored_comments)
        )
        for r in counts.itertuples()
        if isinstance(r.metric, str)
    ]
    return sorted(rows, key=lambda c: c.metric)


def main_metric(ws: Any, counts: list[MetricCounts] | None = None) -> str:
    """The metric text analyses use by default (see the module docstring)."""
    counts = metric_counts(ws) if counts is None else counts
    by_name = {c.metric: c for c in counts}
    nps = by_name.get("nps")
    if nps is not None and nps.scored_comments >= ENOUGH_ANSWERS:
        return "nps"
    scored = [c for c in counts if c.scored_comments > 0]
    if scored:  # the most commented scored metric; NPS first on a tie
        return max(scored, key=lambda c: (c.scored_comments, c.metric == "nps", c.metric)).metric
    commented = [c for c in counts if c.comments > 0] or counts
    if not commented:
        return "nps"
    return max(commented, key=lambda c: (c.comments, c.metric)).metric


def check_metric(ws: Any, metric: str | None, counts: list[MetricCounts] | None = None) -> str:
    """``metric`` when the feedback has it, the main metric for None, ``all`` as is.

    Raises ValueError naming the metrics present for a metric the feedback does not have.
    """
    counts = metric_counts(ws) if counts is None else counts
    if metric is None:
        return main_metric(ws, counts)
    if metric == ALL_METRICS:
        return metric
    present = [c.metric for c in counts]
    if metric not in present and counts:
        raise ValueError(
            f"no feedback with metric {metric!r}; the metrics present are: "
            f"{', '.join(present)} (or {ALL_METRICS})"
        )
    return metric


def groups(rule: MetricRule, scores: np.ndarray, threshold: float | None) -> list[str]:
    """Detractor / passive / promoter per answer (see the module docstring)."""
    if rule.kind == KIND_NPS:
        on_ten = rule.on_ten(scores)
        return ["promoters" if s >= 9 else "detractors" if s <= 6 else "passives" for s in on_ten]
    top = rule.top_box(scores)
    if top is None:  # no scale: split at the quartiles of the answers themselves
        if len(scores) == 0:
            return []
        lower, upper = np.quantile(scores, [0.25, 0.75])
        return [
            "detractors" if s <= lower else "promoters" if s >= upper else "passives"
            for s in scores
        ]
    return [
        "promoters"
        if is_top
        else "detractors"
        if s <= bad_threshold(rule, threshold) + 1e-9
        else "passives"
        for s, is_top in zip(scores, top, strict=True)
    ]


def bad_threshold(rule: MetricRule, threshold: float | None) -> float:
    """The highest score that makes a detractor: the journey's threshold or the bottom quarter."""
    if threshold is not None and not (isinstance(threshold, float) and math.isnan(threshold)):
        return float(threshold)
    scale = rule.scale
    return scale.min + (scale.max - scale.min) / 4 if scale else -math.inf


def describe_groups(rule: MetricRule, threshold: float | None, lang: str = "en") -> str:
    """How answers of ``rule``'s metric became detractors and promoters, in plain words."""
    check_lang(lang)
    name = rule.name
    if rule.kind == KIND_NPS:
        return (
            "detractors: NPS 0–6, promoters: 9–10"
            if lang == "en"
            else "criticasters: NPS 0–6, promotors: 9–10"
        )
    if rule.scale is None:
        return (
            f"detractors: the lowest quarter of the {name} answers, promoters: the highest quarter"
            if lang == "en"
            else f"criticasters: het laagste kwart van de {name}-antwoorden, promotors: het "
            "hoogste kwart"
        )
    span = rule.scale.max - rule.scale.min
    whole = float(rule.scale.min).is_integer() and float(rule.scale.max).is_integer()
    top_value = rule.scale.max - span / 4
    # on a scale of whole numbers the top box starts at the first whole answer inside it
    top = fmt_num(math.ceil(top_value - 1e-9), lang) if whole else fmt_num(top_value, lang, 1)
    bad_value = bad_threshold(rule, threshold)
    bad = fmt_num(math.floor(bad_value + 1e-9), lang) if whole else fmt_num(bad_value, lang, 1)
    given = threshold is not None and not (isinstance(threshold, float) and math.isnan(threshold))
    scale = f"{fmt_num(rule.scale.min, lang)}–{fmt_num(rule.scale.max, lang)}"
    if lang == "en":
        source = "the journey's bad-experience threshold" if given else "bottom quarter"
        return (
            f"detractors: {name} ≤ {bad} ({source}), promoters: {name} ≥ {top} (top box of {scale})"
        )
    source = "drempel voor een slechte ervaring" if given else "onderste kwart"
    return (
        f"criticasters: {name} ≤ {bad} ({source}), promotors: {name} ≥ {top} (topbox van {scale})"
    )
