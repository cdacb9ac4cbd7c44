"""The web app's hold on its workspace: requests read side by side, a command gets it at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

import cxray
from cxray.web.host import WorkspaceBusy, WorkspaceHost


@pytest.fixture
def host(tmp_path):
    path = tmp_path / "ws"
    cxray.init(path).close()
    host = WorkspaceHost(path)
    yield host
    host.close()


def _slow_query(ws) -> int:
    # a few seconds of engine work on this thread's cursor
    return ws.warehouse.query(
        "SELECT count(*) FROM range(400000000) a WHERE (a.range * 7) % 13 = 5"
    )[0][0]


def test_a_quick_read_does_not_wait_for_an_analysis_under_way(host):
    started = threading.Event()

    def analysis(ws):
        started.set()
        return _slow_query(ws)

    worker = threading.Thread(target=host.cached, args=("slow", analysis))
    worker.start()
    assert started.wait(10)
    time.sleep(0.2)
    began = time.perf_counter()
    with host.workspace() as ws:
        assert ws.warehouse.query("SELECT 1")[0][0] == 1
    quick = time.perf_counter() - began
    assert worker.is_alive(), "the analysis finished too soon to tell"
    worker.join()
    assert quick < 0.5, f"a one-row query waited {quick:.2f} s for another thread's analysis"


def test_each_thread_reads_in_utc_through_its_own_cursor(host):
    seen = []

    def read():
        with host.workspace() as ws:
            seen.append(
                (id(ws.warehouse), ws.warehouse.query("SELECT current_setting('TimeZone')"))
            )

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {answer[0][0] for _, answer in seen} == {"UTC"}
    assert len({warehouse for warehouse, _ in seen}) == 3


def test_one_answer_asked_for_by_many_at_once_is_computed_once(host):
    calls = []

    def compute(ws):
        calls.append(1)
        time.sleep(0.3)
        return 42

    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(host.cached("k", compute))) for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42] * 5
    assert len(calls) == 1


def test_a_command_gets_the_warehouse_while_a_long_query_runs(host, monkeypatch):
    from cxray.web import host as host_module

    monkeypatch.setattr(host_module, "RELEASE_GRACE", 0.5)
    outcome = []

    def analysis():
        try:
            host.cached("slow", _slow_query)
            outcome.append("finished")
        except WorkspaceBusy:
            outcome.append("busy")

    worker = threading.Thread(target=analysis)
    worker.start()
    time.sleep(0.5)
    began = time.perf_counter()
    host.release(5.0)
    released = time.perf_counter() - began
    # another process can now open the file for writing
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import cxray; cxray.open({str(host.path)!r}, lock_wait=0).close()",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    worker.join()
    assert opened.returncode == 0, opened.stderr
    assert released < 3.0
    assert outcome == ["busy"]
    with pytest.raises(WorkspaceBusy), host.workspace():
        pass  # the lease is not over yet
