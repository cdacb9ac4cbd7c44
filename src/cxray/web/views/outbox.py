"""The outbox (admins only): mails per state, the latest mails with their attempts and last
error, bounced addresses, the SMTP settings in use (never the password) and the scheduler's
jobs. Its JSON twin is ``/outbox.json``; the jobs alone are ``/scheduler.json``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cxray import accounts
from cxray.actions import bounces, outbox
from cxray.actions.mailer import MailSettingsError, read_settings
from cxray.i18n import Message, message_of, text_of
from cxray.web import security
from cxray.web.views._page import both, clean, lang_of, page

router = APIRouter(tags=["outbox"])
TITLE = Message("Outbox", "Postvak uit")
Admin = Annotated[accounts.User, Depends(security.require("admin"))]
SHOWN = 50
STATE_NAMES = {
    "queued": Message("queued", "in de wachtrij"),
    "sending": Message("sending", "wordt verstuurd"),
    "sent": Message("sent", "verstuurd"),
    "failed": Message("failed", "mislukt"),
    "bounced": Message("bounced", "onbestelbaar"),
    "cancelled": Message("cancelled", "geannuleerd"),
}


def _scheduler_status(request: Request) -> dict[str, Any] | None:
    scheduler = getattr(request.app.state, "scheduler", None)
    return None if scheduler is None else scheduler.status()


def outbox_data(request: Request, state: str | None) -> dict[str, Any]:
    with request.app.state.host.workspace() as ws:
        warehouse = ws.warehouse
        counts = outbox.counts_of(warehouse)
        mails = outbox.latest(warehouse, SHOWN, state)
        oldest, next_due = outbox.queue_times(warehouse)
        bounced = bounces.latest(warehouse, 10)
        bounced_count = bounces.count(warehouse)
        journey_settings = ws.journey.settings
    try:
        settings: dict[str, Any] | None = read_settings(journey_settings).to_dict()
        settings_error = None
    except MailSettingsError as exc:
        settings, settings_error = None, message_of(exc)
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "state": state,
        "mails": [mail.to_dict() for mail in mails],
        "oldest_queued": oldest,
        "next_due": next_due,
        "bounces": {"count": bounced_count, "latest": bounced},
        "settings": settings,
        "settings_error": settings_error,
        "scheduler": _scheduler_status(request),
    }


@both(router, "/outbox")
def outbox_page(request: Request, user: Admin, state: str | None = None) -> Response:
    """Mails per state, the latest mails (``?state=`` for one state), bounces, the jobs."""
    if state is not None and state not in outbox.STATES:
        known = ", ".join(outbox.STATES)
        raise HTTPException(
            400,
            detail=text_of(
                Message(
                    f"unknown state {state!r}; known: {known}",
                    f"onbekende toestand {state!r}; bekend: {known}",
                ),
                lang_of(request),
            ),
        )
    notice = request.query_params.get("done")
    return page(
        request,
        "outbox.html",
        outbox_data(request, state),
        title=TITLE,
        context={"state_names": STATE_NAMES, "notice": notice},
    )


@router.get("/scheduler.json", include_in_schema=False)
def scheduler_status(request: Request, user: Admin) -> Response:
    """The background jobs: each one's last run, how long it took, what it said, its error."""
    return JSONResponse(clean(_scheduler_status(request) or {"running": False, "jobs": []}))


@router.post("/outbox", include_in_schema=False)
def outbox_action(
    request: Request,
    user: Admin,
    action: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """``retry-failed`` queues the failed mails again; ``run-jobs`` runs the jobs now."""
    security.check_csrf(request, csrf_token)
    if action == "retry-failed":
        import datetime as dt

        with request.app.state.host.workspace() as ws:
            count = outbox.requeue_failed(ws.warehouse, dt.datetime.now(dt.UTC))
        return RedirectResponse(f"/outbox?done=requeued-{count}", status_code=303)
    if action == "run-jobs":
        scheduler = getattr(request.app.state, "scheduler", None)
        if scheduler is not None and scheduler.running:
            scheduler.kick()
            return RedirectResponse("/outbox?done=kicked", status_code=303)
        return RedirectResponse("/outbox?done=not-running", status_code=303)
    raise HTTPException(400, detail=f"unknown action {action!r}")
