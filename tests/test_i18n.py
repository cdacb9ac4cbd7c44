"""Messages in two languages, plurals, lists and numbers as people write them."""

from __future__ import annotations

import pytest

from cxray.i18n import (
    Message,
    count_of,
    days,
    join_message,
    join_words,
    message_of,
    number,
    plural,
    position_word,
    text_of,
)
from cxray.journey import JourneyError
from cxray.labels import phase_label


def test_a_message_is_english_by_default_and_dutch_on_request():
    message = Message("no such file", "dit bestand bestaat niet")
    assert str(message) == "no such file"
    assert message.text("nl") == "dit bestand bestaat niet"
    assert message.text("en") == message.text() == "no such file"
    joined = "x.csv: " + message + "!"
    assert (joined.en, joined.nl) == ("x.csv: no such file!", "x.csv: dit bestand bestaat niet!")


def test_an_error_raised_with_a_message_speaks_both_languages():
    error = JourneyError(Message("bad key", "foute sleutel"))
    assert str(error) == "bad key"  # what tests and logs match
    assert text_of(error, "nl") == "foute sleutel"
    assert text_of(error, "en") == "bad key"
    assert message_of(error) == Message("bad key", "foute sleutel")
    with pytest.raises(JourneyError, match="bad key"):
        raise error


def test_an_error_with_plain_text_stays_as_it_is():
    assert text_of(ValueError("plain"), "nl") == "plain"
    assert text_of(KeyError("no such group"), "nl") == "no such group"  # without quotes
    assert message_of(ValueError("plain")) == Message("plain", "plain")
    assert text_of("already text", "nl") == "already text"


@pytest.mark.parametrize(
    ("count", "lang", "expected"),
    [
        (0, "en", "0 days"),
        (1, "en", "1 day"),
        (1.0, "nl", "1 dag"),
        (2, "nl", "2 dagen"),
        (2000, "nl", "2.000 dagen"),
        (2000, "en", "2,000 days"),
        (1.4, "nl", "1 dag"),  # rounded to a whole day, so singular
    ],
)
def test_days_agree_with_their_number(count, lang, expected):
    assert days(count, lang) == expected


def test_a_count_keeps_its_decimals_and_its_plural():
    assert count_of(1.5, "nl", ("day", "days"), ("dag", "dagen"), digits=1) == "1,5 dagen"
    assert count_of(1, "en", ("customer", "customers"), ("klant", "klanten")) == "1 customer"
    assert count_of(3, "nl", ("customer", "customers"), ("klant", "klanten")) == "3 klanten"
    assert plural(1, "row", "rows") == "row" and plural(0, "row", "rows") == "rows"


@pytest.mark.parametrize(
    ("items", "lang", "expected"),
    [
        ([], "en", ""),
        (["a"], "nl", "a"),
        (["a", "b"], "en", "a and b"),
        (["a", "b", "c"], "en", "a, b and c"),
        (["a", "b", "c"], "nl", "a, b en c"),
    ],
)
def test_lists_end_with_and(items, lang, expected):
    assert join_words(items, lang) == expected


def test_lists_can_end_with_or():
    assert join_words(["a", "b"], "nl", conjunction="or") == "a of b"
    assert join_message(["x", "y", "z"]) == Message("x, y and z", "x, y en z")


def test_numbers_are_written_the_readers_way():
    assert number(1234.5, "en", 1) == "1,234.5"
    assert number(1234.5, "nl", 1) == "1.234,5"
    assert number(-0.001, "nl", 1) == "0,0"  # never "-0"


def test_positions_and_phases_are_named_in_dutch():
    assert position_word("line", "nl") == "regel" and position_word("row", "nl") == "rij"
    assert position_word("line", "en") == "line"
    assert phase_label("awareness", "nl") == "bewustwording"
    assert phase_label("awareness", "en") == "awareness"
    assert phase_label("onze eigen fase", "nl") == "onze eigen fase"  # a company's own name


def test_no_heavy_import():
    import subprocess
    import sys

    code = "import sys, cxray.i18n; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.split() == ["False", "False"], found.stderr
