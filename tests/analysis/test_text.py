"""Comment text as words: tokens, language detection, lemmas, stop words."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxray
from cxray.analysis.text import (
    analyse,
    analyse_all,
    detect_language,
    lemma,
    ngrams,
    stop_words,
    tokenize,
)
from cxray.demo import generate_demo


@pytest.fixture(scope="module")
def demo_comments(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("demo_text") / "ws"
    generate_demo(path, customers=3000, seed=1)
    ws = cxray.open(path)
    feedback = ws.feedback
    rows = feedback.filter(feedback.comment.notnull()).select("comment", "language").execute()
    ws.close()
    return rows


def test_tokens_drop_addresses_mentions_and_numbers_but_keep_hashtag_words():
    text = "@United I couldn't log-in 3 times!! See https://t.co/x or mail a@b.com #fail"
    assert tokenize(text) == ["i", "couldn't", "log-in", "times", "see", "or", "mail", "fail"]
    assert tokenize("") == []
    assert tokenize("Één bezorger, één keer") == ["één", "bezorger", "één", "keer"]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_tokens_are_lower_case_words_without_digits(text):
    for token in tokenize(text):
        assert token
        assert token == token.lower()
        assert not any(ch.isdigit() for ch in token)


def test_language_detection_on_the_demo_comments_is_accurate(demo_comments):
    detected = [detect_language(text, ("nl", "en", "pt")) for text in demo_comments["comment"]]
    accuracy = (pd.Series(detected) == demo_comments["language"].to_numpy()).mean()
    print(f"language detection accuracy on {len(detected)} demo comments: {accuracy:.3f}")
    assert accuracy >= 0.95


def test_language_detection_falls_back_when_no_word_is_known():
    assert detect_language("123 !!!", ("nl", "en")) == "nl"
    assert detect_language("123", ("nl", "en"), default="unk") == "unk"
    assert detect_language("A entrega atrasou muito, estou chateado", ("nl", "en", "pt")) == "pt"


def test_lemmas_per_language_with_the_known_fixes():
    assert lemma("vertraagd", "nl") == "vertragen"
    assert lemma("laat", "nl") == "laat"  # the adjective "late", not "laten"
    assert lemma("cancelled", "en") == "cancel"
    assert lemma("bags", "en") == "bag"
    assert lemma("whatever", "xx") == "whatever"  # unknown language: the token itself


def test_analyse_uses_the_given_language_and_detects_it_otherwise():
    given_lang = analyse("Mijn pakket kwam te laat", "nl")
    assert given_lang.language == "nl"
    assert given_lang.tokens == ("mijn", "pakket", "kwam", "te", "laat")
    assert given_lang.lemmas[2] == "komen"
    assert given_lang.content_lemmas() == ["pakket", "komen", "laat"]
    assert analyse("My parcel arrived late again").language == "en"
    docs = analyse_all(["Delivery was late", "De levering was te laat"], [None, "NL-be"])
    assert [d.language for d in docs] == ["en", "nl"]
    with pytest.raises(ValueError, match="2 texts but 1"):
        analyse_all(["a", "b"], ["en"])


def test_stop_words_and_ngrams_of_content_lemmas():
    assert {"the", "and", "not"} <= stop_words("en")
    assert {"de", "het", "niet"} <= stop_words("nl")
    assert "não" in stop_words("pt")
    assert stop_words("xx") == frozenset()
    grams = ngrams(["the", "delivery", "be", "very", "late", "today"], "en", (1, 2))
    assert grams == ["delivery", "late", "today", "delivery late", "late today"]
    assert ngrams(["late"], "en", (2, 2)) == []


def test_short_comments_take_the_language_of_the_rest_unless_clearly_another():
    portuguese = ["Entrega rápida e produto excelente", "O atendimento foi muito demorado"] * 3
    docs = analyse_all(["bom", "ruim", "ok", "top", "goed", *portuguese])
    assert [d.language for d in docs[:5]] == ["pt", "pt", "pt", "pt", "nl"]
    dutch = ["Snel geleverd en goed verpakt", "De bezorger was vriendelijk en snel"] * 3
    docs = analyse_all(["bom", "ruim", "ok", "top", "ótimo", *dutch])
    assert [d.language for d in docs[:5]] == ["nl", "nl", "nl", "nl", "pt"]
    # the customer's language decides for a short comment
    hinted = analyse_all(["ruim", *dutch], hints=["pt", *[None] * len(dutch)])
    assert hinted[0].language == "pt"
