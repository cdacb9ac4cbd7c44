"""The outbox page: admins only, every state, the latest mails with attempts and last error,
and its JSON twin."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import cxray
from cxray import accounts
from cxray.actions import outbox
from cxray.actions.outbox import Mail
from cxray.web import create_app
from tests.web.conftest import PASSWORDS, csrf_of

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def web_workspace(tmp_path_factory) -> Path:
    """A small workspace with a user of each role and mails in several states."""
    path = tmp_path_factory.mktemp("outbox") / "shop"
    with cxray.init(path) as ws:
        for role, password in PASSWORDS.items():
            accounts.add_user(ws.warehouse, role, password, role)
        warehouse = ws.warehouse
        outbox.enqueue(warehouse, Mail("queued@example.com", "Still waiting", "x"), now=NOW)
        sent = outbox.enqueue(warehouse, Mail("sent@example.com", "Went out", "x"), now=NOW)
        outbox.claim(warehouse, sent, NOW)
        outbox.mark_sent(warehouse, sent, NOW)
        failed = outbox.enqueue(warehouse, Mail("failed@example.com", "Gave up", "x"), now=NOW)
        outbox.claim(warehouse, failed, NOW)
        outbox.mark_failed(warehouse, failed, "451 4.3.0 mailbox busy (attempt 5 of 5)")
        gone = outbox.enqueue(warehouse, Mail("gone@example.com", "No one", "x"), now=NOW)
        outbox.claim(warehouse, gone, NOW)
        outbox.mark_bounced(warehouse, gone, "gone@example.com", NOW, 550, "550 5.1.1 no user")
    return path


@pytest.fixture(scope="module")
def app(web_workspace):
    return create_app(web_workspace)


@pytest.mark.parametrize("role", ["analyst", "agent"])
def test_only_admins_see_the_outbox(client_as, role):
    client = client_as(role)
    assert client.get("/outbox").status_code == 403
    assert client.get("/outbox.json").status_code == 403
    assert client.get("/scheduler.json").status_code == 403
    assert 'href="/outbox"' not in client.get("/customers").text


def test_the_page_shows_every_state_and_the_latest_mails(client_as):
    client = client_as("admin")
    page = client.get("/outbox")
    assert page.status_code == 200
    html = page.text
    for state in outbox.STATES:
        assert f'data-state="{state}"' in html
    for recipient in ("queued@", "sent@", "failed@", "gone@"):
        assert recipient in html
    assert "mailbox busy (attempt 5 of 5)" in html and "550 5.1.1 no user" in html
    assert "Mail is not set up" in html
    assert 'href="/outbox"' in html  # in the navigation
    dutch = client.get("/outbox?lang=nl").text
    assert "Postvak uit" in dutch and "mislukt" in dutch and "onbestelbaar" in dutch
    client.get("/outbox?lang=en")


def test_the_json_twin_has_the_same_numbers(client_as):
    data = client_as("admin").get("/outbox.json").json()
    assert data["counts"] == {
        "queued": 1,
        "sending": 0,
        "sent": 1,
        "failed": 1,
        "bounced": 1,
        "cancelled": 0,
    }
    mails = {mail["recipient"]: mail for mail in data["mails"]}
    assert mails["failed@example.com"]["state"] == "failed"
    assert mails["failed@example.com"]["attempts"] == 1
    assert "mailbox busy" in mails["failed@example.com"]["last_error"]
    assert mails["sent@example.com"]["sent_at"].startswith("2025-03-01")
    assert data["bounces"]["count"] == 1
    assert data["bounces"]["latest"][0]["address"] == "gone@example.com"
    assert data["settings"]["configured"] is False and data["settings"]["password"] is False
    assert "text" not in mails["sent@example.com"]  # no mail bodies in the list
    assert "send-mail" in [job["name"] for job in data["scheduler"]["jobs"]]


def test_one_state_at_a_time(client_as):
    client = client_as("admin")
    data = client.get("/outbox.json?state=failed").json()
    assert [mail["recipient"] for mail in data["mails"]] == ["failed@example.com"]
    assert client.get("/outbox.json?state=lost").status_code == 400


def test_the_scheduler_json_lists_the_jobs(client_as):
    data = client_as("admin").get("/scheduler.json").json()
    assert data["running"] is False
    assert "send-mail" in [job["name"] for job in data["jobs"]]


def test_failed_mails_can_be_queued_again_with_the_form(client_as):
    client = client_as("admin")
    refused = client.post("/outbox", data={"action": "retry-failed", "csrf_token": "nope"})
    assert refused.status_code == 403
    token = csrf_of(client.get("/outbox").text)
    answer = client.post(
        "/outbox",
        data={"action": "retry-failed", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/outbox?done=requeued-1"
    assert "queued again: 1" in client.get(answer.headers["location"]).text
    assert client.get("/outbox.json").json()["counts"]["failed"] == 0
    analyst = client_as("analyst")
    assert analyst.post("/outbox", data={"action": "retry-failed"}).status_code == 403
