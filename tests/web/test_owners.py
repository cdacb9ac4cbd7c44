"""The owners pages on the demo company: the owners cxray.toml names, their numbers against
pandas, one owner's pain points, 404s, Dutch, roles, and unowned touchpoints with the hint."""

from __future__ import annotations

import html
import tomllib
from urllib.parse import quote

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cxray.web import create_app
from tests.web.conftest import sign_in
from tests.web.test_touchpoints import TEAM, small_workspace


@pytest.fixture(scope="module")
def owned(web_workspace) -> dict[str, list[str]]:
    """Owner: its touchpoints, read straight from the workspace's cxray.toml."""
    journey = tomllib.loads((web_workspace / "cxray.toml").read_text())
    found: dict[str, list[str]] = {}
    for name, spec in journey.get("touchpoints", {}).items():
        if spec.get("owner"):
            found.setdefault(spec["owner"], []).append(name)
    return found


@pytest.fixture(scope="module")
def tables(app) -> dict[str, pd.DataFrame]:
    with app.state.host.workspace() as ws:
        events = ws.events.execute()
        feedback = ws.feedback.execute()
    answered = events[["event_id", "touchpoint"]].rename(columns={"touchpoint": "ev"})
    feedback = feedback.merge(answered, on="event_id", how="left")
    feedback["at"] = feedback["touchpoint"].fillna(feedback["ev"])
    return {"events": events, "feedback": feedback}


@pytest.fixture(scope="module")
def data(analyst) -> dict:
    answer = analyst.get("/owners.json")
    assert answer.status_code == 200
    return answer.json()


def test_the_owners_cxray_toml_defines_with_their_numbers(data, owned, tables):
    assert owned, "the demo journey names owners"
    assert [o["owner"] for o in data["owners"]] == sorted(owned)
    events = tables["events"]
    for row in data["owners"]:
        mine = events[events["touchpoint"].isin(owned[row["owner"]])]
        assert sorted(row["names"]) == sorted(owned[row["owner"]])
        assert row["events"] == len(mine)
        assert row["customers"] == mine["customer_id"].nunique()
    feedback = tables["feedback"]
    csat = feedback[feedback["at"].isin(owned["logistics"]) & (feedback["metric"] == "csat")]
    csat = csat[csat["score"].notna()]
    logistics = next(o for o in data["owners"] if o["owner"] == "logistics")
    (scored,) = logistics["scores"]
    assert scored["n"] == len(csat)
    assert scored["score"] == pytest.approx(100 * (csat["score"] >= 4).mean())
    assert data["unowned"] == []


def test_the_page_lists_them(analyst, data):
    page = analyst.get("/owners")
    assert page.status_code == 200 and 'rel="alternate"' in page.headers["link"]
    text = html.unescape(page.text)
    for row in data["owners"]:
        assert f'href="/owners/{quote(row["owner"], safe="")}"' in page.text
        assert f"{row['events']:,}" in text
    assert "Every touchpoint has an owner." in text


def test_one_owner(analyst, owned, tables):
    answer = analyst.get("/owners/logistics.json")
    assert answer.status_code == 200
    one = answer.json()
    assert [tp["touchpoint"] for tp in one["touchpoints"]] == owned["logistics"]
    feedback = tables["feedback"]
    for pain in one["pain_points"]["touchpoints"]:
        answers = feedback[(feedback["at"] == pain["touchpoint"]) & feedback["score"].notna()]
        low = answers[(answers["metric"] == "csat") & (answers["score"] <= 2)]
        assert (pain["answers"], pain["low_answers"]) == (len(answers), len(low))
    themes = one["pain_points"]["themes"]
    assert themes and all(t["comments"] <= one["pain_points"]["unhappy_comments"] for t in themes)
    assert one["trend"] and sum(r["n"] for r in one["trend"]) == one["scores"][0]["n"]
    page = analyst.get("/owners/logistics")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert themes[0]["label"] in text and "chart-owner-trend-0" in page.text
    assert 'href="/touchpoints/delivery_late"' in page.text
    late = next(p for p in one["pain_points"]["touchpoints"] if p["touchpoint"] == "delivery_late")
    assert f"{late['low_answers']} of {late['answers']}" in text


def test_an_unknown_owner_is_a_404(analyst):
    for url in ("/owners/nobody", "/owners/nobody.json"):
        answer = analyst.get(url)
        assert answer.status_code == 404, url
        assert "logistics" not in answer.text and "marketing" not in answer.text


def test_in_dutch(analyst):
    page = analyst.get("/owners/logistics?lang=nl").text
    for heading in ("Zijn contactmomenten", "Pijnpunten", "Scores door de tijd"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "Pain points" not in page
    listing = analyst.get("/owners?lang=nl").text
    assert "<h2>Contactmomenten zonder eigenaar</h2>" in listing and "Owner</th>" not in listing
    analyst.cookies.delete("cxray_lang")


def test_every_route_refuses_an_unsigned_client(app, client_as):
    anonymous = TestClient(app)
    for url in ("/owners", "/owners.json", "/owners/logistics", "/owners/logistics.json"):
        answer = anonymous.get(url, follow_redirects=False)
        assert answer.status_code in (303, 401), url
        if url.endswith(".json"):
            assert answer.status_code == 401
    assert client_as("agent").get("/owners/logistics").status_code == 403


def test_filters_apply(analyst):
    loyalty = analyst.get("/owners/sales.json?phase=loyalty")
    assert loyalty.status_code == 200 and loyalty.json()["touchpoints"] == []
    assert analyst.get("/owners.json?segment=nonexistent").status_code == 400


def test_unowned_touchpoints_and_an_owner_with_a_slash(tmp_path):
    app = create_app(small_workspace(tmp_path / "ws"))
    with TestClient(app) as client:
        sign_in(client, "analyst")
        data = client.get("/owners.json").json()
        assert [o["owner"] for o in data["owners"]] == [TEAM]
        assert [u["touchpoint"] for u in data["unowned"]] == ["helpdesk"]
        page = html.unescape(client.get("/owners").text)
        assert "helpdesk" in page and "[touchpoints.NAME]" in page
        assert "[touchpoints.NAAM]" in html.unescape(client.get("/owners?lang=nl").text)
        link = "/owners/" + quote(TEAM, safe="")
        assert f'href="{link}"' in page
        one = client.get(link + ".json")
        assert one.status_code == 200 and one.json()["owner"] == TEAM
        (pain,) = one.json()["pain_points"]["touchpoints"]
        assert (pain["answers"], pain["low_answers"], pain["bad_customers"]) == (2, 1, 1)
        assert client.get(link).status_code == 200
