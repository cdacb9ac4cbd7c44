"""The ``[surveys]`` table of ``cxray.toml``: defaults for every survey and one sub-table each.

``read_surveys(journey)`` checks it and names the key at fault (in English and Dutch); what is
odd but workable (a touchpoint the journey does not know yet) comes back as a warning, not an
error, so a survey can be written before its touchpoint's first import::

    [surveys]
    fatigue_days = 30          # at most one invitation per customer per N days, all surveys
    [surveys.after_delivery]
    touchpoint = "delivery"    # or: every_months = 6 (relationship NPS)
    delay_days = 2
    metric = "nps"
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxray.i18n import Message

ENV_BASE_URL = "CXRAY_BASE_URL"
METRICS = ("nps", "ces", "csat")
QUESTION_KINDS = ("text", "yes_no")
# field names of the answer form: an extra question may not take one of them
RESERVED_IDS = {"score", "comment", "lang", "nonce", "csrf_token", "token"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
CUSTOMER_COLUMNS = ("segment", "language")  # columns of customers a setting may name
MAX_SCALE_POINTS = 11  # a scale drawn as one row of buttons

TOP_KEYS = {"fatigue_days", "expires_days", "email", "language", "base_url", "company"}
SURVEY_KEYS = {
    "touchpoint",
    "every_months",
    "delay_days",
    "metric",
    "reminder_days",
    "expires_days",
    "question_en",
    "question_nl",
    "questions",
}
QUESTION_KEYS = {"id", "text_en", "text_nl", "kind"}

DEFAULT_QUESTIONS: dict[str, Message] = {
    "nps": Message(
        "How likely are you to recommend {company} to a friend or colleague?",
        "Hoe waarschijnlijk is het dat je {company} aanbeveelt aan een vriend of collega?",
    ),
    "ces": Message(
        "How easy was it to get what you needed from {company}?",
        "Hoe makkelijk was het om bij {company} te regelen wat je nodig had?",
    ),
    "csat": Message(
        "How satisfied are you with {company}?",
        "Hoe tevreden ben je over {company}?",
    ),
}
REASON_QUESTION = Message(
    "What is the main reason for your score?", "Wat is de belangrijkste reden voor je score?"
)
# the words at either end of each scale (low end, high end)
SCALE_ENDS: dict[str, tuple[Message, Message]] = {
    "nps": (
        Message("not at all likely", "zeer onwaarschijnlijk"),
        Message("extremely likely", "zeer waarschijnlijk"),
    ),
    "ces": (Message("very difficult", "heel moeilijk"), Message("very easy", "heel makkelijk")),
    "csat": (
        Message("very dissatisfied", "zeer ontevreden"),
        Message("very satisfied", "zeer tevreden"),
    ),
}


class SurveyConfigError(ValueError):
    """The ``[surveys]`` table is invalid; the message names the table and the key."""


@dataclass(frozen=True)
class Question:
    """An extra question after the score and the reason."""

    id: str
    text: Message
    kind: str = "text"


@dataclass(frozen=True)
class Survey:
    """One survey: triggered by a touchpoint's events, or on a schedule (``every_months``)."""

    name: str
    metric: str
    scale: tuple[int, int]
    question: Message
    touchpoint: str | None = None
    every_months: int | None = None
    delay_days: float = 0.0
    reminder_days: float | None = None
    expires_days: float = 30.0
    questions: tuple[Question, ...] = ()
    higher_is_easier: bool = True

    @property
    def scheduled(self) -> bool:
        return self.every_months is not None

    @property
    def scores(self) -> list[int]:
        return list(range(self.scale[0], self.scale[1] + 1))

    @property
    def ends(self) -> tuple[Message, Message]:
        low, high = SCALE_ENDS[self.metric]
        if self.metric == "ces" and not self.higher_is_easier:
            return high, low
        return low, high

    @property
    def reason_question(self) -> Message:
        return REASON_QUESTION

    def question_of(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "scale": list(self.scale),
            "touchpoint": self.touchpoint,
            "every_months": self.every_months,
            "delay_days": self.delay_days,
            "reminder_days": self.reminder_days,
            "expires_days": self.expires_days,
            "question": {"en": self.question.en, "nl": self.question.nl},
            "questions": [
                {"id": q.id, "kind": q.kind, "en": q.text.en, "nl": q.text.nl}
                for q in self.questions
            ],
        }


@dataclass(frozen=True)
class SurveySettings:
    """Every survey and the rules they share."""

    surveys: tuple[Survey, ...] = ()
    fatigue_days: float = 30.0
    expires_days: float = 30.0
    email: str = "email"
    language: str = "language"
    base_url: str = "http://127.0.0.1:8000"
    company: str = ""
    warnings: tuple[Message, ...] = field(default=())

    def survey(self, name: str) -> Survey | None:
        return next((s for s in self.surveys if s.name == name), None)

    @property
    def link_base(self) -> str:
        """Where links point: ``CXRAY_BASE_URL`` when set, else ``base_url``."""
        given = os.environ.get(ENV_BASE_URL, "").strip()
        return (given or self.base_url).rstrip("/")


Fail = Callable[[str, Message], SurveyConfigError]


def _fail(source: str) -> Fail:
    def fail(where: str, reason: Message) -> SurveyConfigError:
        return SurveyConfigError(
            Message(f"{source}: [{where}] {reason.en}", f"{source}: [{where}] {reason.nl}")
        )

    return fail


def read_surveys(journey: Any, source: str = "cxray.toml") -> SurveySettings:
    """The journey's surveys, checked; ``SurveyConfigError`` names the key at fault."""
    table = (journey.settings or {}).get("surveys", {})
    return parse_surveys(
        table,
        touchpoints=set(journey.touchpoints),
        scales=journey.scales,
        company=journey.name,
        source=source,
    )


def parse_surveys(
    table: Any,
    *,
    touchpoints: set[str] | None = None,
    scales: dict[str, Any] | None = None,
    company: str = "",
    source: str = "cxray.toml",
) -> SurveySettings:
    fail = _fail(source)
    if not isinstance(table, dict):
        raise fail("surveys", _must_be_table("surveys"))
    own = {k: v for k, v in table.items() if not isinstance(v, dict)}
    _refuse_unknown(own, TOP_KEYS, "surveys", fail, tables_allowed=True)
    fatigue = _number(table, "fatigue_days", "surveys", fail, 30, low=0, high=3650)
    expires = _number(table, "expires_days", "surveys", fail, 30, low=1, high=365)
    email = _name(table, "email", "surveys", fail, "email")
    language = _name(table, "language", "surveys", fail, "language")
    base_url = _text(table, "base_url", "surveys", fail) or "http://127.0.0.1:8000"
    if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", base_url):
        raise fail(
            "surveys",
            Message(
                f"'base_url' must be a web address like https://survey.example.com, "
                f"not {base_url!r}",
                f"'base_url' moet een webadres zijn zoals https://survey.example.com, "
                f"niet {base_url!r}",
            ),
        )
    company = _text(table, "company", "surveys", fail) or company or "us"
    warnings: list[Message] = []
    surveys = []
    for name, spec in table.items():
        if not isinstance(spec, dict):
            continue
        surveys.append(
            _survey(name, spec, expires, touchpoints, scales or {}, company, fail, warnings)
        )
    return SurveySettings(
        surveys=tuple(surveys),
        fatigue_days=fatigue,
        expires_days=expires,
        email=email,
        language=language,
        base_url=base_url,
        company=company,
        warnings=tuple(warnings),
    )


def _survey(
    name: str,
    spec: dict,
    expires_default: float,
    touchpoints: set[str] | None,
    scales: dict[str, Any],
    company: str,
    fail: Fail,
    warnings: list[Message],
) -> Survey:
    where = f"surveys.{name}"
    if not NAME.match(name):
        raise fail(
            where,
            Message(
                "a survey's name holds letters, digits, _ and - only (at most 64)",
                "de naam van een enquête bevat alleen letters, cijfers, _ en - (hoogstens 64)",
            ),
        )
    _refuse_unknown(spec, SURVEY_KEYS, where, fail)
    touchpoint = _text(spec, "touchpoint", where, fail)
    every = _number(spec, "every_months", where, fail, None, low=1, high=120, whole=True)
    if (touchpoint is None) == (every is None):
        raise fail(
            where,
            Message(
                "give either 'touchpoint' (invite after its events) or 'every_months' "
                "(invite on a schedule), not both or neither",
                "geef 'touchpoint' (uitnodigen na de interacties) of 'every_months' "
                "(uitnodigen volgens schema), niet allebei of geen van beide",
            ),
        )
    if touchpoint is not None and touchpoints is not None and touchpoint not in touchpoints:
        warnings.append(
            Message(
                f"[{where}] touchpoint {touchpoint!r} is not in the journey (yet): "
                "nobody is invited until its events arrive",
                f"[{where}] contactmoment {touchpoint!r} staat (nog) niet in de journey: "
                "niemand wordt uitgenodigd tot de interacties ervan binnenkomen",
            )
        )
    metric = _text(spec, "metric", where, fail) or "nps"
    if metric not in METRICS:
        raise fail(
            where,
            Message(
                f"'metric' is one of {', '.join(METRICS)}, not {metric!r}",
                f"'metric' is een van {', '.join(METRICS)}, niet {metric!r}",
            ),
        )
    scale = _scale(metric, scales.get(metric), where, fail)
    expires = _number(spec, "expires_days", where, fail, expires_default, low=1, high=365)
    delay = _number(spec, "delay_days", where, fail, 0 if every is None else 30, low=0, high=365)
    reminder = _number(spec, "reminder_days", where, fail, None, low=0.01, high=365)
    if reminder is not None and reminder >= expires:
        raise fail(
            where,
            Message(
                f"'reminder_days = {reminder:g}' must come before the link expires "
                f"({expires:g} days)",
                f"'reminder_days = {reminder:g}' moet vallen voordat de link verloopt "
                f"({expires:g} dagen)",
            ),
        )
    question = _pair(spec, "question", where, fail) or DEFAULT_QUESTIONS[metric]
    question = Message(
        question.en.replace("{company}", company), question.nl.replace("{company}", company)
    )
    raw_questions = spec.get("questions", [])
    if not isinstance(raw_questions, list):
        raise fail(
            where,
            Message(
                f"'questions' is a list of tables: [[{where}.questions]] with id and text_en",
                f"'questions' is een lijst van tabellen: [[{where}.questions]] met id en text_en",
            ),
        )
    questions: list[Question] = []
    for index, raw in enumerate(raw_questions, start=1):
        questions.append(_question(raw, f"{where}.questions #{index}", questions, fail))
    higher = getattr(scales.get(metric), "higher_is_easier", True)
    return Survey(
        name=name,
        metric=metric,
        scale=scale,
        question=question,
        touchpoint=touchpoint,
        every_months=None if every is None else int(every),
        delay_days=float(delay),
        reminder_days=reminder,
        expires_days=float(expires),
        questions=tuple(questions),
        higher_is_easier=bool(higher),
    )


def _question(raw: Any, where: str, before: list[Question], fail: Fail) -> Question:
    if not isinstance(raw, dict):
        raise fail(where, _must_be_table(where))
    _refuse_unknown(raw, QUESTION_KEYS, where, fail)
    qid = _text(raw, "id", where, fail)
    if qid is None or not NAME.match(qid) or qid in RESERVED_IDS:
        raise fail(
            where,
            Message(
                "'id' names the question: letters, digits, _ and - (not "
                f"{', '.join(sorted(RESERVED_IDS))})",
                "'id' noemt de vraag: letters, cijfers, _ en - (niet "
                f"{', '.join(sorted(RESERVED_IDS))})",
            ),
        )
    if any(q.id == qid for q in before):
        raise fail(
            where, Message(f"'id' {qid!r} is used twice", f"'id' {qid!r} komt twee keer voor")
        )
    text = _pair(raw, "text", where, fail)
    if text is None:
        raise fail(
            where,
            Message(
                "needs the question in both languages: text_en and text_nl",
                "heeft de vraag in beide talen nodig: text_en en text_nl",
            ),
        )
    kind = _text(raw, "kind", where, fail) or "text"
    if kind not in QUESTION_KINDS:
        raise fail(
            where,
            Message(
                f"'kind' is one of {', '.join(QUESTION_KINDS)}, not {kind!r}",
                f"'kind' is een van {', '.join(QUESTION_KINDS)}, niet {kind!r}",
            ),
        )
    return Question(qid, text, kind)


def _scale(metric: str, scale: Any, where: str, fail: Fail) -> tuple[int, int]:
    defaults = {"nps": (0, 10), "ces": (1, 7), "csat": (1, 5)}
    if scale is None:
        return defaults[metric]
    lo, hi = float(scale.min), float(scale.max)
    if not (lo.is_integer() and hi.is_integer()) or not 2 <= hi - lo + 1 <= MAX_SCALE_POINTS:
        raise fail(
            where,
            Message(
                f"the {metric} scale ({lo:g}–{hi:g} in [scales]) must run over 2 to "
                f"{MAX_SCALE_POINTS} whole points to be asked in a survey",
                f"de {metric}-schaal ({lo:g}–{hi:g} in [scales]) moet 2 tot "
                f"{MAX_SCALE_POINTS} hele punten hebben om in een enquête te vragen",
            ),
        )
    return int(lo), int(hi)


# -- small checkers, each naming the key ---------------------------------------------------------
def _must_be_table(where: str) -> Message:
    return Message(
        f"must be a table ([{where}] on a line of its own, keys below it)",
        f"moet een tabel zijn ([{where}] op een eigen regel, de sleutels eronder)",
    )


def _refuse_unknown(
    table: dict, known: set[str], where: str, fail: Fail, *, tables_allowed: bool = False
) -> None:
    unknown = sorted(str(key) for key in set(table) - known)
    if not unknown:
        return
    listed = ", ".join(sorted(known))
    names = ", ".join(repr(name) for name in unknown)
    key_en = "unknown key" if len(unknown) == 1 else "unknown keys"
    key_nl = "onbekende sleutel" if len(unknown) == 1 else "onbekende sleutels"
    more_en = "; a survey is a table: [surveys.NAME]" if tables_allowed else ""
    more_nl = "; een enquête is een tabel: [surveys.NAAM]" if tables_allowed else ""
    raise fail(
        where,
        Message(
            f"{key_en} {names} (known: {listed}){more_en}",
            f"{key_nl} {names} (bekend: {listed}){more_nl}",
        ),
    )


def _text(table: dict, key: str, where: str, fail: Fail) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 2000:
        raise fail(
            where,
            Message(
                f"'{key}' must be text in quotes, e.g. {key} = \"...\"",
                f"'{key}' moet tekst tussen aanhalingstekens zijn, bijv. {key} = \"...\"",
            ),
        )
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise fail(
            where,
            Message(f"'{key}' holds control characters", f"'{key}' bevat besturingstekens"),
        )
    return value.strip()


def _pair(table: dict, stem: str, where: str, fail: Fail) -> Message | None:
    en, nl = _text(table, f"{stem}_en", where, fail), _text(table, f"{stem}_nl", where, fail)
    if en is None and nl is None:
        return None
    if en is None or nl is None:
        given, missing = (
            (f"{stem}_en", f"{stem}_nl") if nl is None else (f"{stem}_nl", f"{stem}_en")
        )
        raise fail(
            where,
            Message(
                f"'{given}' needs '{missing}' too: every text is asked in English and Dutch",
                f"'{given}' vraagt ook '{missing}': elke tekst wordt in het Engels en Nederlands "
                "gesteld",
            ),
        )
    return Message(en, nl)


def _name(table: dict, key: str, where: str, fail: Fail, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not ATTRIBUTE.match(value):
        raise fail(
            where,
            Message(
                f"'{key}' names a customer attribute or column (letters, digits, _ and -), "
                f'e.g. {key} = "{default}"',
                f"'{key}' noemt een kenmerk of kolom van klanten (letters, cijfers, _ en -), "
                f'bijv. {key} = "{default}"',
            ),
        )
    return value


def _number(
    table: dict,
    key: str,
    where: str,
    fail: Fail,
    default: float | None,
    *,
    low: float,
    high: float,
    whole: bool = False,
) -> float | None:
    value = table.get(key)
    if value is None:
        return None if default is None else float(default)
    number_ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not number_ok or not math.isfinite(value) or (whole and not float(value).is_integer()):
        kind_en, kind_nl = (
            ("a whole number", "een geheel getal") if whole else ("a number", "een getal")
        )
        raise fail(
            where,
            Message(
                f"'{key}' must be {kind_en} (without quotes), e.g. {key} = {int(max(low, 1))}",
                f"'{key}' moet {kind_nl} zijn (zonder aanhalingstekens), bijv. "
                f"{key} = {int(max(low, 1))}",
            ),
        )
    if not low <= value <= high:
        raise fail(
            where,
            Message(
                f"'{key} = {value:g}' is outside {low:g}–{high:g}",
                f"'{key} = {value:g}' ligt buiten {low:g}–{high:g}",
            ),
        )
    return float(value)


__all__ = [
    "DEFAULT_QUESTIONS",
    "ENV_BASE_URL",
    "METRICS",
    "REASON_QUESTION",
    "Question",
    "Survey",
    "SurveyConfigError",
    "SurveySettings",
    "parse_surveys",
    "read_surveys",
]
