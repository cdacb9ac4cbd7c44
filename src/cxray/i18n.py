"""Text in English and Dutch: a message that carries both, plurals, lists and numbers.

Deep layers (ingest, the journey file, the workspace) raise their errors with a
:class:`Message`, so they need no language parameter: ``str()`` of the error is the English
text, and the face that knows the reader's language picks the other with :func:`text_of`.

Imports nothing heavy: the command line loads this module on every start.
"""

from __future__ import annotations

from collections.abc import Iterable

LANGS = ("en", "nl")

# the word before the last item of a list
_CONJUNCTIONS = {"and": {"en": "and", "nl": "en"}, "or": {"en": "or", "nl": "of"}}


class Message(str):
    """One message in both languages. It *is* its English text (a ``str``), so code and tests
    that read it as text keep working; ``.nl`` or ``.text("nl")`` is the Dutch one."""

    nl: str

    def __new__(cls, en: str, nl: str) -> Message:
        message = super().__new__(cls, en)
        message.nl = nl
        return message

    @property
    def en(self) -> str:
        return str.__str__(self)

    def text(self, lang: str = "en") -> str:
        return self.nl if lang == "nl" else self.en

    def __add__(self, other: str) -> Message:
        second = other if isinstance(other, Message) else Message(other, other)
        return Message(self.en + second.en, self.nl + second.nl)

    def __radd__(self, other: str) -> Message:
        return Message(other + self.en, other + self.nl)

    def __repr__(self) -> str:
        return f"Message({self.en!r}, {self.nl!r})"

    def __reduce__(self) -> tuple:
        return (Message, (self.en, self.nl))


def text_of(value: object, lang: str = "en") -> str:
    """The text a reader sees: a Message in ``lang``, an error raised with a Message in
    ``lang``, anything else as ``str()`` (an error from a library speaks English)."""
    if isinstance(value, Message):
        return value.text(lang)
    if isinstance(value, BaseException):
        if len(value.args) == 1 and isinstance(value.args[0], Message):
            return value.args[0].text(lang)
        if isinstance(value, KeyError) and len(value.args) == 1:
            return str(value.args[0])  # str(KeyError) would add quotes around the message
    return str(value)


def message_of(value: object) -> Message:
    """Both texts of an error (or message): an error raised with a plain string has its
    English text in both languages."""
    if isinstance(value, Message):
        return value
    return Message(text_of(value, "en"), text_of(value, "nl"))


def number(value: float, lang: str = "en", digits: int = 0) -> str:
    """A number as people write it: 1,234.5 in English, 1.234,5 in Dutch; never "-0"."""
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]
    if lang == "nl":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def plural(count: float, one: str, many: str) -> str:
    """``one`` for exactly 1 (also 1.0), ``many`` otherwise: 0 days, 1 day, 1.5 days."""
    return one if count == 1 else many


def count_of(
    count: float,
    lang: str,
    en: tuple[str, str],
    nl: tuple[str, str],
    digits: int = 0,
) -> str:
    """A number with its noun: ``count_of(1, "nl", ("day", "days"), ("dag", "dagen"))`` is
    "1 dag", 2 000 in Dutch is "2.000 dagen"."""
    one, many = nl if lang == "nl" else en
    shown = round(count, digits) if digits else round(count)
    return f"{number(count, lang, digits)} {plural(shown, one, many)}"


def days(count: float, lang: str, digits: int = 0) -> str:
    """ "1 day" / "3 days", "1 dag" / "3 dagen"."""
    return count_of(count, lang, ("day", "days"), ("dag", "dagen"), digits)


_POSITIONS_NL = {"line": "regel", "row": "rij", "event": "interactie"}


def position_word(label: str, lang: str = "en") -> str:
    """Where a problem sits in a file ("line", "row", "event") as the reader calls it."""
    return _POSITIONS_NL.get(label, label) if lang == "nl" else label


def join_words(items: Iterable[object], lang: str = "en", conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"; in Dutch "a, b en c" (``conjunction="or"``: "of")."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    last = _CONJUNCTIONS[conjunction]["nl" if lang == "nl" else "en"]
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def join_message(items: Iterable[object], conjunction: str = "and") -> Message:
    """:func:`join_words` in both languages at once."""
    words = [str(item) for item in items]
    return Message(join_words(words, "en", conjunction), join_words(words, "nl", conjunction))
