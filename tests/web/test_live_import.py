"""A real `cxray serve` and `cxray import` on the same workspace at once (DuckDB has one writer):
the import works while the app runs, and the app's pages show the new data without a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import PASSWORDS, csrf_of

CLI = [str(Path(sys.executable).with_name("cxray"))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(web_workspace: Path):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*CLI, "serve", str(web_workspace), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/login", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(
            "the server did not start: " + (process.stdout.read() if process.stdout else "")
        )
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert not (web_workspace / ".cxray" / "server.json").exists(), "the server file stays behind"


def signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "name": "analyst",
            "password": PASSWORDS["analyst"],
            "csrf_token": csrf_of(form.text),
        },
    )
    assert answer.status_code in (200, 303), answer.text
    return client


def test_import_while_the_app_serves(served, web_workspace, tmp_path):
    client = signed_in(served)
    before = client.get("/index.json").json()["customers"]  # the app now holds the warehouse
    server = json.loads((web_workspace / ".cxray" / "server.json").read_text())
    assert (
        server["url"] == served
        and os.stat(web_workspace / ".cxray" / "server.json").st_mode & 0o077 == 0
    )
    extra = tmp_path / "more.csv"
    extra.write_text(
        "customer_id,first_seen,segment\n"
        + "".join(f"live-{i},2025-03-01,new\n" for i in range(25)),
        encoding="utf-8",
    )
    started = time.monotonic()
    imported = subprocess.run(
        [*CLI, "import", str(web_workspace), "customers", str(extra)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    assert time.monotonic() - started < 30
    status = subprocess.run(
        [*CLI, "status", str(web_workspace)], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    after = client.get("/index.json")
    for _ in range(50):  # the app reopens once the command's lease is over
        if after.status_code == 200:
            break
        assert after.status_code == 503 and after.headers["retry-after"]
        time.sleep(0.5)
        after = client.get("/index.json")
    assert after.json()["customers"] == before + 25


def test_the_port_is_free_again_at_once_after_a_stop(served, web_workspace):
    port = int(served.rsplit(":", 1)[1])
    client = signed_in(served)  # a kept-alive connection the server closes lingers in TIME_WAIT
    client.get("/index.json")
    server = json.loads((web_workspace / ".cxray" / "server.json").read_text())
    os.kill(server["pid"], 15)
    for _ in range(100):
        if not (web_workspace / ".cxray" / "server.json").exists():
            break
        time.sleep(0.1)
    time.sleep(0.5)  # the process is gone once its server file is
    client.close()
    again = subprocess.Popen(
        [*CLI, "serve", str(web_workspace), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(150):
            try:
                assert httpx.get(served + "/login", timeout=1).status_code == 200
                break
            except httpx.HTTPError:
                assert again.poll() is None, again.stdout.read() if again.stdout else ""
                time.sleep(0.2)
        else:
            pytest.fail("the second server did not answer")
    finally:
        again.terminate()
        again.wait(timeout=20)
