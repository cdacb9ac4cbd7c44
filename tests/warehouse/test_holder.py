"""The server file and the request to let go: only a live process counts, only its secret works."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cxray.warehouse import holder


def test_a_file_left_by_a_dead_process_is_ignored(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(finished.stdout)
    (tmp_path / ".cxray").mkdir()
    (tmp_path / holder.SERVER_FILE).write_text(
        json.dumps({"pid": dead, "url": "http://127.0.0.1:9", "secret": "s"})
    )
    assert holder.server_of(tmp_path) is None
    assert holder.ask_to_release(tmp_path) is False


def test_the_server_file_is_private_and_removed_by_its_writer(tmp_path):
    path = holder.write_server_file(tmp_path, "http://127.0.0.1:1", "secret")
    assert os.stat(path).st_mode & 0o077 == 0
    assert holder.server_of(tmp_path) is None  # this process never waits for itself
    holder.remove_server_file(tmp_path)
    assert not path.exists()


def test_an_app_that_does_not_answer_is_not_waited_for_long(tmp_path):
    # a live process (this test's parent) that listens nowhere: asking fails at once
    (tmp_path / ".cxray").mkdir()
    (tmp_path / holder.SERVER_FILE).write_text(
        json.dumps({"pid": os.getppid(), "url": "http://127.0.0.1:9", "secret": "s"})
    )
    assert holder.server_of(tmp_path)["url"] == "http://127.0.0.1:9"
    assert holder.ask_to_release(tmp_path) is False
