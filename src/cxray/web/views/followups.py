"""Follow-ups: the list (filters, counts, overdue warnings), one follow-up's page where an agent
works it, and whether following up helps (analysts).

Agents see and work the follow-ups to do; held-out follow-ups (kept unworked at random to measure
the effect) are shown to analysts only, as is the effect and the whole list as data.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from cxray.accounts import User
from cxray.actions import followups as F
from cxray.actions.followup_effect import GROUP_WORDS, followup_effect
from cxray.actions.followup_rules import FollowupRulesError
from cxray.i18n import Message, message_of, text_of
from cxray.web import security
from cxray.web.views._page import both, lang_of, page, wants_json
from cxray.web.views.customers import customer_url

router = APIRouter(tags=["follow-ups"])
Agent = Annotated[User, Depends(security.require("agent"))]
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Follow-ups", "Opvolging")
EFFECT_TITLE = Message("Does following up help?", "Helpt opvolgen?")
PAGE_SIZE = 100
HELPERS = {
    "states": F.STATES,
    "outcomes": F.OUTCOMES,
    "state_words": F.STATE_WORDS,
    "outcome_words": F.OUTCOME_WORDS,
    "group_words": GROUP_WORDS,
    "customer_url": customer_url,
}


def _refused(request: Request, exc: Exception) -> HTTPException:
    return HTTPException(400, detail=text_of(message_of(exc), lang_of(request)))


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    try:
        return default if raw in (None, "") else int(raw)
    except ValueError:
        raise HTTPException(
            400,
            detail=text_of(
                Message(f"{name} must be a whole number", f"{name} moet een geheel getal zijn"),
                lang_of(request),
            ),
        ) from None


def followup_url(followup_id: str) -> str:
    return f"/follow-ups/{followup_id}"


@both(router, "/follow-ups")
def followups_page(request: Request, user: Agent) -> Response:
    """Follow-ups to work, overdue first: filter by status, assignee, touchpoint, overdue."""
    query = request.query_params
    analyst = user.may("analyst")
    if wants_json(request) and not analyst:
        raise security.Forbidden("analyst")  # the whole list as data is an export
    held = query.get("held_out") in ("1", "true", "yes") and analyst
    filters = {
        "status": query.get("status") or None,
        "assignee": query.get("assignee") or None,
        "touchpoint": query.get("touchpoint") or None,
        "overdue": query.get("overdue") in ("1", "true", "yes"),
    }
    if query.get("mine") in ("1", "true", "yes"):
        filters["assignee"] = user.name
    try:
        with request.app.state.host.workspace() as ws:
            listing = F.list_followups(
                ws.warehouse, **filters, held_out=held, limit=_int(request, "limit", PAGE_SIZE),
                offset=_int(request, "offset", 0),
            )  # fmt: skip
            people = F.assignees(ws.warehouse)
            touchpoints = sorted(ws.journey.touchpoints)
    except F.FollowupError as exc:
        raise _refused(request, exc) from None
    data = {**listing.to_dict(), "filters": {**filters, "held_out": held}}
    return page(
        request, "followups.html", data, title=TITLE,
        context={
            "listing": listing, "people": people, "touchpoints": touchpoints,
            "analyst": analyst, "hide_json": not analyst, "url_of": followup_url, **HELPERS,
        },
    )  # fmt: skip


@both(router, "/follow-ups/effect")
def effect_page(request: Request, user: Analyst) -> Response:
    """Churn and later answers of detractors followed up against the rest, with intervals."""
    with request.app.state.host.workspace() as ws:
        try:
            effect = followup_effect(ws)
        except FollowupRulesError as exc:
            raise _refused(request, exc) from None
    return page(
        request, "followup_effect.html", effect.to_dict(), title=EFFECT_TITLE,
        context={"effect": effect, **HELPERS},
    )  # fmt: skip


def _followup_page(
    request: Request, user: User, followup_id: str, *, error: Message | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    with request.app.state.host.workspace() as ws:
        followup = F.get(ws.warehouse, followup_id)
        if followup is None or (followup.held_out and not user.may("analyst")):
            raise HTTPException(404)
        answer = F.answer_of(ws.warehouse, followup.response_id)
        notes = F.notes(ws.warehouse, followup.followup_id)
        log = F.changes(ws.warehouse, followup.followup_id)
    now = dt.datetime.now(dt.UTC)
    data = {
        "followup": followup.to_dict(now),
        "answer": answer,
        "notes": [n.to_dict() for n in notes],
        "changes": [c.to_dict() for c in log],
        "customer_url": customer_url(followup.customer_id) if followup.customer_id else None,
    }
    if error is not None:
        data["detail"] = error
    return page(
        request, "followup.html", data, status=status,
        title=Message(f"Follow-up {followup.followup_id}", f"Opvolging {followup.followup_id}"),
        context={"transitions": sorted(F.TRANSITIONS[followup.status]), **HELPERS},
    )  # fmt: skip


@router.get("/follow-ups/{followup_id}.json", include_in_schema=False)
def followup_json(request: Request, user: Agent, followup_id: str) -> Response:
    return _followup_page(request, user, followup_id)


@router.get("/follow-ups/{followup_id}")
def followup_page(request: Request, user: Agent, followup_id: str) -> Response:
    """One follow-up: the answer that opened it, its notes and history, the form to work it."""
    return _followup_page(request, user, followup_id)


@router.post("/follow-ups/{followup_id}", include_in_schema=False)
def change_followup(
    request: Request,
    user: Agent,
    followup_id: str,
    status: Annotated[str, Form()] = "",
    outcome: Annotated[str | None, Form()] = None,
    root_cause: Annotated[str | None, Form()] = None,
    assignee: Annotated[str | None, Form()] = None,
    note: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Change status, outcome, root cause or assignee and add a note, as the signed-in user."""
    security.check_csrf(request, csrf_token)
    try:
        with request.app.state.host.workspace() as ws:
            current = F.get(ws.warehouse, followup_id)
            if current is None or (current.held_out and not user.may("analyst")):
                raise HTTPException(404)
            F.update(
                ws.warehouse, followup_id, actor=user.name, status=status or None,
                outcome=outcome, root_cause=root_cause, assignee=assignee,
                note=note if note.strip() else None,
            )  # fmt: skip
    except F.FollowupError as exc:
        return _followup_page(request, user, followup_id, error=message_of(exc), status=400)
    return RedirectResponse(followup_url(followup_id), status_code=303)
