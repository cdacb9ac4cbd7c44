"""Tasks: one list for staff of the playbooks' open tasks (a personal letter, a call) and the
advocacy asks still without a result; agents mark a task done with its outcome and record what
came of an ask. The JSON twin carries the same rows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from cxray.accounts import User
from cxray.actions import advocacy as A
from cxray.actions import playbooks as P
from cxray.i18n import Message, message_of
from cxray.web import security
from cxray.web.views._page import both, page
from cxray.web.views.customers import customer_url

router = APIRouter(tags=["tasks"])
Agent = Annotated[User, Depends(security.require("agent"))]
TITLE = Message("Tasks", "Taken")
LIMIT = 200
KINDS = ("task", "ask")
HELPERS = {
    "outcomes": P.OUTCOMES,
    "outcome_words": P.OUTCOME_WORDS,
    "moment_words": P.MOMENT_WORDS,
    "results": A.RESULTS,
    "result_words": A.RESULT_WORDS,
    "kind_words": A.KIND_WORDS,
    "customer_url": customer_url,
}


def _listing(request: Request, user: User) -> dict[str, Any]:
    query = request.query_params
    kind = query.get("kind") if query.get("kind") in KINDS else None
    playbook = query.get("playbook") or None
    assignee = user.name if query.get("mine") in ("1", "true", "yes") else None
    assignee = assignee or query.get("assignee") or None
    with request.app.state.host.workspace() as ws:
        tasks = [] if kind == "ask" else P.list_tasks(
            ws.warehouse, status="open", playbook=playbook, assignee=assignee, limit=LIMIT
        )  # fmt: skip
        asks = [] if kind == "task" or playbook or assignee else A.list_asks(
            ws.warehouse, result="none", limit=LIMIT
        )  # fmt: skip
        books = [b.name for b in P.read_playbooks(ws.journey)]
        people = sorted({t.assignee for t in P.list_tasks(ws.warehouse, status="open",
                                                          limit=10_000) if t.assignee})  # fmt: skip
    return {
        "filters": {"kind": kind, "playbook": playbook, "assignee": assignee},
        "tasks": [t.to_dict() for t in tasks],
        "asks": [a.to_dict() for a in asks],
        "playbooks": books,
        "people": people,
    }


def _page(
    request: Request, user: User, *, error: Message | None = None, status: int = 200
) -> Response:
    try:
        data = _listing(request, user)
    except (P.PlaybookError, A.AdvocacyError) as exc:
        data = {"filters": {}, "tasks": [], "asks": [], "playbooks": [], "people": []}
        error, status = message_of(exc), 400
    if error is not None:
        data["detail"] = error
    return page(request, "tasks.html", data, title=TITLE, status=status, context=HELPERS)


@both(router, "/tasks")
def tasks_page(request: Request, user: Agent) -> Response:
    """Open tasks of the playbooks and asks without a result: filter by kind, playbook, person."""
    return _page(request, user)


@router.post("/tasks/{task_id}", include_in_schema=False)
def finish_task(
    request: Request,
    user: Agent,
    task_id: str,
    outcome: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Mark a task done with its outcome (and a note), as the signed-in user."""
    security.check_csrf(request, csrf_token)
    try:
        with request.app.state.host.workspace() as ws:
            task = P.get_task(ws.warehouse, task_id)
            if task is None or task.held_out:
                raise HTTPException(404)
            P.complete_task(ws.warehouse, task_id, outcome, actor=user.name, note=note or None)
    except P.PlaybookError as exc:
        return _page(request, user, error=message_of(exc), status=400)
    return RedirectResponse("/tasks", status_code=303)


@router.post("/tasks/asks/{ask_id}", include_in_schema=False)
def record_ask(
    request: Request,
    user: Agent,
    ask_id: str,
    result: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Record what came of an ask (clicked, reviewed, referred)."""
    security.check_csrf(request, csrf_token)
    try:
        with request.app.state.host.workspace() as ws:
            if A.get_ask(ws.warehouse, ask_id) is None:
                raise HTTPException(404)
            A.record_result(ws.warehouse, ask_id, result, actor=user.name)
    except A.AdvocacyError as exc:
        return _page(request, user, error=message_of(exc), status=400)
    return RedirectResponse("/tasks", status_code=303)
