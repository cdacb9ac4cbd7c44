"""Reading a personal link and storing the answer it leads to.

The answer page does only this: check the token (no query), read the invitation by its key,
and on submit write one ``feedback`` row and mark the invitation answered, in one transaction.
The mark is conditional (``WHERE answered_at IS NULL``), so of two submits at once only one
stores a row. Refusals carry why (``Refused.reason``) and the status the page answers with.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from cxray.actions import outbox
from cxray.i18n import Message
from cxray.surveys import store, tokens
from cxray.surveys.config import Survey

MAX_COMMENT = 4000
MAX_ANSWER = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

REFUSALS: dict[str, tuple[int, Message, Message]] = {
    "invalid": (
        404,
        Message("This link does not work", "Deze link werkt niet"),
        Message(
            "The link is not complete or was changed. Open it again from the e-mail you "
            "received, or copy the whole link into the address bar.",
            "De link is niet compleet of is veranderd. Open hem opnieuw vanuit de e-mail die "
            "je ontving, of kopieer de hele link naar de adresbalk.",
        ),
    ),
    "unknown": (
        404,
        Message("Survey not found", "Enquête niet gevonden"),
        Message(
            "We cannot find this survey (any more). Thank you for wanting to answer.",
            "We kunnen deze enquête niet (meer) vinden. Bedankt dat je wilde antwoorden.",
        ),
    ),
    "expired": (
        410,
        Message("This survey has closed", "Deze enquête is gesloten"),
        Message(
            "The link has expired, so answers are no longer collected with it. Thank you for "
            "wanting to answer.",
            "De link is verlopen, dus er worden er geen antwoorden meer mee verzameld. Bedankt "
            "dat je wilde antwoorden.",
        ),
    ),
    "answered": (
        409,
        Message("Already answered, thank you", "Al beantwoord, bedankt"),
        Message(
            "This survey has already been answered with this link. Thank you!",
            "Deze enquête is met deze link al beantwoord. Bedankt!",
        ),
    ),
    "forged": (
        403,
        Message("Form expired", "Formulier verlopen"),
        Message(
            "This form was not sent from the survey page (or it was open too long). Open the "
            "link again and answer there.",
            "Dit formulier kwam niet van de enquêtepagina (of stond te lang open). Open de link "
            "opnieuw en antwoord daar.",
        ),
    ),
}


class Refused(ValueError):
    """A link or form refused: ``reason`` is a key of ``REFUSALS``."""

    def __init__(self, reason: str):
        self.reason = reason
        self.status, self.title, self.text = REFUSALS[reason]
        super().__init__(self.text)


class AnswerError(ValueError):
    """The answer itself cannot be stored (no score, a score off the scale, too long)."""


@dataclass(frozen=True)
class Answer:
    score: int
    comment: str | None
    extra: dict[str, str]
    language: str


def open_invitation(
    warehouse: Any, key: bytes, token: str, now: dt.datetime, *, for_answer: bool = True
) -> store.Invitation:
    """The invitation a link names; ``Refused`` when altered, unknown, expired or (with
    ``for_answer``) answered already."""
    try:
        invitation_id = tokens.read_token(key, token)
    except tokens.TokenError:
        raise Refused("invalid") from None
    invitation = store.get_invitation(warehouse, invitation_id)
    if invitation is None:
        raise Refused("unknown")
    if for_answer:
        if invitation.answered_at is not None:
            raise Refused("answered")
        if invitation.expired(now):
            raise Refused("expired")
    return invitation


def _clean(text: str | None, limit: int, label: Message) -> str | None:
    text = _CONTROL.sub("", (text or "").replace("\r\n", "\n")).strip()
    if len(text) > limit:
        raise AnswerError(
            Message(
                f"{label.en} is {len(text)} characters long; at most {limit}, please",
                f"{label.nl} is {len(text)} tekens lang; hoogstens {limit} graag",
            )
        )
    return text or None


def check_answer(
    survey: Survey, score: str | int | None, comment: str | None, extra: dict[str, str], lang: str
) -> Answer:
    """The answer as it will be stored, or AnswerError saying what to change."""
    try:
        value = int(str(score).strip()) if score is not None and str(score).strip() else None
    except ValueError:
        value = None
    if value is None or value not in survey.scores:
        low, high = survey.scale
        raise AnswerError(
            Message(
                f"Choose a score from {low} to {high} first.",
                f"Kies eerst een score van {low} tot {high}.",
            )
        )
    kept: dict[str, str] = {}
    for question in survey.questions:
        given = _clean(extra.get(question.id), MAX_ANSWER, Message("An answer", "Een antwoord"))
        if given is None:
            continue
        if question.kind == "yes_no" and given not in ("yes", "no"):
            raise AnswerError(Message("Answer yes or no.", "Antwoord ja of nee."))
        kept[question.id] = given
    return Answer(
        score=value,
        comment=_clean(comment, MAX_COMMENT, Message("Your reason", "Je reden")),
        extra=kept,
        language=lang if lang in ("en", "nl") else "en",
    )


def record_answer(
    warehouse: Any,
    invitation: store.Invitation,
    answer: Answer,
    now: dt.datetime,
) -> str:
    """One feedback row and the invitation marked answered, together; ``Refused("answered")``
    when another submit came first. Gives the response id (the invitation's id)."""
    response_id = invitation.invitation_id
    with warehouse.transaction():
        marked = warehouse.sql(
            f"UPDATE {store.INVITATIONS} SET answered_at = ?, response_id = ? "
            "WHERE invitation_id = ? AND answered_at IS NULL AND expires_at > ?",
            [now, response_id, invitation.invitation_id, now],
        ).fetchall()
        if not marked or int(marked[0][0]) != 1:
            raise Refused("answered" if invitation.expires_at > now else "expired")
        warehouse.sql(
            "INSERT INTO feedback (response_id, customer_id, ts, metric, score, comment, "
            "language, touchpoint, event_id, survey_id, properties) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                response_id,
                invitation.customer_id,
                now,
                invitation.metric,
                float(answer.score),
                answer.comment,
                answer.language,
                invitation.touchpoint,
                invitation.event_id,
                invitation.survey,
                json.dumps(answer.extra, ensure_ascii=False, sort_keys=True)
                if answer.extra
                else None,
            ],
        )
    return response_id


def opt_out(warehouse: Any, invitation: store.Invitation, now: dt.datetime) -> bool:
    """No more surveys for the invitation's customer; queued survey mails are cancelled.
    True when this opted out, False when the customer had already."""
    with warehouse.transaction():
        if store.is_opted_out(warehouse, invitation.customer_id):
            return False
        warehouse.sql(
            f"INSERT INTO {store.OPTOUTS} (customer_id, opted_out_at, invitation_id) VALUES (?, ?, ?)",
            [invitation.customer_id, now, invitation.invitation_id],
        )
        outbox.ensure_table(warehouse)
        # queued ──► cancelled: the outbox's own transition for an opt-out
        warehouse.sql(
            f"UPDATE {outbox.OUTBOX_TABLE} SET state = 'cancelled' "
            "WHERE state = 'queued' AND kind IN (?, ?) AND ref IN "
            f"(SELECT invitation_id FROM {store.INVITATIONS} WHERE customer_id = ?)",
            [store.INVITATION_KIND, store.REMINDER_KIND, invitation.customer_id],
        )
    return True


__all__ = [
    "REFUSALS",
    "Answer",
    "AnswerError",
    "Refused",
    "check_answer",
    "open_invitation",
    "opt_out",
    "record_answer",
]
