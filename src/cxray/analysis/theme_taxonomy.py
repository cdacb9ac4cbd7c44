"""The theme taxonomy: known irritations as word patterns per language, and matching them.

Defaults ship in ``cxray/analysis/taxonomy/<language>.toml``; users extend or replace them with
a dict or a TOML file of the same shape (:func:`load_taxonomy`).

Pattern syntax: a pattern is one or more words separated by spaces that must appear next to each
other; each word matches a comment's word or its lemma, and ``*`` stands for any letters (so
``vertraag*`` matches "vertraagd", ``*wachtwoord*`` matches "wachtwoordreset").

Two kinds of pattern. ``patterns`` name a subject ("invoice", "password", "bag"): a negation
before them does not make the comment praise ("no refund yet", "can't log in", "didn't get my
bag" are complaints). ``states`` name a bad state ("late", "rude", "hidden fees"): a negation
before one cancels it ("not late", "niet te laat", "não atrasou", "no hidden fees"). Both are
cancelled inside a praise construction ("before the deadline", "duidelijke uitleg over mijn
termijnbedrag"); see :func:`cxray.analysis.text.negated_positions` and
:func:`cxray.analysis.text.praised_positions`. When a hit is cancelled, the theme's other hits
inside the same words go with it ("no hidden fees" is not a fee complaint either).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cxray.analysis.text import (
    DEFAULT_LANGUAGES,
    Analysed,
    analyse_all,
    negated_positions,
    praised_positions,
)


# -- taxonomy ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThemeSpec:
    """One taxonomy theme: its labels in English and Dutch, its patterns and states per language."""

    name: str
    label: dict[str, str]
    patterns: dict[str, tuple[str, ...]]
    states: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Taxonomy:
    themes: dict[str, ThemeSpec] = field(default_factory=dict)

    @property
    def languages(self) -> set[str]:
        return {lang for spec in self.themes.values() for lang in (*spec.patterns, *spec.states)}

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
    per language (``language = "en"`` at the top, ``patterns = [...]`` and ``states = [...]``
    per theme) or one file for all (per theme a list per language: ``en = [...]``,
    ``nl = [...]``, and ``states = {en = [...]}``). Each theme may
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
        states = dict(old.states) if old else {}
        for key, target in (("patterns", patterns), ("states", states)):
            if key not in entry:
                continue
            value = entry[key]
            if isinstance(value, Mapping):  # states = {en = [...], nl = [...]}
                for language, items in value.items():
                    target[str(language)] = _pattern_list(name, items)
                continue
            if not file_language:
                raise ValueError(
                    f"theme {name!r} has {key!r} but the file names no language; add "
                    'language = "en" at the top or give the patterns per language (en = [...])'
                )
            target[str(file_language)] = _pattern_list(name, value)
        for key, value in entry.items():
            if key not in ("label", "patterns", "states", "enabled"):
                patterns[str(key)] = _pattern_list(name, value)
        themes[name] = ThemeSpec(name, label or {"en": name, "nl": name}, patterns, states)
    return Taxonomy(themes)


def _pattern_list(theme: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"theme {theme!r}: patterns must be a list of strings")
    return tuple(str(item).strip().lower() for item in value if str(item).strip())


class _LanguageMatcher:
    """All patterns of one language, compiled for fast matching over many comments."""

    def __init__(self, taxonomy: Taxonomy, language: str) -> None:
        words: dict[str, int] = {}
        # (theme, word ids, is a state: a negation before it cancels it)
        self.sequences: list[tuple[str, tuple[int, ...], bool]] = []
        for name, spec in taxonomy.themes.items():
            for kind, patterns in ((False, spec.patterns), (True, spec.states)):
                for pattern in patterns.get(language, ()):
                    ids = tuple(words.setdefault(word, len(words)) for word in pattern.split())
                    self.sequences.append((name, ids, kind))
        self.exact = {word: i for word, i in words.items() if "*" not in word and "?" not in word}
        self.wild = [
            (re.compile(_wildcard(word)), i) for word, i in words.items() if word not in self.exact
        ]
        self.by_first: dict[int, list[tuple[str, tuple[int, ...], bool]]] = {}
        for name, ids, kind in self.sequences:
            self.by_first.setdefault(ids[0], []).append((name, ids, kind))
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
        """(theme, position) for every pattern occurrence in one comment that is not denied.

        A state right after a negation, and any pattern right after a praise construction, is
        cancelled together with the theme's other hits that start inside its words.
        """
        matched = [self.word_ids(t, lm) for t, lm in zip(doc.tokens, doc.lemmas, strict=True)]
        found: list[tuple[str, int, int, bool]] = []  # theme, start, end, is a state
        for pos, ids in enumerate(matched):
            for first in ids:
                for name, sequence, is_state in self.by_first.get(first, ()):
                    end = pos + len(sequence)
                    if end <= len(matched) and all(
                        sequence[k] in matched[pos + k] for k in range(1, len(sequence))
                    ):
                        found.append((name, pos, end, is_state))
        if not found:
            return []
        negated, praised = negated_positions(doc), praised_positions(doc)
        cancelled = [
            (name, start, end)
            for name, start, end, is_state in found
            if start in praised or (is_state and start in negated)
        ]
        return [
            (name, start)
            for name, start, _, _ in found
            if not any(name == c and c_start <= start < c_end for c, c_start, c_end in cancelled)
        ]


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
