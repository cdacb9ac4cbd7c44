"""Signing in and out, and the one-time link that makes the first admin."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cxray import accounts
from cxray.i18n import Message, message_of
from cxray.web import security
from cxray.web.views._page import page

router = APIRouter(include_in_schema=False)
TITLE = Message("Sign in", "Aanmelden")


def _safe_next(target: str | None) -> str:
    # only a path on this site: never an address elsewhere
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _landing(user: accounts.User) -> str:
    return "/" if user.may("analyst") else "/customers"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if request.app.state.setup_token and _no_users(request):
        return page(
            request,
            "message.html",
            {"detail": _setup_first()},
            title=TITLE,
            status=200,
        )
    return page(
        request,
        "login.html",
        {"next": _safe_next(next), "error": None},
        title=TITLE,
        context={"csrf": security.csrf_token(request)},
    )


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    security.check_csrf(request, csrf_token)
    throttle: security.LoginThrottle = request.app.state.throttle
    client = request.client.host if request.client else "?"
    keys = (f"name:{name.lower()}", f"address:{client}")
    waiting = throttle.wait_for(*keys)
    error: Message | None = None
    user = None
    if waiting > 0:
        error = security.throttled_text(waiting)
    else:
        with request.app.state.host.workspace() as ws:
            user = accounts.verify(ws.warehouse, name, password)
        if user is None:
            throttle.failed(*keys)
            error = Message("Wrong name or password.", "Verkeerde naam of wachtwoord.")
    if user is None:
        status = 429 if waiting > 0 else 401
        return page(
            request,
            "login.html",
            {"next": _safe_next(next), "error": error},
            title=TITLE,
            status=status,
            context={"csrf": security.csrf_token(request)},
        )
    throttle.succeeded(*keys)
    request.session.clear()  # a new session on sign-in: no fixation
    request.session["user"] = user.name
    security.csrf_token(request)
    target = _safe_next(next)
    return RedirectResponse(target if target != "/" else _landing(user), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    security.check_csrf(request, csrf_token)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _no_users(request: Request) -> bool:
    with request.app.state.host.workspace() as ws:
        return accounts.count_users(ws.warehouse) == 0


def _setup_first() -> Message:
    return Message(
        "There are no users yet: open the one-time link that `cxray serve` printed to make the "
        "first admin (or run `cxray user add NAME --role admin`).",
        "Er zijn nog geen gebruikers: open de eenmalige link die `cxray serve` toonde om de "
        "eerste beheerder te maken (of voer `cxray user add NAAM --role admin` uit).",
    )


def _setup_allowed(request: Request, token: str | None) -> bool:
    expected = request.app.state.setup_token
    return bool(expected and token and hmac.compare_digest(expected, token)) and _no_users(request)


@router.get("/setup")
def setup_form(request: Request, token: str | None = None) -> Response:
    title = Message("Make the first admin", "Maak de eerste beheerder")
    if not _setup_allowed(request, token):
        return page(
            request,
            "message.html",
            {
                "detail": Message(
                    "This link has been used or is not valid. Sign in, or ask an admin.",
                    "Deze link is al gebruikt of niet geldig. Meld je aan, of vraag een beheerder.",
                )
            },
            title=title,
            status=403,
        )
    return page(
        request,
        "setup.html",
        {"token": token, "error": None},
        title=title,
        context={"csrf": security.csrf_token(request)},
    )


@router.post("/setup")
def setup(
    request: Request,
    token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    security.check_csrf(request, csrf_token)
    title = Message("Make the first admin", "Maak de eerste beheerder")
    if not _setup_allowed(request, token):
        return setup_form(request, None)
    try:
        with request.app.state.host.workspace() as ws:
            user = accounts.add_user(ws.warehouse, name, password, "admin")
    except accounts.AccountError as exc:
        return page(
            request,
            "setup.html",
            {"token": token, "error": message_of(exc)},
            title=title,
            status=400,
            context={"csrf": security.csrf_token(request)},
        )
    request.app.state.setup_token = None  # one time only
    request.session.clear()
    request.session["user"] = user.name
    security.csrf_token(request)
    return RedirectResponse("/", status_code=303)
