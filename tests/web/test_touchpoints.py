"""The touchpoints pages on the demo company: JSON numbers against pandas, the comment search,
404s, Dutch, roles, filters, and names with spaces and slashes on a small workspace."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

import ibis
import pandas as pd
import pytest
import tomlkit
from fastapi.testclient import TestClient

import cxray
from cxray import accounts, schema
from cxray.web import create_app
from tests.conftest import _frame_for
from tests.web.conftest import PASSWORDS, sign_in

T0 = pd.Timestamp("2025-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)
ODD = "returns / refunds desk"  # a touchpoint name with a space and a slash
TEAM = "customer care / returns"


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
def listing(analyst) -> dict:
    answer = analyst.get("/touchpoints.json")
    assert answer.status_code == 200
    return answer.json()


@pytest.fixture(scope="module")
def delivery(analyst) -> dict:
    answer = analyst.get("/touchpoints/delivery.json")
    assert answer.status_code == 200
    return answer.json()


def small_workspace(folder: Path) -> Path:
    """Two customers, a touchpoint named with a space and a slash, an owner named so too, and
    a touchpoint nobody owns; a user of each role."""
    ws = cxray.init(folder, overwrite=True)
    doc = tomlkit.parse(ws.journey_path.read_text())
    doc["touchpoints"] = {
        ODD: {"phase": "loyalty", "owner": TEAM},
        "helpdesk": {"phase": "loyalty"},
    }
    ws.journey_path.write_text(tomlkit.dumps(doc))
    rows = {
        schema.CUSTOMERS: [{"customer_id": c, "first_seen": T0} for c in ("a", "b")],
        schema.EVENTS: [
            {"customer_id": "a", "ts": T0, "touchpoint": ODD, "event_id": "e1"},
            {"customer_id": "a", "ts": T0 + DAY, "touchpoint": "helpdesk", "event_id": "e2"},
            {"customer_id": "b", "ts": T0, "touchpoint": ODD, "event_id": "e3"},
        ],
        schema.FEEDBACK: [
            {
                "customer_id": "a",
                "ts": T0 + DAY,
                "metric": "csat",
                "score": 1,
                "event_id": "e1",
                "comment": "Refund took weeks",
            },
            {
                "customer_id": "b",
                "ts": T0 + DAY,
                "metric": "csat",
                "score": 5,
                "event_id": "e3",
                "comment": "Quick refund",
            },
        ],
    }
    for spec, records in rows.items():
        frame = ibis.memtable(_frame_for(spec, records), schema=spec.schema)
        ws.warehouse.backend.insert(spec.name, frame)
    for role, password in PASSWORDS.items():
        accounts.add_user(ws.warehouse, role, password, role)
    ws.close()
    return folder


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> TestClient:
    app = create_app(small_workspace(tmp_path_factory.mktemp("small") / "ws"))
    client = sign_in(TestClient(app), "analyst")
    yield client
    client.close()


def test_the_list_matches_pandas(listing, tables, app):
    with app.state.host.workspace() as ws:
        journey = ws.journey
    rows = listing["touchpoints"]
    assert {r["touchpoint"] for r in rows} == set(journey.touchpoints)
    order = [journey.phases.index(r["phase"]) for r in rows]
    assert order == sorted(order), "journey (phase) order"
    events = tables["events"]
    counts = events.groupby("touchpoint").agg(n=("event_id", "size"), c=("customer_id", "nunique"))
    for row in rows:
        assert (row["events"], row["customers"]) == tuple(counts.loc[row["touchpoint"]])
        assert row["owner"] == journey.touchpoints[row["touchpoint"]].owner
    feedback = tables["feedback"]
    csat = feedback[(feedback["at"] == "delivery") & (feedback["metric"] == "csat")]
    csat = csat[csat["score"].notna()]
    row = next(r for r in rows if r["touchpoint"] == "delivery")
    (scored,) = row["scores"]
    assert scored["n"] == len(csat)
    assert scored["score"] == pytest.approx(100 * (csat["score"] >= 4).mean())
    assert scored["low"] < scored["score"] < scored["high"] and not scored["too_few"]


def test_the_list_page_shows_them_and_links_each(analyst, listing):
    page = analyst.get("/touchpoints")
    assert page.status_code == 200 and 'rel="alternate"' in page.headers["link"]
    text = html.unescape(page.text)
    for row in listing["touchpoints"]:
        assert f'href="/touchpoints/{quote(row["touchpoint"], safe="")}"' in page.text
        assert f"{row['events']:,}" in text
    delivery = next(r for r in listing["touchpoints"] if r["touchpoint"] == "delivery")
    assert f"n = {delivery['scores'][0]['n']:,}" in text
    assert 'href="/owners/logistics"' in page.text


def test_one_touchpoint_json_matches_pandas(delivery, tables):
    feedback = tables["feedback"]
    csat = feedback[(feedback["at"] == "delivery") & feedback["score"].notna()]
    info = delivery["touchpoint"]
    events = tables["events"]
    mine = events[events["touchpoint"] == "delivery"]
    assert (info["events"], info["customers"]) == (len(mine), mine["customer_id"].nunique())
    assert info["owner"] == "logistics"
    (scored,) = delivery["scores"]
    assert scored["n"] == len(csat)
    months = csat["ts"].dt.strftime("%Y-%m").value_counts().to_dict()
    assert {r["group"]: r["n"] for r in delivery["trend"]} == months
    comments = feedback[(feedback["at"] == "delivery") & feedback["comment"].notna()]
    assert delivery["comments_total"] == len(comments)
    assert delivery["comments"]["total"] == len(comments)
    assert len(delivery["comments"]["rows"]) == min(50, len(comments))
    flows = delivery["flows"]
    assert flows["steps"] == len(mine)
    ordered = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"])
    following = ordered.groupby("customer_id")["touchpoint"].shift(-1)
    after = following[ordered["touchpoint"] == "delivery"].fillna(flows["end"]).value_counts()
    top = flows["next"][0]
    assert (top["touchpoint"], top["count"]) == (after.index[0], after.iloc[0])
    assert top["share"] == pytest.approx(after.iloc[0] / len(mine))
    assert delivery["drivers"]["sentences"]["en"] and not delivery["failed"]


def test_the_page_shows_every_part(analyst, delivery):
    page = analyst.get("/touchpoints/delivery")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "chart-trend-0" in page.text and "/static/plotly.min.js" in page.text
    assert delivery["drivers"]["sentences"]["en"][0] in text
    assert 'href="/owners/logistics"' in page.text
    first = delivery["comments"]["rows"][0]
    assert first["comment"] in text
    assert f'href="/customers/{quote(first["customer_id"], safe="")}"' in page.text
    assert delivery["flows"]["previous"][0]["touchpoint"] in text
    late = analyst.get("/touchpoints/subscription_cancelled.json").json()
    assert late["drivers"]["none_because"]["en"] and not late["drivers"]["rows"]


def test_the_comment_search_narrows(analyst, delivery):
    base = "/touchpoints/delivery.json"
    everything = delivery["comments"]["total"]
    found = analyst.get(base, params={"q": "Delivery"}).json()["comments"]
    assert 0 < found["matched"] < everything
    assert all("delivery" in row["comment"].casefold() for row in found["rows"])
    theme = delivery["themes"][0]
    themed = analyst.get(base, params={"theme": theme["theme"]}).json()["comments"]
    assert themed["matched"] == theme["comments"]
    assert all(theme["theme"] in row["themes"] for row in themed["rows"])
    low = analyst.get(base, params={"min_score": 1, "max_score": 2}).json()["comments"]
    assert low["matched"] < everything and all(row["score"] <= 2 for row in low["rows"])
    dutch = analyst.get(base, params={"language": "nl"}).json()["comments"]
    assert 0 < dutch["matched"] < everything
    assert {row["language"] for row in dutch["rows"]} == {"nl"}
    second = analyst.get(base, params={"page": 2}).json()["comments"]
    assert second["page"] == 2 and second["rows"][0] != delivery["comments"]["rows"][0]
    page = analyst.get("/touchpoints/delivery", params={"q": "delivery", "language": "nl"})
    assert page.status_code == 200 and 'value="delivery"' in page.text
    for bad in ({"min_score": "x"}, {"page": "0"}, {"theme": "nothing_like_it"}):
        answer = analyst.get(base, params=bad)
        assert answer.status_code == 400 and answer.json()["detail"], bad
    assert analyst.get("/touchpoints/delivery", params={"min_score": "x"}).status_code == 400


def test_an_unknown_touchpoint_is_a_404_that_lists_nothing(analyst):
    for url in ("/touchpoints/no_such_thing", "/touchpoints/no_such_thing.json"):
        answer = analyst.get(url)
        assert answer.status_code == 404, url
        assert "delivery" not in answer.text and "order_placed" not in answer.text
    assert "no touchpoint" in analyst.get("/touchpoints/x.json").json()["detail"]


def test_in_dutch(analyst):
    page = analyst.get("/touchpoints/delivery?lang=nl").text
    for heading in ("Over dit contactmoment", "Effect op vertrek", "Scores door de tijd",
                    "Ervoor en erna", "Opmerkingen"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page, heading
    assert "Before and after" not in page and "Comments</h2>" not in page
    listing = analyst.get("/touchpoints?lang=nl").text
    assert "<th>Contactmoment</th>" in listing and "<th>Touchpoint</th>" not in listing
    assert "Antwoorden bij geen contactmoment" in listing
    analyst.cookies.delete("cxray_lang")


def test_every_route_refuses_an_unsigned_client(app, client_as):
    anonymous = TestClient(app)
    for url in ("/touchpoints", "/touchpoints.json", "/touchpoints/delivery",
                "/touchpoints/delivery.json", "/touchpoints/no_such_thing"):  # fmt: skip
        answer = anonymous.get(url, follow_redirects=False)
        assert answer.status_code in (303, 401), url
        if url.endswith(".json"):
            assert answer.status_code == 401
        assert "3,415" not in answer.text
    agent = client_as("agent")
    assert agent.get("/touchpoints/delivery.json").status_code == 403
    assert agent.get("/touchpoints").status_code == 403


def test_filters_apply(analyst, listing, tables):
    loyalty = analyst.get("/touchpoints.json?phase=loyalty").json()
    assert {r["phase"] for r in loyalty["touchpoints"]} == {"loyalty"}
    assert loyalty["filters"] == {"phase": "loyalty"}
    assert analyst.get("/touchpoints.json?segment=nonexistent").status_code == 400
    assert analyst.get("/touchpoints/delivery.json?start=not-a-date").status_code == 400
    period = analyst.get("/touchpoints/delivery.json?start=2025-01-01&end=2025-03-31").json()
    events = tables["events"]
    inside = events[
        (events["touchpoint"] == "delivery")
        & (events["ts"] >= pd.Timestamp("2025-01-01", tz="UTC"))
        & (events["ts"] < pd.Timestamp("2025-04-01", tz="UTC"))
    ]
    assert period["touchpoint"]["events"] == len(inside)
    page = analyst.get("/touchpoints?phase=loyalty")
    assert 'href="/touchpoints/delivery?phase=loyalty"' in page.text


def test_names_with_spaces_and_slashes(small):
    rows = small.get("/touchpoints.json").json()["touchpoints"]
    assert [r["touchpoint"] for r in rows] == [ODD, "helpdesk"]
    page = small.get("/touchpoints")
    link = "/touchpoints/" + quote(ODD, safe="")
    assert f'href="{link}"' in html.unescape(page.text)
    detail = small.get(link + ".json")
    assert detail.status_code == 200, detail.text
    data = detail.json()
    assert data["touchpoint"]["events"] == 2 and data["touchpoint"]["owner"] == TEAM
    assert data["scores"][0]["n"] == 2 and data["scores"][0]["too_few"]
    assert small.get(link).status_code == 200
    assert small.get(link, params={"q": "weeks"}).status_code == 200
    assert small.get(link + ".json", params={"q": "weeks"}).json()["comments"]["matched"] == 1
    helpdesk = small.get("/touchpoints/helpdesk").text
    assert 'owner = "service"' in html.unescape(helpdesk)
