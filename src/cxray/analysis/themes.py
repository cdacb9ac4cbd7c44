"""What customers say: themes in comments, with their volume, score and link to churn.

``themes(ws, ...)`` reads the comments of the feedback table (only the comment, language, score,
metric, customer_id and ts of answers that have a comment, and the customer's language; never
events), finds each comment's language (the feedback's language when set, else detected; a
comment of a few words takes its customer's language or the data's main one, see
:func:`cxray.analysis.text.analyse_all`), its lemmas, and its themes:

- **Taxonomy themes**: known irritations (login problems, slow or broken website, too many steps,
  out of stock, late, cancelled, damaged or lost, hard to reach someone, unhelpful staff, staff
  contradicting each other, fine print / unexpected costs, billing and invoices, price, poor
  quality), matched by word patterns per language, negations and praise taken into account
  (:mod:`cxray.analysis.theme_taxonomy`).
- **Discovered themes**: topics found in the comments no taxonomy theme matched, by non-negative
  matrix factorisation (NMF) of the TF-IDF of their content lemmas; each is labelled with the top
  lemmas of its own comments and one of them as example.

Which comments: those of ``metric`` (default: the workspace's main metric, see
:mod:`cxray.analysis.feedback_groups`), or all comments with ``metric="all"``.

Per theme: the number of comments and their share of the comments read (Wilson interval); the
score of the answers with that theme, in columns named for the metric (``nps``, ``nps_low``,
``nps_high``, ``nps_n``; ``rating``, ...): NPS with the adjusted Wald interval, the top-box share
(percent) with Wilson's interval for another metric with a scale, the mean for one without; with
``metric="all"`` one such set per scored metric. A metric without scores (``text``) gives volume
only. And the churn of customers who mentioned it against those who did not (churn as defined by
:func:`cxray.analysis.lifetimes.customer_lifetimes`, customers too new to judge left out), as a
risk ratio with Katz's interval. The churn comparison is an association, not a causal effect:
customers who write more comments have more chances to mention any theme.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd

from cxray.analysis._common import check_lang, count_true, fmt_interval, fmt_num
from cxray.analysis.dropoff import katz_lift
from cxray.analysis.feedback_groups import (
    ALL_METRICS,
    check_metric,
    describe_groups,
    main_metric,
    metric_counts,
)
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.analysis.metrics import KIND_NPS, MetricRule, nps_adjusted_wald, wilson
from cxray.analysis.text import DEFAULT_LANGUAGES, Analysed, analyse_all
from cxray.analysis.theme_taxonomy import (
    Taxonomy,
    ThemeSpec,
    assign_themes,
    default_taxonomy,
    load_taxonomy,
    match_themes,
)
from cxray.results import Column, Result, Table, frame_records, interval, jsonable

__all__ = [
    "SOURCE_DISCOVERED",
    "SOURCE_TAXONOMY",
    "THEME_COLUMNS",
    "Taxonomy",
    "ThemeSpec",
    "ThemesResult",
    "assign_themes",
    "default_taxonomy",
    "discover_themes",
    "load_taxonomy",
    "match_themes",
    "score_columns",
    "themes",
]

SOURCE_TAXONOMY, SOURCE_DISCOVERED = "taxonomy", "discovered"
# the score columns (see score_columns) go between share_high and customers
THEME_COLUMNS = [
    "theme",
    "source",
    "label",
    "comments",
    "share",
    "share_low",
    "share_high",
    "customers",
    "churned_share",
    "churn_ratio",
    "churn_ratio_low",
    "churn_ratio_high",
    "example",
]
_ANY_COMMENT = "(any comment)"  # marks every commenting customer in the churn counts
COMMENT_COLUMNS = ["comment", "language", "score", "metric", "customer_id", "ts"]


def score_columns(metric: str) -> list[str]:
    """The columns of one metric's score per theme: value, interval and number of answers."""
    return [metric, f"{metric}_low", f"{metric}_high", f"{metric}_n"]


# -- discovered themes ---------------------------------------------------------------------
def discover_themes(
    docs: Sequence[Analysed], topics: int, seed: int = 0, min_weight: float = 0.05
) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """NMF topics of the comments' content lemmas.

    Returns (label lemmas per topic, topic per comment, that topic's weight per comment). A
    comment's topic is the one with the largest weight, or -1 when all weights are below
    ``min_weight`` (nothing recognisable) or the comment has no content words. A topic's label
    is built from its own comments only: the lemmas with the largest TF-IDF summed over the
    comments assigned to it (a topic no comment is assigned to has no label).
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    assigned = np.full(len(docs), -1)
    strength = np.zeros(len(docs))
    texts = [" ".join(lemma.replace(" ", "_") for lemma in doc.content_lemmas()) for doc in docs]
    if topics <= 0 or sum(bool(t) for t in texts) < max(2 * topics, 10):
        return [], assigned, strength
    vectorizer = TfidfVectorizer(
        token_pattern=r"\S+",
        min_df=min(3, max(1, len(texts) // 50)),
        max_df=0.5,
        sublinear_tf=True,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left after the frequency limits
        return [], assigned, strength
    topics = min(topics, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if topics < 1:
        return [], assigned, strength
    model = NMF(n_components=topics, init="nndsvda", random_state=seed, max_iter=400)
    weights = model.fit_transform(matrix)
    vocabulary = vectorizer.get_feature_names_out()
    best = weights.argmax(axis=1)
    strength = weights.max(axis=1)
    strong = strength >= min_weight
    assigned[strong] = best[strong]
    labels: list[list[str]] = []
    for topic in range(topics):
        members = np.flatnonzero(assigned == topic)
        if len(members) == 0:
            labels.append([])
            continue
        mass = np.asarray(matrix[members].sum(axis=0)).ravel()
        order = [i for i in np.argsort(-mass, kind="stable")[:4] if mass[i] > 0]
        labels.append([str(vocabulary[i]) for i in order])
    return labels, assigned, strength


# -- the analysis --------------------------------------------------------------------------
@dataclass(repr=False)
class ThemesResult(Result):
    """Themes with volume, score and churn; ``comments`` holds the per-comment assignment.

    ``metric`` is the metric whose comments were read (or ``all``); ``scored`` the metrics that
    have score columns, in column order; ``groups`` says, per scored metric, how its answers
    split into detractors and promoters (en and nl).
    """

    frame: pd.DataFrame
    metric: str
    total_comments: int
    languages: dict[str, int]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    comments: pd.DataFrame | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    scored: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # metric -> nps | share | mean
    groups: dict[str, dict[str, str]] = field(default_factory=dict)

    def display(self) -> Table:
        """Themes with their volume, the main metric's score (labelled by it) and churn."""
        data = self.frame.reset_index(drop=True)
        # the label reads in the language asked for, whatever language the analysis ran in
        words = {
            label: {lang: self.labels.get(theme, {}).get(lang, label) for lang in ("en", "nl")}
            for theme, label in zip(data["theme"], data["label"], strict=True)
        }
        columns = [
            Column("label", "text", "theme", "thema", values=words),
            Column("source", "text", "found by", "gevonden via", 3, values=SOURCE_WORDS),
            Column("comments", "count", "comments", "opmerkingen"),
            Column("share", "share", "share of comments", "aandeel opmerkingen", 8),
            interval("share_low", "share_high", "share", 2),
        ]
        for position, metric in enumerate(self.scored):
            unit = _SCORE_UNITS.get(self.kinds.get(metric, "mean"))
            name = metric.upper() if metric in ("nps", "ces", "csat") else metric
            main = position == 0  # the first scored metric is the one the comments answer
            columns += [
                Column(metric, "score", name, unit=unit, priority=7, wide=not main),
                interval(f"{metric}_low", f"{metric}_high", "score", 4, unit=unit, wide=not main),
            ]
        columns += [
            Column("churn_ratio", "ratio", "churn ratio", "vertrekratio", 6),
            interval("churn_ratio_low", "churn_ratio_high", "ratio", 1),
            Column("example", "text", "example", "voorbeeld", wide=True),
        ]
        return Table(data, columns, noun=("themes", "thema's"))

    @property
    def columns(self) -> list[str]:
        """The table's columns for display: label, source, volume, the main score, churn.

        With several scored metrics only the first (the main one) fits on a screen; the frame,
        CSV and JSON keep them all.
        """
        scores = score_columns(self.scored[0]) if self.scored else []
        return [
            "label", "source", "comments", "share", "share_low", "share_high", *scores,
            "churn_ratio", "churn_ratio_low", "churn_ratio_high",
        ]  # fmt: skip

    def how(self) -> str:
        scores = (
            "; ".join(f"{m}: {_KIND_HOW[self.kinds.get(m, 'mean')]}" for m in self.scored)
            or "no scores (volume only)"
        )
        return (
            "Comments matched to a theme taxonomy by lemma patterns per language (a negated bad "
            "state or a praise construction does not count), plus themes discovered by NMF on "
            "TF-IDF of lemmas of unmatched comments. Share of comments: Wilson 95% interval. "
            f"Score per theme: {scores}. Churn: share of customers who mentioned the theme and "
            "churned, against those who did not; risk ratio with Katz 95% interval "
            "(association, not cause)."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "scored": list(self.scored),
            "groups": jsonable(self.groups),
            "total_comments": self.total_comments,
            "languages": jsonable(self.languages),
            "how": self.how(),
            "parameters": jsonable(self.parameters),
            "rows": frame_records(self.frame),
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        frame = self.frame
        if frame.empty:
            return (
                "No comments with a recognisable theme."
                if lang == "en"
                else "Geen opmerkingen met een herkenbaar thema."
            )
        shown = self.scored[0] if self.scored else None
        top = frame.sort_values("comments", ascending=False, kind="stable").head(3)
        parts = []
        for _, row in top.iterrows():
            label = self.labels.get(row.theme, {}).get(lang, row.label)
            share, share_range = fmt_interval(
                row.share, row.share_low, row.share_high, lang, percent=True
            )
            count = fmt_num(row.comments, lang)
            if lang == "en":
                part = f"{label} in {share} ({share_range}; {count} comments)"
            else:
                part = f"{label} in {share} ({share_range}; {count} opmerkingen)"
            if shown is not None:
                part += _score_words(self.kinds.get(shown, "mean"), shown, row, lang)
            parts.append(part)
        n = fmt_num(self.total_comments, lang)
        if lang == "en":
            text = f"In {n} comments customers mention most: " + "; ".join(parts) + "."
        else:
            text = f"In {n} opmerkingen noemen klanten het vaakst: " + "; ".join(parts) + "."
        linked = frame[frame.churn_ratio_low > 1].sort_values("churn_ratio", ascending=False)
        if not linked.empty:
            row = linked.iloc[0]
            label = self.labels.get(row.theme, {}).get(lang, row.label)
            ratio, ratio_range = fmt_interval(
                row.churn_ratio, row.churn_ratio_low, row.churn_ratio_high, lang, 1, reference=1.0
            )
            customers = fmt_num(row.customers, lang)
            if lang == "en":
                text += (
                    f" Customers who mentioned {label.lower()} ({customers} customers) churned "
                    f"{ratio}× as often as those who did not ({ratio_range}; an association, "
                    "not proof of cause)."
                )
            else:
                text += (
                    f" Klanten die {label.lower()} noemden ({customers} klanten), vertrokken "
                    f"{ratio}× zo vaak als klanten die dat niet deden ({ratio_range}; een "
                    "samenhang, geen bewijs van oorzaak)."
                )
        return text


_SCORE_UNITS = {KIND_NPS: "points", "share": "percent", "mean": None}
SOURCE_WORDS = {
    SOURCE_TAXONOMY: {"en": "taxonomy", "nl": "taxonomie"},
    SOURCE_DISCOVERED: {"en": "discovered", "nl": "ontdekt"},
}
_KIND_HOW = {
    KIND_NPS: "NPS, adjusted Wald 95% interval",
    "share": "top-box share in percent, Wilson 95% interval",
    "mean": "mean (no interval)",
}


def _score_words(kind: str, metric: str, row: pd.Series, lang: str) -> str:
    """ ", NPS −40 (−52–−28; n = 61)" for one theme row; empty when it has no scored answers."""
    n = row.get(f"{metric}_n", 0)
    value = row.get(metric, math.nan)
    if not n or pd.isna(value):
        return ""
    count = fmt_num(n, lang)
    low, high = row.get(f"{metric}_low", math.nan), row.get(f"{metric}_high", math.nan)
    if kind == KIND_NPS:
        score, interval = fmt_interval(value, low, high, lang)
        return f", NPS {score} ({interval}; n = {count})"
    if kind == "share":
        score, interval = fmt_interval(value / 100, low / 100, high / 100, lang, percent=True)
        if lang == "en":
            return f", {metric} top box {score} ({interval}; n = {count})"
        return f", {metric} topbox {score} ({interval}; n = {count})"
    mean = fmt_num(value, lang, 1)
    if lang == "en":
        return f", mean {metric} {mean} (n = {count})"
    return f", gemiddelde {metric} {mean} (n = {count})"


def themes(
    ws: Any,
    metric: str | None = None,
    taxonomy: Taxonomy | Mapping[str, Any] | str | Path | None = None,
    discover: int = 8,
    min_count: int = 10,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    lang: str = "en",
) -> ThemesResult:
    """Themes in the feedback comments, each with volume, score and churn link.

    ``metric``: whose comments (and score): a metric of the feedback, ``"all"`` for every
    comment (a score column set per scored metric), or None for the main metric (see
    :func:`cxray.analysis.feedback_groups.main_metric`). A metric the feedback does not have
    is refused, naming the metrics it has.
    ``taxonomy``: extra or replacement themes (dict or TOML path, see :func:`load_taxonomy`).
    ``discover``: how many themes to look for in comments no taxonomy theme matched (0: none).
    ``min_count``: themes with fewer comments are left out. ``languages``: the languages to
    choose from where a comment's language is not recorded. ``lang``: language of the labels.
    """
    check_lang(lang)
    counts = metric_counts(ws)
    chosen = check_metric(ws, metric, counts)
    tax = load_taxonomy(taxonomy)
    comments = _fetch_comments(ws, None if chosen == ALL_METRICS else chosen)
    docs = analyse_all(
        comments["comment"], comments["language"], languages, hints=comments["customer_language"]
    )
    comments = comments.drop(columns="customer_language")
    comments["language"] = [doc.language for doc in docs]
    matched = match_themes(docs, tax)
    theme_lists = [[name for name, _ in found] for found in matched]
    hit_counts = [dict(found) for found in matched]

    labels = {name: dict(spec.label) for name, spec in tax.themes.items()}
    sources = dict.fromkeys(tax.themes, SOURCE_TAXONOMY)
    examples: dict[str, str] = {}
    unmatched = [i for i, found in enumerate(theme_lists) if not found]
    top_words, topic_of, strength = discover_themes([docs[i] for i in unmatched], discover)
    for topic, words in enumerate(top_words):
        in_topic = np.flatnonzero(topic_of == topic)
        if not words or len(in_topic) == 0:
            continue
        name = f"discovered_{topic + 1}"
        for k in in_topic:
            theme_lists[unmatched[k]].append(name)
        shown = ", ".join(word.replace("_", " ") for word in words)
        labels[name] = {"en": shown, "nl": shown}
        sources[name] = SOURCE_DISCOVERED
        # the comment that belongs most clearly to the topic
        examples[name] = str(
            comments["comment"].iloc[unmatched[in_topic[strength[in_topic].argmax()]]]
        )

    scored = _scored_metrics(chosen, counts)
    rules = {m: MetricRule.of(m, ws.journey.scales) for m in scored}
    rows = []
    total = len(comments)
    churn = _churn_by_theme(ws, comments["customer_id"], theme_lists)
    for name in labels:
        members = [i for i, found in enumerate(theme_lists) if name in found]
        if len(members) < max(min_count, 1):
            continue
        if name not in examples:
            best = max(hit_counts[i].get(name, 0) for i in members)
            examples[name] = _typical(
                comments["comment"], [i for i in members if hit_counts[i].get(name, 0) == best]
            )
        share_low, share_high = wilson(len(members), total)
        row: dict[str, Any] = {
            "theme": name,
            "source": sources[name],
            "label": labels[name].get(lang, name),
            "comments": len(members),
            "share": len(members) / total,
            "share_low": share_low,
            "share_high": share_high,
        }
        for m, rule in rules.items():
            row.update(zip(score_columns(m), _score(rule, comments.iloc[members]), strict=True))
        churned, customers, ratio, ratio_low, ratio_high = churn.get(
            name, (0, 0, math.nan, math.nan, math.nan)
        )
        row.update(
            customers=customers,
            churned_share=churned / customers if customers else math.nan,
            churn_ratio=ratio,
            churn_ratio_low=ratio_low,
            churn_ratio_high=ratio_high,
            example=examples[name],
        )
        rows.append(row)
    columns = [
        *THEME_COLUMNS[:7],
        *(c for m in scored for c in score_columns(m)),
        *THEME_COLUMNS[7:],
    ]
    frame = pd.DataFrame(rows, columns=columns)
    numeric = frame.select_dtypes("number").columns
    frame[numeric] = frame[numeric].where(np.isfinite(frame[numeric].astype(float)))
    frame = frame.sort_values(["source", "comments"], ascending=[False, False], kind="stable")
    thresholds = {m: ws.journey.bad_experience.threshold(m) for m in scored}
    return ThemesResult(
        frame=frame.reset_index(drop=True),
        metric=chosen,
        total_comments=total,
        languages={k: int(v) for k, v in comments["language"].value_counts().items()},
        labels=labels,
        comments=comments.assign(themes=theme_lists),
        parameters={"discover": discover, "min_count": min_count, "languages": list(languages)},
        scored=scored,
        kinds={m: _kind(rule) for m, rule in rules.items()},
        groups={
            m: {g: describe_groups(rule, thresholds[m], g) for g in ("en", "nl")}
            for m, rule in rules.items()
        },
    )


def _kind(rule: MetricRule) -> str:
    """How a theme's score on ``rule`` reads: NPS, a top-box share, or a plain mean."""
    if rule.kind == KIND_NPS:
        return KIND_NPS
    return "share" if rule.scale is not None else "mean"


def _scored_metrics(chosen: str, counts: Sequence[Any]) -> list[str]:
    """The metrics that get score columns: the chosen one if it has scores, or for ``all`` every
    metric with scored comments (the main one first)."""
    with_scores = [c.metric for c in counts if c.scored_comments > 0]
    if chosen != ALL_METRICS:
        return [chosen] if chosen in with_scores else []
    main = main_metric(None, list(counts))
    return sorted(with_scores, key=lambda m: (m != main, m))


def _fetch_comments(ws: Any, metric: str | None) -> pd.DataFrame:
    """The comments (of ``metric``'s answers, or all), with their customer's language."""
    feedback = ws.feedback
    wanted = feedback.comment.notnull() & (feedback.comment.strip().length() > 0)
    if metric is not None:
        wanted &= feedback.metric == metric
    picked = feedback.filter(wanted).select(*COMMENT_COLUMNS)
    customers = ws.customers.select("customer_id", customer_language=ws.customers.language)
    joined = picked.left_join(customers, "customer_id").select(
        *COMMENT_COLUMNS, "customer_language"
    )
    # ties in ts broken by customer and text so examples and topics are reproducible
    frame = joined.order_by(["ts", "customer_id", "comment"]).execute()
    return frame.reset_index(drop=True)


def _score(rule: MetricRule, rows: pd.DataFrame) -> tuple[float, float, float, int]:
    """The theme's score on ``rule``'s metric: NPS (points), top-box share (percent) or mean."""
    answers = rows[rows["metric"] == rule.name]["score"].dropna().to_numpy(dtype=float)
    answers = answers[rule.in_scale(answers)]
    n = len(answers)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    if rule.kind == KIND_NPS:
        on_ten = rule.on_ten(answers)
        promoters, detractors = int((on_ten >= 9).sum()), int((on_ten <= 6).sum())
        low, high = nps_adjusted_wald(promoters, detractors, n)
        return 100 * (promoters - detractors) / n, low, high, n
    top = rule.top_box(answers)
    if top is None:
        return float(answers.mean()), math.nan, math.nan, n
    low, high = wilson(int(top.sum()), n)
    return 100 * float(top.mean()), 100 * low, 100 * high, n


def _typical(texts: pd.Series, members: Sequence[int]) -> str:
    """An example comment: of the given ones, the one of median length (readable, not extreme)."""
    chosen = sorted(members, key=lambda i: (len(str(texts.iloc[i])), i))
    return str(texts.iloc[chosen[len(chosen) // 2]])


def _churn_by_theme(
    ws: Any, customer_ids: pd.Series, theme_lists: Sequence[Sequence[str]]
) -> dict[str, tuple[int, int, float, float, float]]:
    """Per theme: (churned, customers, risk ratio, low, high) against customers without it.

    The reference is the customers who left comments but none with the theme: customers who
    write comments differ from those who never do (they tend to stay longer, so they have more
    chances to write), and comparing with the silent ones would mix that in. The (customer,
    theme) pairs go to the engine as a small table joined to the customer lifetimes there; only
    counts per theme come back.
    """
    pairs = {
        (str(cid), name)
        for cid, found in zip(customer_ids, theme_lists, strict=True)
        if isinstance(cid, str)
        for name in [*found, _ANY_COMMENT]
    }
    if not pairs:
        return {}
    lifetimes = customer_lifetimes(ws)
    lifetimes = lifetimes.filter(~lifetimes.too_new).select("customer_id", "churned")
    table = ibis.memtable(
        pd.DataFrame(sorted(pairs), columns=["customer_id", "theme"]),
        schema=ibis.schema({"customer_id": "string", "theme": "string"}),
    )
    joined = table.join(lifetimes, "customer_id")
    counts = (
        joined.group_by("theme")
        .aggregate(customers=joined.count(), churned=count_true(joined.churned))
        .execute()
    )
    counts = counts.set_index("theme")
    if _ANY_COMMENT not in counts.index:
        return {}
    all_n = int(counts.loc[_ANY_COMMENT, "customers"])
    all_churned = int(counts.loc[_ANY_COMMENT, "churned"])
    out = {}
    for theme, row in counts.drop(index=_ANY_COMMENT).iterrows():
        with_n, with_churned = int(row["customers"]), int(row["churned"])
        ratio, low, high = katz_lift(
            with_churned, with_n, all_churned - with_churned, all_n - with_n
        )
        out[str(theme)] = (with_churned, with_n, ratio, low, high)
    return out
