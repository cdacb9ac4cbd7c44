"""The mails themselves: escaped HTML, one-line subjects, each scale's scores as links."""

from __future__ import annotations

import datetime as dt

from cxray.surveys.config import parse_surveys
from cxray.surveys.mails import survey_mail

UNTIL = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)


def mail(metric="nps", company="Shop", lang="en", reminder=False):
    survey = parse_surveys({"s": {"touchpoint": "t", "metric": metric}}, company=company).surveys[0]
    return survey_mail(
        survey=survey, recipient="a@example.com", token="abc.def", base="https://x.example",
        lang=lang, company=company, expires_at=UNTIL, invitation_id="i1", reminder=reminder,
    )  # fmt: skip


def test_every_value_in_the_html_is_escaped_and_the_subject_is_one_line():
    sent = mail(company='<b>"Shop"</b>\nLtd')
    assert "<b>" not in sent.html and "&lt;b&gt;" in sent.html
    assert "\n" not in sent.subject and len(sent.subject) <= 200


def test_the_scale_decides_the_score_links():
    ces = mail("ces")
    assert 'href="https://x.example/s/abc.def?score=7"' in ces.html
    assert "?score=0" not in ces.html and "?score=8" not in ces.html
    csat = mail("csat", lang="nl")
    assert "?score=5" in csat.html and "zeer tevreden" in csat.html
    assert "werkt tot 1 juli 2025" in csat.text


def test_a_reminder_is_its_own_kind_with_the_same_links():
    first, second = mail(), mail(reminder=True)
    assert (first.kind, second.kind) == ("survey-invitation", "survey-reminder")
    assert second.subject.startswith("Reminder") and first.ref == second.ref == "i1"
    assert "https://x.example/s/abc.def" in second.text
    assert second.headers["List-Unsubscribe"] == "<https://x.example/s/abc.def/opt-out>"
