"""The overview page and its JSON twin on the demo company."""

from __future__ import annotations


def test_overview_json_has_every_part(analyst):
    answer = analyst.get("/index.json")
    assert answer.status_code == 200
    data = answer.json()
    assert data["customers"] > 0
    metrics = {row["metric"] for row in data["scores"]["rows"]}
    assert {"nps", "csat"} <= metrics
    for row in data["scores"]["rows"]:
        if row["n"] >= 30:
            assert row["low"] <= row["score"] <= row["high"]
    assert data["funnel"]["rows"]
    assert data["drivers"]["sentences"]["en"], "the demo plants drivers of churn"
    assert data["drivers"]["sentences"]["nl"][0] != data["drivers"]["sentences"]["en"][0]
    assert data["dropoff"]["sentence"]["en"]
    assert data["changes"]["current"] and data["changes"]["sentences"]["en"]
    assert not data["failed"]


def test_overview_html_shows_the_same_numbers(analyst):
    data = analyst.get("/?format=json").json()
    page = analyst.get("/")
    assert page.status_code == 200
    assert 'rel="alternate"' in page.headers["link"]
    nps = next(row for row in data["scores"]["rows"] if row["metric"] == "nps")
    assert f"n = {nps['n']:,}" in page.text
    assert data["drivers"]["sentences"]["en"][0] in page.text.replace("&#39;", "'")
    assert "chart-funnel" in page.text


def test_overview_in_dutch(analyst):
    page = analyst.get("/?lang=nl")
    assert "Waarom klanten vertrekken" in page.text
    assert "Why customers leave" not in page.text
    assert page.cookies.get("cxray_lang") == "nl" or "cxray_lang=nl" in page.headers.get(
        "set-cookie", ""
    )
    analyst.cookies.delete("cxray_lang")


def test_filters_change_the_numbers(analyst):
    everyone = analyst.get("/index.json").json()
    segments = analyst.get("/index.json?segment=nonexistent")
    assert segments.status_code == 400
    assert "segment" in segments.json()["detail"]
    period = analyst.get("/index.json?start=2025-01-01&end=2025-06-30").json()
    assert period["customers"] < everyone["customers"]


def test_a_bad_date_is_a_clear_400(analyst):
    answer = analyst.get("/index.json?start=not-a-date")
    assert answer.status_code == 400
    assert answer.json()["detail"]


def test_the_app_warms_the_overview_when_asked(web_workspace):
    import time

    from fastapi.testclient import TestClient

    from cxray.web import create_app

    app = create_app(web_workspace, warm=True)
    with TestClient(app):  # runs the start-up
        deadline = time.monotonic() + 60
        while not app.state.host._cache and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(key[0] == "overview" for key in app.state.host._cache)


def test_the_navigation_keeps_the_filters_and_nothing_else(analyst):
    import re

    page = analyst.get("/flows?segment=consumer&top=5&lang=en&q=late").text
    links = re.findall(r"<nav[^>]*>(.*?)</nav>", page, re.S)[0]
    hrefs = re.findall(r'href="([^"]+)"', links)
    assert "/touchpoints?segment=consumer" in hrefs
    assert not any("top=" in h or "q=" in h or "lang=" in h for h in hrefs), hrefs


def test_the_filter_bar_names_phases_in_the_readers_language(analyst):
    dutch = analyst.get("/", params={"lang": "nl"}).text
    assert '<option value="awareness">bewustwording</option>' in dutch
    english = analyst.get("/", params={"lang": "en"}).text
    assert '<option value="awareness">awareness</option>' in english
    analyst.cookies.delete("cxray_lang")
