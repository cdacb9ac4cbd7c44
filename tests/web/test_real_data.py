"""Every page of the web app on real data: a permit log (events only), airline tweets (star
ratings and comments, no journey) and a one-order webshop. No page answers 500, every JSON twin
holds no NaN, inf or negative count, and the pages of one touchpoint, customer and owner open."""

from __future__ import annotations

import shutil
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

import cxray
from cxray import accounts
from cxray.web import create_app
from tests.test_real_data import BUILDERS, check_numbers, root, workspace  # noqa: F401
from tests.web.conftest import PASSWORDS, sign_in

PASSWORD = PASSWORDS["admin"]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def admin(request, root, tmp_path_factory):  # noqa: F811
    source = workspace(root, request.param)
    copy = tmp_path_factory.mktemp("web-real") / request.param
    shutil.copytree(source, copy)
    with cxray.open(copy) as ws:
        accounts.add_user(ws.warehouse, "admin", PASSWORD, "admin")
    app = create_app(copy)
    client = TestClient(app)
    sign_in(client, "admin")
    yield request.param, app, client
    client.close()


def routes_of(routes) -> list:
    """Every route, those of included routers too (FastAPI keeps an included router whole)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found += routes_of(inner.routes) if inner is not None else [route]
    return found


def page_paths(app) -> list[str]:
    paths = []
    for route in routes_of(app.routes):
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", set()) or set()
        if (
            "GET" in methods
            and "{" not in path
            and not path.startswith(("/static", "/setup", "/login", "/docs", "/openapi"))
        ) and not path.endswith((".json", ".csv", ".pdf", ".png")):
            paths.append(path)
    return paths


def twin(path: str) -> str:
    return "/index.json" if path == "/" else path + ".json"


def test_every_page_answers_on_real_data(admin):
    name, app, client = admin
    failures = []
    for path in page_paths(app):
        for url in (path, twin(path)):
            answer = client.get(url)
            if answer.status_code != 200:
                failures.append(f"{name} {url}: {answer.status_code} {answer.text[:160]}")
            elif url.endswith(".json"):
                check_numbers(answer.json(), f"{name} {url}")
    assert not failures, "\n".join(failures)


def test_one_touchpoint_customer_and_owner_open(admin):
    name, app, client = admin
    opened = 0
    for listing, keys in (
        ("/touchpoints.json", ("touchpoint", "name")),
        ("/owners.json", ("owner", "name")),
    ):
        answer = client.get(listing)
        if answer.status_code == 404:
            continue
        rows = next((v for v in answer.json().values() if isinstance(v, list) and v), [])
        for row in rows[:1]:
            key = next((row[k] for k in keys if row.get(k)), None)
            if key is None:
                continue
            base = listing.removesuffix(".json")
            detail = client.get(f"{base}/{quote(str(key), safe='')}")
            assert detail.status_code == 200, (name, base, key, detail.text[:200])
            opened += 1
    first = None
    with app.state.host.workspace() as ws:
        for table in (ws.customers, ws.events, ws.feedback):  # a log may hold no customers row
            ids = table.select("customer_id").limit(1).execute()["customer_id"]
            if len(ids):
                first = ids.iloc[0]
                break
    if first is not None:
        answer = client.get(f"/customers/{quote(str(first), safe='')}")
        assert answer.status_code == 200, (name, answer.text[:200])
        opened += 1
    assert opened >= 1
