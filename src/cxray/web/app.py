"""The web app over one workspace: ``create_app(path)`` gives the ASGI app ``cxray serve`` runs.

Pages are server-rendered (Jinja2, autoescaped) with a little plain JavaScript; every asset is
in the package (plotly.js comes with the Plotly package), so the app works offline.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

import cxray
from cxray import accounts
from cxray.analysis.filters import FilterError
from cxray.i18n import Message, message_of, number, text_of
from cxray.labels import channel_label, phase_label
from cxray.warehouse import holder
from cxray.web import security
from cxray.web.host import WorkspaceBusy, WorkspaceHost
from cxray.web.views import _page

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).parent
SESSION_COOKIE = "cxray_session"
SESSION_HOURS = 12


def create_app(
    path: str | Path,
    *,
    holder_secret: str | None = None,
    setup_token: str | None = None,
    warm: bool = False,
    schedule: bool = False,
    send_mail: bool = True,
) -> FastAPI:
    """The app for the workspace at ``path``.

    ``setup_token`` opens ``/setup?token=...`` once, to make the first admin when there are no
    users (``cxray serve`` prints that link); ``holder_secret`` is what a command sends to ask
    the app to let go of the warehouse. ``warm`` computes every page's default view once the
    app has started and again after each import (:mod:`cxray.web.warm`), so that nobody waits
    for the analyses; ``app.state.warmer.report`` hears of each page warmed. ``schedule`` runs
    the background jobs (:mod:`cxray.web.scheduler`: sending due mail unless ``send_mail`` is
    false, and the jobs other modules register).
    """
    path = Path(path)
    cxray.open(path, lock_wait=0.5).close()  # a clear error now rather than on the first page
    app = FastAPI(
        title="cxray",
        version=cxray.__version__,
        description=(
            "Customer-experience analytics. Every page has a JSON twin with the same numbers: "
            "its path with `.json` (the overview: `/index.json`) or `?format=json`. Sign in at "
            "`/login` first; the session cookie then authorises these calls."
        ),
        # the API pages are served below, behind sign-in and from the package (no CDN)
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.host = WorkspaceHost(path)
    app.state.holder_secret = holder_secret or holder.new_secret()
    app.state.setup_token = setup_token
    app.state.throttle = security.LoginThrottle()
    app.state.signed_in_users = {}  # name: ((opened, changes), user), see security.signed_in
    app.state.templates = _templates(path)
    app.add_middleware(
        SessionMiddleware,
        secret_key=security.secret_key(path),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=False,  # the app binds 127.0.0.1 by default; a proxy in front adds TLS
    )
    app.middleware("http")(_safe_headers)
    # before the folder's mount, which would answer this path itself
    app.add_api_route("/static/plotly.min.js", _plotly_js, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")
    app.add_api_route(holder.RELEASE_PATH, _release, methods=["POST"], include_in_schema=False)
    _add_views(app)
    _add_api_docs(app)
    _add_error_pages(app)
    _add_warm_up(app, start=warm)
    _add_scheduler(app, start=schedule, send_mail=send_mail)
    app.router.on_shutdown.append(app.state.host.close)
    return app


def _add_warm_up(app: FastAPI, start: bool) -> None:
    from fastapi import Depends

    from cxray.web.warm import Warmer

    warmer = Warmer(app.state.host)
    app.state.warmer = warmer

    def status() -> JSONResponse:
        return JSONResponse(warmer.status())

    analyst = [Depends(security.require("analyst"))]
    app.add_api_route("/status.json", status, dependencies=analyst, include_in_schema=False)
    if start:
        app.router.on_startup.append(warmer.start)
    app.router.on_shutdown.append(warmer.stop)  # before the host closes the warehouse


def _add_scheduler(app: FastAPI, start: bool, send_mail: bool) -> None:
    from cxray.web.scheduler import Scheduler

    scheduler = Scheduler(app.state.host, send_mail=send_mail)
    app.state.scheduler = scheduler
    if start:
        app.router.on_startup.append(scheduler.start)
    app.router.on_shutdown.append(scheduler.stop)  # before the host closes the warehouse


def _add_views(app: FastAPI) -> None:
    from cxray.web.views import login, overview, users

    for module in (login, overview, users):
        app.include_router(module.router)
    for name in (
        "canvas",
        "touchpoints",
        "flows",
        "why",
        "customers",
        "owners",
        "survey",
        "followups",
        "tasks",
        "outbox",
        "digest",
    ):
        try:
            module = __import__(f"cxray.web.views.{name}", fromlist=["router"])
        except ModuleNotFoundError:
            continue
        app.include_router(module.router)


def _add_api_docs(app: FastAPI) -> None:
    from fastapi import Depends
    from fastapi.openapi.docs import get_swagger_ui_html

    analyst = [Depends(security.require("analyst"))]

    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    def docs() -> Response:
        vendor = "/static/vendor/swagger-ui"
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="cxray API",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    app.add_api_route("/openapi.json", openapi, dependencies=analyst, include_in_schema=False)
    app.add_api_route("/docs", docs, dependencies=analyst, include_in_schema=False)


def _templates(workspace: Path) -> Jinja2Templates:
    # A workspace's own templates/ folder overrides a page; "default:page.html" extends ours.
    package = FileSystemLoader(PACKAGE / "templates")
    loader = ChoiceLoader(
        [
            FileSystemLoader(workspace / "templates"),
            package,
            PrefixLoader({"default": package}, ":"),
        ]
    )
    env = Environment(loader=loader, autoescape=select_autoescape(default=True))
    templates = Jinja2Templates(env=env)
    env.globals.update(
        t=lambda lang, en, nl: nl if lang == "nl" else en,
        text_of=text_of,
        num=lambda value, lang, digits=0: "–" if value is None else number(value, lang, digits),
        pct=_percent,
        score=_score,
        nav=_page.NAV,
        url_with=_page.url_with,
        nav_url=_page.nav_url,
        result_table=_result_table,
        csrf_field=security.CSRF_FIELD,
        # a filter's choices as the reader says them (the value sent stays the data's own)
        choice_label=lambda key, value, lang: (
            phase_label(value, lang)
            if key == "phase"
            else channel_label(value, lang)
            if key == "channel"
            else value
        ),
    )
    env.filters["tojson_safe"] = _tojson
    return templates


def _percent(share: Any, lang: str, digits: int = 0) -> str:
    if share is None:
        return "–"
    return number(100 * float(share), lang, digits) + "%"


def _score(value: Any, unit: str | None, lang: str, signed: bool = False) -> str:
    from cxray.cells import missing, score

    return "–" if missing(value) else score(float(value), unit, lang, signed)


def _result_table(result: Any, lang: str, max_rows: int = 25) -> Markup:
    from cxray.cells import html_table

    return Markup(html_table(result, lang, max_rows))  # html_table escapes every cell


def _tojson(value: Any) -> Markup:
    import json

    text = json.dumps(_page.clean(value))
    # safe inside <script>: no closing tag or HTML comment can be formed
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


async def _safe_headers(request: Request, call_next: Any) -> Response:
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.url.path.startswith("/docs"):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'; frame-ancestors 'none'",
        )
    return response


def _plotly_js() -> FileResponse:
    import plotly

    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return FileResponse(bundled, media_type="application/javascript")


def _release(request: Request, lease: float = holder.LEASE_SECONDS) -> JSONResponse:
    given = request.headers.get(holder.SECRET_HEADER, "")
    if not hmac.compare_digest(given, request.app.state.holder_secret):
        return JSONResponse({"detail": "not allowed"}, status_code=403)
    request.app.state.host.release(lease)
    return JSONResponse({"released": True, "lease": lease})


def _message_page(
    request: Request, status: int, title: Message, text: Message, **extra: Any
) -> Response:
    lang = _page.lang_of(request)
    if _page.wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse({"detail": text_of(text, lang), **extra}, status_code=status)
    return _page.page(
        request, "message.html", {"detail": text}, title=title, status=status, context=extra
    )


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(security.NeedsLogin)
    async def needs_login(request: Request, exc: Exception) -> Response:
        if _page.wants_json(request):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse(_page.url_with(request, "/login", next=request.url.path), 303)

    @app.exception_handler(security.Forbidden)
    async def forbidden(request: Request, exc: security.Forbidden) -> Response:
        return _message_page(
            request,
            403,
            Message("Not allowed", "Niet toegestaan"),
            Message(
                f"This page needs the role {exc.role} or a stronger one.",
                f"Deze pagina vraagt de rol {exc.role} of een sterkere.",
            ),
        )

    @app.exception_handler(security.CsrfRefused)
    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return _message_page(
            request,
            403,
            Message("Form expired", "Formulier verlopen"),
            Message(
                "This form was not sent from this session (or it expired): reload the page "
                "and try again.",
                "Dit formulier kwam niet uit deze sessie (of is verlopen): laad de pagina "
                "opnieuw en probeer het nog eens.",
            ),
        )

    @app.exception_handler(WorkspaceBusy)
    async def busy(request: Request, exc: WorkspaceBusy) -> Response:
        seconds = max(1, round(exc.retry_after))
        response = _message_page(
            request, 503, Message("One moment", "Een moment"), exc.message, refresh=seconds
        )
        response.headers["Retry-After"] = str(seconds)
        return response

    @app.exception_handler(FilterError)
    async def bad_filter(request: Request, exc: FilterError) -> Response:
        return _message_page(
            request,
            400,
            Message("Filter not understood", "Filter niet begrepen"),
            message_of(exc),
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return _message_page(
                request,
                404,
                Message("Not found", "Niet gevonden"),
                Message("There is no such page here.", "Deze pagina bestaat hier niet."),
            )
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return _message_page(
            request, exc.status_code, Message("Refused", "Geweigerd"), Message(detail, detail)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        reference = secrets.token_hex(4)
        log.exception("page %s failed (reference %s)", request.url.path, reference)
        return _message_page(
            request,
            500,
            Message("Something went wrong", "Er ging iets mis"),
            Message(
                f"This page could not be made (reference {reference}, in the server's log).",
                f"Deze pagina kon niet gemaakt worden (kenmerk {reference}, in het log van de "
                "server).",
            ),
        )


__all__ = ["accounts", "create_app"]
