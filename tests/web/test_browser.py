"""The web app in a real browser (Debian's Chromium through Playwright), as a person uses it:
sign in through the form, open every page in the navigation at a desktop and a phone width, and
find that nothing runs past its card or the window, that every chart is drawn and that the page
made no request outside the app. Screenshots go to ``$CXRAY_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from tests.report.test_report_widths import CHROMIUM, MEASURE, TOLERANCE
from tests.web.conftest import PASSWORDS
from tests.web.test_live_import import free_port

WIDTHS = (1400, 400)


@pytest.fixture(scope="module")
def server(app):
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def signed_in_page(browser, server, role: str, width: int, lang: str = "en"):
    """A page signed in as ``role``; the list it returns collects requests outside the app,
    failed requests and console errors (every test checks it stays empty)."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale=lang, accept_downloads=True
    )
    page = context.new_page()
    outside: list[str] = []

    def request(request) -> None:
        if not request.url.startswith((server, "data:", "blob:", "about:")):
            outside.append(request.url)

    def console(message) -> None:
        if message.type == "error":
            outside.append(f"console: {message.text}")

    page.on("request", request)
    page.on("requestfailed", lambda failed: outside.append(f"failed: {failed.url}"))
    page.on("console", console)
    page.on("pageerror", lambda error: outside.append(f"page error: {error}"))
    page.goto(server + "/")
    assert "/login" in page.url
    page.fill("input[name=name]", role)
    page.fill("input[name=password]", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page, outside


def nav_paths(page) -> list[str]:
    return page.eval_on_selector_all(
        "header nav a", "links => links.map(a => new URL(a.href).pathname)"
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_draws(browser, server, width):
    context, page, outside = signed_in_page(browser, server, "admin", width)
    shots = os.environ.get("CXRAY_SCREENSHOTS")
    paths = nav_paths(page)
    assert "/" in paths and "/users" in paths
    problems = []
    for path in paths:
        answer = page.goto(server + path, wait_until="networkidle")
        assert answer.status == 200, (path, answer.status)
        page.wait_for_timeout(300)  # charts draw after load
        found = page.evaluate(MEASURE, TOLERANCE)
        problems += [f"{path} at {width}px: {p}" for p in found]
        if shots:
            name = (path.strip("/") or "overview").replace("/", "-")
            page.screenshot(path=str(Path(shots) / f"web-{name}-{width}.png"), full_page=True)
    context.close()
    assert not outside, f"outside requests, failed requests or console errors: {outside[:5]}"
    assert not problems, "\n".join(problems[:30])


def test_the_overview_draws_its_charts_in_dutch(browser, server):
    context, page, _ = signed_in_page(browser, server, "analyst", 1400, lang="nl")
    page.goto(server + "/", wait_until="networkidle")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("h1").inner_text() == "Overzicht"
    page.wait_for_selector("#chart-funnel .main-svg", timeout=10000)
    page.click("text=English")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Overview"
    context.close()


def test_an_agent_lands_on_customers_and_sees_no_analyst_pages(browser, server):
    context, page, _ = signed_in_page(browser, server, "agent", 1400)
    paths = nav_paths(page)
    assert paths == ["/customers", "/follow-ups", "/tasks"]
    context.close()


def test_a_filter_lives_in_the_url(browser, server):
    context, page, outside = signed_in_page(browser, server, "analyst", 1400)
    page.goto(server + "/", wait_until="networkidle")
    everyone = page.locator(".kpi .value").first.inner_text()
    segment = page.locator("select[name=segment] option").nth(1).inner_text()
    page.select_option("select[name=segment]", segment)
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"segment={segment}" in page.url
    some = page.locator(".kpi .value").first.inner_text()
    assert some != everyone  # fewer customers in one segment
    page.reload(wait_until="networkidle")  # the shared address shows the same view
    assert page.locator(".kpi .value").first.inner_text() == some
    assert page.locator("select[name=segment]").input_value() == segment
    context.close()
    assert not outside, outside[:5]


def test_an_agent_finds_a_customer_and_opens_the_timeline(browser, server, web_workspace):
    import cxray

    with cxray.open(web_workspace, read_only=True, lock_wait=5) as ws:
        customer = str(ws.events.select("customer_id").limit(1).execute()["customer_id"][0])
    context, page, outside = signed_in_page(browser, server, "agent", 400)
    page.fill("input[name=q]", customer)
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.click(f"a:text-is('{customer}')")
    page.wait_for_load_state("networkidle")
    assert customer in page.locator("h1").inner_text()
    assert page.locator("ol.timeline li.event").count() > 0
    found = page.evaluate(MEASURE, TOLERANCE)
    context.close()
    assert not found, found
    assert not outside, outside[:5]


def test_a_canvas_lane_is_edited_kept_and_exported(browser, server):
    context, page, outside = signed_in_page(browser, server, "analyst", 1400)
    page.goto(server + "/canvas", wait_until="networkidle")
    lane = page.locator("[data-note]").first
    lane.locator("summary").click()
    text = "Busy parents who order on their phone"
    lane.locator("textarea").fill(text)
    lane.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    page.reload(wait_until="networkidle")
    assert page.locator("[data-note]").first.locator(".note-text").inner_text() == text
    with page.expect_download(timeout=60000) as pdf:
        page.click("a[href^='/canvas.pdf']")
    assert pdf.value.path().read_bytes().startswith(b"%PDF")
    with page.expect_download(timeout=60000) as png:
        page.click("a[href^='/canvas.png']")
    assert png.value.path().read_bytes().startswith(b"\x89PNG")
    context.close()
    # a download ends its navigation, which the browser reports as an aborted request
    exported = ("/canvas.pdf", "/canvas.png")
    assert not [o for o in outside if not (o.startswith("failed:") and o.endswith(exported))]
