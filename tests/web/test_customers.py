"""The customers pages on the demo company: search, timeline, notes, at-risk list, onboarding."""

from __future__ import annotations

import urllib.parse

import ibis
import pytest

from tests.web.conftest import csrf_of


@pytest.fixture(scope="module")
def busy_customer(app) -> str:
    """The demo customer with the most events (and some feedback)."""
    with app.state.host.workspace() as ws:
        with_feedback = ws.feedback.select("customer_id").distinct()
        events = ws.events.semi_join(with_feedback, "customer_id")
        top = (
            events.group_by("customer_id")
            .aggregate(n=events.count())
            .order_by([ibis.desc("n"), "customer_id"])
            .limit(1)
            .execute()
        )
    return str(top["customer_id"].iloc[0])


def table_counts(app, customer_id: str) -> dict[str, int]:
    with app.state.host.workspace() as ws:
        events = ws.events.filter(ws.events.customer_id == customer_id)
        feedback = ws.feedback.filter(ws.feedback.customer_id == customer_id)
        return {
            "events": int(events.count().execute()),
            "feedback": int(feedback.count().execute()),
        }


def test_search_by_id(client_as, app):
    agent = client_as("agent")
    with app.state.host.workspace() as ws:
        first = str(ws.customers.order_by("customer_id").limit(1).execute()["customer_id"][0])
    part = first[:-1].lower()
    data = agent.get("/customers.json", params={"q": part}).json()
    assert data["how"] == "id"
    with app.state.host.workspace() as ws:
        expected = int(
            ws.customers.filter(ws.customers.customer_id.lower().contains(part)).count().execute()
        )
    assert data["total"] == expected > 1
    assert all(part in row["customer_id"].lower() for row in data["rows"])
    exact = agent.get("/customers.json", params={"q": first}).json()
    assert exact["rows"][0]["customer_id"] == first
    page = agent.get("/customers", params={"q": first})
    assert page.status_code == 200
    assert f'href="/customers/{urllib.parse.quote(first)}"' in page.text
    assert "/customers/at-risk" in page.text and "/customers/onboarding" in page.text


def test_search_by_attribute(client_as, app):
    agent = client_as("agent")
    with app.state.host.workspace() as ws:
        attributes = ws.customers.attributes.cast("json")
        row = ws.customers.filter(ws.customers.attributes.notnull()).limit(1).execute()
        import json

        key, value = next(iter(json.loads(row["attributes"][0]).items()))
        text = attributes[key].str.lower()
        expected = int(ws.customers.filter(text == str(value).lower()).count().execute())
        segments = ws.customers.filter(ws.customers.segment.notnull()).limit(1).execute()
        segment = segments["segment"][0]
        in_segment = int(ws.customers.filter(ws.customers.segment == segment).count().execute())
    data = agent.get("/customers.json", params={"q": f"{key}={str(value).upper()}"}).json()
    assert data["how"] == "attribute" and data["total"] == expected > 0
    assert all(str(r["attributes"][key]).lower() == str(value).lower() for r in data["rows"])
    by_segment = agent.get("/customers.json", params={"q": f"segment={segment}"}).json()
    assert by_segment["total"] == in_segment


def test_a_search_key_nobody_has_is_a_clear_400(client_as):
    agent = client_as("agent")
    answer = agent.get("/customers", params={"q": "no_such_key=1", "lang": "nl"})
    assert answer.status_code == 400
    assert "geen klant heeft een kenmerk" in answer.text
    agent.cookies.delete("cxray_lang")
    data = agent.get("/customers.json", params={"q": "no_such_key=1"})
    assert data.status_code == 400 and "no_such_key" in data.json()["detail"]["en"]
    assert agent.get("/customers.json", params={"limit": "many"}).status_code == 400


def test_the_timeline_is_complete_and_in_time_order(client_as, app, busy_customer):
    agent = client_as("agent")
    data = agent.get(f"/customers/{busy_customer}.json", params={"limit": 1000}).json()
    counts = table_counts(app, busy_customer)
    assert data["counts"]["event"] == counts["events"] > 5
    assert data["counts"]["answer"] + data["counts"]["comment"] == counts["feedback"] > 0
    assert len(data["items"]) == data["total"] == sum(data["counts"].values())
    stamps = [item["ts"] for item in data["items"]]
    assert stamps == sorted(stamps, reverse=True)
    oldest = agent.get(f"/customers/{busy_customer}.json?limit=1000&order=oldest").json()
    assert [i["item_id"] for i in oldest["items"]] == [i["item_id"] for i in data["items"]][::-1]
    assert data["customer"]["customer_id"] == busy_customer
    assert data["status"] is not None and "active" in data["status"]
    # a page is the same slice of the whole
    page = agent.get(f"/customers/{busy_customer}.json?limit=3&offset=3").json()
    assert [i["item_id"] for i in page["items"]] == [i["item_id"] for i in data["items"][3:6]]
    assert page["page"]["next_offset"] == 6 and page["page"]["previous_offset"] == 0


def test_the_timeline_page_shows_the_items(client_as, busy_customer):
    agent = client_as("agent")
    data = agent.get(f"/customers/{busy_customer}.json?limit=5").json()
    page = agent.get(f"/customers/{busy_customer}?limit=5")
    assert page.status_code == 200
    assert "Timeline" in page.text
    assert f"1–5 of {data['total']}" in page.text
    for item in data["items"]:
        assert item["ts"][:16].replace("T", " ") in page.text
    assert "offset=5" in page.text  # the link to the next page
    if data["risk"]:
        assert (data["risk"]["reasons"]).replace("'", "&#39;") in page.text


def test_a_note_is_saved_and_shown(client_as, app, busy_customer):
    agent = client_as("agent")
    before = agent.get(f"/customers/{busy_customer}.json").json()["counts"]["note"]
    form = agent.get(f"/customers/{busy_customer}")
    text = "Sales promised a call-back about <the> invoice"
    answer = agent.post(
        f"/customers/{busy_customer}/notes",
        data={"text": text, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/customers/{busy_customer}")
    after = agent.get(f"/customers/{busy_customer}.json").json()
    assert after["counts"]["note"] == before + 1
    note = after["items"][0]  # the newest item
    assert note["kind"] == "note" and note["details"]["text"] == text
    assert note["details"]["author"] == "agent"
    page = agent.get(f"/customers/{busy_customer}")
    assert "Sales promised a call-back about &lt;the&gt; invoice" in page.text
    with app.state.host.workspace() as ws:
        from cxray.customer_notes import list_notes

        assert list_notes(ws.warehouse, busy_customer)[0].text == text


def test_a_note_without_the_csrf_token_is_refused(client_as, busy_customer):
    agent = client_as("agent")
    before = agent.get(f"/customers/{busy_customer}.json").json()["counts"]["note"]
    answer = agent.post(f"/customers/{busy_customer}/notes", data={"text": "forged"})
    assert answer.status_code == 403
    answer = agent.post(
        f"/customers/{busy_customer}/notes", data={"text": "forged", "csrf_token": "wrong"}
    )
    assert answer.status_code == 403
    assert agent.get(f"/customers/{busy_customer}.json").json()["counts"]["note"] == before


def test_an_empty_or_long_note_is_a_400_in_the_readers_language(client_as, busy_customer):
    agent = client_as("agent")
    form = agent.get(f"/customers/{busy_customer}")
    token = csrf_of(form.text)
    answer = agent.post(
        f"/customers/{busy_customer}/notes?lang=nl", data={"text": "  ", "csrf_token": token}
    )
    assert answer.status_code == 400
    assert "de notitie is leeg" in answer.text
    agent.cookies.delete("cxray_lang")
    long = agent.post(
        f"/customers/{busy_customer}/notes", data={"text": "x" * 4001, "csrf_token": token}
    )
    assert long.status_code == 400 and "at most 4,000" in long.text
    assert "x" * 4001 in long.text  # the text is kept in the form to shorten


def test_an_unknown_customer_is_a_404(client_as):
    agent = client_as("agent")
    assert agent.get("/customers/no-such-customer").status_code == 404
    assert agent.get("/customers/no-such-customer.json").status_code == 404
    form = agent.get("/customers")
    answer = agent.post(
        "/customers/no-such-customer/notes",
        data={"text": "hello", "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 404


def test_bad_paging_is_a_400(client_as, busy_customer):
    agent = client_as("agent")
    assert agent.get(f"/customers/{busy_customer}?limit=zero").status_code == 400
    assert agent.get(f"/customers/{busy_customer}?limit=100000").status_code == 400
    assert agent.get(f"/customers/{busy_customer}?order=sideways").status_code == 400


def test_agents_see_the_lists_but_cannot_export_them(client_as):
    agent = client_as("agent")
    assert agent.get("/customers/at-risk").status_code == 200
    assert agent.get("/customers/onboarding").status_code == 200
    for path in (
        "/customers/at-risk.json",
        "/customers/at-risk?format=json",
        "/customers/at-risk.csv",
        "/customers/onboarding.json",
        "/customers/onboarding.csv",
    ):
        assert agent.get(path).status_code == 403, path
    assert "at-risk.csv" not in agent.get("/customers/at-risk").text


def test_the_at_risk_list_matches_the_risk_analysis(client_as, app):
    analyst = client_as("analyst")
    data = analyst.get("/customers/at-risk.json?top=20").json()
    with app.state.host.workspace() as ws:
        fresh = ws.risk()
    expected = fresh.frame.head(20)
    assert [r["customer_id"] for r in data["rows"]] == list(expected["customer_id"])
    for row, probability in zip(data["rows"], expected["probability"], strict=True):
        assert row["probability"] == pytest.approx(probability)
    assert data["total"] == len(fresh.frame)
    high = analyst.get("/customers/at-risk.json?band=high&top=1000").json()
    assert high["matching"] == int((fresh.frame["band"] == "high").sum())
    assert all(r["band"] == "high" for r in high["rows"])
    page = client_as("agent").get("/customers/at-risk?top=20")
    top = data["rows"][0]
    assert f'href="/customers/{top["customer_id"]}"' in page.text
    assert top["reasons"].replace("'", "&#39;") in page.text
    csv = analyst.get("/customers/at-risk.csv?top=5")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 6


def test_the_onboarding_tracker_matches_the_analysis(client_as, app):
    analyst = client_as("analyst")
    data = analyst.get("/customers/onboarding.json?top=1000").json()
    with app.state.host.workspace() as ws:
        fresh = ws.onboarding(days=100)
    assert data["total"] == len(fresh.frame) > 0
    assert [r["customer_id"] for r in data["rows"]] == list(fresh.frame["customer_id"])
    late = analyst.get("/customers/onboarding.json?late=1").json()
    assert late["matching"] == int(fresh.frame["late"].sum())
    assert all(r["late"] for r in late["rows"])
    page = client_as("agent").get("/customers/onboarding?late=1")
    assert page.status_code == 200
    for row in late["rows"]:
        assert f'href="/customers/{row["customer_id"]}"' in page.text


def test_the_customers_pages_in_dutch(client_as, busy_customer):
    agent = client_as("agent")
    pages = {
        f"/customers/{busy_customer}?lang=nl": ("Tijdlijn", "Timeline"),
        "/customers?lang=nl&q=C": ("Zoeken", "Search"),
        "/customers/at-risk?lang=nl": ("Redenen", "Reasons"),
        "/customers/onboarding?lang=nl": ("Te laat", "Late"),
    }
    for path, (dutch, english) in pages.items():
        text = agent.get(path).text
        assert dutch in text, path
        assert f">{english}<" not in text, path
    assert "interactie" in agent.get(f"/customers/{busy_customer}?lang=nl").text
    agent.cookies.delete("cxray_lang")


def test_signing_in_is_needed(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        assert anonymous.get("/customers", follow_redirects=False).status_code == 303
        assert anonymous.get("/customers/at-risk.json").status_code == 401
