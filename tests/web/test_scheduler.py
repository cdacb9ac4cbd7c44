"""The scheduler inside the web app: jobs run on their own, a failure never stops it, a lent
workspace makes a job wait, and the send job delivers a queued mail without any request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import tomlkit
from fastapi.testclient import TestClient

import cxray
from cxray.actions import jobs, outbox
from cxray.actions.outbox import Mail
from cxray.i18n import Message
from cxray.web import create_app
from cxray.web.host import WorkspaceHost
from cxray.web.scheduler import Scheduler
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)


@pytest.fixture
def path(tmp_path) -> Path:
    cxray.init(tmp_path / "shop").close()
    return tmp_path / "shop"


@pytest.fixture
def host(path):
    host = WorkspaceHost(path)
    yield host
    host.close()


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class Counting:
    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail

    def __call__(self, context: jobs.JobContext) -> str:
        self.calls += 1
        with context.borrow() as warehouse:
            warehouse.query("SELECT 1")
        if self.fail:
            raise ValueError(Message("no luck", "geen geluk"))
        return f"call {self.calls}"


def test_a_failing_job_is_recorded_and_tried_again_without_stopping_the_others(host):
    broken, fine = Counting(fail=True), Counting()
    scheduler = Scheduler(
        host,
        job_list=[
            jobs.Job("broken", Message("broken", "kapot"), broken),
            jobs.Job("fine", Message("fine", "goed"), fine),
        ],
    )
    scheduler.tick()
    scheduler.tick()
    assert (broken.calls, fine.calls) == (2, 2)
    status = {job["name"]: job for job in scheduler.status()["jobs"]}
    assert status["broken"]["failures"] == 2 and status["broken"]["last_outcome"] == "failed"
    assert status["broken"]["last_error"] == {"en": "no luck", "nl": "geen geluk"}
    assert status["fine"]["runs"] == 2 and status["fine"]["last_result"]["en"] == "call 2"
    assert status["fine"]["last_seconds"] >= 0 and status["fine"]["last_started"] is not None


def test_a_job_waits_while_the_workspace_is_lent_to_a_command(host):
    job = Counting()
    scheduler = Scheduler(host, job_list=[jobs.Job("j", Message("j", "j"), job)])
    scheduler.tick()
    host.release(lease=0.4)  # what a command asking for the warehouse does
    scheduler.tick()
    [status] = scheduler.status()["jobs"]
    assert job.calls == 1 and status["last_outcome"] == "waiting" and status["waits"] == 1
    time.sleep(0.45)
    scheduler.tick()
    assert job.calls == 2 and scheduler.status()["jobs"][0]["last_outcome"] == "ok"


def test_a_job_with_its_own_pace_runs_when_due(host):
    hourly = Counting()
    scheduler = Scheduler(host, job_list=[jobs.Job("h", Message("h", "h"), hourly, every=3600)])
    for _ in range(3):
        scheduler.tick()
    assert hourly.calls == 1
    assert scheduler.status()["jobs"][0]["every_seconds"] == 3600


def test_the_thread_runs_jobs_on_its_own_and_stops(host):
    job, broken = Counting(), Counting(fail=True)
    scheduler = Scheduler(
        host,
        interval=0.05,
        job_list=[
            jobs.Job("broken", Message("b", "b"), broken),
            jobs.Job("j", Message("j", "j"), job),
        ],
    )
    scheduler.start()
    try:
        assert wait_until(lambda: job.calls >= 3)
        assert scheduler.running and broken.calls >= 3
    finally:
        started = time.monotonic()
        scheduler.stop()
    assert time.monotonic() - started < 2 and not scheduler.running


def test_registered_jobs_include_sending_unless_it_is_switched_off(host):
    import cxray.actions.sender  # noqa: F401  (registers the send job)

    assert "send-mail" in [job.name for job in Scheduler(host).jobs()]
    assert "send-mail" not in [job.name for job in Scheduler(host, send_mail=False).jobs()]


def test_the_app_sends_a_queued_mail_without_any_request(path, smtp_server):  # noqa: F811
    doc = tomlkit.parse((path / "cxray.toml").read_text())
    doc["mail"] = {"host": "127.0.0.1", "port": smtp_server.port, "from_address": "s@shop.example"}
    (path / "cxray.toml").write_text(tomlkit.dumps(doc))
    with cxray.open(path) as ws:
        message_id = outbox.enqueue(ws.warehouse, Mail("ann@example.com", "Hello", "Hi Ann"))
    app = create_app(path, schedule=True)
    app.state.scheduler.interval = 0.1
    with TestClient(app):  # starts the app (and its scheduler); no request is made
        assert smtp_server.wait_for(1, timeout=15)

        def send_job() -> dict:
            [job] = [j for j in app.state.scheduler.status()["jobs"] if j["name"] == "send-mail"]
            return job

        assert wait_until(lambda: send_job()["runs"] >= 1)
        job = send_job()
        assert job["last_outcome"] == "ok" and job["last_result"]["en"].startswith("sent 1")
    assert not app.state.scheduler.running  # stopped with the app
    assert smtp_server.message_ids() == {f"<{message_id}@shop.example>": 1}
    with cxray.open(path, read_only=True) as ws:
        assert outbox.get(ws.warehouse, message_id).state == "sent"


def test_without_send_mail_the_app_sends_nothing(path, smtp_server):  # noqa: F811
    doc = tomlkit.parse((path / "cxray.toml").read_text())
    doc["mail"] = {"host": "127.0.0.1", "port": smtp_server.port, "from_address": "s@shop.example"}
    (path / "cxray.toml").write_text(tomlkit.dumps(doc))
    with cxray.open(path) as ws:
        outbox.enqueue(ws.warehouse, Mail("ann@example.com", "Hello", "Hi Ann"))
    app = create_app(path, schedule=True, send_mail=False)
    app.state.scheduler.interval = 0.05
    with TestClient(app):
        assert wait_until(lambda: app.state.scheduler.ticks >= 3)
    assert smtp_server.count() == 0
