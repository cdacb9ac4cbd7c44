"""The process that keeps a workspace's warehouse open (the web app), and how a command asks it
to let go for a moment.

DuckDB admits one writing process. ``cxray serve`` keeps the warehouse open and writes
``.cxray/server.json`` (its address, process id and a secret for this run, readable by its owner
only). A command that finds the file locked asks that process to close its connection for a
short lease; the command then opens the warehouse itself as usual, and the app opens it again on
its next request after the command has finished, so its pages show the new data.

Standard library only: every command may load this module when it meets a lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SERVER_FILE = Path(".cxray") / "server.json"
SECRET_HEADER = "X-Cxray-Holder"
RELEASE_PATH = "/_holder/release"
# Long enough for the command to open the file after the app has let go of it.
LEASE_SECONDS = 10.0
# The app finishes the requests it is serving before it lets go: wait that long for it.
RELEASE_TIMEOUT = 60.0


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def write_server_file(workspace: Path, url: str, secret: str) -> Path:
    """Say which process holds the workspace, where it listens and how to ask it to let go."""
    path = Path(workspace) / SERVER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"pid": os.getpid(), "url": url, "secret": secret})
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def remove_server_file(workspace: Path) -> None:
    path = Path(workspace) / SERVER_FILE
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, OSError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def server_of(workspace: Path) -> dict[str, Any] | None:
    """The running app that holds ``workspace``, if any (a file left by a dead one is ignored)."""
    path = Path(workspace) / SERVER_FILE
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        pid = int(found["pid"])
        str(found["url"]), str(found["secret"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None  # this process is the app: it never waits for itself
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return found


def ask_to_release(workspace: Path, lease: float = LEASE_SECONDS) -> bool:
    """Ask the app holding ``workspace`` to close the warehouse for ``lease`` seconds.

    True when it has let go; False when no app holds the workspace or it did not answer.
    """
    server = server_of(workspace)
    if server is None:
        return False
    request = urllib.request.Request(
        server["url"].rstrip("/") + RELEASE_PATH + f"?lease={lease:g}",
        method="POST",
        headers={SECRET_HEADER: server["secret"]},
        data=b"",
    )
    try:
        with urllib.request.urlopen(request, timeout=RELEASE_TIMEOUT) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
