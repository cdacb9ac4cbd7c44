"""The public answer page through the app: a GET stores nothing, a POST stores one row."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from fastapi.testclient import TestClient

import cxray
from cxray.surveys import create_invitations, tokens
from cxray.web import create_app
from tests.surveys.helpers import build

NOW = dt.datetime.now(dt.UTC)


def make_workspace(path, customers=("ann", "bob", "cy"), when=NOW):
    ws = build(
        path,
        [{"customer_id": c, "email": f"{c}@example.com", "language": "nl" if c == "ann" else "en"}
         for c in customers],
        [{"customer_id": c, "touchpoint": "delivery", "ts": when - dt.timedelta(days=3),
          "event_id": f"d-{c}"} for c in customers],
    )  # fmt: skip
    key = tokens.workspace_key(path)
    made = create_invitations(ws.warehouse, ws.journey, key, when)
    by_customer = dict(
        ws.warehouse.query("SELECT customer_id, invitation_id FROM cxray_survey_invitations")
    )
    ws.close()
    assert len(made.invitations) == len(customers)
    return {c: tokens.make_token(key, by_customer[c]) for c in customers}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("survey-web") / "ws"
    links = make_workspace(path)
    app = create_app(path)
    with TestClient(app) as client:
        yield client, links, app
    # the app is shut down here: what it stored is read by a fresh open in the tests


def feedback_rows(app):
    with app.state.host.workspace() as ws:
        return ws.warehouse.query("SELECT response_id, score, comment, language FROM feedback")


def nonce_of(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def test_a_get_shows_the_score_chosen_and_stores_nothing(site):
    client, links, app = site
    page = client.get(f"/s/{links['ann']}?score=8")
    assert page.status_code == 200
    assert 'lang="nl"' in page.text and "Hoe waarschijnlijk" in page.text
    assert re.search(r'value="8" checked', page.text)
    assert "<fieldset" in page.text and "<legend>" in page.text
    assert '<label for="comment">Wat is de belangrijkste reden voor je score?</label>' in page.text
    assert "set-cookie" not in page.headers  # no session on a customer's page
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    english = client.get(f"/s/{links['ann']}?score=8&lang=en")
    assert 'lang="en"' in english.text and "How likely" in english.text
    # scanners fetch every link of a mail: none of it is an answer
    for score in range(11):
        assert client.get(f"/s/{links['ann']}?score={score}").status_code == 200
    assert feedback_rows(app) == []


def test_a_post_stores_exactly_one_row_and_a_second_is_refused(site):
    client, links, app = site
    page = client.get(f"/s/{links['bob']}?score=3")
    form = {"score": "3", "comment": "Too slow", "nonce": nonce_of(page.text), "lang": "en",
            "q_speed": "no"}  # fmt: skip
    thanks = client.post(f"/s/{links['bob']}", data=form)
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    rows = feedback_rows(app)
    assert [(r[1], r[2], r[3]) for r in rows] == [(3.0, "Too slow", "en")]
    again = client.post(f"/s/{links['bob']}", data=form)
    assert again.status_code == 409 and "Already answered" in again.text
    assert client.get(f"/s/{links['bob']}").status_code == 409
    assert len(feedback_rows(app)) == 1


def test_a_post_without_the_pages_nonce_or_from_another_site_is_refused(site):
    client, links, app = site
    before = feedback_rows(app)
    page = client.get(f"/s/{links['cy']}")
    good = nonce_of(page.text)
    for form, headers in [
        ({"score": "9"}, {}),
        ({"score": "9", "nonce": "123.abc"}, {}),
        ({"score": "9", "nonce": good}, {"Origin": "https://evil.example"}),
    ]:
        refused = client.post(f"/s/{links['cy']}", data=form, headers=headers)
        assert refused.status_code == 403, form
        assert "Form expired" in refused.text
    missing = client.post(f"/s/{links['cy']}", data={"nonce": good, "comment": "hm"})
    assert missing.status_code == 400 and "Choose a score" in missing.text
    assert ">hm</textarea>" in missing.text  # what was typed is kept
    assert feedback_rows(app) == before


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/s/0123456789abcdef0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAA", 404, "does not work"),
        ("/s/nonsense", 404, "does not work"),
        ("/s/" + "x" * 3000, 404, "does not work"),
        ("/s/%00%ff.%2e", 404, "does not work"),
        ("/s/nonsense/opt-out", 404, "does not work"),
    ],
)
def test_broken_links_get_a_clear_page_never_a_500(site, path, status, words):
    client, _, _ = site
    answer = client.get(path, headers={"Accept-Language": "en"})
    assert answer.status_code == status and words in answer.text
    assert client.post(path, data={"score": "1"}).status_code == status


def test_an_altered_link_is_refused(site):
    client, links, _ = site
    token = links["ann"]
    for position in (0, 20, len(token) - 1):
        changed = (
            token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        )
        assert client.get(f"/s/{changed}").status_code == 404


def test_an_unknown_but_well_signed_link_is_refused(site, tmp_path):
    client, _, app = site
    key = tokens.workspace_key(app.state.host.path)
    answer = client.get(f"/s/{tokens.make_token(key, 'e' * 32)}")
    assert answer.status_code == 404 and "not found" in answer.text


def test_opting_out_needs_the_confirmation_post(site):
    client, links, app = site
    confirm = client.get(f"/s/{links['ann']}/opt-out")
    assert confirm.status_code == 200 and "Ja, geen enquêtes meer" in confirm.text
    with app.state.host.workspace() as ws:
        assert ws.warehouse.query("SELECT count(*) FROM cxray_survey_optouts") == [(0,)]
    done = client.post(f"/s/{links['ann']}/opt-out", data={"nonce": nonce_of(confirm.text)})
    assert done.status_code == 200 and "afgemeld" in done.text
    with app.state.host.workspace() as ws:
        assert ws.warehouse.query("SELECT customer_id FROM cxray_survey_optouts") == [("ann",)]
    assert "afgemeld" in client.get(f"/s/{links['ann']}/opt-out").text
    assert client.post(f"/s/{links['ann']}/opt-out", data={}).status_code == 403


def test_one_click_opt_out_from_a_mail_program(tmp_path):
    links = make_workspace(tmp_path / "ws", customers=("dee",))
    with TestClient(create_app(tmp_path / "ws")) as client:
        done = client.post(f"/s/{links['dee']}/opt-out", data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
    with cxray.open(tmp_path / "ws", read_only=True) as ws:
        assert ws.warehouse.query("SELECT customer_id FROM cxray_survey_optouts") == [("dee",)]


def test_an_expired_link_is_refused(tmp_path):
    links = make_workspace(tmp_path / "ws", customers=("eve",), when=NOW - dt.timedelta(days=31))
    with TestClient(create_app(tmp_path / "ws")) as client:
        answer = client.get(f"/s/{links['eve']}?lang=nl")
        assert answer.status_code == 410 and "gesloten" in answer.text


def test_the_answer_shows_in_the_analyses(tmp_path):
    links = make_workspace(tmp_path / "ws", customers=("fay", "gus"))
    with TestClient(create_app(tmp_path / "ws")) as client:
        for customer, score in (("fay", "10"), ("gus", "2")):
            page = client.get(f"/s/{links[customer]}?score={score}")
            form = {"score": score, "nonce": nonce_of(page.text)}
            assert client.post(f"/s/{links[customer]}", data=form).status_code == 200
    with cxray.open(tmp_path / "ws", read_only=True) as ws:
        nps = ws.metrics("nps", by="touchpoint").to_pandas()
    delivery = nps[nps["group"] == "delivery"].iloc[0]
    assert delivery["n"] == 2 and delivery["score"] == 0


def test_while_a_command_has_the_warehouse_the_page_says_one_moment(tmp_path):
    links = make_workspace(tmp_path / "ws", customers=("hal",))
    app = create_app(tmp_path / "ws")
    with TestClient(app) as client:
        assert client.get(f"/s/{links['hal']}").status_code == 200
        app.state.host.release(0.5)
        busy = client.get(f"/s/{links['hal']}")
        assert busy.status_code == 503 and busy.headers["retry-after"]
        time.sleep(0.6)
        assert client.get(f"/s/{links['hal']}").status_code == 200  # new connections
