"""The tasks page on the demo company: the playbooks' open tasks and the advocacy asks for staff,
filters, the form that marks a task done with its outcome (CSRF, roles), recording an ask's
result, the JSON twin, Dutch, and a phone's width in Chromium."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray.actions import advocacy as A
from cxray.actions import playbooks as P
from cxray.analysis.lifetimes import data_end
from cxray.web import create_app
from tests.report.test_report_widths import MEASURE, TOLERANCE
from tests.web.conftest import csrf_of
from tests.web.test_browser import browser, server, signed_in_page  # noqa: F401 (fixtures)

SETTINGS = """
[playbooks.reassure]
moment = "after_purchase"
touchpoint = "order_placed"
days = 1
within_days = 60

[advocacy]
value_touchpoint = "delivery"
min_days = 30
review_url = "https://reviews.example/acme"
"""


@pytest.fixture(scope="module")
def app(web_workspace):
    """The demo with playbook tasks and review asks made at the end of its data."""
    with open(web_workspace / "cxray.toml", "a", encoding="utf-8") as handle:
        handle.write(SETTINGS)
    with cxray.open(web_workspace) as ws:
        ws.warehouse.sql(
            "UPDATE customers SET attributes = '{\"email\": \"' || customer_id || '@example.com\"}'"
        )
        end = data_end(ws)
        assert P.run_playbooks(ws.warehouse, ws.journey, end).total > 3
        assert A.make_asks(ws.warehouse, ws.journey, end).total > 3
    return create_app(web_workspace)


def open_tasks(app) -> list[P.Task]:
    with app.state.host.workspace() as ws:
        return P.list_tasks(ws.warehouse, status="open", limit=1000)


def test_staff_see_open_tasks_and_asks_in_both_languages(client_as, app):
    agent = client_as("agent")
    page = agent.get("/tasks")
    assert page.status_code == 200
    assert "Open tasks" in page.text and "Asks without a result" in page.text
    assert "after the purchase" in page.text and "/customers/" in page.text
    assert 'name="csrf_token"' in page.text and "not only the happy ones" in page.text
    dutch = agent.get("/tasks", params={"lang": "nl"})
    assert "Open taken" in dutch.text and "Vragen zonder resultaat" in dutch.text
    assert "na de aankoop" in dutch.text
    agent.get("/tasks", params={"lang": "en"})
    data = agent.get("/tasks.json").json()
    assert len(data["tasks"]) == len(open_tasks(app)) > 3
    assert {t["assignee"] for t in data["tasks"]} == {"sales"}  # the touchpoint's owner
    assert data["asks"] and {a["kind"] for a in data["asks"]} == {"review"}
    assert "email" not in data["asks"][0]


def test_filters(client_as):
    agent = client_as("agent")
    only_asks = agent.get("/tasks.json", params={"kind": "ask"}).json()
    assert only_asks["tasks"] == [] and only_asks["asks"]
    only_tasks = agent.get("/tasks.json", params={"kind": "task"}).json()
    assert only_tasks["asks"] == [] and only_tasks["tasks"]
    nobody = agent.get("/tasks.json", params={"assignee": "nobody"}).json()
    assert nobody["tasks"] == []
    mine = agent.get("/tasks.json", params={"mine": "1"}).json()
    assert mine["filters"]["assignee"] == "agent" and mine["tasks"] == []


def test_an_agent_marks_a_task_done_with_an_outcome(client_as, app):
    agent = client_as("agent")
    task = open_tasks(app)[0]
    token = csrf_of(agent.get("/tasks").text)
    url = f"/tasks/{task.task_id}"
    missing = agent.post(url, data={"outcome": "reached"}, follow_redirects=False)
    assert missing.status_code == 403
    refused = agent.post(url, data={"outcome": "", "csrf_token": token})
    assert refused.status_code == 400 and "outcome must be one of" in refused.text
    done = agent.post(
        url, data={"outcome": "letter_sent", "note": "By hand", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/tasks"
    with app.state.host.workspace() as ws:
        stored = P.get_task(ws.warehouse, task.task_id)
    assert (stored.status, stored.outcome, stored.note, stored.closed_by) == (
        "done", "letter_sent", "By hand", "agent")  # fmt: skip
    assert task.task_id not in agent.get("/tasks").text
    again = agent.post(url, data={"outcome": "reached", "csrf_token": token})
    assert again.status_code == 400
    assert agent.post("/tasks/pb-nothing", data={"outcome": "reached", "csrf_token": token}
                      ).status_code == 404  # fmt: skip


def test_an_agent_records_what_came_of_an_ask(client_as, app):
    agent = client_as("agent")
    ask = agent.get("/tasks.json", params={"kind": "ask"}).json()["asks"][0]
    token = csrf_of(agent.get("/tasks").text)
    url = f"/tasks/asks/{ask['ask_id']}"
    assert agent.post(url, data={"result": "reviewed"}).status_code == 403
    assert agent.post(url, data={"result": "adored", "csrf_token": token}).status_code == 400
    saved = agent.post(url, data={"result": "reviewed", "csrf_token": token},
                       follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    with app.state.host.workspace() as ws:
        assert A.get_ask(ws.warehouse, ask["ask_id"]).result == "reviewed"


def test_the_page_needs_a_sign_in_and_the_nav_offers_it_to_agents(client_as, app):
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        answer = anonymous.get("/tasks", follow_redirects=False)
        assert answer.status_code in (303, 401, 403)
    assert 'href="/tasks"' in client_as("agent").get("/customers").text
    assert client_as("analyst").get("/tasks").status_code == 200  # higher roles too


@pytest.mark.parametrize("width", (1400, 400))
def test_the_page_fits_and_an_agent_finishes_a_task_in_chromium(
    app,
    width,
    browser,  # noqa: F811
    server,  # noqa: F811
):
    context, page, outside = signed_in_page(browser, server, "agent", width)
    task = open_tasks(app)[0]
    assert page.goto(server + "/tasks", wait_until="networkidle").status == 200
    problems = [f"/tasks at {width}px: {p}" for p in page.evaluate(MEASURE, TOLERANCE)]
    form = page.locator(f"form[action='/tasks/{task.task_id}']")
    form.locator("select[name=outcome]").select_option("reached")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/tasks")
    context.close()
    with app.state.host.workspace() as ws:
        assert P.get_task(ws.warehouse, task.task_id).status == "done"
    assert not outside, outside[:5]
    assert not problems, "\n".join(problems)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(outcome=TEXT, note=TEXT, key=TEXT, result=TEXT)
def test_no_form_input_makes_a_server_error(client_as, app, outcome, note, key, result):
    agent = client_as("agent")
    token = csrf_of(agent.get("/tasks", params={"kind": "task"}).text)
    ids = [t.task_id for t in open_tasks(app)[:1]] + [urllib.parse.quote(key, safe="") or "x"]
    for task_id in ids:
        answer = agent.post(f"/tasks/{task_id}", data={"outcome": outcome, "note": note,
                                                        "csrf_token": token})  # fmt: skip
        assert answer.status_code < 500
    answer = agent.post(f"/tasks/asks/{urllib.parse.quote(key, safe='') or 'x'}",
                        data={"result": result, "csrf_token": token})  # fmt: skip
    assert answer.status_code < 500
