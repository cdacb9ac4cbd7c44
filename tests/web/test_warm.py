"""The warm-up: every page's default answers computed in the background, again after an import,
stopped while a command has the warehouse, and its progress printed by `cxray serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import cxray
from cxray.analysis.filters import ReportFilter
from cxray.web import create_app
from cxray.web.views.touchpoints import touchpoint_url
from cxray.web.warm import Warmer, default_pages
from tests.web.conftest import sign_in
from tests.web.test_live_import import CLI, free_port, signed_in

PAGES = [
    "/",
    "/canvas",
    "/touchpoints",
    "/flows",
    "/why",
    "/customers/at-risk",
    "/customers/onboarding",
    "/owners",
]
NONE = ReportFilter()


@pytest.fixture
def own_copy(demo_source, tmp_path) -> Path:
    """A workspace of the test's own: the module's app holds the shared copy open."""
    target = tmp_path / "demo"
    shutil.copytree(demo_source, target, ignore=shutil.ignore_patterns("server.json"))
    return target


def twin(path: str) -> str:
    return "/index.json" if path == "/" else path + ".json"


def analyses(host) -> int:
    """Answers computed from the warehouse so far (charts drawn from them are not counted)."""
    return host.computed - sum(1 for key in host._cache if key[0] == "drawn")


@pytest.fixture(scope="module")
def warm_app(web_workspace):
    app = create_app(web_workspace)
    warmer: Warmer = app.state.warmer
    warmer.poll = 0.2
    warmer.start()
    assert warmer.wait_warm(300), warmer.status()
    yield app
    warmer.stop()
    app.state.host.close()


@pytest.fixture(scope="module")
def client(warm_app):
    with TestClient(warm_app) as plain:
        yield sign_in(plain, "analyst")


def test_the_warm_up_fills_the_cache_with_every_default_key(warm_app):
    host = warm_app.state.host
    expected = {
        "filter_choices",
        ("overview", NONE),
        ("canvas", NONE),
        ("touchpoints", NONE),
        ("flows", NONE, "all"),
        ("flows", "dropoff", NONE),
        ("flows", "journey"),
        ("churn_check", NONE),
        *(("why", name, NONE) for name in ("drivers", "dose_response", "nps_drivers")),
        *(("why", name, NONE) for name in ("themes", "phrases")),
        ("customers", "risk"),
        ("customers", "onboarding", 100),
        ("owners", NONE),
        ("touchpoints", "known"),
        ("owners", "known"),
    }
    assert expected <= set(host._cache), expected - set(host._cache)
    with cxray.open(warm_app.state.host.path, read_only=True) as ws:
        names = list(ws.journey.touchpoints)
    # every touchpoint's own page too, from the journey read independently
    assert {("touchpoint", name, NONE) for name in names} <= set(host._cache)
    assert expected <= host._pinned
    status = warm_app.state.warmer.status()
    assert status["state"] == "warm" and all(page["warm"] for page in status["pages"])
    assert [page["name"] for page in status["pages"]] == [p.name for p in default_pages()]


def test_every_page_then_computes_nothing(warm_app, client):
    host = warm_app.state.host
    before = analyses(host)
    rows = client.get("/touchpoints.json").json()["touchpoints"][:3]
    paths = [*PAGES, *(touchpoint_url(row["touchpoint"]) for row in rows)]
    for path in paths:
        for asked in (path, twin(path)):
            answer = client.get(asked)
            assert answer.status_code == 200, asked
    assert analyses(host) == before


def test_the_status_page_says_which_pages_are_warm(client):
    status = client.get("/status.json").json()
    assert status["state"] == "warm" and status["rounds"] >= 1
    overview = next(page for page in status["pages"] if page["name"] == "overview")
    assert overview["path"] == "/" and overview["label"]["nl"] == "overzicht"


def test_the_status_page_needs_an_analyst(warm_app):
    with TestClient(warm_app) as anonymous:
        assert anonymous.get("/status.json").status_code == 401
    with TestClient(warm_app) as agent:
        assert sign_in(agent, "agent").get("/status.json").status_code == 403


def test_filtered_pages_never_push_a_default_page_out(warm_app, client, monkeypatch):
    from cxray.web import host as host_module

    monkeypatch.setattr(host_module, "CACHE_ENTRIES", 3)
    host = warm_app.state.host
    pinned = set(host._pinned)
    for month in range(1, 8):
        assert client.get(f"/touchpoints.json?start=2024-{month:02d}-01").status_code == 200
    assert pinned <= set(host._cache)
    loose = [key for key in host._cache if key not in host._pinned]
    assert len(loose) <= 3


def test_a_release_stops_the_round_and_new_data_warms_it_again(own_copy, tmp_path):
    app = create_app(own_copy)
    host = app.state.host
    seen: list[str] = []
    gate = {"release_after": "canvas"}

    def report(page, seconds, error) -> None:
        seen.append(page.name)
        if page.name == gate["release_after"]:
            host.release(1.0)  # as a command asking for the warehouse would

    warmer = Warmer(host, report=report, poll=0.2)
    warmer.start()
    try:
        deadline = time.monotonic() + 5
        while "canvas" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # still lent: nothing more is computed
        assert seen == ["overview", "canvas"] and not warmer.is_warm()
        gate["release_after"] = None
        # the lease ends; the warm-up opens the warehouse again: a new state, a full round
        assert warmer.wait_warm(300), warmer.status()
        assert seen.count("overview") == 2 and seen[-1] == "owner-pages"
        rounds = warmer.rounds
        before = client_customers(host)

        extra = tmp_path / "more.csv"
        extra.write_text(
            "customer_id,first_seen,segment\n"
            + "".join(f"warm-{i},2025-03-01,new\n" for i in range(7)),
            encoding="utf-8",
        )
        host.release(0.5)
        with cxray.open(own_copy) as ws:  # an import while the app has let go
            ws.import_table("customers", extra)
        time.sleep(0.6)
        deadline = time.monotonic() + 300
        while warmer.rounds == rounds and time.monotonic() < deadline:
            time.sleep(0.1)
        assert warmer.is_warm()
        assert client_customers(host) == before + 7  # the warm answer is the new data's
    finally:
        warmer.stop()
        host.close()


def client_customers(host) -> int:
    result = host.cached(("overview", NONE), lambda ws: pytest.fail("not warm"))
    return result.to_dict()["customers"]


def test_serve_prints_a_line_per_page_warmed(own_copy: Path):
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", str(own_copy), "--port", str(port), "--lang", "nl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                client = signed_in(url)
                if client.get("/status.json").json()["state"] == "warm":
                    break
            except (httpx.HTTPError, ValueError, AssertionError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail("not warm in time")
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    lines = [line.strip() for line in output.splitlines()]
    ready = [line for line in lines if line.startswith("klaar: ")]
    assert "elke pagina berekenen ..." in lines
    assert any(line.startswith("klaar: overzicht (") and line.endswith(" s)") for line in ready)
    assert len(ready) + sum(line.startswith("niet klaar: ") for line in lines) == len(
        default_pages()
    )
