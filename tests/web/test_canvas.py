"""The journey canvas page: its JSON twin against the analyses, the text lanes, roles, Dutch and
the PDF and PNG export."""

from __future__ import annotations

import html

import pytest

from cxray.analysis.funnel import funnel
from cxray.analysis.metrics import metrics
from cxray.canvas_notes import MAX_TEXT
from cxray.web.views import canvas as canvas_view
from tests.web.conftest import csrf_of


@pytest.fixture(scope="module")
def data(analyst) -> dict:
    answer = analyst.get("/canvas.json")
    assert answer.status_code == 200
    return answer.json()


def test_the_json_twin_agrees_with_funnel_and_metrics(app, data) -> None:
    with app.state.host.workspace() as ws:
        steps = funnel(ws).frame.set_index("phase")
        scores = metrics(ws, by="touchpoint", min_n=30).frame
        phases = list(ws.journey.phases)
    assert [p["phase"] for p in data["phases"]] == phases
    for phase in data["phases"]:
        assert phase["reached"] == steps.loc[phase["phase"], "reached"]
        if phase["next_phase"]:
            assert phase["dropped"] == steps.loc[phase["phase"], "dropped"]
            assert phase["drop_share"] == pytest.approx(steps.loc[phase["phase"], "drop_share"])
        assert phase["events"] == sum(tp["events"] for tp in phase["touchpoints"])
        for tp in phase["touchpoints"]:
            assert tp["phase"] == phase["phase"]
            answered = scores[scores["group"] == tp["touchpoint"]]
            if len(answered):
                main = answered.sort_values("n", ascending=False).iloc[0]
                assert (tp["metric"], tp["n"]) == (main["metric"], main["n"])
                assert tp["score"] == pytest.approx(main["score"])
                assert tp["low"] <= tp["score"] <= tp["high"]
    assert data["opportunities"]["rows"], "the demo plants drivers of churn"
    assert data["pain_points"]["themes"] and data["pain_points"]["touchpoints"]
    assert not data["failed"]


def test_the_page_shows_the_numbers(analyst, data) -> None:
    page = analyst.get("/canvas")
    assert page.status_code == 200
    assert 'rel="alternate"' in page.headers["link"]
    text = html.unescape(page.text)
    first = data["phases"][0]
    assert f"{first['reached']:,} customers reached it" in text
    assert "chart-emotion" in page.text and "/static/plotly.min.js" in page.text
    top = data["opportunities"]["rows"][0]
    assert top["label"] in text and f"≈ {round(top['customers_lost'])} customers" in text
    assert data["pain_points"]["themes"][0]["label"] in text
    for tp in first["touchpoints"]:
        assert f"{tp['events']:,} interactions" in text
    assert 'action="/canvas/notes"' in page.text


def test_in_dutch(analyst) -> None:
    page = analyst.get("/canvas?lang=nl")
    assert page.status_code == 200
    assert "Klantreiscanvas" in page.text and "Uitval naar de volgende fase" in page.text
    assert "Drop-off to the next phase" not in page.text and "Pain points" not in page.text
    assert "Contactmomenten" in page.text and "Kansen" in page.text
    analyst.cookies.delete("cxray_lang")


def test_filters_and_their_errors(analyst, data) -> None:
    one = analyst.get("/canvas.json?phase=loyalty").json()
    assert [p["phase"] for p in one["phases"]] == [p["phase"] for p in data["phases"]]
    assert one["filters"] == {"phase": "loyalty"}
    bad = analyst.get("/canvas.json?segment=nonexistent")
    assert bad.status_code == 400 and "segment" in bad.json()["detail"]
    assert analyst.get("/canvas.json?start=not-a-date").status_code == 400


def _form(client, **fields) -> dict:
    token = csrf_of(client.get("/canvas").text)
    return {"csrf_token": token, "next": "/canvas", **fields}


def test_a_note_is_saved_and_shown_after_reload(analyst) -> None:
    form = _form(analyst, lane="persona", key="loyalty", text="Anna <34>, orders monthly")
    answer = analyst.post("/canvas/notes", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/canvas#note-persona-loyalty"
    page = analyst.get("/canvas").text
    assert "Anna &lt;34&gt;, orders monthly" in page and "Anna <34>" not in page
    notes = analyst.get("/canvas.json").json()["notes"]
    saved = next(n for n in notes if (n["lane"], n["key"]) == ("persona", "loyalty"))
    assert saved["text"] == "Anna <34>, orders monthly" and saved["updated_by"] == "analyst"
    # an owner note per touchpoint, saved from the page's script (JSON answer)
    form = _form(analyst, lane="owner_note", key="delivery", text="New carrier from May")
    answer = analyst.post("/canvas/notes", data=form, headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.json()["saved"]["text"] == "New carrier from May"
    assert "New carrier from May" in analyst.get("/canvas").text
    # an empty text removes it
    form = _form(analyst, lane="owner_note", key="delivery", text="  ")
    assert analyst.post("/canvas/notes", data=form, follow_redirects=False).status_code == 303
    assert "New carrier from May" not in analyst.get("/canvas").text


def test_notes_refuse_what_they_cannot_keep(analyst) -> None:
    form = _form(analyst, lane="persona", key="loyalty", text="x")
    form["csrf_token"] = "forged"
    assert analyst.post("/canvas/notes", data=form).status_code == 403
    too_long = _form(analyst, lane="notes", key="loyalty", text="y" * (MAX_TEXT + 1))
    answer = analyst.post("/canvas/notes", data=too_long)
    assert answer.status_code == 400 and "at most 2,000" in answer.text
    answer = analyst.post("/canvas/notes", data=too_long, headers={"Accept": "application/json"})
    assert answer.status_code == 400 and "2,001 characters" in answer.json()["detail"]
    for lane, key in (("mood", "loyalty"), ("persona", "no_such_phase"), ("owner_note", "x")):
        form = _form(analyst, lane=lane, key=key, text="z")
        assert analyst.post("/canvas/notes", data=form).status_code == 400, (lane, key)
    # the way back stays in the app
    form = _form(analyst, lane="goal", key="loyalty", text="Get it on time")
    form["next"] = "https://elsewhere.example/canvas"
    answer = analyst.post("/canvas/notes", data=form, follow_redirects=False)
    assert answer.headers["location"].startswith("/canvas#")


def test_dutch_refusal(analyst) -> None:
    form = _form(analyst, lane="notes", key="loyalty", text="y" * (MAX_TEXT + 1))
    answer = analyst.post(
        "/canvas/notes?lang=nl", data=form, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 400 and "hoogstens 2.000" in answer.json()["detail"]
    analyst.cookies.delete("cxray_lang")


def test_an_agent_may_not_see_or_edit_the_canvas(client_as) -> None:
    agent = client_as("agent")
    for path in ("/canvas", "/canvas.json", "/canvas.pdf", "/canvas.png"):
        assert agent.get(path).status_code == 403, path
    form = {"csrf_token": "x", "lane": "persona", "key": "loyalty", "text": "agent"}
    answer = agent.post("/canvas/notes", data=form)
    # refused for the role, before the form is even read
    assert answer.status_code == 403 and "needs the role analyst" in answer.text


def test_signed_out_goes_to_login(app) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        answer = anonymous.get("/canvas", follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
        assert anonymous.get("/canvas.json").status_code == 401


def test_an_unknown_canvas_page_is_404(analyst) -> None:
    assert analyst.get("/canvas/nothing").status_code == 404


def test_without_chromium_the_export_says_to_print(analyst, monkeypatch) -> None:
    monkeypatch.setattr(canvas_view, "chromium_path", lambda: None)
    answer = analyst.get("/canvas.pdf")
    assert answer.status_code == 503
    assert "Print → Save as PDF" in html.unescape(answer.text)
    dutch = analyst.get("/canvas.png?lang=nl")
    assert dutch.status_code == 503 and "Afdrukken → Opslaan als PDF" in html.unescape(dutch.text)
    analyst.cookies.delete("cxray_lang")


needs_chromium = pytest.mark.skipif(
    canvas_view.chromium_path() is None, reason="no Chromium (Debian: apt-get install chromium)"
)


@needs_chromium
def test_the_pdf_export(analyst) -> None:
    pytest.importorskip("playwright")
    answer = analyst.get("/canvas.pdf")
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    assert b"/MediaBox" in answer.content


@needs_chromium
def test_the_png_export(analyst) -> None:
    pytest.importorskip("playwright")
    answer = analyst.get("/canvas.png?phase=loyalty")
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(answer.content[16:20], "big")
    assert width == canvas_view.EXPORT_WIDTH
