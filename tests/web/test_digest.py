"""The weekly digest page: analysts only, its JSON twin, a team's digest, Dutch, clear refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def whole(analyst) -> dict:
    answer = analyst.get("/digest.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_page_shows_the_digest_of_the_last_complete_week_with_data(analyst, whole):
    assert whole["week"] == "2026-W26" and whole["team"] is None
    page = analyst.get("/digest?lang=en")
    assert page.status_code == 200
    for sentence in whole["sentences"]["en"]:
        assert str(escape(sentence)) in page.text
    assert "Weekly digest 2026-W26, the whole company" in page.text
    assert 'href="/digest"' in page.text  # in the navigation


def test_the_json_twin_carries_the_numbers(whole):
    assert {"scores", "detractors", "followups", "change", "driver", "sentences"} <= set(whole)
    for row in whole["scores"]:
        if row["n"]:
            assert row["low"] <= row["score"] <= row["high"]
    assert len(whole["sentences"]["en"]) == len(whole["sentences"]["nl"])


def test_a_team_sees_its_own_digest(analyst, whole):
    team = analyst.get("/digest.json?team=logistics").json()
    assert team["team"] == "logistics" and team["touchpoints"] == ["delivery", "delivery_late"]
    assert team["detractors"]["count"] <= whole["detractors"]["count"]
    page = analyst.get("/digest?team=logistics&lang=nl")
    assert "Weekoverzicht voor team logistics" in page.text
    assert "<option selected>logistics</option>" in page.text


def test_a_chosen_week_and_its_neighbours(analyst):
    data = analyst.get("/digest.json?week=2026-W20").json()
    assert data["week"] == "2026-W20" and data["previous"] == "2026-W19"
    page = analyst.get("/digest?week=2026-W20")
    assert "week=2026-W19" in page.text and "week=2026-W21" in page.text


@pytest.mark.parametrize(
    "query", ["team=finance", "week=someday", "week=2025-W53", "week=9999-W52", "week=0001-01-01"]
)
def test_an_unknown_team_or_week_is_a_clear_400(analyst, query):
    answer = analyst.get(f"/digest?{query}&lang=nl")
    assert answer.status_code == 400
    assert "finance" in answer.text or "is geen week" in answer.text


def test_the_page_speaks_dutch(analyst, whole):
    page = analyst.get("/digest?lang=nl")
    assert "Weekoverzicht voor het hele bedrijf: week 26 van 2026" in page.text
    assert "Scores tegenover de week ervoor" in page.text
    assert "against the week before" not in page.text


def test_agents_may_not_see_it_and_strangers_are_sent_to_sign_in(client_as, app):
    from fastapi.testclient import TestClient

    assert client_as("agent").get("/digest").status_code == 403
    assert client_as("agent").get("/digest.json").status_code == 403
    with TestClient(app) as stranger:
        answer = stranger.get("/digest.json", follow_redirects=False)
    assert answer.status_code in (303, 401)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    query=st.dictionaries(
        st.sampled_from(["team", "week", "lang", "format"]),
        st.one_of(st.text(max_size=12), st.sampled_from(["2026-W01", "1900-W01", "logistics"])),
        max_size=3,
    )
)
def test_no_query_makes_a_server_error(analyst, query):
    assert analyst.get("/digest", params=query).status_code < 500


@pytest.fixture(scope="module")
def web_workspace(demo_source, tmp_path_factory) -> Path:
    """The demo with digest recipients (hour 0 of Monday: the digest is due all week)."""
    target = tmp_path_factory.mktemp("web-digest") / "demo"
    shutil.copytree(demo_source, target, ignore=shutil.ignore_patterns("server.json"))
    with (target / "cxray.toml").open("a", encoding="utf-8") as journey:
        journey.write(
            '\n[digest]\nhour = 0\neveryone = ["cx@shop.example"]\n'
            'recipients = { logistics = ["log@shop.example"] }\n'
        )
    return target


def test_the_scheduler_queues_the_digest_once_and_it_arrives(app, smtp_server):  # noqa: F811
    from cxray.actions import outbox, sender
    from cxray.actions.digest_mail import DIGEST_JOB
    from cxray.actions.mailer import MailSettings
    from cxray.web.scheduler import JOB_MODULES, Scheduler

    assert "cxray.actions.digest_mail" in JOB_MODULES
    host = app.state.host
    first = Scheduler(host, job_list=[DIGEST_JOB])
    first.tick()
    [status] = first.status()["jobs"]
    assert status["last_outcome"] == "ok", status
    assert "2 mails queued" in status["last_result"]["en"]
    Scheduler(host, job_list=[DIGEST_JOB]).tick()  # a restarted server: nothing twice
    settings = MailSettings(host="127.0.0.1", port=smtp_server.port, from_address="cx@shop.example")
    with host.workspace() as ws:
        assert outbox.counts(ws.warehouse)["queued"] == 2
        report = sender.send_due(ws.warehouse, settings)
    assert report.sent == 2 and smtp_server.wait_for(2)
    assert sorted(m["To"] for m in smtp_server.messages) == ["cx@shop.example", "log@shop.example"]
    assert all(m["Subject"].startswith("Weekly digest ") for m in smtp_server.messages)
