"""The why page and its JSON twin on the demo company: every part equal to what the Workspace
API answers, each cached on its own, and a part that cannot run says why instead of failing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cxray.analysis.drivers import drivers
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.i18n import Message
from cxray.web.views import why

PARTS = ("drivers", "dose_response", "nps_drivers", "themes", "phrases")


def unescaped(text: str) -> str:
    return text.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')


def test_drivers_equal_the_workspace_api(analyst, app):
    data = analyst.get("/why.json").json()
    assert not data["failed"]
    with app.state.host.workspace() as ws:
        expected = ws.drivers()
    rows = {row["driver"]: row for row in data["drivers"]["drivers"]}
    assert set(rows) == set(expected.drivers.driver)
    for row in expected.drivers.itertuples():
        got = rows[row.driver]
        assert got["estimable"] == bool(row.estimable)
        if row.estimable:
            assert got["hazard_ratio"] == pytest.approx(row.hazard_ratio)
            assert got["hr_lower"] == pytest.approx(row.hr_lower)
            assert got["hr_upper"] == pytest.approx(row.hr_upper)
            assert got["customers_lost"] == pytest.approx(row.customers_lost)
    assert data["drivers"]["summary"]["en"] == expected.summary("en")
    assert data["drivers"]["summary"]["nl"] == expected.summary("nl")
    first = expected.drivers.iloc[0]
    assert data["drivers"]["sentences"]["en"][0] == expected.sentence(first, "en")
    # the demo plants late deliveries as a cause of churn
    assert rows["delivery_late"]["hazard_ratio"] > 1 and rows["delivery_late"]["significant"]


def test_every_other_part_equals_the_workspace_api(analyst, app):
    data = analyst.get("/why.json").json()
    with app.state.host.workspace() as ws:
        dose = ws.dose_response()
        nps = ws.nps_drivers()
        themes = ws.themes()
        phrases = ws.phrases(top=10)
    levels = data["dose_response"]["levels"]
    assert [row["customers"] for row in levels] == list(dose.levels.customers)
    assert [row["churn_within_horizon"] for row in levels] == pytest.approx(
        list(dose.levels.churn_within_horizon)
    )
    assert [row["churn_lower"] for row in levels] == pytest.approx(list(dose.levels.churn_lower))
    importance = {row["driver"]: row["importance"] for row in data["nps_drivers"]["rows"]}
    assert importance == pytest.approx(
        dict(zip(nps.frame.driver, nps.frame.importance, strict=True))
    )
    assert {row["driver"]: row["quadrant"] for row in data["nps_drivers"]["rows"]} == dict(
        zip(nps.frame.driver, nps.frame.quadrant, strict=True)
    )
    theme_rows = {row["theme"]: row for row in data["themes"]["rows"]}
    for row in themes.frame.itertuples():
        assert theme_rows[row.theme]["comments"] == row.comments
        assert theme_rows[row.theme]["share"] == pytest.approx(row.share)
        assert theme_rows[row.theme]["nps"] == pytest.approx(row.nps)
    assert data["themes"]["total_comments"] == themes.total_comments
    assert [r["phrase"] for r in data["phrases"]["rows"]] == list(phrases.frame.phrase)
    assert data["phrases"]["top"]["detractors"] == phrases.top("detractors", 10)
    for name, result in (("dose_response", dose), ("themes", themes)):
        assert data[name]["summary"]["nl"] == result.summary("nl")
    # the bootstrap intervals of nps_drivers vary from run to run (the engine's row order):
    # its sentence is compared up to the first interval
    assert data["nps_drivers"]["summary"]["nl"].split(" (")[0] == nps.summary("nl").split(" (")[0]


def test_the_page_shows_the_sentences_and_charts(analyst, app):
    page = analyst.get("/why")
    assert page.status_code == 200
    text = unescaped(page.text)
    with app.state.host.workspace() as ws:
        expected = ws.drivers()
        dose = ws.dose_response()
        nps = ws.nps_drivers()
    assert expected.summary("en") in text
    assert dose.summary("en") in text
    assert nps.summary("en").split(" (")[0] in text
    assert 'id="chart-dose"' in text and 'id="chart-nps-drivers"' in text
    hazard = expected.drivers.iloc[0]
    assert f"{hazard.hazard_ratio:.2f}" in text  # the table's cell, as the CLI writes it


def test_each_part_is_cached_on_its_own(analyst, app, monkeypatch):
    analyst.get("/why.json")
    keys = {key[1] for key in app.state.host._cache if key[0] == "why"}
    assert set(PARTS) <= keys
    # one part computed again (here: it now fails) does not recompute the others
    calls = []
    for name in PARTS:
        monkeypatch.setitem(why.PARTS, name, lambda ws, name=name: calls.append(name))
    for key in [key for key in app.state.host._cache if key[:2] == ("why", "themes")]:
        del app.state.host._cache[key]
    analyst.get("/why.json")
    assert calls == ["themes"]


def test_a_part_that_cannot_run_says_why(analyst, app, monkeypatch):
    def no_churn(ws):  # as drivers() says it on data without churn
        raise ValueError(
            Message(
                "no churn observed: nothing to explain",
                "geen vertrek waargenomen: niets te verklaren",
            )
        )

    monkeypatch.setitem(why.PARTS, "drivers", no_churn)
    app.state.host._cache.clear()
    answer = analyst.get("/why.json")
    assert answer.status_code == 200
    data = answer.json()
    assert data["drivers"] is None
    assert data["failed"]["drivers"] == {
        "en": "Cannot be computed on this data: no churn observed: nothing to explain.",
        "nl": "Niet te berekenen op deze gegevens: geen vertrek waargenomen: niets te verklaren.",
    }
    assert data["dose_response"]["levels"] and data["themes"]["rows"]
    page = analyst.get("/why?lang=nl")
    assert page.status_code == 200
    assert "geen vertrek waargenomen: niets te verklaren" in page.text
    analyst.cookies.delete("cxray_lang")
    app.state.host._cache.clear()


def test_filters_apply(analyst, app):
    with app.state.host.workspace() as ws:
        segment = sorted(ws.customers.select("segment").distinct().execute()["segment"])[0]
        expected = drivers(apply_filters(ws, ReportFilter(segment=segment)))
        everyone = ws.drivers()
    data = analyst.get(f"/why.json?segment={segment}").json()
    assert data["filters"] == {"segment": segment}
    assert data["drivers"]["customers"] == expected.customers < everyone.customers
    rows = {row["driver"]: row["hazard_ratio"] for row in data["drivers"]["drivers"]}
    estimable = expected.drivers[expected.drivers.estimable]
    assert rows == pytest.approx(dict(zip(estimable.driver, estimable.hazard_ratio, strict=True)))
    assert analyst.get("/why.json?segment=nope").status_code == 400
    assert analyst.get("/why?start=not-a-date").status_code == 400


def test_dutch_headings(analyst):
    page = analyst.get("/why?lang=nl")
    assert page.status_code == 200
    for heading in ("Oorzaken van vertrek", "Vertrek naar aantal slechte ervaringen",
                    "Wat de totaalscore drijft", "Woorden die ontevreden klanten onderscheiden"):  # fmt: skip
        assert heading in unescaped(page.text)
    assert "Churn drivers" not in page.text
    analyst.cookies.delete("cxray_lang")


def test_unsigned_clients_and_agents_are_refused(app, client_as):
    with TestClient(app) as stranger:
        assert stranger.get("/why.json").status_code == 401
        answer = stranger.get("/why", follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
    assert client_as("agent").get("/why").status_code == 403
