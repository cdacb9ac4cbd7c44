"""Accounts from the first page: every route needs its role, forms need the session's CSRF token,
logins are throttled, the one-time setup link works once, the app binds to loopback by default."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

import cxray
from cxray import accounts
from cxray.web import create_app
from tests.web.conftest import PASSWORDS, csrf_of, sign_in

PAGES = {  # path: the least role that may open it
    "/": "analyst",
    "/index.json": "analyst",
    "/users": "admin",
    "/users.json": "admin",
    "/docs": "analyst",
    "/openapi.json": "analyst",
}
RANK = {role: i for i, role in enumerate(accounts.ROLES)}


def test_nothing_is_shown_before_sign_in(app):
    anonymous = TestClient(app)
    for path in PAGES:
        answer = anonymous.get(path, follow_redirects=False)
        if path.endswith(".json"):
            assert answer.status_code == 401, path
        else:
            assert answer.status_code in (303, 401), path
            if answer.status_code == 303:
                assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize("role", accounts.ROLES)
def test_every_route_requires_its_role(client_as, role):
    client = client_as(role)
    for path, needed in PAGES.items():
        answer = client.get(path, follow_redirects=False)
        if RANK[role] >= RANK[needed]:
            assert answer.status_code == 200, (role, path, answer.text[:200])
        else:
            assert answer.status_code == 403, (role, path)


def test_every_route_in_the_app_is_covered_by_a_role(app):
    """A new page without a role dependency fails here (sign-in pages and assets excepted)."""
    open_paths = {
        "/login",
        "/logout",
        "/setup",
        "/static",
        "/static/plotly.min.js",
        "/_holder/release",
    }
    anonymous = TestClient(app)
    for route in app.routes:
        path = getattr(route, "path", "")
        if path in open_paths or "{" in path or "GET" not in getattr(route, "methods", {"GET"}):
            continue
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code in (303, 401), path


def test_a_form_without_the_session_token_is_refused(client_as):
    admin = client_as("admin")
    answer = admin.post(
        "/users", data={"action": "add", "name": "mallory", "password": "long password 1"}
    )
    assert answer.status_code == 403
    assert "mallory" not in admin.get("/users.json").text
    token = csrf_of(admin.get("/users").text)
    answer = admin.post(
        "/users",
        data={
            "action": "add",
            "name": "carol",
            "role": "agent",
            "password": "long password 1",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert "carol" in admin.get("/users.json").text


def test_wrong_passwords_are_throttled(app):
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    codes = [
        client.post(
            "/login", data={"name": "agent", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # even the right password waits now
    right = client.post(
        "/login", data={"name": "agent", "password": PASSWORDS["agent"], "csrf_token": token}
    )
    assert right.status_code == 429 and re.search(r"\d+ s", right.text)
    app.state.throttle.succeeded("name:agent", "address:testclient")


def test_the_session_cookie_is_signed_and_http_only(app):
    client = TestClient(app)
    sign_in(client, "analyst")
    cookie = next(c for c in client.cookies.jar if c.name == "cxray_session")
    assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in str(cookie._rest).lower()
    forged = TestClient(app)
    forged.cookies.set("cxray_session", cookie.value[:-3] + "abc")
    assert forged.get("/index.json").status_code == 401


def test_next_never_leaves_the_site(app):
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={
            "name": "analyst",
            "password": PASSWORDS["analyst"],
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_the_setup_link_makes_one_admin_once(tmp_path):
    cxray.init(tmp_path / "empty").close()
    app = create_app(tmp_path / "empty", setup_token="one-time-token")
    client = TestClient(app)
    assert "one-time link" in client.get("/login").text
    assert client.get("/setup?token=wrong").status_code == 403
    form = client.get("/setup?token=one-time-token")
    assert form.status_code == 200
    made = client.post(
        "/setup",
        data={
            "token": "one-time-token",
            "name": "root",
            "password": "long password 1",
            "csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert client.get("/users.json").json()["users"][0]["role"] == "admin"
    again = TestClient(app).get("/setup?token=one-time-token")
    assert again.status_code == 403


def test_headers_keep_pages_out_of_frames(analyst):
    answer = analyst.get("/")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_pages_use_no_outside_address(analyst):
    for path in ("/", "/docs"):
        html = analyst.get(path).text
        outside = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
        assert not outside, (path, outside)
    assert analyst.get("/static/plotly.min.js").status_code == 200
    assert analyst.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_an_unknown_page_is_a_404_page(analyst):
    answer = analyst.get("/no-such-page")
    assert answer.status_code == 404 and "no such page" in answer.text
    assert analyst.get("/no-such-page.json").json()["detail"]


def test_a_changed_or_removed_user_is_read_again(app, client_as):
    """Sign-in keeps users in memory; a change here, or by another process, is seen at once."""
    admin = client_as("admin")
    with app.state.host.workspace() as ws:
        accounts.add_user(ws.warehouse, "temp", "temp-password-1", "analyst")
    temp = sign_in_as(app, "temp", "temp-password-1")
    assert temp.get("/index.json").status_code == 200
    form = admin.get("/users")
    changed = admin.post(
        "/users",
        data={"action": "role", "name": "temp", "role": "agent", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert temp.get("/index.json").status_code == 403  # an agent now
    # another process (a command) removes the user while the app holds the warehouse
    app.state.host.release(0)
    script = (
        "import cxray; from cxray import accounts; "
        f"ws = cxray.open({str(app.state.host.path)!r}); "
        "accounts.remove_user(ws.warehouse, 'temp'); ws.close()"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert temp.get("/customers.json").status_code == 401


def sign_in_as(app, name: str, password: str) -> TestClient:
    client = TestClient(app)
    form = client.get("/login")
    client.post(
        "/login", data={"name": name, "password": password, "csrf_token": csrf_of(form.text)}
    )
    return client
