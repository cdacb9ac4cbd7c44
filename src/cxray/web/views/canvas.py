"""The journey canvas: one column per phase filled in by the data, text lanes a workshop edits,
and its export as PDF (A3 landscape) and PNG for the wall.

The export renders the HTML this view made in Debian's Chromium through Playwright: the page is
handed to the browser as it is, its static files are answered from the package, and nothing
else is fetched. The browser never calls back into the app, so no request waits for the
workspace that another one holds.
"""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cxray import canvas_notes
from cxray.accounts import User
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.i18n import Message, message_of, text_of
from cxray.labels import UNASSIGNED
from cxray.web import security
from cxray.web.views._page import both, filter_values, filters_of, lang_of, page, wants_json

log = logging.getLogger(__name__)
router = APIRouter(tags=["canvas"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Journey canvas", "Klantreiscanvas")
STATIC = Path(__file__).resolve().parent.parent / "static"
EXPORT_WIDTH = 1500  # px: the printable width of an A3 landscape page with 10 mm margins
PAGE_HEIGHT = 1040  # px: its printable height; the board is scaled to fit one page
EXPORT_TIMEOUT = 30_000  # ms


class ExportUnavailable(RuntimeError):
    """No Chromium or no Playwright here: the page says to print from the browser instead."""


def canvas_of(host: Any, filters: ReportFilter) -> Any:
    """The canvas under ``filters``, cached (the warm-up asks for it with no filters)."""
    from cxray.analysis.canvas import canvas

    return host.cached(("canvas", filters), lambda ws: canvas(apply_filters(ws, filters)))


def canvas_result(request: Request) -> Any:
    return canvas_of(request.app.state.host, filters_of(request))


def _notes(request: Request) -> dict[tuple[str, str], canvas_notes.Note]:
    # read on every request: notes change without an import, which is what the cache follows
    with request.app.state.host.workspace() as ws:
        return canvas_notes.read_notes(ws.warehouse)


def _render(request: Request, exporting: bool = False) -> Response:
    from cxray.web.charts_canvas import emotion_curve, face

    result = canvas_result(request)
    notes = _notes(request)
    data = {
        **request.app.state.host.drawn(("canvas", "dict", filters_of(request)), result.to_dict),
        "notes": [note.to_dict() for note in notes.values()],
        "filters": filter_values(request),
    }
    # the notes change without an import: each saved note makes a new page to keep
    kept = ("canvas", exporting, tuple((key, note.updated_at) for key, note in notes.items()))
    if wants_json(request):
        return page(request, "canvas.html", data, title=TITLE, cache=kept)
    from cxray.web.views.overview import choices

    lang = lang_of(request)
    lanes = {lane: {} for lane in canvas_notes.LANES}
    for (lane, key), note in notes.items():
        lanes.setdefault(lane, {})[key] = note
    query = urllib.parse.urlencode(filter_values(request))
    here = "/canvas" + (f"?{query}" if query else "")
    return page(
        request,
        "canvas.html",
        data,
        title=TITLE,
        context={
            "result": result,
            "chart": request.app.state.host.drawn(
                ("canvas", filters_of(request), lang), lambda: emotion_curve(result, lang)
            ),
            "face": face,
            "lanes": lanes,
            "max_text": canvas_notes.MAX_TEXT,
            "choices": choices(request),
            "exporting": exporting,
            "here": here,
            "export_query": ("?" + query) if query else "",
        },
        cache=kept,
    )


@both(router, "/canvas")
def canvas_page(request: Request, user: Analyst) -> Response:
    """Phases with their touchpoints, drop-off, emotion curve, pain points and opportunities."""
    return _render(request)


def _known_keys(ws: Any) -> dict[str, list[str]]:
    journey = ws.journey
    return {"phase": [*journey.phases, UNASSIGNED], "touchpoint": list(journey.touchpoints)}


def _back(target: str) -> str:
    """Where to go after saving: a canvas URL of this app, nothing else (no open redirect)."""
    parts = urllib.parse.urlsplit(target or "")
    if parts.scheme or parts.netloc or parts.path != "/canvas":
        return "/canvas"
    return parts.path + (f"?{parts.query}" if parts.query else "")


@router.post("/canvas/notes", include_in_schema=False)
def save_note(
    request: Request,
    user: Analyst,
    lane: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/canvas",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Keep one text lane's note (an empty text removes it); back to the canvas, or JSON."""
    security.check_csrf(request, csrf_token)
    as_json = "application/json" in request.headers.get("accept", "")
    try:
        with request.app.state.host.workspace() as ws:
            note = canvas_notes.save_note(ws.warehouse, lane, key, text, user.name, _known_keys(ws))
    except canvas_notes.NoteError as exc:
        message = message_of(exc)
        if as_json:
            lang = lang_of(request)
            return JSONResponse({"detail": text_of(message, lang)}, status_code=400)
        return page(
            request,
            "message.html",
            {"detail": message},
            title=Message("Note not saved", "Notitie niet bewaard"),
            status=400,
        )
    if as_json:
        return JSONResponse({"saved": note.to_dict() if note else None, "lane": lane, "key": key})
    anchor = urllib.parse.quote(f"note-{lane}-{key}")
    return RedirectResponse(f"{_back(next)}#{anchor}", status_code=303)


# -- export ----------------------------------------------------------------------------------
def chromium_path() -> str | None:
    from cxray.report.pdf import chromium_path as found

    return found()


def _static_file(path: str) -> Path | None:
    """The package file a page's ``/static/...`` address names, if any."""
    if path == "/static/plotly.min.js":
        import plotly

        return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.startswith("/static/"):
        return None
    found = (STATIC / urllib.parse.unquote(path[len("/static/") :])).resolve()
    if not found.is_relative_to(STATIC) or not found.is_file():
        return None
    return found


def render_export(html: str, kind: str) -> bytes:
    """``html`` as a PDF (A3 landscape) or a full-page PNG, drawn by Chromium
    (:func:`cxray.report.pdf.render_page`, which the report's ``--pdf`` uses too).

    Raises ExportUnavailable when Playwright or Chromium is missing or will not start.
    """
    from cxray.report.pdf import PdfUnavailable, render_page

    executable = chromium_path()
    if executable is None:
        raise ExportUnavailable("no chromium")
    try:
        return render_page(
            html,
            kind,
            executable=executable,
            width=EXPORT_WIDTH,
            resolve=_static_file,
            prepare=lambda view: {"scale": _fit_board(view)},
            pdf_options={"format": "A3", "landscape": True, "prefer_css_page_size": True},
            timeout=EXPORT_TIMEOUT,
        )
    except PdfUnavailable as exc:  # Chromium would not start or gave up: say so, no 500
        log.warning("canvas export failed: %s", exc)
        raise ExportUnavailable(str(exc)) from exc


def _fit_board(view: Any) -> float:
    """The print scale at which the phase board fits the first page (a wall wants one sheet).

    The page is laid out as wide as the scaled sheet first, so the charts are drawn at the
    width they are printed at.
    """
    bottom = view.evaluate(
        "() => { const b = document.getElementById('canvas-board');"
        " return b ? b.getBoundingClientRect().bottom + window.scrollY : 0; }"
    )
    if not bottom or bottom <= PAGE_HEIGHT:
        return 1.0
    scale = max(0.3, PAGE_HEIGHT / bottom)
    view.set_viewport_size({"width": round(EXPORT_WIDTH / scale), "height": 1000})
    view.wait_for_timeout(500)  # the charts redraw on resize
    return scale


def _export(request: Request, kind: str) -> Response:
    html = _render(request, exporting=True).body.decode("utf-8")
    try:
        content = render_export(html, kind)
    except ExportUnavailable:
        return page(
            request,
            "message.html",
            {
                "detail": Message(
                    "This server cannot draw the export (no Chromium). Open the canvas and use "
                    "your browser's Print → Save as PDF: the page prints on A3 landscape.",
                    "Deze server kan de export niet tekenen (geen Chromium). Open het canvas en "
                    "kies in je browser Afdrukken → Opslaan als PDF: de pagina wordt op A3 "
                    "liggend afgedrukt.",
                )
            },
            title=Message("Export not available", "Export niet beschikbaar"),
            status=503,
        )
    media = "application/pdf" if kind == "pdf" else "image/png"
    name = f"journey-canvas.{kind}"
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/canvas.pdf", include_in_schema=False)
def canvas_pdf(request: Request, user: Analyst) -> Response:
    """The canvas on A3 landscape, for a workshop wall."""
    return _export(request, "pdf")


@router.get("/canvas.png", include_in_schema=False)
def canvas_png(request: Request, user: Analyst) -> Response:
    """The canvas as one full-page picture."""
    return _export(request, "png")
