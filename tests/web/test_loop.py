"""The whole loop, as ``cxray serve`` runs it on its own: a delivery event makes an invitation,
the scheduler sends it to a real SMTP server on loopback, the link in the mail opens the answer
page (a plain GET stores nothing), the customer answers as a detractor, the next tick opens a
follow-up for the touchpoint's owner, and the customer's page shows it to an agent."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

from fastapi.testclient import TestClient

from cxray import accounts
from cxray.web import create_app
from tests.smtp_server import smtp_server  # noqa: F401 (fixture)
from tests.surveys.helpers import SURVEYS, build
from tests.web.conftest import csrf_of

NOW = dt.datetime.now(dt.UTC)


def test_an_event_becomes_an_invitation_an_answer_and_a_follow_up(tmp_path, smtp_server):  # noqa: F811
    path = tmp_path / "ws"
    mail = (
        f'\n[mail]\nhost = "127.0.0.1"\nport = {smtp_server.port}\n'
        'from_address = "service@example.com"\n'
        "\n[followups]\nwithin_days = 30\n"
    )
    toml = SURVEYS.replace('base_url = "http://survey.example"', 'base_url = "http://testserver"')
    ws = build(
        path,
        [{"customer_id": "ann", "email": "ann@example.com", "language": "en"}],
        [{"customer_id": "ann", "touchpoint": "delivery", "ts": NOW - dt.timedelta(days=3),
          "event_id": "d-ann"}],
        toml + mail,
    )  # fmt: skip
    accounts.add_user(ws.warehouse, "agent", "agent-password-1", "agent")
    ws.close()
    app = create_app(path)
    scheduler = app.state.scheduler
    with TestClient(app) as client:
        scheduler.tick()  # invite, then send
        scheduler.tick()  # (a mail queued after this tick's sending goes at the next)
        assert smtp_server.wait_for(1), "no invitation arrived"
        (message,) = smtp_server.messages
        assert message["To"] == "ann@example.com"
        html = message.get_body(("html",)).get_content()
        link = re.search(r'http://testserver/s/[^"?]+\?score=3', html)  # a score, clicked
        assert link, html
        path_of_link = urllib.parse.urlsplit(link.group(0))
        page = client.get(path_of_link.path + "?" + path_of_link.query)
        assert page.status_code == 200
        with app.state.host.workspace() as held:
            assert held.warehouse.query("SELECT count(*) FROM feedback")[0][0] == 0
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
        answered = client.post(
            path_of_link.path,
            data={"score": "3", "comment": "Late and broken", "nonce": nonce, "lang": "en"},
        )
        assert answered.status_code == 200
        scheduler.tick()  # the follow-up opens on its own
        with app.state.host.workspace() as held:
            rows = held.warehouse.query(
                "SELECT f.score, u.assignee, u.status FROM feedback f "
                "JOIN cxray_followups u ON u.response_id = f.response_id"
            )
        assert rows == [(3.0, "logistics", "open")]
        form = client.get("/login")
        client.post(
            "/login",
            data={
                "name": "agent",
                "password": "agent-password-1",
                "csrf_token": csrf_of(form.text),
            },
        )
        customer = client.get("/customers/ann")
        assert "/follow-ups/" in customer.text and "Late and broken" in customer.text
