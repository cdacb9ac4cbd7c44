"""Comment text as words: language detection, tokens, lemmas and stop words.

Everything here works without downloading a model: lemmas and language detection come from
simplemma's bundled dictionaries (Dutch, English, Portuguese and about fifty more languages);
the stop-word lists are small and written out below for the languages cxray speaks first.

Tokens are lower-cased runs of letters (with inner apostrophes or hyphens). Web addresses,
@-mentions, e-mail addresses and numbers are dropped; a hashtag keeps its word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import simplemma

DEFAULT_LANGUAGES: tuple[str, ...] = ("nl", "en", "pt")
UNKNOWN = "unk"

_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\S+|@\w+")
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words that carry no theme. Negations are included: themes are matched on patterns
# and distinguishing phrases are about content words.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        a about above after again against all also am an and any are aren't as at be because been
        before being below between both but by can can't cannot could couldn't did didn't do does
        doesn't doing don't down during each even ever few for from further get got had hadn't has
        hasn't have haven't having he her here hers herself him himself his how i i'm i've if in
        into is isn't it it's its itself just let's me more most much my myself no nor not now of
        off on once only or other our ours ourselves out over own same she should shouldn't so
        some such than that that's the their theirs them themselves then there there's these they
        they're this those through to too under until up us very was wasn't we we're were weren't
        what when where which while who whom why will with won't would wouldn't you you're your
        yours yourself yourselves 's s t re ve ll d m im dont cant didnt be have do will shall
        """
    ),
    "nl": _words(
        """
        aan al alle alles als altijd andere ben bij daar dan dat de der deze die dit doch doen door
        dus een eens en er ge geen geweest haar had heb hebben heeft hem het hier hij hoe hun ik in
        is ja je jij jou jouw jullie kan kon kunnen maar me meer men met mij mijn moet na naar niet
        niets nog nu of om omdat ons onze ook op over reeds te tegen toch toen tot u uit uw van
        veel voor want waren was wat we wel werd wezen wie wij wil worden wordt zal ze zelf zich zij
        zijn zo zonder zou zouden hebt heel erg echt even dus weer nooit steeds iets mijn mij 't 'n
        zullen moeten willen gaan zoals ervan erin daarna
        """
    ),
    "pt": _words(
        """
        a ao aos as até com como da das de dela dele deles do dos e ela elas ele eles em entre era
        essa esse esta este eu foi for foram há isso isto já lhe lhes mais mas me mesmo meu minha
        muito na nas nem no nos não nós o os ou para pela pelas pelo pelos por qual quando que quem
        se sem ser seu sua são só também te tem tinha um uma você vocês à às é estou está estava
        ter ser fui meu minha nosso nossa estar ir
        """
    ),
}


# Where simplemma's most likely lemma is the wrong one for customer comments: Dutch "laat" is
# far more often "late" than a form of "laten"; English "cancelled" comes back as "cancell".
LEMMA_OVERRIDES: dict[str, dict[str, str]] = {
    "nl": {"laat": "laat"},
    "en": {"cancelled": "cancel", "canceled": "cancel", "cancelling": "cancel"},
}


@dataclass(frozen=True)
class Analysed:
    """One comment as words: its language, tokens and their lemmas (same length)."""

    language: str
    tokens: tuple[str, ...]
    lemmas: tuple[str, ...]

    def content_lemmas(self) -> list[str]:
        """Lemmas that are not stop words (in the comment's language)."""
        stops = stop_words(self.language)
        return [lemma for lemma in self.lemmas if lemma not in stops and len(lemma) > 1]


def stop_words(language: str) -> frozenset[str]:
    return STOP_WORDS.get(language, frozenset())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, without web addresses, mentions and numbers."""
    cleaned = _NOISE.sub(" ", text or "")
    tokens = (match.group(0).lower().replace("’", "'") for match in _WORD.finditer(cleaned))
    # \w also admits number-like letters such as "¹"; a word is letters, apostrophes, hyphens
    return [t for t in tokens if all(ch.isalpha() or ch in "'-" for ch in t)]


def detect_language(
    text: str, languages: Sequence[str] = DEFAULT_LANGUAGES, default: str | None = None
) -> str:
    """The most likely of ``languages`` for ``text`` (simplemma's dictionary-based detector).

    Returns ``default`` (the first of ``languages`` when not given) when no word is recognised.
    """
    fallback = default if default is not None else languages[0]
    words = " ".join(tokenize(text))
    if not words:
        return fallback
    ranked = simplemma.langdetect(words, lang=tuple(languages))
    best, share = ranked[0]
    return fallback if best == UNKNOWN or share <= 0 else best


@lru_cache(maxsize=200_000)
def lemma(token: str, language: str) -> str:
    """The dictionary form of one lower-cased token (the token itself when unknown)."""
    if language == UNKNOWN:
        return token
    override = LEMMA_OVERRIDES.get(language, {}).get(token)
    if override is not None:
        return override
    try:
        return simplemma.lemmatize(token, lang=language).lower()
    except ValueError:  # a language simplemma does not know
        return token


def analyse(
    text: str, language: str | None = None, languages: Sequence[str] = DEFAULT_LANGUAGES
) -> Analysed:
    """Tokens and lemmas of one comment; the language is detected when not given."""
    lang = language if language else detect_language(text, languages)
    tokens = tuple(tokenize(text))
    return Analysed(lang, tokens, tuple(lemma(token, lang) for token in tokens))


def analyse_all(
    texts: Iterable[str],
    languages: Iterable[str | None] | None = None,
    candidates: Sequence[str] = DEFAULT_LANGUAGES,
) -> list[Analysed]:
    """:func:`analyse` for many comments; ``languages`` may hold None where unknown."""
    texts = list(texts)
    given = list(languages) if languages is not None else [None] * len(texts)
    if len(given) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(given)} languages")
    return [
        analyse(text, _clean_language(lang), candidates)
        for text, lang in zip(texts, given, strict=True)
    ]


def _clean_language(value: str | None) -> str | None:
    """A language code as simplemma wants it ('NL', 'nl-BE' -> 'nl'); None when missing."""
    if value is None or not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower().replace("_", "-").split("-")[0]


def ngrams(lemmas: Sequence[str], language: str, sizes: tuple[int, int] = (1, 2)) -> list[str]:
    """Lemma n-grams without stop words (an n-gram is built from the remaining content lemmas)."""
    stops = stop_words(language)
    content = [lemma for lemma in lemmas if lemma not in stops and len(lemma) > 1]
    low, high = sizes
    grams: list[str] = []
    for size in range(low, high + 1):
        grams.extend(" ".join(content[i : i + size]) for i in range(len(content) - size + 1))
    return grams
