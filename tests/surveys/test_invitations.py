"""Invitations and their mails: one transaction, the customer's language, links that work,
reminders once, and the CSV of personal links."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from cxray.actions import outbox
from cxray.surveys import create_invitations, create_reminders, open_links, survey_counts, tokens
from cxray.surveys import invitations as invitations_mod
from tests.surveys.helpers import NOW, build, days_ago

KEY = bytes(range(32))


@pytest.fixture
def ws(tmp_path):
    w = build(
        tmp_path / "ws",
        [{"customer_id": "ann", "email": "ann@example.com", "language": "nl"},
         {"customer_id": "bob", "email": "bob@example.com"}],
        [{"customer_id": "ann", "touchpoint": "delivery", "ts": days_ago(3), "event_id": "d-ann"},
         {"customer_id": "bob", "touchpoint": "delivery", "ts": days_ago(2.5), "event_id": "d-bob"}],
    )  # fmt: skip
    yield w
    w.close()


def mails(w):
    rows = w.warehouse.query(
        "SELECT kind, ref, recipient, subject, body_text, body_html, headers, state "
        "FROM cxray_outbox ORDER BY recipient, kind"
    )
    keys = ("kind", "ref", "recipient", "subject", "text", "html", "headers", "state")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def test_each_due_customer_gets_one_invitation_and_one_mail_in_their_language(ws):
    made = create_invitations(ws.warehouse, ws.journey, KEY, NOW)
    assert len(made.invitations) == 2
    ann, bob = mails(ws)
    assert ann["kind"] == "survey-invitation" and ann["ref"] in made.invitations
    assert "Hoe waarschijnlijk" in ann["text"] and "hoe deden we het" in ann["subject"]
    assert "How likely" in bob["text"] and "how did we do" in bob["subject"]
    token = re.search(r"http://survey\.example/s/([\w.-]+)\n", ann["text"]).group(1)
    assert tokens.read_token(KEY, token) == ann["ref"]
    # the opt-out link is in the text and in the List-Unsubscribe header
    headers = json.loads(ann["headers"])
    assert headers["List-Unsubscribe"] == f"<http://survey.example/s/{token}/opt-out>"
    assert f"/s/{token}/opt-out" in ann["text"]
    # every score of the scale is a link that opens the page with it chosen
    for score in range(11):
        assert f'href="http://survey.example/s/{token}?score={score}"' in ann["html"]
    invitation = ws.warehouse.query(
        "SELECT customer_id, touchpoint, event_id, metric, language, expires_at "
        "FROM cxray_survey_invitations WHERE invitation_id = ?",
        [ann["ref"]],
    )[0]
    assert invitation[:5] == ("ann", "delivery", "d-ann", "nps", "nl")
    assert invitation[5] == NOW + dt.timedelta(days=30)
    # a second run makes nothing new
    assert create_invitations(ws.warehouse, ws.journey, KEY, NOW).invitations == []
    assert len(mails(ws)) == 2


def test_a_failure_while_queuing_stores_no_invitation(ws, monkeypatch):
    calls = []

    def failing(warehouse, mail, now=None):
        calls.append(mail)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(warehouse, mail, now)

    real = outbox.enqueue
    monkeypatch.setattr(outbox, "enqueue", failing)
    with pytest.raises(RuntimeError):
        create_invitations(ws.warehouse, ws.journey, KEY, NOW)
    monkeypatch.setattr(outbox, "enqueue", real)
    assert ws.warehouse.query("SELECT count(*) FROM cxray_survey_invitations") == [(0,)]
    assert ws.warehouse.query("SELECT count(*) FROM cxray_outbox") == [(0,)]


def test_limit_takes_the_oldest_events_first(ws):
    made = create_invitations(ws.warehouse, ws.journey, KEY, NOW, limit=1)
    assert [m["recipient"] for m in mails(ws)] == ["ann@example.com"]
    assert len(made.invitations) == 1


def test_one_reminder_after_the_mail_was_sent_and_none_once_answered(ws):
    made = create_invitations(ws.warehouse, ws.journey, KEY, NOW)
    assert create_reminders(ws.warehouse, ws.journey, KEY, NOW + dt.timedelta(days=6)) == []
    ws.warehouse.sql("UPDATE cxray_outbox SET state = 'sent'")  # what the sender does
    assert create_reminders(ws.warehouse, ws.journey, KEY, NOW + dt.timedelta(days=4)) == []
    ws.warehouse.sql(
        "UPDATE cxray_survey_invitations SET answered_at = ? WHERE customer_id = 'bob'", [NOW]
    )
    reminded = create_reminders(ws.warehouse, ws.journey, KEY, NOW + dt.timedelta(days=6))
    assert len(reminded) == 1
    reminder = [m for m in mails(ws) if m["kind"] == "survey-reminder"]
    assert [m["recipient"] for m in reminder] == ["ann@example.com"]
    assert reminder[0]["subject"].startswith("Herinnering")
    # the reminder carries the same personal link as the invitation
    first = next(m for m in mails(ws) if m["ref"] == reminder[0]["ref"] and m is not reminder[0])
    link = re.search(r"(http://survey\.example/s/[\w.-]+)\n", first["text"]).group(1)
    assert link in reminder[0]["text"]
    assert create_reminders(ws.warehouse, ws.journey, KEY, NOW + dt.timedelta(days=7)) == []
    assert set(made.invitations) >= set(reminded)
    counts = survey_counts(ws.warehouse, NOW + dt.timedelta(days=7))["after_delivery"]
    assert counts["invited"] == 2 and counts["answered"] == 1 and counts["reminded"] == 1


def test_open_links_gives_the_same_links_as_the_mails(ws):
    create_invitations(ws.warehouse, ws.journey, KEY, NOW)
    links = open_links(ws.warehouse, ws.journey, KEY, NOW)
    assert {row["email"] for row in links} == {"ann@example.com", "bob@example.com"}
    for row in links:
        mail = next(m for m in mails(ws) if m["ref"] == row["invitation_id"])
        assert row["link"] in mail["text"] and row["opt_out_link"] in mail["text"]
    # expired ones are no longer open
    assert open_links(ws.warehouse, ws.journey, KEY, NOW + dt.timedelta(days=31)) == []


def test_a_removed_survey_still_has_its_questions(ws):
    settings = invitations_mod.read_surveys(ws.journey)
    made = create_invitations(ws.warehouse, ws.journey, KEY, NOW)
    from cxray.surveys import store

    invitation = store.get_invitation(ws.warehouse, made.invitations[0])
    empty = type(settings)(company="Shop")
    survey = invitations_mod.survey_for(empty, invitation)
    assert survey.metric == "nps" and survey.scores == list(range(11))
