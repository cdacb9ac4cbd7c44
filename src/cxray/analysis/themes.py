"""What customers say: themes in comments, with their volume, score and link to churn.

``themes(ws, ...)`` reads the comments of the feedback table (only the comment, language, score,
metric, customer_id and ts of answers that have a comment; never events), finds each comment's
language (the feedback's language when set, else detected), its lemmas, and its themes:

- **Taxonomy themes**: known irritations (login problems, slow or broken website, too many steps,
  out of stock, late, cancelled, damaged or lost, hard to reach someone, unhelpful staff, staff
  contradicting each other, fine print / unexpected costs, price, poor quality), matched by word
  patterns per language. Defaults ship in ``cxray/analysis/taxonomy/<language>.toml``; users
  extend or replace them with a dict or a TOML file of the same shape (:func:`load_taxonomy`).
- **Discovered themes**: topics found in the comments no taxonomy theme matched, by non-negative
  matrix factorisation (NMF) of the TF-IDF of their content lemmas; each is labelled with its top
  lemmas and one example comment.

Per theme: the number of comments and their share of all comments; the score of the answers
with that theme (NPS with the adjusted Wald interval, or the top-box share with Wilson's
interval for other metrics); and the churn of customers who mentioned it against those who did
not (churn as defined by :func:`cxray.analysis.lifetimes.customer_lifetimes`, customers too new
to judge left out), as a risk ratio with Katz's interval. The churn comparison is an
association, not a causal effect: customers who write more comments have more chances to
mention any theme.

Pattern syntax: a pattern is one or more words separated by spaces that must appear next to each
other; each word matches a comment's word or its lemma, and ``*`` stands for any letters (so
``vertraag*`` matches "vertraagd", ``*wachtwoord*`` matches "wachtwoordreset").
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd

from cxray.analysis._common import check_lang, count_true, fmt_num, fmt_pct
from cxray.analysis.dropoff import katz_lift
from cxray.analysis.lifetimes import customer_lifetimes
from cxray.analysis.metrics import KIND_NPS, MetricRule, nps_adjusted_wald, wilson
from cxray.analysis.text import DEFAULT_LANGUAGES, Analysed, analyse_all
from cxray.results import Result, frame_records, jsonable

SOURCE_TAXONOMY, SOURCE_DISCOVERED = "taxonomy", "discovered"
THEME_COLUMNS = [
    "theme",
    "source",
    "label",
    "comments",
    "share",
    "nps",
    "nps_low",
    "nps_high",
    "n_scored",
    "customers",
    "churned_share",
    "churn_ratio",
    "churn_ratio_low",
    "churn_ratio_high",
    "example",
]
_ANY_COMMENT = "(any comment)"  # marks every commenting customer in the churn counts
COMMENT_COLUMNS = ["comment", "language", "score", "metric", "customer_id", "ts"]


# -- taxonomy ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThemeSpec:
    """One taxonomy theme: its labels in English and Dutch, and its patterns per language."""

    name: str
    label: dict[str, str]
    patterns: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Taxonomy:
    themes: dict[str, ThemeSpec] = field(default_factory=dict)

    @property
    def languages(self) -> set[str]:
        return {lang for spec in self.themes.values() for lang in spec.patterns}

    def label(self, theme: str, lang: str = "en") -> str:
        spec = self.themes.get(theme)
        if spec is None:
            return theme
        return spec.label.get(lang) or spec.label.get("en") or theme


def default_taxonomy() -> Taxonomy:
    """The taxonomy shipped with cxray (one TOML file per language)."""
    folder = resources.files("cxray.analysis").joinpath("taxonomy")
    taxonomy = Taxonomy()
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".toml"):
            taxonomy = _merge(taxonomy, tomllib.loads(entry.read_text(encoding="utf-8")))
    return taxonomy


def load_taxonomy(source: Taxonomy | Mapping[str, Any] | str | Path | None = None) -> Taxonomy:
    """The default taxonomy, extended or replaced by ``source``.

    ``source`` is a dict or a path to a TOML file with a ``[themes]`` table. Either one file
    per language (``language = "en"`` at the top, ``patterns = [...]`` per theme) or one file
    for all (per theme a list per language: ``en = [...]``, ``nl = [...]``). Each theme may
    have ``label = {en = "...", nl = "..."}``. A theme that exists already gets the given
    languages' patterns replaced; new themes are added. With ``replace = true`` at the top the
    defaults are dropped; ``[themes.name] enabled = false`` drops one default theme.
    """
    if isinstance(source, Taxonomy):
        return source
    base = default_taxonomy()
    if source is None:
        return base
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"taxonomy file not found: {path}")
        data: Mapping[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    else:
        data = source
    if "themes" not in data:
        data = {"themes": dict(data)}
    if data.get("replace"):
        base = Taxonomy()
    return _merge(base, data)


def _merge(base: Taxonomy, data: Mapping[str, Any]) -> Taxonomy:
    themes = dict(base.themes)
    file_language = data.get("language")
    for name, entry in (data.get("themes") or {}).items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"theme {name!r}: expected a table, got {type(entry).__name__}")
        if entry.get("enabled", True) is False:
            themes.pop(name, None)
            continue
        old = themes.get(name)
        label = dict(old.label) if old else {}
        given_label = entry.get("label")
        if isinstance(given_label, str):
            label = {"en": given_label, "nl": given_label}
        elif isinstance(given_label, Mapping):
            label.update({str(k): str(v) for k, v in given_label.items()})
        patterns = dict(old.patterns) if old else {}
        if "patterns" in entry:
            if not file_language:
                raise ValueError(
                    f"theme {name!r} has 'patterns' but the file names no language; add "
                    'language = "en" at the top or give the patterns per language (en = [...])'
                )
            patterns[str(file_language)] = _pattern_list(name, entry["patterns"])
        for key, value in entry.items():
            if key not in ("label", "patterns", "enabled"):
                patterns[str(key)] = _pattern_list(name, value)
        themes[name] = ThemeSpec(name, label or {"en": name, "nl": name}, patterns)
    return Taxonomy(themes)


def _pattern_list(theme: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"theme {theme!r}: patterns must be a list of strings")
    return tuple(str(item).strip().lower() for item in value if str(item).strip())


class _LanguageMatcher:
    """All patterns of one language, compiled for fast matching over many comments."""

    def __init__(self, taxonomy: Taxonomy, language: str) -> None:
        words: dict[str, int] = {}
        self.sequences: list[tuple[str, tuple[int, ...]]] = []  # (theme, word ids)
        for name, spec in taxonomy.themes.items():
            for pattern in spec.patterns.get(language, ()):
                ids = tuple(words.setdefault(word, len(words)) for word in pattern.split())
                self.sequences.append((name, ids))
        self.exact = {word: i for word, i in words.items() if "*" not in word and "?" not in word}
        self.wild = [
            (re.compile(_wildcard(word)), i) for word, i in words.items() if word not in self.exact
        ]
        self.by_first: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
        for name, ids in self.sequences:
            self.by_first.setdefault(ids[0], []).append((name, ids))
        self._cache: dict[tuple[str, str], frozenset[int]] = {}

    def word_ids(self, token: str, lemma: str) -> frozenset[int]:
        key = (token, lemma)
        found = self._cache.get(key)
        if found is None:
            ids = {self.exact[w] for w in (token, lemma) if w in self.exact}
            ids.update(
                i for regex, i in self.wild if regex.fullmatch(token) or regex.fullmatch(lemma)
            )
            found = self._cache[key] = frozenset(ids)
        return found

    def hits(self, doc: Analysed) -> list[tuple[str, int]]:
        """(theme, position) for every pattern occurrence in one comment."""
        matched = [self.word_ids(t, lm) for t, lm in zip(doc.tokens, doc.lemmas, strict=True)]
        out = []
        for pos, ids in enumerate(matched):
            for first in ids:
                for name, sequence in self.by_first.get(first, ()):
                    end = pos + len(sequence)
                    if end <= len(matched) and all(
                        sequence[k] in matched[pos + k] for k in range(1, len(sequence))
                    ):
                        out.append((name, pos))
        return out


def _wildcard(word: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in word)


def match_themes(docs: Sequence[Analysed], taxonomy: Taxonomy) -> list[list[tuple[str, int]]]:
    """Per comment, its taxonomy themes with their number of pattern hits, most hits first.

    Ties are broken by the earliest mention. A comment in a language without patterns gets none.
    """
    matchers: dict[str, _LanguageMatcher] = {}
    out: list[list[tuple[str, int]]] = []
    for doc in docs:
        if doc.language not in taxonomy.languages:
            out.append([])
            continue
        matcher = matchers.get(doc.language)
        if matcher is None:
            matcher = matchers[doc.language] = _LanguageMatcher(taxonomy, doc.language)
        # a word that several patterns of one theme match counts once
        positions: dict[str, set[int]] = {}
        for name, pos in matcher.hits(doc):
            positions.setdefault(name, set()).add(pos)
        ranked = sorted(positions.items(), key=lambda item: (-len(item[1]), min(item[1])))
        out.append([(name, len(found)) for name, found in ranked])
    return out


def assign_themes(
    texts: Sequence[str],
    languages: Sequence[str | None] | str | None = None,
    taxonomy: Taxonomy | Mapping[str, Any] | str | Path | None = None,
    candidates: Sequence[str] = DEFAULT_LANGUAGES,
) -> list[list[str]]:
    """Taxonomy themes of plain comments, most mentioned first (the first is the primary one).

    ``languages`` is one code for all texts, a list with None where unknown (detected among
    ``candidates``), or None to detect every language.
    """
    if isinstance(languages, str):
        languages = [languages] * len(texts)
    docs = analyse_all(texts, languages, candidates)
    return [[name for name, _ in found] for found in match_themes(docs, load_taxonomy(taxonomy))]


# -- discovered themes ---------------------------------------------------------------------
def discover_themes(
    docs: Sequence[Analysed], topics: int, seed: int = 0, min_weight: float = 0.05
) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """NMF topics of the comments' content lemmas.

    Returns (top lemmas per topic, topic per comment, that topic's weight per comment). A
    comment's topic is the one with the largest weight, or -1 when all weights are below
    ``min_weight`` (nothing recognisable) or the comment has no content words.
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
    top_words = [[str(vocabulary[i]) for i in np.argsort(-row)[:4]] for row in model.components_]
    best = weights.argmax(axis=1)
    strength = weights.max(axis=1)
    strong = strength >= min_weight
    assigned[strong] = best[strong]
    return top_words, assigned, strength


# -- the analysis --------------------------------------------------------------------------
@dataclass
class ThemesResult(Result):
    """Themes with volume, score and churn; ``comments`` holds the per-comment assignment."""

    frame: pd.DataFrame
    metric: str
    total_comments: int
    languages: dict[str, int]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    comments: pd.DataFrame | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    def how(self) -> str:
        return (
            "Comments matched to a theme taxonomy by lemma patterns per language, plus themes "
            "discovered by NMF on TF-IDF of lemmas of unmatched comments. Score per theme: "
            f"{'NPS, adjusted Wald 95% interval' if self.metric == 'nps' else 'top-box share, Wilson 95% interval'}. "
            "Churn: share of customers who mentioned the theme and churned, against those who "
            "did not; risk ratio with Katz 95% interval (association, not cause)."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
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
        score_name = "NPS" if self.metric == "nps" else self.metric.upper()
        top = frame.sort_values("comments", ascending=False).head(3)
        parts = []
        for _, row in top.iterrows():
            label = self.labels.get(row.theme, {}).get(lang, row.label)
            score = f", {score_name} {fmt_num(row.nps, lang)}" if pd.notna(row.nps) else ""
            parts.append(f"{label} ({fmt_pct(row.share, lang)}{score})")
        n = fmt_num(self.total_comments, lang)
        if lang == "en":
            text = f"In {n} comments customers mention most: " + "; ".join(parts) + "."
        else:
            text = f"In {n} opmerkingen noemen klanten het vaakst: " + "; ".join(parts) + "."
        linked = frame[(frame.churn_ratio_low > 1)].sort_values("churn_ratio", ascending=False)
        if not linked.empty:
            row = linked.iloc[0]
            label = self.labels.get(row.theme, {}).get(lang, row.label)
            ratio = fmt_num(row.churn_ratio, lang, 1)
            low, high = (
                fmt_num(row.churn_ratio_low, lang, 1),
                fmt_num(row.churn_ratio_high, lang, 1),
            )
            if lang == "en":
                text += (
                    f" Customers who mentioned {label.lower()} churned {ratio}× as often as "
                    f"those who did not ({low}–{high})."
                )
            else:
                text += (
                    f" Klanten die {label.lower()} noemden, vertrokken {ratio}× zo vaak als "
                    f"klanten die dat niet deden ({low}–{high})."
                )
        return text


def themes(
    ws: Any,
    metric: str = "nps",
    taxonomy: Taxonomy | Mapping[str, Any] | str | Path | None = None,
    discover: int = 8,
    min_count: int = 10,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    lang: str = "en",
) -> ThemesResult:
    """Themes in the feedback comments, each with volume, score (``metric``) and churn link.

    ``taxonomy``: extra or replacement themes (dict or TOML path, see :func:`load_taxonomy`).
    ``discover``: how many themes to look for in comments no taxonomy theme matched (0: none).
    ``min_count``: themes with fewer comments are left out. ``languages``: the languages to
    choose from where a comment's language is not recorded. ``lang``: language of the labels.
    """
    check_lang(lang)
    tax = load_taxonomy(taxonomy)
    comments = _fetch_comments(ws)
    docs = analyse_all(comments["comment"], comments["language"], languages)
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
        name = f"discovered_{topic + 1}"
        in_topic = np.flatnonzero(topic_of == topic)
        members = [unmatched[k] for k in in_topic]
        for i in members:
            theme_lists[i].append(name)
        shown = ", ".join(word.replace("_", " ") for word in words)
        labels[name] = {"en": shown, "nl": shown}
        sources[name] = SOURCE_DISCOVERED
        if members:  # the comment that belongs most clearly to the topic
            examples[name] = str(
                comments["comment"].iloc[unmatched[in_topic[strength[in_topic].argmax()]]]
            )

    rule = MetricRule.of(metric, ws.journey.scales)
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
        score, low, high, n_scored = _score(rule, comments.iloc[members])
        churned, customers, ratio, ratio_low, ratio_high = churn.get(
            name, (0, 0, math.nan, math.nan, math.nan)
        )
        rows.append(
            {
                "theme": name,
                "source": sources[name],
                "label": labels[name].get(lang, name),
                "comments": len(members),
                "share": len(members) / total if total else math.nan,
                "nps": score,
                "nps_low": low,
                "nps_high": high,
                "n_scored": n_scored,
                "customers": customers,
                "churned_share": churned / customers if customers else math.nan,
                "churn_ratio": ratio,
                "churn_ratio_low": ratio_low,
                "churn_ratio_high": ratio_high,
                "example": examples[name],
            }
        )
    frame = pd.DataFrame(rows, columns=THEME_COLUMNS)
    frame = frame.sort_values(["source", "comments"], ascending=[False, False], kind="stable")
    per_comment = comments.assign(themes=theme_lists)
    return ThemesResult(
        frame=frame.reset_index(drop=True),
        metric=metric,
        total_comments=total,
        languages={k: int(v) for k, v in comments["language"].value_counts().items()},
        labels=labels,
        comments=per_comment,
        parameters={"discover": discover, "min_count": min_count, "languages": list(languages)},
    )


def _fetch_comments(ws: Any) -> pd.DataFrame:
    feedback = ws.feedback
    has_comment = feedback.comment.notnull() & (feedback.comment.strip().length() > 0)
    # ties in ts broken by customer and text so examples and topics are reproducible
    ordered = (
        feedback.filter(has_comment)
        .select(*COMMENT_COLUMNS)
        .order_by(["ts", "customer_id", "comment"])
    )
    frame = ordered.execute()
    return frame.reset_index(drop=True)


def _typical(texts: pd.Series, members: Sequence[int]) -> str:
    """An example comment: of the given ones, the one of median length (readable, not extreme)."""
    chosen = sorted(members, key=lambda i: (len(str(texts.iloc[i])), i))
    return str(texts.iloc[chosen[len(chosen) // 2]])


def _score(rule: MetricRule, rows: pd.DataFrame) -> tuple[float, float, float, int]:
    """The theme's score on ``rule``'s metric: NPS (points) or top-box share (percent)."""
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
