"""A page of HTML drawn by Chromium as a PDF (or a PNG): the report's ``--pdf`` and the web
canvas's export share this.

Debian's Chromium (``apt-get install chromium``) is driven through Playwright with
``executable_path``: Playwright's own browser download is never needed. The page is handed to the
browser as it is under a made-up address; a request for another file of that address is answered
by ``resolve`` (the web canvas's static files) and every other request is refused, so nothing
leaves the machine and the browser never calls back into a running app.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cxray.i18n import Message

log = logging.getLogger(__name__)
ENVIRONMENT = "CXRAY_CHROMIUM"  # a Chromium of one's own choosing; the search below otherwise
ORIGIN = "http://page.cxray.invalid"  # the page's address inside the browser; nothing goes there
TIMEOUT = 30_000  # ms
_DRAWING = threading.Lock()  # one browser at a time: a page takes a few seconds

# Every chart drawn (or none to draw) before the picture is taken.
CHARTS_DRAWN = (
    "() => [...document.querySelectorAll('.chart')].every(c => c.querySelector('.main-svg'))"
)


class PdfUnavailable(RuntimeError):
    """No Chromium or no Playwright here, or the browser would not start; raised with a
    :class:`~cxray.i18n.Message` saying how to install it."""


def chromium_path() -> str | None:
    """The Chromium to use: ``$CXRAY_CHROMIUM`` when set (None when that file does not exist),
    else ``chromium`` on the PATH or Debian's ``/usr/bin/chromium``."""
    chosen = os.environ.get(ENVIRONMENT)
    if chosen:
        return chosen if Path(chosen).is_file() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def missing_chromium() -> Message:
    """One line naming how to install the browser."""
    chosen = os.environ.get(ENVIRONMENT)
    where_en = f" (no file at {ENVIRONMENT}={chosen})" if chosen else ""
    where_nl = f" (geen bestand op {ENVIRONMENT}={chosen})" if chosen else ""
    return Message(
        f"no Chromium to draw the PDF{where_en}; install it (Debian: apt-get install chromium) "
        f"or set {ENVIRONMENT} to its path",
        f"geen Chromium om de PDF te tekenen{where_nl}; installeer het (Debian: apt-get install "
        f"chromium) of zet {ENVIRONMENT} op het pad ernaartoe",
    )


def render_page(
    html: str,
    kind: str = "pdf",
    *,
    executable: str | None = None,
    width: int = 1200,
    resolve: Callable[[str], Path | None] | None = None,
    prepare: Callable[[Any], dict[str, Any]] | None = None,
    pdf_options: dict[str, Any] | None = None,
    timeout: int = TIMEOUT,
) -> bytes:
    """``html`` as PDF bytes (``kind="pdf"``) or a full-page PNG, drawn by Chromium.

    ``width`` is the browser window's width in px (the charts are drawn at it); ``resolve``
    turns the path of a file the page asks for into a local file (None: refused);
    ``prepare(page)``, called once the charts are drawn (PDF only), may change the page and returns
    options for ``page.pdf`` (a scale); ``pdf_options`` are the others (format, margins).
    ``executable`` defaults to :func:`chromium_path`. Raises :class:`PdfUnavailable` when
    Chromium or Playwright is missing or will not start.
    """
    if kind not in ("pdf", "png"):
        raise ValueError(f"unknown kind {kind!r}; choose pdf or png")
    executable = executable or chromium_path()
    if executable is None or not Path(executable).is_file():
        raise PdfUnavailable(missing_chromium())
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise PdfUnavailable(
            Message(
                "Playwright is not installed (pip install playwright); Chromium itself comes "
                "from the system (Debian: apt-get install chromium)",
                "Playwright is niet geïnstalleerd (pip install playwright); Chromium zelf komt "
                "van het systeem (Debian: apt-get install chromium)",
            )
        ) from exc

    def answer(route: Any) -> None:
        url = urllib.parse.urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != ORIGIN:
            route.abort()
        elif url.path == "/":
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
        else:
            found = resolve(url.path) if resolve is not None else None
            if found is None:
                route.abort()
            else:
                route.fulfill(path=str(found))

    with _DRAWING:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=executable, args=["--no-sandbox"]
                )
                try:
                    view = browser.new_page(viewport={"width": width, "height": 1000})
                    view.emulate_media(media="print")
                    view.route("**/*", answer)
                    view.goto(ORIGIN + "/", wait_until="load", timeout=timeout)
                    try:
                        view.wait_for_function(CHARTS_DRAWN, timeout=timeout)
                    except PlaywrightTimeout:  # a chart that does not draw leaves its place
                        log.warning("pdf: a chart was not drawn in time")
                    if kind == "pdf":
                        options = prepare(view) if prepare is not None else {}
                        return view.pdf(print_background=True, **{**(pdf_options or {}), **options})
                    return view.screenshot(full_page=True, type="png")
                finally:
                    browser.close()
        except PlaywrightError as exc:  # Chromium would not start or gave up: say so
            log.warning("pdf: Chromium failed: %s", exc)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PdfUnavailable(
                Message(
                    f"Chromium could not draw the PDF: {first}",
                    f"Chromium kon de PDF niet tekenen: {first}",
                )
            ) from exc
