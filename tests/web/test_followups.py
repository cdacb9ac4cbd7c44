"""The follow-up pages on the demo company: the list with filters and overdue warnings, one
follow-up worked through its form (CSRF, roles), the JSON twins and the effect for analysts."""

from __future__ import annotations

import datetime as dt

import pytest

import cxray
from cxray.actions import followups as F
from cxray.analysis.lifetimes import data_end
from cxray.web import create_app
from tests.report.test_report_widths import MEASURE, TOLERANCE
from tests.web.conftest import csrf_of
from tests.web.test_browser import browser, server, signed_in_page  # noqa: F401 (fixtures)

SETTINGS = """
[followups]
within_days = 120
holdout_share = 0.2
default_owner = "service"
bad_experience = ["csat"]
"""


@pytest.fixture(scope="module")
def app(web_workspace):
    """The demo with follow-ups opened at the end of its data (some overdue by now)."""
    with open(web_workspace / "cxray.toml", "a", encoding="utf-8") as handle:
        handle.write(SETTINGS)
    with cxray.open(web_workspace) as ws:
        opened = F.open_followups(ws.warehouse, ws.journey, data_end(ws), escalate=False)
        assert opened.opened > 20 and 0 < opened.held_out < opened.opened
    return create_app(web_workspace)


def first(app, **where) -> F.Followup:
    with app.state.host.workspace() as ws:
        rows = F.list_followups(ws.warehouse, **where, limit=1).rows
    assert rows
    return rows[0]


def status_of(app, followup_id: str) -> str:
    with app.state.host.workspace() as ws:
        return F.get(ws.warehouse, followup_id).status


def test_the_list_shows_counts_overdue_warnings_and_filters(client_as, app):
    agent = client_as("agent")
    page = agent.get("/follow-ups")
    assert page.status_code == 200
    assert "overdue: the customer has waited" in page.text  # demo data ended long ago
    assert 'class="overdue"' in page.text and "/follow-ups/fu-" in page.text
    assert "held_out" not in page.text  # agents do not see the held-out ones
    dutch = agent.get("/follow-ups", params={"lang": "nl"})
    assert "te laat: de klant wacht" in dutch.text
    agent.get("/follow-ups", params={"lang": "en"})
    analyst = client_as("analyst")
    data = analyst.get("/follow-ups.json").json()
    assert data["counts"]["open"] == data["total"] > 0 and data["counts"]["held_out"] > 0
    assert all(not row["held_out"] and row["overdue"] for row in data["rows"])
    held = analyst.get("/follow-ups.json", params={"held_out": "1"}).json()
    assert held["total"] == data["counts"]["held_out"]
    assert all(row["held_out"] and row["assignee"] is None for row in held["rows"])
    service = analyst.get("/follow-ups.json", params={"assignee": "service"}).json()
    assert service["total"] and {r["assignee"] for r in service["rows"]} == {"service"}
    logistics = analyst.get("/follow-ups.json", params={"touchpoint": "delivery"}).json()
    assert {r["touchpoint"] for r in logistics["rows"]} <= {"delivery"}
    assert analyst.get("/follow-ups.json", params={"status": "done"}).json()["total"] == 0
    assert analyst.get("/follow-ups.json", params={"status": "nope"}).status_code == 400


def test_agents_get_no_export_of_the_list(client_as):
    assert client_as("agent").get("/follow-ups.json").status_code == 403


def test_an_agent_works_a_follow_up(client_as, app):
    agent = client_as("agent")
    followup = first(app)
    url = f"/follow-ups/{followup.followup_id}"
    page = agent.get(url)
    assert page.status_code == 200
    assert f'href="/customers/{followup.customer_id}"' in page.text
    assert f"{followup.metric.upper()} " in page.text
    token = csrf_of(page.text)
    refused = agent.post(url, data={"status": "done", "csrf_token": token})
    assert refused.status_code == 400 and "outcome" in refused.text
    missing = agent.post(url, data={"status": "in_progress"}, follow_redirects=False)
    assert missing.status_code == 403 and status_of(app, followup.followup_id) == "open"
    moved = agent.post(
        url,
        data={
            "status": "done",
            "outcome": "apologised",
            "root_cause": "late parcel",
            "note": "Called, apologised, she stays",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert moved.status_code == 303 and moved.headers["location"] == url
    data = agent.get(url + ".json").json()
    assert data["followup"]["status"] == "done" and data["followup"]["outcome"] == "apologised"
    assert data["followup"]["updated_by"] == "agent"
    assert data["notes"][0]["text"] == "Called, apologised, she stays"
    assert {c["field"] for c in data["changes"]} >= {"status", "outcome", "root_cause", "note"}
    again = agent.get(url)
    assert "Called, apologised, she stays" in again.text and "late parcel" in again.text


def test_held_out_follow_ups_are_for_analysts_only(client_as, app):
    held = first(app, held_out=True)
    url = f"/follow-ups/{held.followup_id}"
    assert client_as("agent").get(url).status_code == 404
    page = client_as("analyst").get(url)
    assert page.status_code == 200 and "Held out at random" in page.text
    assert 'action="/follow-ups/' not in page.text  # no form to work it


def test_unknown_follow_up(client_as):
    assert client_as("agent").get("/follow-ups/fu-nothing").status_code == 404


def test_the_effect_is_for_analysts(client_as):
    assert client_as("agent").get("/follow-ups/effect").status_code == 403
    analyst = client_as("analyst")
    page = analyst.get("/follow-ups/effect")
    assert page.status_code == 200 and "Randomised" in page.text
    data = analyst.get("/follow-ups/effect.json").json()
    assert data["design"] == "randomised" and data["summary"]["nl"].startswith("Gerandomiseerd")
    assert "Gerandomiseerd" in analyst.get("/follow-ups/effect", params={"lang": "nl"}).text
    analyst.get("/follow-ups/effect", params={"lang": "en"})


def test_the_nav_offers_follow_ups_to_agents(client_as):
    page = client_as("agent").get("/customers")
    assert 'href="/follow-ups"' in page.text


def test_timeline_items_of_a_demo_customer(app):
    followup = first(app)
    with app.state.host.workspace() as ws:
        items = F.timeline_items(ws.warehouse, followup.customer_id, ws.journey)
    assert followup.followup_id in {item["item_id"] for item in items}
    assert all(item["ts"] <= dt.datetime.now(dt.UTC) for item in items)


def test_the_customers_page_shows_their_follow_ups(client_as, app):
    followup = first(app)
    agent = client_as("agent")
    page = agent.get(f"/customers/{followup.customer_id}")
    assert f'href="/follow-ups/{followup.followup_id}"' in page.text
    twin = agent.get(f"/customers/{followup.customer_id}.json").json()
    assert followup.followup_id in {item["item_id"] for item in twin["followups"]}
    dutch = agent.get(f"/customers/{followup.customer_id}", params={"lang": "nl"})
    assert "Opvolging" in dutch.text


# -- in a real browser, at a desktop and a phone width -----------------------------------------
@pytest.mark.parametrize("width", (1400, 400))
def test_the_pages_fit_and_an_agent_finishes_a_follow_up_in_chromium(
    app,
    width,
    browser,  # noqa: F811
    server,  # noqa: F811
):
    context, page, outside = signed_in_page(browser, server, "agent", width)
    followup = first(app, status="open")
    problems = []
    for path in ("/follow-ups", f"/follow-ups/{followup.followup_id}"):
        assert page.goto(server + path, wait_until="networkidle").status == 200
        problems += [f"{path} at {width}px: {p}" for p in page.evaluate(MEASURE, TOLERANCE)]
    page.select_option("select[name=status]", "done")
    page.select_option("select[name=outcome]", "called")
    page.fill("textarea[name=note]", f"Reached at {width}px")
    page.click("#work button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/follow-ups/{followup.followup_id}")
    assert f"Reached at {width}px" in page.content()
    context.close()
    assert status_of(app, followup.followup_id) == "done"
    assert not outside, outside[:5]
    assert not problems, "\n".join(problems)
