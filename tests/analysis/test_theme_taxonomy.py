"""Theme patterns: negation, praise, billing, and no accidental double themes."""

from __future__ import annotations

import pytest

from cxray.analysis.themes import assign_themes, themes


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("The delivery was not late at all", "en", []),
        ("The parcel arrived late", "en", ["delivery_late"]),
        ("I could not log in", "en", ["login"]),  # a failure, not a denial
        ("No hidden fees, great", "en", []),
        ("Not only late but the box was broken", "en", ["delivery_late", "damaged_or_lost"]),
        ("Het pakket was niet te laat", "nl", []),
        ("Ik kon niet inloggen", "nl", ["login"]),
        ("Duidelijke uitleg over mijn termijnbedrag", "nl", []),
        ("A entrega não atrasou", "pt", []),
        ("Não consigo fazer login", "pt", ["login"]),
        ("Chegou antes do prazo", "pt", []),
    ],
)
def test_negation_and_praise_do_not_count_as_the_complaint(text, language, expected):
    assert assign_themes([text], language) == [expected]


def test_billing_complaints_have_their_own_theme_in_three_languages():
    found = assign_themes(
        [
            "I was charged twice and the invoice was wrong",
            "Unexpected advance payment raised",
            "De factuur klopte niet",
            "Mijn voorschot is zonder uitleg verhoogd",
            "Fui cobrado duas vezes no boleto",
        ],
        ["en", "en", "nl", "nl", "pt"],
    )
    assert found == [["billing"]] * 5


def test_a_login_failure_is_not_also_a_broken_website():
    found = assign_themes(
        [
            "The login page keeps giving an error",
            "The app logs me out and then I cannot get back in",
            "Inloggen met mijn e-mailadres werkt niet meer.",
            "De inlogpagina geeft steeds een foutmelding.",
        ],
        ["en", "en", "nl", "nl"],
    )
    assert found == [["login"]] * 4
    # a real second theme in the same comment is kept
    both = assign_themes(["Login fails and the website keeps crashing"], "en")
    assert set(both[0]) == {"login", "website"}


def _rating_workspace(make_workspace, metric="rating", score=True):
    texts = ["Late delivery again", "My parcel was late", "Fast and friendly", "Great product"]
    feedback = [
        {"customer_id": f"c{i}", "ts": "2024-01-01", "metric": metric,
         "score": (1 if i % 4 < 2 else 5) if score else None,
         "comment": texts[i % 4], "language": "en"}
        for i in range(40)
    ]  # fmt: skip
    return make_workspace(feedback=feedback)


def test_themes_on_a_rating_only_workspace_score_the_rating(make_workspace):
    ws = _rating_workspace(make_workspace)
    result = themes(ws, discover=0, min_count=1)
    assert result.metric == "rating" and result.scored == ["rating"]
    frame = result.to_pandas().set_index("theme")
    late = frame.loc["delivery_late"]
    assert late.comments == 20 and late.rating_n == 20 and late.rating == 0
    assert "rating_low" in frame.columns and "nps" not in frame.columns
    assert "rating" in result.columns and "rating_n" in result.columns
    en, nl = result.summary("en"), result.summary("nl")
    assert "20 comments" in en and "n = 20" in en and "50%" in en
    assert "20 opmerkingen" in nl and "n = 20" in nl
    assert "inf" not in en and "nan" not in en.lower()
    everything = themes(ws, metric="all", discover=0, min_count=1)
    assert everything.metric == "all" and everything.scored == ["rating"]
    with pytest.raises(ValueError, match="metrics present are: rating"):
        themes(ws, metric="nps")


def test_comments_without_scores_get_themes_by_volume_only(make_workspace):
    ws = _rating_workspace(make_workspace, metric="text", score=False)
    result = themes(ws, discover=0, min_count=1)
    assert result.metric == "text" and result.scored == []
    assert result.to_pandas().set_index("theme").loc["delivery_late", "comments"] == 20
    assert "n = " not in result.summary("en")
