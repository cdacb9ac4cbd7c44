"""The answer page in real Chromium, as a customer uses it: the link from the queued mail,
a click on a score, submit, the thanks page; exactly one feedback row. With JavaScript off too,
at a phone's width."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path

import pytest
import uvicorn

import cxray
from cxray.surveys import create_invitations, tokens
from cxray.web import create_app
from tests.report.test_report_widths import CHROMIUM
from tests.surveys.helpers import build
from tests.web.test_live_import import free_port

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    port = free_port()
    path = tmp_path_factory.mktemp("survey-browser") / "ws"
    ws = build(
        path,
        [{"customer_id": "ann", "email": "ann@example.com", "language": "nl"},
         {"customer_id": "bob", "email": "bob@example.com", "language": "en"}],
        [{"customer_id": c, "touchpoint": "delivery", "ts": NOW - dt.timedelta(days=3)}
         for c in ("ann", "bob")],
        toml=TOML.replace("{port}", str(port)),
    )  # fmt: skip
    create_invitations(ws.warehouse, ws.journey, tokens.workspace_key(path), NOW)
    texts = dict(
        ws.warehouse.query(
            "SELECT i.customer_id, o.body_text FROM cxray_outbox o "
            "JOIN cxray_survey_invitations i ON i.invitation_id = o.ref"
        )
    )
    ws.close()
    app = create_app(path)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield app, texts
    server.should_exit = True
    thread.join(timeout=10)


TOML = """
[touchpoints.delivery]
phase = "loyalty"

[surveys]
base_url = "http://127.0.0.1:{port}"

[surveys.after_delivery]
touchpoint = "delivery"
delay_days = 2
metric = "nps"
"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def rows(app, customer):
    with app.state.host.workspace() as ws:
        return ws.warehouse.query(
            "SELECT score, comment FROM feedback WHERE customer_id = ?", [customer]
        )


@pytest.mark.parametrize(
    ("customer", "javascript", "score", "thanks"),
    [("ann", True, "9", "Bedankt!"), ("bob", False, "4", "Thank you!")],
)
def test_a_customer_answers_from_the_mail(served, browser, customer, javascript, score, thanks):
    app, texts = served
    link = re.search(r"(http://127\.0\.0\.1:\d+/s/\S+)", texts[customer]).group(1)
    context = browser.new_context(
        viewport={"width": 400, "height": 800}, java_script_enabled=javascript
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda failed: errors.append(failed.url))
    page.goto(link)
    assert rows(app, customer) == []  # opening the link stored nothing
    # nothing runs past a phone's width, and each score is a big enough target
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    box = page.locator("label.score").first.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 40
    page.locator("label.score", has_text=re.compile(rf"^\s*{score}\s*$")).click()
    assert page.locator(f"input[name=score][value='{score}']").is_checked()
    page.fill("#comment", "Snel en vriendelijk" if customer == "ann" else "Late")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == thanks
    assert rows(app, customer) == [
        (float(score), "Snel en vriendelijk" if customer == "ann" else "Late")
    ]
    # back and submit again: refused, still one row
    page.go_back()
    page.wait_for_load_state()
    if page.locator("button[type=submit]").count():
        page.locator("label.score").first.click()
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert (
            "ntwoord" in page.locator("h1").inner_text()
            or "answered" in page.locator("h1").inner_text()
        )
    assert len(rows(app, customer)) == 1
    assert errors == []
    context.close()


def test_the_language_switch_works_without_javascript(served, browser):
    app, texts = served
    link = re.search(r"(http://127\.0\.0\.1:\d+/s/\S+)", texts["ann"]).group(1)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(link.replace("/s/", "/s/") + "/opt-out")
    assert page.locator("html").get_attribute("lang") == "nl"
    page.click("a.lang")
    assert page.locator("html").get_attribute("lang") == "en"
    context.close()
    with cxray.open(app.state.host.path, read_only=True) as ws:
        assert ws.warehouse.query("SELECT count(*) FROM cxray_survey_optouts") == [(0,)]
