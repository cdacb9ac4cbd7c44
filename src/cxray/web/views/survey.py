"""The public answer pages: ``/s/{token}`` (the survey) and ``/s/{token}/opt-out``.

No session and no staff layout: a customer opens the link from a mail. A GET never stores
anything (mail scanners fetch links); a POST carries a nonce signed for this invitation
(:func:`cxray.surveys.tokens.form_nonce`), so a form from another site is refused.

These pages must not wait for the app's analyses: like every request they read through their
thread's own cursor on the app's warehouse (:mod:`cxray.web.host`), and do two indexed lookups
and one insert.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from cxray import journey as journey_mod
from cxray.actions import outbox
from cxray.i18n import LANGS, Message
from cxray.surveys import answers, store, tokens
from cxray.surveys.config import SurveySettings, read_surveys
from cxray.surveys.invitations import survey_for
from cxray.warehouse import Warehouse
from cxray.web.host import WorkspaceBusy, WorkspaceHost

router = APIRouter(include_in_schema=False)
BUSY = Message(
    "We are updating our data. Please try again in a moment.",
    "We werken onze gegevens bij. Probeer het over een moment opnieuw.",
)


class Desk:
    """The answer pages' hold on the warehouse, the survey key and the survey settings."""

    def __init__(self, host: WorkspaceHost):
        self.host = host
        self.key = tokens.workspace_key(host.path)
        self._lock = threading.Lock()
        self._opened = -1
        self._settings: tuple[int | None, SurveySettings] | None = None

    @contextlib.contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        """This thread's cursor on the app's warehouse (the host's), with the survey tables."""
        with self.host.workspace() as ws:
            if self._opened != self.host.opened:  # once per opening of the warehouse
                with self._lock:
                    store.ensure_tables(ws.warehouse)
                    outbox.ensure_table(ws.warehouse)
                    self._opened = self.host.opened
            yield ws.warehouse

    def settings(self) -> SurveySettings:
        path = self.host.path / "cxray.toml"
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if self._settings is None or self._settings[0] != stamp:
            self._settings = (stamp, read_surveys(journey_mod.load(path)))
        return self._settings[1]


def _desk(request: Request) -> Desk:
    desk = getattr(request.app.state, "survey_desk", None)
    if desk is None:
        desk = request.app.state.survey_desk = Desk(request.app.state.host)
    return desk


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lang(request: Request, invitation: store.Invitation | None, given: str | None = None) -> str:
    for asked in (given, request.query_params.get("lang")):
        if asked in LANGS:
            return asked
    if invitation is not None and invitation.language in LANGS:
        return invitation.language
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def _render(
    request: Request, template: str, status: int, lang: str, values: dict[str, Any]
) -> Response:
    query = dict(request.query_params)
    other = "nl" if lang == "en" else "en"
    query["lang"] = other
    context = {
        "lang": lang,
        "other_lang": other,
        "switch_url": request.url.path + "?" + urllib.parse.urlencode(query),
        "company": "",
        **values,
    }
    response = request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )
    # personal pages: not cached, not indexed, the token never sent to another site (and with
    # "same-origin" rather than "no-referrer" a browser still names this site as the Origin
    # of the form it posts)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _message(
    request: Request,
    status: int,
    lang: str,
    title: Message,
    text: Message,
    company: str = "",
    **extra: Any,
) -> Response:
    values = {"title": title.text(lang), "text": text.text(lang), "company": company, **extra}
    response = _render(request, "survey_message.html", status, lang, values)
    if status == 503:
        response.headers["Retry-After"] = "2"
    return response


def _refused(request: Request, refusal: answers.Refused, lang: str, company: str) -> Response:
    return _message(request, refusal.status, lang, refusal.title, refusal.text, company)


def _busy(request: Request) -> Response:
    lang = _lang(request, None)
    return _message(request, 503, lang, Message("One moment", "Een moment"), BUSY, refresh=3)


def _form(
    request: Request,
    desk: Desk,
    token: str,
    invitation: store.Invitation,
    lang: str,
    *,
    status: int = 200,
    chosen: int | None = None,
    comment: str | None = None,
    extra: dict[str, str] | None = None,
    error: Message | None = None,
) -> Response:
    settings = desk.settings()
    survey = survey_for(settings, invitation)
    low, high = survey.ends
    quoted = urllib.parse.quote(token, safe=".")
    values = {
        "title": Message("Your opinion", "Jouw mening").text(lang),
        "company": settings.company,
        "action": f"/s/{quoted}",
        "opt_out_url": f"/s/{quoted}/opt-out?lang={lang}",
        "nonce": tokens.form_nonce(desk.key, invitation.invitation_id),
        "question": survey.question.text(lang),
        "reason": survey.reason_question.text(lang),
        "scores": survey.scores,
        "chosen": chosen,
        "low": low.text(lang),
        "high": high.text(lang),
        "questions": [
            {"id": q.id, "kind": q.kind, "text": q.text.text(lang)} for q in survey.questions
        ],
        "comment": comment,
        "extra": extra or {},
        "error": error.text(lang) if error else None,
        "t": lambda lang, en, nl: nl if lang == "nl" else en,
    }
    return _render(request, "survey.html", status, lang, values)


def _same_site(request: Request, settings: SurveySettings) -> bool:
    """A browser names the page a form came from; another site's page is refused."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin != "null"
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    parsed = urllib.parse.urlsplit(settings.link_base)
    allowed.add(f"{parsed.scheme}://{parsed.netloc}")
    return origin in allowed


@router.get("/s/{token}")
def survey_page(request: Request, token: str, score: str | None = None) -> Response:
    desk = _desk(request)
    try:
        with desk.warehouse() as warehouse:
            invitation = answers.open_invitation(warehouse, desk.key, token, _now())
    except answers.Refused as refusal:
        return _refused(request, refusal, _lang(request, None), desk.settings().company)
    except WorkspaceBusy:
        return _busy(request)
    chosen = int(score) if score is not None and score.strip().lstrip("-").isdigit() else None
    return _form(request, desk, token, invitation, _lang(request, invitation), chosen=chosen)


async def _whole_form(request: Request) -> Any:
    """Every field posted (the extra questions' fields are named by the survey)."""
    return await request.form()


@router.post("/s/{token}")
def answer(
    request: Request,
    token: str,
    score: Annotated[str | None, Form()] = None,
    comment: Annotated[str | None, Form()] = None,
    nonce: Annotated[str, Form()] = "",
    lang: Annotated[str | None, Form()] = None,
    form: Annotated[Any, Depends(_whole_form)] = None,
) -> Response:
    desk = _desk(request)
    settings = desk.settings()
    now = _now()
    try:
        with desk.warehouse() as warehouse:
            invitation = answers.open_invitation(warehouse, desk.key, token, now)
            shown = _lang(request, invitation, lang)
            if not _same_site(request, settings) or not tokens.check_nonce(
                desk.key, invitation.invitation_id, nonce
            ):
                raise answers.Refused("forged")
            survey = survey_for(settings, invitation)
            extra = {q.id: str(form.get(f"q_{q.id}", "")) for q in survey.questions}
            try:
                given = answers.check_answer(survey, score, comment, extra, shown)
            except answers.AnswerError as exc:
                chosen = int(score) if score and score.strip().isdigit() else None
                return _form(
                    request,
                    desk,
                    token,
                    invitation,
                    shown,
                    status=400,
                    chosen=chosen,
                    comment=comment,
                    extra=extra,
                    error=exc.args[0],
                )
            try:
                answers.record_answer(warehouse, invitation, given, now)
            except duckdb.TransactionException:  # a submit at the same moment won
                raise answers.Refused("answered") from None
    except answers.Refused as refusal:
        return _refused(request, refusal, _lang(request, None, lang), settings.company)
    except WorkspaceBusy:
        return _busy(request)
    return _message(
        request,
        200,
        shown,
        Message("Thank you!", "Bedankt!"),
        Message(
            "Your answer has been saved. It helps us do better.",
            "Je antwoord is opgeslagen. Het helpt ons beter te worden.",
        ),
        settings.company,
    )


@router.get("/s/{token}/opt-out")
def opt_out_page(request: Request, token: str) -> Response:
    desk = _desk(request)
    settings = desk.settings()
    try:
        with desk.warehouse() as warehouse:
            invitation = answers.open_invitation(
                warehouse, desk.key, token, _now(), for_answer=False
            )
            already = store.is_opted_out(warehouse, invitation.customer_id)
    except answers.Refused as refusal:
        return _refused(request, refusal, _lang(request, None), settings.company)
    except WorkspaceBusy:
        return _busy(request)
    lang = _lang(request, invitation)
    if already:
        return _opted_out(request, lang, settings.company)
    return _message(
        request,
        200,
        lang,
        Message("No more surveys?", "Geen enquêtes meer?"),
        Message(
            f"Confirm below and {settings.company} will send you no more surveys.",
            f"Bevestig hieronder en {settings.company} stuurt je geen enquêtes meer.",
        ),
        settings.company,
        confirm_action=f"/s/{urllib.parse.quote(token, safe='.')}/opt-out",
        confirm_label=Message("Yes, no more surveys", "Ja, geen enquêtes meer").text(lang),
        nonce=tokens.form_nonce(desk.key, invitation.invitation_id),
    )


def _opted_out(request: Request, lang: str, company: str) -> Response:
    return _message(
        request,
        200,
        lang,
        Message("You are opted out", "Je bent afgemeld"),
        Message(
            f"{company} will send you no more surveys.",
            f"{company} stuurt je geen enquêtes meer.",
        ),
        company,
    )


@router.post("/s/{token}/opt-out")
def opt_out(
    request: Request,
    token: str,
    nonce: Annotated[str, Form()] = "",
    lang: Annotated[str | None, Form()] = None,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
) -> Response:
    desk = _desk(request)
    settings = desk.settings()
    try:
        with desk.warehouse() as warehouse:
            invitation = answers.open_invitation(
                warehouse, desk.key, token, _now(), for_answer=False
            )
            # a mail program's one-click opt-out (RFC 8058) posts without the page's nonce
            by_mail_program = one_click == "One-Click"
            if not by_mail_program and (
                not _same_site(request, settings)
                or not tokens.check_nonce(desk.key, invitation.invitation_id, nonce)
            ):
                raise answers.Refused("forged")
            answers.opt_out(warehouse, invitation, _now())
    except answers.Refused as refusal:
        return _refused(request, refusal, _lang(request, None, lang), settings.company)
    except WorkspaceBusy:
        return _busy(request)
    return _opted_out(request, _lang(request, invitation, lang), settings.company)


__all__ = ["Desk", "router"]
