"""`cxray mail`: send, status, check — and a sender killed mid-batch sends every mail once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tomlkit
from typer.testing import CliRunner

import cxray
from cxray.actions import outbox
from cxray.actions.outbox import Mail
from cxray.cli import app
from tests.smtp_server import SmtpRecorder, free_port, smtp_server  # noqa: F401  (fixture)

CLI = [str(Path(sys.executable).with_name("cxray"))]
runner = CliRunner()
BATCH = 200


def make_workspace(path: Path, port: int, mails: int) -> Path:
    ws = cxray.init(path)
    try:
        doc = tomlkit.parse(ws.journey_path.read_text())
        doc["mail"] = {"host": "127.0.0.1", "port": port, "from_address": "service@shop.example"}
        ws.journey_path.write_text(tomlkit.dumps(doc))
        with ws.warehouse.transaction():
            for n in range(mails):
                outbox.enqueue(
                    ws.warehouse,
                    Mail(f"customer{n}@example.com", f"Mail {n}", "How was it?", ref=str(n)),
                )
    finally:
        ws.close()
    return path


@pytest.fixture
def workspace(tmp_path, smtp_server) -> Path:  # noqa: F811
    return make_workspace(tmp_path / "shop", smtp_server.port, 3)


def stored_ids(path: Path) -> set[str]:
    with cxray.open(path, read_only=True) as ws:
        rows = ws.warehouse.query(f"SELECT message_id FROM {outbox.OUTBOX_TABLE}")
        return {f"<{row[0]}@shop.example>" for row in rows}


def counts(path: Path) -> dict[str, int]:
    with cxray.open(path, read_only=True) as ws:
        return outbox.counts_of(ws.warehouse)


def test_send_sends_what_is_due_and_says_so_per_state(workspace, smtp_server):  # noqa: F811
    smtp_server.refuse("customer1@example.com")
    result = runner.invoke(app, ["mail", "send", str(workspace)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split() == ["sent", "2"] for line in lines), result.output
    assert any(line.split() == ["bounced", "1"] for line in lines)
    assert any(line.split() == ["failed", "0"] for line in lines)
    assert smtp_server.count() == 2
    status = runner.invoke(app, ["mail", "status", str(workspace), "--format", "json"])
    data = json.loads(status.output)
    assert data["counts"]["sent"] == 2 and data["counts"]["bounced"] == 1
    assert data["bounced_addresses"] == 1 and "550" in data["last_errors"][0]["last_error"]
    assert data["settings"]["password"] is False
    table = runner.invoke(app, ["mail", "status", str(workspace), "--lang", "nl"])
    assert "onbestelbaar" in table.output and "laatste fouten" in table.output


def test_a_dry_run_lists_and_sends_nothing(workspace, smtp_server):  # noqa: F811
    result = runner.invoke(app, ["mail", "send", str(workspace), "--dry-run", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "customer0@example.com" in result.output and "customer2" not in result.output
    assert "nothing sent (dry run)" in result.output
    assert smtp_server.count() == 0 and counts(workspace)["queued"] == 3


def test_check_says_in_one_line_whether_sending_works(workspace, smtp_server):  # noqa: F811
    result = runner.invoke(app, ["mail", "check", str(workspace)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sending works: 127.0.0.1:")
    assert len(result.output.strip().splitlines()) == 1
    doc = tomlkit.parse((workspace / "cxray.toml").read_text())
    doc["mail"]["port"] = free_port()
    (workspace / "cxray.toml").write_text(tomlkit.dumps(doc))
    result = runner.invoke(app, ["mail", "check", str(workspace), "--lang", "nl"])
    assert result.exit_code == 1
    assert "kan de mailserver" in result.output and "verbinding" not in result.output
    doc["mail"]["hots"] = "x"
    (workspace / "cxray.toml").write_text(tomlkit.dumps(doc))
    result = runner.invoke(app, ["mail", "check", str(workspace)])
    assert result.exit_code == 1 and "unknown key 'hots'" in result.output


def test_send_without_settings_says_what_is_missing(tmp_path):
    cxray.init(tmp_path / "bare").close()
    result = runner.invoke(app, ["mail", "send", str(tmp_path / "bare")])
    assert result.exit_code == 1 and "set host (or CXRAY_SMTP_HOST)" in result.output


def test_retry_and_unbounce(workspace, smtp_server):  # noqa: F811
    smtp_server.refuse("customer0@example.com")
    runner.invoke(app, ["mail", "send", str(workspace)])
    result = runner.invoke(app, ["mail", "unbounce", str(workspace), "customer0@example.com"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["mail", "unbounce", str(workspace), "customer0@example.com"])
    assert result.exit_code == 1
    result = runner.invoke(app, ["mail", "retry", str(workspace)])
    assert result.exit_code == 0 and "0 failed" in result.output


def test_a_busy_workspace_is_said_in_one_line(workspace):
    import duckdb

    held = duckdb.connect(str(workspace / "warehouse.duckdb"))  # another process would hold it
    try:
        done = subprocess.run(
            [*CLI, "mail", "send", str(workspace)], capture_output=True, text=True, timeout=60
        )
    finally:
        held.close()
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "busy" in done.stderr, done.stderr


# -- a sender killed mid-batch ------------------------------------------------------------------
def start_sender(path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "mail", "send", str(path), "--limit", str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )


def kill_when(server: SmtpRecorder, moment: str, after: int) -> list[subprocess.Popen]:
    """Arrange for the sender to be killed with SIGKILL at ``moment`` after ``after`` mails:
    on the next RCPT (claimed, not handed over), inside the DATA answer (handed over, the
    answer not yet given), or a few milliseconds later from another thread (anywhere)."""
    process: list[subprocess.Popen] = []
    rcpts = [0]

    def kill() -> None:
        if process and process[0].poll() is None:
            os.kill(process[0].pid, signal.SIGKILL)

    def on_rcpt(address: str) -> None:
        rcpts[0] += 1
        if moment == "rcpt" and rcpts[0] == after + 1:
            kill()

    def on_message(item) -> None:
        count = server.count()
        if moment == "data" and count == after:
            kill()
        elif moment.startswith("timer") and count == after:
            threading.Timer(int(moment[5:]) / 1000, kill).start()

    server.on_rcpt, server.on_message = on_rcpt, on_message
    return process


@pytest.mark.parametrize(
    ("moment", "after"),
    [("rcpt", 40), ("data", 70), ("timer7", 110)],
)
def test_a_sender_killed_mid_batch_sends_every_mail_exactly_once(
    tmp_path,
    smtp_server,  # noqa: F811
    moment,
    after,
):
    path = make_workspace(tmp_path / "shop", smtp_server.port, BATCH)
    process = kill_when(smtp_server, moment, after)
    process.append(start_sender(path))
    process[0].wait(timeout=120)
    assert process[0].returncode == -signal.SIGKILL, process[0].communicate()
    arrived = smtp_server.count()
    assert after <= arrived < BATCH, "killed too late to tell"
    smtp_server.on_rcpt = smtp_server.on_message = None
    again = subprocess.run(
        [*CLI, "mail", "send", str(path), "--limit", str(BATCH)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    received = smtp_server.message_ids()
    assert set(received) == stored_ids(path), (
        set(stored_ids(path)) - set(received),
        set(received) - set(stored_ids(path)),
    )
    assert len(received) == BATCH
    assert max(received.values()) == 1, [mid for mid, n in received.items() if n > 1]
    assert counts(path)["sent"] == BATCH
    if moment in ("rcpt", "data"):
        assert "left by a stopped sender" in again.stdout, again.stdout


def test_send_works_while_the_web_app_holds_the_workspace(workspace, smtp_server):  # noqa: F811
    import httpx

    port = free_port()
    served = subprocess.Popen(
        [*CLI, "serve", str(workspace), "--port", str(port), "--no-send"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (workspace / ".cxray" / "server.json").exists() or not _answers(port):
            assert time.monotonic() < deadline and served.poll() is None, "no server"
            time.sleep(0.2)
        httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert _wait_held(workspace), "the app never opened the warehouse"
        assert smtp_server.count() == 0  # --no-send: the app's scheduler sends nothing
        done = subprocess.run(
            [*CLI, "mail", "send", str(workspace)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert smtp_server.count() == 3
        status = subprocess.run(
            [*CLI, "mail", "status", str(workspace), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert json.loads(status.stdout)["counts"]["sent"] == 3
    finally:
        served.terminate()
        served.wait(timeout=30)


def _answers(port: int) -> bool:
    import httpx

    try:
        httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def _wait_held(workspace: Path, timeout: float = 30.0) -> bool:
    """True once another process holds the warehouse file (DuckDB's lock)."""
    import duckdb

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True).close()
        except duckdb.Error as exc:
            if "lock" in str(exc).lower():
                return True
            raise
        time.sleep(0.2)
    return False
