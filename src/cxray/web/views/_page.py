"""What every view shares: the reader's language, the URL's filters, and one function that
answers a page as HTML or as its JSON twin (``?format=json`` or the path with ``.json``).
"""

from __future__ import annotations

import dataclasses
import math
import urllib.parse
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from markupsafe import escape

from cxray.analysis.filters import FilterError, ReportFilter
from cxray.i18n import LANGS, Message, text_of
from cxray.results import jsonable
from cxray.web.security import csrf_token

LANG_COOKIE = "cxray_lang"
FILTER_KEYS = ("start", "end", "segment", "channel", "phase")

# The navigation: path, English, Dutch, the least role that sees it.
NAV = (
    ("/", "Overview", "Overzicht", "analyst"),
    ("/canvas", "Journey canvas", "Klantreiscanvas", "analyst"),
    ("/touchpoints", "Touchpoints", "Contactmomenten", "analyst"),
    ("/flows", "Flows", "Stromen", "analyst"),
    ("/why", "Why", "Waarom", "analyst"),
    ("/customers", "Customers", "Klanten", "agent"),
    ("/follow-ups", "Follow-ups", "Opvolging", "agent"),
    ("/tasks", "Tasks", "Taken", "agent"),
    ("/owners", "Owners", "Eigenaars", "analyst"),
    ("/digest", "Digest", "Weekoverzicht", "analyst"),
    ("/users", "Users", "Gebruikers", "admin"),
    ("/outbox", "Outbox", "Postvak uit", "admin"),
)


def lang_of(request: Request) -> str:
    """``?lang=``, then the cookie the language switch sets, then the browser's preference."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LANGS:
        return remembered
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or request.query_params.get("format") == "json"


def filters_of(request: Request) -> ReportFilter:
    """The period, segment, channel and phase the URL asks for (FilterError when unreadable)."""
    query = request.query_params
    try:
        return ReportFilter.parse(**{key: query.get(key) or None for key in FILTER_KEYS})
    except ValueError as exc:  # a date that is no date, or an empty period
        if isinstance(exc, FilterError):
            raise
        raise FilterError("bad_period", str(exc), text_of(exc, "nl")) from None


def filter_values(request: Request) -> dict[str, str]:
    return {key: request.query_params[key] for key in FILTER_KEYS if request.query_params.get(key)}


def own_path(request: Request) -> str:
    """This request's path as it was sent, percent-encoded: a header holds Latin-1 only, and a
    name with a slash in it keeps its ``%2F``."""
    raw = request.scope.get("raw_path")
    if raw:
        return raw.decode("latin-1")
    return urllib.parse.quote(request.url.path)


def url_with(request: Request, path: str | None = None, **changes: Any) -> str:
    """This page's URL (or ``path``) keeping the filters, with ``changes`` to its query."""
    query = dict(request.query_params)
    query.pop("format", None)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    target = path if path is not None else own_path(request).removesuffix(".json")
    return target + ("?" + urllib.parse.urlencode(query) if query else "")


def nav_url(request: Request, path: str) -> str:
    """``path`` with this page's filters only: a page's own choices (a search, a page number,
    flows' ``top``) mean nothing, or something else, on another page."""
    query = filter_values(request)
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


def both(router: APIRouter, path: str, **options: Any) -> Callable[[Callable], Callable]:
    """Register a view at ``path`` and at its JSON twin ``path.json``."""
    twin = "/index.json" if path == "/" else path + ".json"

    def register(view: Callable) -> Callable:
        router.add_api_route(path, view, methods=["GET"], **options)
        router.add_api_route(twin, view, methods=["GET"], include_in_schema=False, **options)
        return view

    return register


def clean(value: Any) -> Any:
    """Data as JSON can carry it: no NaN or infinity (null), numbers and dates as JSON knows."""
    value = jsonable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, Message):
        return {"en": value.en, "nl": value.nl}
    return value


def page(
    request: Request,
    template: str,
    data: dict[str, Any],
    *,
    title: Message,
    status: int = 200,
    context: dict[str, Any] | None = None,
    cache: Any = None,
) -> Response:
    """The page as HTML, or ``data`` as JSON for its twin (same numbers, no markup).

    ``cache`` (anything hashable that, with the URL, the language and the reader's role, settles
    what the page shows) keeps the answer's body for this state of the data: a page made from
    cached analyses is then sent without being rendered again. The reader's own parts (their name,
    their session's form token) are put in on the way out."""
    lang = lang_of(request)
    as_json = wants_json(request)
    user = getattr(request.state, "user", None)

    def render(user: Any, csrf: str) -> tuple[bytes, str]:
        if as_json:
            answer: Response = JSONResponse(clean(data), status_code=status)
        else:
            values = {
                "request": request,
                "data": data,
                "title": text_of(title, lang),
                "lang": lang,
                "json_url": url_with(request, format="json"),
                "user": user,
                "csrf": csrf,
                **(context or {}),
            }
            answer = request.app.state.templates.TemplateResponse(
                request, template, values, status_code=status
            )
        return bytes(answer.body), answer.media_type or "text/html"

    if cache is None or status != 200:
        body, media_type = render(user, csrf_token(request))
    else:
        role = getattr(user, "role", None)
        key = ("page", cache, request.url.path, request.url.query, lang, as_json, role)
        stand_in = dataclasses.replace(user, name=_USER_MARK) if user is not None else None
        body, media_type = request.app.state.host.drawn(key, lambda: render(stand_in, _CSRF_MARK))
        if user is not None and not as_json:
            body = body.replace(_CSRF_MARK.encode(), csrf_token(request).encode())
            body = body.replace(_USER_MARK.encode(), str(escape(user.name)).encode())
    response = Response(body, status_code=status, media_type=media_type)
    if not as_json:
        response.headers["Link"] = (
            f'<{url_with(request, format="json")}>; rel="alternate"; type="application/json"'
        )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


# What a kept page holds in place of the reader's own parts (letters and digits only, so that no
# escaping in HTML, attributes or scripts changes them)
_CSRF_MARK = "cxrayFormToken4Jq7Zr2Lw9"
_USER_MARK = "cxrayReaderName8Tp3Vx6Kd1"
