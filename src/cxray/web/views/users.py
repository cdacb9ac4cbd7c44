"""Users and their roles (admins only): add, change a role, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from cxray import accounts
from cxray.i18n import Message, message_of
from cxray.web import security
from cxray.web.views._page import both, page

router = APIRouter(tags=["users"])
TITLE = Message("Users", "Gebruikers")
Admin = Annotated[accounts.User, Depends(security.require("admin"))]


def _listing(request: Request, error: Message | None = None, status: int = 200) -> Response:
    with request.app.state.host.workspace() as ws:
        users = accounts.list_users(ws.warehouse)
    return page(
        request,
        "users.html",
        {
            "users": [user.to_dict() for user in users],
            "roles": list(accounts.ROLES),
            "error": error,
        },
        title=TITLE,
        status=status,
        context={"csrf": security.csrf_token(request)},
    )


@both(router, "/users")
def users(request: Request, user: Admin) -> Response:
    """Every user with their role."""
    return _listing(request)


@router.post("/users", include_in_schema=False)
def change_users(
    request: Request,
    user: Admin,
    action: Annotated[str, Form()],
    name: Annotated[str, Form()],
    role: Annotated[str, Form()] = "analyst",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    security.check_csrf(request, csrf_token)
    try:
        with request.app.state.host.workspace() as ws:
            if action == "add":
                accounts.add_user(ws.warehouse, name, password, role)
            elif action == "role":
                accounts.set_role(ws.warehouse, name, role)
            elif action == "remove":
                if name == user.name:
                    raise accounts.AccountError(
                        Message("you cannot remove yourself", "je kunt jezelf niet verwijderen")
                    )
                accounts.remove_user(ws.warehouse, name)
            else:
                raise accounts.AccountError(
                    Message(f"unknown action {action!r}", f"onbekende actie {action!r}")
                )
    except accounts.AccountError as exc:
        return _listing(request, message_of(exc), status=400)
    return RedirectResponse("/users", status_code=303)
