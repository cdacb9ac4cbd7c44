"""Comment text as words: language detection, tokens, lemmas and stop words.

Everything here works without downloading a model: lemmas and language detection come from
simplemma's bundled dictionaries (Dutch, English, Portuguese and about fifty more languages);
the stop-word lists are small and written out below for the languages cxray speaks first.

Tokens are lower-cased runs of letters (with inner apostrophes or hyphens). Web addresses,
@-mentions, e-mail addresses and numbers are dropped; a hashtag keeps its word.

Short comments ("bom", "ruim", "top") are too short for the detector: a word such as "ruim" is
Dutch (spacious) and Portuguese (bad) alike. A comment of at most :data:`SHORT_COMMENT` words
without a recorded language takes its customer's language, else the language most of the other
comments are written in, and switches only when the evidence is strong (see
:func:`analyse_all`).

Negation and praise (:func:`negated_positions`, :func:`praised_positions`): themes must not count
"not late" as late or "arrived before the deadline" as a deadline complaint. Per language, a
small list of negators, of ability words that turn a negation into a failure ("could not log in"
is a login complaint, not a denial), of intensifiers skipped on the way ("not even late") and of
words that end a clause's scope ("but"), plus praise constructions ("before the", "duidelijke
uitleg"). Everything is matched on the token or its lemma.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import simplemma

DEFAULT_LANGUAGES: tuple[str, ...] = ("nl", "en", "pt")
UNKNOWN = "unk"
SHORT_COMMENT = 3  # at most this many words: detection alone is not trusted
STRONG_EVIDENCE = 0.3  # a short comment leaves the expected language only by this margin

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


# -- negation and praise ---------------------------------------------------------------------
# A negator puts the next content word (intensifiers skipped) in its scope: "not late",
# "niet te laat", "não atrasou", "no hidden fees", "geen vertraging". An ability word just
# before the negator or between it and that word ("could not log in", "kon niet inloggen",
# "não consigo fazer login") makes it a failure, which is a complaint, so no scope then.
NEGATORS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        not no never without nothing none nor hardly barely isn't wasn't aren't weren't didn't
        doesn't hasn't haven't hadn't isnt wasnt arent werent doesnt hasnt havent hadnt
        """
    ),
    "nl": _words("niet geen nooit zonder niets niks nergens nauwelijks amper"),
    "pt": _words("não nao nunca sem nem nenhum nenhuma jamais nada"),
}
ABILITY_WORDS: dict[str, frozenset[str]] = {  # with "do": "do not cancel" asks, not denies
    "en": _words("can could able unable manage try allow let cannot can't couldn't won't do"),
    "nl": _words("kunnen kan kon konden lukken lukt lukte willen wil wilde mogen mag"),
    "pt": _words("conseguir consigo consegui poder posso pude dar deu deixar"),
}
# Right after a negator these make it emphasis, not denial: "not only late but rude",
# "it's not about the delay", "niet alleen te laat", "não só atrasou".
NOT_DENIAL: dict[str, frozenset[str]] = {
    "en": _words("only just about much merely simply"),
    "nl": _words("alleen enkel zozeer slechts"),
    "pt": _words("só apenas somente"),
}
INTENSIFIERS: dict[str, frozenset[str]] = {
    "en": _words("even really actually that too very so overly at all particularly"),
    "nl": _words("eens echt erg heel zo te al helemaal bijzonder"),
    "pt": _words("muito tão tao tanto nada assim"),
}
SCOPE_BREAKS: dict[str, frozenset[str]] = {
    "en": _words("but however though although yet"),
    "nl": _words("maar echter hoewel alleen"),
    "pt": _words("mas porém porem contudo embora"),
}
# Praise constructions: the first content word after one is praised, not complained about
# ("before the deadline", "eerder dan de levertijd", "antes do prazo", "duidelijke uitleg over
# mijn termijnbedrag"). Each is a sequence of words matched on token or lemma.
PRAISE_CUES: dict[str, tuple[str, ...]] = {
    "en": (
        "ahead of", "earlier than", "sooner than", "faster than", "before the deadline",
        "before the due", "before the expected", "before the promised", "before schedule",
        "within the deadline", "within the promised", "within the expected", "clear explanation",
        "clearly explained", "well explained", "explained clearly", "explained well",
        "no problem with", "no problems with", "no issue with", "no issues with",
    ),
    "nl": (
        "eerder dan", "sneller dan", "ruim voor", "ruim binnen", "binnen de levertijd",
        "binnen de termijn", "voor de deadline", "duidelijk uitleg", "goed uitleg",
        "goed uitgelegd", "duidelijk uitgelegd", "helder uitgelegd", "helder uitleg",
        "geen probleem met", "geen problemen met",
    ),
    "pt": (
        "antes do prazo", "antes da data", "antes do previsto", "antes do esperado",
        "dentro do prazo", "no prazo", "explicação clara", "explicação claro", "bem explicado",
        "explicar bem", "explicou bem", "sem problema com", "sem problemas com",
    ),
}  # fmt: skip


def _is(words: frozenset[str], token: str, lemma_: str) -> bool:
    return token in words or lemma_ in words


def _next_content(
    doc: Analysed, start: int, skip: frozenset[str], stops: frozenset[str]
) -> int | None:
    """The first position from ``start`` on that is a content word (``skip`` and stop words
    passed over), or None at the end or at a word that ends the clause."""
    breaks = SCOPE_BREAKS.get(doc.language, frozenset())
    for pos in range(start, len(doc.tokens)):
        token, lemma_ = doc.tokens[pos], doc.lemmas[pos]
        if _is(breaks, token, lemma_) or pos in doc.clause_starts:
            return None
        if _is(skip, token, lemma_) or token in stops or lemma_ in stops:
            continue
        return pos
    return None


def negated_positions(doc: Analysed) -> frozenset[int]:
    """Positions in a negator's scope, where a pattern that starts is denied.

    The scope is the words after the negator up to and with the next content word ("te laat"
    in "niet te laat"); there is none after a failure ("can't log in", "kon niet inloggen").
    """
    negators = NEGATORS.get(doc.language, frozenset())
    ability = ABILITY_WORDS.get(doc.language, frozenset())
    skip = INTENSIFIERS.get(doc.language, frozenset())
    stops = stop_words(doc.language) - negators - ability
    found: set[int] = set()
    for pos, (token, lemma_) in enumerate(zip(doc.tokens, doc.lemmas, strict=True)):
        if not _is(negators, token, lemma_):
            continue
        before = range(max(0, pos - 2), pos)
        if any(_is(ability, doc.tokens[i], doc.lemmas[i]) for i in before):
            continue  # "could not", "kan ik niet": a failure
        not_denial = NOT_DENIAL.get(doc.language, frozenset())
        after = range(pos + 1, min(pos + 4, len(doc.tokens)))
        if any(_is(not_denial, doc.tokens[i], doc.lemmas[i]) for i in after):
            continue
        target = _next_content(doc, pos + 1, skip | negators, stops)
        if target is None:
            continue
        between = range(pos + 1, target + 1)
        if any(_is(ability, doc.tokens[i], doc.lemmas[i]) for i in between):
            continue  # "não consigo fazer login"
        found.update(between)
    return frozenset(found)


def praised_positions(doc: Analysed) -> frozenset[int]:
    """Positions a praise construction is about, where a pattern that starts does not count.

    They are its own words and the words after it up to and with the next content word ("the
    deadline" in "ahead of the deadline", "prazo" in "antes do prazo").
    """
    cues = PRAISE_CUES.get(doc.language, ())
    if not cues:
        return frozenset()
    skip = INTENSIFIERS.get(doc.language, frozenset())
    stops = stop_words(doc.language)
    found: set[int] = set()
    n = len(doc.tokens)
    for cue in cues:
        words = cue.split()
        for pos in range(n - len(words) + 1):
            if all(
                doc.tokens[pos + k] == word or doc.lemmas[pos + k] == word
                for k, word in enumerate(words)
            ):
                # the cue's own words ("antes do prazo") and the next content word after it
                target = _next_content(doc, pos + len(words), skip, stops)
                end = pos + len(words) if target is None else target + 1
                found.update(range(pos, end))
    return frozenset(found)


@dataclass(frozen=True)
class Analysed:
    """One comment as words: its language, tokens and their lemmas (same length)."""

    language: str
    tokens: tuple[str, ...]
    lemmas: tuple[str, ...]
    clause_starts: frozenset[int] = frozenset()  # tokens right after , . ; : ! ? (a new clause)

    def content_lemmas(self) -> list[str]:
        """Lemmas that are not stop words (in the comment's language)."""
        stops = stop_words(self.language)
        return [lemma for lemma in self.lemmas if lemma not in stops and len(lemma) > 1]


def stop_words(language: str) -> frozenset[str]:
    return STOP_WORDS.get(language, frozenset())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, without web addresses, mentions and numbers."""
    return _tokens_and_clauses(text)[0]


_CLAUSE_MARK = re.compile(r"[,.;:!?()\[\]\"“”]|\s-\s")


def _tokens_and_clauses(text: str) -> tuple[list[str], frozenset[int]]:
    """The tokens and the positions of those that start a new clause (after punctuation)."""
    cleaned = _NOISE.sub(" ", text or "")
    tokens: list[str] = []
    starts: set[int] = set()
    previous_end = 0
    for match in _WORD.finditer(cleaned):
        token = match.group(0).lower().replace("’", "'")
        # \w also admits number-like letters such as "¹"; a word is letters, apostrophes, hyphens
        if not all(ch.isalpha() or ch in "'-" for ch in token):
            continue
        if tokens and _CLAUSE_MARK.search(cleaned, previous_end, match.start()):
            starts.add(len(tokens))
        tokens.append(token)
        previous_end = match.end()
    return tokens, frozenset(starts)


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
    found, starts = _tokens_and_clauses(text)
    tokens = tuple(found)
    return Analysed(lang, tokens, tuple(lemma(token, lang) for token in tokens), starts)


def analyse_all(
    texts: Iterable[str],
    languages: Iterable[str | None] | None = None,
    candidates: Sequence[str] = DEFAULT_LANGUAGES,
    hints: Iterable[str | None] | None = None,
) -> list[Analysed]:
    """:func:`analyse` for many comments; ``languages`` may hold None where unknown.

    ``hints`` (optional, one per comment) is a language the comment is likely in, such as its
    customer's. Where the language is not given, a comment of more than :data:`SHORT_COMMENT`
    words is detected; a shorter one takes its hint, else the language most longer comments
    are in (given or detected), and keeps it unless the detector's share of recognised words
    for another language is at least :data:`STRONG_EVIDENCE` higher ("goed" in a Portuguese
    set is Dutch; "ruim" stays Portuguese there).
    """
    texts = [text if isinstance(text, str) else "" for text in texts]
    given = [_clean_language(lang) for lang in languages] if languages is not None else None
    if given is None:
        given = [None] * len(texts)
    hinted = [_clean_language(h) for h in hints] if hints is not None else [None] * len(texts)
    if len(given) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(given)} languages")
    if len(hinted) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(hinted)} hints")
    split = [_tokens_and_clauses(text) for text in texts]
    tokens = [toks for toks, _ in split]
    chosen: list[str | None] = list(given)
    for i, lang in enumerate(given):
        if lang is None and len(tokens[i]) > SHORT_COMMENT:
            chosen[i] = detect_language(texts[i], candidates)
    majority = _majority([lang for lang in chosen if lang in candidates], candidates)
    for i, lang in enumerate(chosen):
        if lang is None:
            expected = hinted[i] if hinted[i] in candidates else majority
            chosen[i] = _short_language(tokens[i], candidates, expected)
    return [
        Analysed(lang, tuple(toks), tuple(lemma(token, lang) for token in toks), starts)
        for (toks, starts), lang in zip(split, [c or candidates[0] for c in chosen], strict=True)
    ]


def _majority(found: Sequence[str], candidates: Sequence[str]) -> str:
    if not found:
        return candidates[0]
    counts = {lang: 0 for lang in candidates}
    for lang in found:
        counts[lang] += 1
    return max(candidates, key=lambda lang: counts[lang])  # ties: the first candidate


def _short_language(tokens: Sequence[str], candidates: Sequence[str], expected: str) -> str:
    """The language of a comment of a few words: ``expected`` unless another clearly fits better."""
    if not tokens:
        return expected
    shares = dict(simplemma.langdetect(" ".join(tokens), lang=tuple(candidates)))
    best = max(candidates, key=lambda lang: shares.get(lang, 0.0))
    if shares.get(best, 0.0) - shares.get(expected, 0.0) >= STRONG_EVIDENCE:
        return best
    return expected


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
