"""The words that set detractors apart from promoters (or any two groups of answers).

``phrases(ws, ...)`` compares the lemma n-grams (stop words left out) of the comments of two
groups of answers with the log-odds ratio with an informative Dirichlet prior of Monroe,
Colaresi & Quinn (2008, *Political Analysis* 16(4), "Fightin' words"):

- prior pseudo-count of phrase w: α_w = α₀ · y_w / n, with y_w the phrase's count in all comments
  of the metric (in that language) and n the total count, so α₀ says how many words the prior
  is worth;
- log-odds in group a: log((y_aw + α_w) / (n_a + α₀ − y_aw − α_w)), likewise for b; δ_w is the
  difference (a − b);
- variance ≈ 1/(y_aw + α_w) + 1/(y_bw + α_w); z_w = δ_w / √variance.

Because the prior shrinks phrases seen only a few times towards "no difference" and z divides
by the uncertainty, rare words do not dominate the list the way they do in plain frequency
ratios. Phrases are compared within each language (lemmas of different languages do not mix)
unless ``by_language=False``.

Which answers: those of ``metric``; by default the workspace's main scored metric (NPS when it
has enough commented answers, else e.g. the star rating), ``"all"`` pools every metric. Groups
(:mod:`cxray.analysis.feedback_groups`): for NPS, detractors (0–6), passives (7–8) and promoters
(9–10) on the 0–10 scale. For other metrics, detractors are answers at or below the journey's
bad-experience threshold for that metric (the bottom quarter of the scale when none is set),
promoters the top box; the result says which (``groups``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxray.analysis._common import check_lang, fmt_num
from cxray.analysis.feedback_groups import (
    ALL_METRICS,
    check_metric,
    describe_groups,
    metric_counts,
)
from cxray.analysis.feedback_groups import (
    groups as answer_groups,
)
from cxray.analysis.metrics import MetricRule
from cxray.analysis.text import DEFAULT_LANGUAGES, analyse_all, ngrams
from cxray.results import Column, Result, Table, frame_records, jsonable

GROUPS = ("detractors", "passives", "promoters")
ALL_LANGUAGES = "all"
DEFAULT_PRIOR = 100.0
PHRASE_COLUMNS = ["phrase", "language", "count_a", "count_b", "log_odds", "z", "favours"]
GROUP_WORDS = {
    "en": {"detractors": "detractors", "passives": "passives", "promoters": "promoters"},
    "nl": {"detractors": "criticasters", "passives": "passieven", "promoters": "promotors"},
}


def fightin_words(
    counts_a: Mapping[str, int],
    counts_b: Mapping[str, int],
    background: Mapping[str, int] | None = None,
    prior: float = DEFAULT_PRIOR,
) -> pd.DataFrame:
    """Log-odds ratio with informative Dirichlet prior, per phrase (a against b).

    ``background`` holds the corpus counts the prior comes from (a + b when not given);
    ``prior`` is α₀, the prior's total weight. Columns: phrase, count_a, count_b, log_odds, z
    (positive: more typical of a).
    """
    if background is None:
        background = Counter(counts_a) + Counter(counts_b)
    vocabulary = sorted(set(counts_a) | set(counts_b))
    columns = ["phrase", "count_a", "count_b", "log_odds", "z"]
    total_background = float(sum(background.values()))
    if not vocabulary or total_background <= 0:
        return pd.DataFrame(columns=columns)
    y_a = np.array([counts_a.get(w, 0) for w in vocabulary], dtype=float)
    y_b = np.array([counts_b.get(w, 0) for w in vocabulary], dtype=float)
    y_prior = np.array([background.get(w, 0) for w in vocabulary], dtype=float)
    # a phrase missing from the background still needs a positive pseudo-count
    y_prior = np.where(y_prior > 0, y_prior, y_a + y_b)
    alpha = prior * y_prior / max(total_background, float(y_prior.sum()))
    n_a, n_b = y_a.sum(), y_b.sum()
    if len(vocabulary) == 1:  # every word is this phrase in both groups: nothing to tell apart
        delta, variance = np.zeros(1), np.ones(1)
    else:
        # the rest of the vocabulary's counts plus prior; positive when the background covers
        # the groups (floored for a background that does not)
        rest_a = np.maximum(n_a + prior - y_a - alpha, 1e-12)
        rest_b = np.maximum(n_b + prior - y_b - alpha, 1e-12)
        delta = (np.log(y_a + alpha) - np.log(rest_a)) - (np.log(y_b + alpha) - np.log(rest_b))
        variance = 1.0 / (y_a + alpha) + 1.0 / (y_b + alpha)
    return pd.DataFrame(
        {
            "phrase": vocabulary,
            "count_a": y_a.astype(int),
            "count_b": y_b.astype(int),
            "log_odds": delta,
            "z": delta / np.sqrt(variance),
        }
    )


@dataclass(repr=False)
class PhrasesResult(Result):
    """Distinguishing phrases: the top of each side, per language."""

    frame: pd.DataFrame
    metric: str | None
    group_a: str
    group_b: str
    comments: dict[str, int] = field(default_factory=dict)  # per group
    parameters: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # metric -> {en, nl}

    def display(self) -> Table:
        en, nl = GROUP_WORDS["en"], GROUP_WORDS["nl"]
        favours = {g: {"en": en[g], "nl": nl[g]} for g in GROUPS}
        a, b = self.group_a, self.group_b
        columns = [
            Column("phrase", "text", "phrase", "woordgroep"),
            Column("language", "text", "language", "taal", 3),
            Column("count_a", "count", f"with {en.get(a, a)}", f"bij {nl.get(a, a)}", 8),
            Column("count_b", "count", f"with {en.get(b, b)}", f"bij {nl.get(b, b)}", 8),
            Column("z", "number", "z", priority=6),
            Column("log_odds", "number", "log-odds", priority=2),
            Column("favours", "text", "typical of", "typisch voor", values=favours),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("phrases", "woordgroepen"))

    def how(self) -> str:
        return (
            "Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008) "
            f"on lemma n-grams without stop words; prior weight α₀ = {self.parameters.get('prior')}; "
            "|z| > 1.96 is a difference unlikely to be chance."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "groups": jsonable(self.groups),
            "group_a": self.group_a,
            "group_b": self.group_b,
            "comments": jsonable(self.comments),
            "how": self.how(),
            "parameters": jsonable(self.parameters),
            "rows": frame_records(self.frame),
        }

    def top(self, group: str, n: int = 10, language: str | None = None) -> list[str]:
        """The ``n`` phrases most typical of ``group`` (optionally in one language)."""
        rows = self.frame[self.frame["favours"] == group]
        if language is not None:
            rows = rows[rows["language"] == language]
        return list(rows.sort_values("z", ascending=False, key=abs).head(n)["phrase"])

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        words = GROUP_WORDS[lang]
        name_a, name_b = (
            words.get(self.group_a, self.group_a),
            words.get(self.group_b, self.group_b),
        )
        rule = "; ".join(g[lang] for g in self.groups.values())
        rule = f" ({rule})" if rule else ""
        if not self.groups and self.parameters.get("unscored"):
            return (
                "No scored answers with a comment: phrases need scores to tell detractors from "
                "promoters."
                if lang == "en"
                else "Geen antwoorden met score en opmerking: voor kenmerkende woorden zijn "
                "scores nodig om criticasters van promotors te onderscheiden."
            )
        significant = self.frame[(self.frame["favours"] == self.group_a) & (self.frame["z"] > 1.96)]
        n_a = fmt_num(self.comments.get(self.group_a, 0), lang)
        n_b = fmt_num(self.comments.get(self.group_b, 0), lang)
        if significant.empty:
            return (
                f"No words set {name_a} ({n_a} comments) apart from {name_b} ({n_b}) clearly{rule}."
                if lang == "en"
                else f"Geen woorden onderscheiden {name_a} ({n_a} opmerkingen) duidelijk van "
                f"{name_b} ({n_b}){rule}."
            )
        top = significant.sort_values("z", ascending=False).drop_duplicates("phrase").head(6)
        listed = ", ".join(f"“{p}”" for p in top["phrase"])
        if lang == "en":
            return (
                f"Words that set {name_a} ({n_a} comments) apart from {name_b} ({n_b}){rule}: "
                f"{listed}."
            )
        return (
            f"Woorden die {name_a} ({n_a} opmerkingen) onderscheiden van {name_b} ({n_b})"
            f"{rule}: {listed}."
        )


def phrases(
    ws: Any,
    metric: str | None = None,
    group_a: str = "detractors",
    group_b: str = "promoters",
    top: int = 20,
    ngram: tuple[int, int] = (1, 2),
    by_language: bool = True,
    prior: float = DEFAULT_PRIOR,
    languages: tuple[str, ...] = DEFAULT_LANGUAGES,
) -> PhrasesResult:
    """The ``top`` phrases most typical of each group, per language (or over all).

    ``metric``: a metric of the feedback; None for the main scored metric; ``"all"`` pools the
    answers of all metrics, each placed in a group by its own metric's rule (more comments, so
    more power on small data). A metric the feedback does not have is refused, naming those it
    has.

    Rows are sorted per language by z, group a's phrases first (columns: phrase, language,
    count_a, count_b, log_odds, z, favours).
    """
    for group in (group_a, group_b):
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; choose one of: {', '.join(GROUPS)}")
    if group_a == group_b:
        raise ValueError("group_a and group_b must differ")
    low, high = ngram
    if not 1 <= low <= high:
        raise ValueError(f"ngram must be (low, high) with 1 <= low <= high, got {ngram}")
    counts = metric_counts(ws)
    chosen = check_metric(ws, metric, counts)
    if metric is None and not any(c.scored_comments for c in counts):
        chosen = ALL_METRICS  # nothing scored: an empty comparison that says why
    rows, groups, described = _grouped_answers(ws, None if chosen == ALL_METRICS else chosen)
    docs = analyse_all(rows["comment"], rows["language"], languages)

    grams_by_doc = [ngrams(doc.lemmas, doc.language, (low, high)) for doc in docs]
    keys = [doc.language if by_language else ALL_LANGUAGES for doc in docs]
    frames = []
    for key in sorted(set(keys)):
        members = [i for i, k in enumerate(keys) if k == key]
        background = _count(grams_by_doc[i] for i in members)
        counts_a = _count(grams_by_doc[i] for i in members if groups[i] == group_a)
        counts_b = _count(grams_by_doc[i] for i in members if groups[i] == group_b)
        if not counts_a or not counts_b:
            continue
        scored = fightin_words(counts_a, counts_b, background, prior)
        scored["language"] = key
        scored["favours"] = np.where(scored["z"] > 0, group_a, group_b)
        side_a = scored[scored["z"] > 0].nlargest(top, "z")
        side_b = scored[scored["z"] < 0].nsmallest(top, "z")
        frames.append(pd.concat([side_a, side_b]))
    frame = (
        pd.concat(frames, ignore_index=True)[PHRASE_COLUMNS]
        if frames
        else pd.DataFrame(columns=PHRASE_COLUMNS)
    )
    return PhrasesResult(
        frame=frame,
        metric=chosen,
        groups=described,
        group_a=group_a,
        group_b=group_b,
        comments={g: int(sum(1 for x in groups if x == g)) for g in GROUPS},
        parameters={
            "top": top,
            "ngram": list(ngram),
            "by_language": by_language,
            "prior": prior,
            "unscored": not described,
        },
    )


def _grouped_answers(
    ws: Any, metric: str | None
) -> tuple[pd.DataFrame, list[str], dict[str, dict[str, str]]]:
    """Comments of ``metric``'s answers (all metrics when None) with each answer's group, and
    per metric how its groups were made (en, nl)."""
    feedback = ws.feedback
    wanted = feedback.comment.notnull() & feedback.score.notnull()
    if metric is not None:
        wanted &= feedback.metric == metric
    rows = feedback.filter(wanted).select("comment", "language", "score", "metric").execute()
    groups = pd.Series("", index=rows.index, dtype=object)
    keep = pd.Series(False, index=rows.index)
    described: dict[str, dict[str, str]] = {}
    for name, part in rows.groupby("metric"):
        rule = MetricRule.of(str(name), ws.journey.scales)
        scores = part["score"].to_numpy(dtype=float)
        inside = rule.in_scale(scores)
        index = part.index[inside]
        keep[index] = True
        threshold = ws.journey.bad_experience.threshold(str(name))
        groups[index] = answer_groups(rule, scores[inside], threshold)
        described[str(name)] = {g: describe_groups(rule, threshold, g) for g in ("en", "nl")}
    return rows[keep].reset_index(drop=True), list(groups[keep]), described


def _count(gram_lists: Iterable[list[str]]) -> Counter:
    counts: Counter = Counter()
    for grams in gram_lists:
        counts.update(grams)
    return counts
