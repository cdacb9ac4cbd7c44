"""The web app in-process: a demo workspace (built once per session, copied per test module),
users of every role, and a test client signed in as each."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import cxray
from cxray import accounts
from cxray.demo import generate_demo
from cxray.web import create_app

PASSWORDS = {
    "admin": "admin-password-1",
    "analyst": "analyst-password-1",
    "agent": "agent-password-1",
}


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory) -> Path:
    """The demo company with a user of each role, built once."""
    folder = tmp_path_factory.mktemp("web-demo") / "demo"
    generate_demo(folder, customers=800, seed=11)
    with cxray.open(folder) as ws:
        for role, password in PASSWORDS.items():
            accounts.add_user(ws.warehouse, role, password, role)
    return folder


@pytest.fixture(scope="module")
def web_workspace(demo_source, tmp_path_factory) -> Path:
    """A copy of the demo a test module may change."""
    target = tmp_path_factory.mktemp("web") / "demo"
    shutil.copytree(demo_source, target, ignore=shutil.ignore_patterns("server.json"))
    return target


@pytest.fixture(scope="module")
def app(web_workspace):
    return create_app(web_workspace)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, role: str) -> TestClient:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"name": role, "password": PASSWORDS[role], "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture(scope="module")
def client_as(app) -> Iterator[Callable[[str], TestClient]]:
    """``client_as("analyst")``: a client signed in with that role (one per role and module)."""
    clients: dict[str, TestClient] = {}

    def make(role: str) -> TestClient:
        if role not in clients:
            clients[role] = sign_in(TestClient(app), role)
        return clients[role]

    yield make
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def analyst(client_as) -> TestClient:
    return client_as("analyst")
