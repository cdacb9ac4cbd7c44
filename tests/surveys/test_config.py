"""The [surveys] table: defaults, overrides, and every mistake refused with the key named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxray.i18n import text_of
from cxray.journey import Scale
from cxray.surveys.config import (
    QUESTION_KEYS,
    REASON_QUESTION,
    SURVEY_KEYS,
    TOP_KEYS,
    SurveyConfigError,
    parse_surveys,
)


def parse(table, **options):
    return parse_surveys(table, touchpoints={"delivery", "order_placed"}, company="Shop", **options)


def refused(table) -> str:
    with pytest.raises(SurveyConfigError) as caught:
        parse(table)
    return str(caught.value)


def test_defaults_and_a_full_definition():
    settings = parse(
        {
            "fatigue_days": 14,
            "after_delivery": {
                "touchpoint": "delivery",
                "delay_days": 2,
                "metric": "ces",
                "reminder_days": 5,
                "questions": [
                    {"id": "speed", "text_en": "Fast?", "text_nl": "Snel?", "kind": "yes_no"}
                ],
            },
            "relationship": {"every_months": 6},
        }
    )
    assert settings.fatigue_days == 14 and settings.expires_days == 30
    delivery, relationship = settings.surveys
    assert delivery.metric == "ces" and delivery.scores == list(range(1, 8))
    assert delivery.delay_days == 2 and delivery.reminder_days == 5
    assert delivery.questions[0].kind == "yes_no" and delivery.questions[0].text.nl == "Snel?"
    assert "Shop" in delivery.question.en and "Shop" in delivery.question.nl
    assert relationship.scheduled and relationship.metric == "nps"
    assert relationship.scores == list(range(11))
    # the open question is always asked, in both languages
    assert delivery.reason_question == REASON_QUESTION
    assert REASON_QUESTION.nl == "Wat is de belangrijkste reden voor je score?"
    assert settings.warnings == ()


def test_a_touchpoint_not_in_the_journey_is_a_warning_not_an_error():
    settings = parse({"x": {"touchpoint": "delivry"}})
    assert len(settings.warnings) == 1
    assert "delivry" in settings.warnings[0] and "delivry" in settings.warnings[0].nl


def test_the_scale_comes_from_the_journey():
    settings = parse_surveys(
        {"s": {"touchpoint": "a", "metric": "csat"}}, scales={"csat": Scale(1, 3)}
    )
    assert settings.surveys[0].scores == [1, 2, 3]
    with pytest.raises(SurveyConfigError, match=r"\[surveys\.s\].*csat"):
        parse_surveys({"s": {"touchpoint": "a", "metric": "csat"}}, scales={"csat": Scale(0, 100)})


def test_base_url_from_the_environment_wins(monkeypatch):
    settings = parse({"base_url": "https://survey.example.com/"})
    assert settings.link_base == "https://survey.example.com"
    monkeypatch.setenv("CXRAY_BASE_URL", "https://elsewhere.example/")
    assert settings.link_base == "https://elsewhere.example"


@pytest.mark.parametrize(
    ("table", "where", "key"),
    [
        ({"after_delivery": {"touchpoint": "delivery", "delay_dayz": 2}}, "surveys.after_delivery", "delay_dayz"),
        ({"fatigue_dayz": 3}, "surveys", "fatigue_dayz"),
        ({"fatigue_days": "30"}, "surveys", "fatigue_days"),
        ({"fatigue_days": True}, "surveys", "fatigue_days"),
        ({"expires_days": 0}, "surveys", "expires_days"),
        ({"s": {"touchpoint": "delivery", "metric": "nsp"}}, "surveys.s", "metric"),
        ({"s": {"touchpoint": "delivery", "every_months": 6}}, "surveys.s", "every_months"),
        ({"s": {"every_months": 1.5}}, "surveys.s", "every_months"),
        ({"s": {"touchpoint": 3}}, "surveys.s", "touchpoint"),
        ({"s": {"touchpoint": "delivery", "question_en": "Hi?"}}, "surveys.s", "question_nl"),
        ({"s": {"touchpoint": "delivery", "reminder_days": 40}}, "surveys.s", "reminder_days"),
        ({"s": {"touchpoint": "delivery", "questions": [{"id": "score", "text_en": "a", "text_nl": "b"}]}}, "surveys.s.questions #1", "id"),
        ({"s": {"touchpoint": "delivery", "questions": [{"id": "q", "text_en": "a"}]}}, "surveys.s.questions #1", "text_nl"),
        ({"s": {"touchpoint": "delivery", "questions": [{"id": "q", "text_en": "a", "text_nl": "b", "kind": "stars"}]}}, "surveys.s.questions #1", "kind"),
        ({"s": {"touchpoint": "delivery", "questions": {"id": "q"}}}, "surveys.s", "questions"),
        ({"base_url": "survey.example.com"}, "surveys", "base_url"),
        ({"email": "e mail"}, "surveys", "email"),
        ({"bad name!": {"touchpoint": "delivery"}}, "surveys.bad name!", "name"),
    ],
)  # fmt: skip
def test_each_mistake_names_its_table_and_key(table, where, key):
    message = refused(table)
    assert message.startswith(f"cxray.toml: [{where}]"), message
    assert key in message or key == "name"
    with pytest.raises(SurveyConfigError) as caught:
        parse(table)
    dutch = text_of(caught.value, "nl")
    assert dutch.startswith(f"cxray.toml: [{where}]") and dutch != message


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
SURVEY_TABLE = st.dictionaries(
    st.sampled_from(sorted(SURVEY_KEYS | {"delay_dayz", "Metric"})),
    VALUES | st.sampled_from(["delivery", "nps", "ces", "csat", 2, 6]),
    max_size=6,
) | st.fixed_dictionaries(
    {"touchpoint": st.just("delivery")},
    optional={
        "questions": st.lists(
            st.dictionaries(st.sampled_from(sorted(QUESTION_KEYS | {"txt"})), VALUES, max_size=4),
            max_size=2,
        )
    },
)
TABLES = st.dictionaries(
    st.sampled_from(sorted(TOP_KEYS | {"fatigue", "a", "b-1", "x y"})),
    VALUES | SURVEY_TABLE,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(TABLES)
def test_any_table_parses_or_is_refused_with_its_key_named(table):
    try:
        parse(table)
    except SurveyConfigError as exc:
        message, dutch = str(exc), text_of(exc, "nl")
        assert message.startswith("cxray.toml: [surveys"), message
        assert dutch.startswith("cxray.toml: [surveys"), dutch
        where = message.split("]", 1)[0].removeprefix("cxray.toml: [")
        named = where.split(".")[1] if "." in where else None
        assert named is None or named in table
        # the key at fault is quoted, or the table itself is at fault
        assert "'" in message or "[surveys." in message
