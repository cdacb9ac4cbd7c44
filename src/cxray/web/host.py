"""The web app's hold on its workspace: one connection, lent to a command when it asks.

DuckDB admits one writing process, so the app keeps the warehouse open and serves every request
through it, one at a time (analyses are cached, so most pages answer from memory). When a
command (``cxray import``, ``cxray status``) finds the file locked, it asks the app to let go
(:mod:`cxray.warehouse.holder`): the app finishes the request it is serving, closes the
warehouse and opens it again on the first request after the lease, once the command is done.
Answers are cached per state of the data: a new import or a changed journey file empties the
cache, so pages show the new data without a restart.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cxray
from cxray.i18n import Message
from cxray.warehouse import WarehouseError

# How long a request waits for a command that has the workspace before the page says so.
REQUEST_LOCK_WAIT = 2.0
# Answers kept per state of the data (each filter combination is one); the oldest go first.
# The default views' answers (about twenty, kept by the warm-up: :mod:`cxray.web.warm`) are
# pinned and not counted: browsing filters never pushes a default page out.
CACHE_ENTRIES = 128
_MISSING = object()


class WorkspaceBusy(RuntimeError):
    """A command holds the workspace (an import); the page says so and reloads itself."""

    def __init__(self, message: Message, retry_after: float):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class WorkspaceHost:
    """Opens the workspace on demand and hands it to one request at a time."""

    def __init__(self, path: Path, lock_wait: float = REQUEST_LOCK_WAIT):
        self.path = Path(path)
        self.lock_wait = lock_wait
        self._lock = threading.RLock()
        self._ws: cxray.Workspace | None = None
        self._lent_until = 0.0
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        self._pinned: set[Any] = set()
        self._pinning = threading.local()
        self._state: Any = None
        self.opened = 0  # how many times the warehouse was opened (a new state each time)
        self.lends = 0  # how many times it was lent to a command (the warm-up stops then)
        self.computed = 0  # how many answers were computed (not found in the cache)

    def _open(self) -> cxray.Workspace:
        if self._ws is not None:
            return self._ws
        waiting = self._lent_until - time.monotonic()
        if waiting > 0:
            raise WorkspaceBusy(_busy_text(), retry_after=waiting)
        try:
            self._ws = cxray.open(self.path, lock_wait=self.lock_wait, ask_holder=False)
        except WarehouseError as exc:
            if "busy" not in str(exc):
                raise
            raise WorkspaceBusy(_busy_text(), retry_after=self.lock_wait) from None
        self.opened += 1
        self._forget()
        self._state = None
        return self._ws

    def _forget(self) -> None:
        self._cache.clear()
        self._pinned.clear()

    @contextlib.contextmanager
    def workspace(self) -> Iterator[cxray.Workspace]:
        """The open workspace, for one request (others wait their turn)."""
        with self._lock:
            ws = self._open()
            state = self._data_state(ws)
            if state != self._state:
                self._forget()
                self._state = state
                ws.reload_journey()
            yield ws

    def cached(self, key: Any, compute: Callable[[cxray.Workspace], Any]) -> Any:
        """``compute(ws)`` once per state of the data; an error is not kept."""
        found = self._kept_while_busy(key)
        if found is not _MISSING:
            return found
        with self.workspace() as ws:
            if getattr(self._pinning, "on", False):
                self._pinned.add(key)
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            answer = compute(ws)
            self.computed += 1
            self._cache[key] = answer
            self._evict()
            return answer

    def _kept_while_busy(self, key: Any) -> Any:
        """A kept answer at once while another thread holds the warehouse (an analysis under
        way): the state was checked when it took the warehouse, and no other process can write
        while the app holds it. When the warehouse is free, the usual path checks the state."""
        if self._lock.acquire(blocking=False):  # free (or this thread's own): no shortcut
            self._lock.release()
            return _MISSING
        if self._ws is None or getattr(self._pinning, "on", False):
            return _MISSING
        return self._cache.get(key, _MISSING)

    def drawn(self, key: Any, draw: Callable[[], Any]) -> Any:
        """``draw()`` once per state of the data: charts and tables made from cached answers
        (building a Plotly figure takes longer than answering the page from the cache)."""
        return self.cached(("drawn", key), lambda ws: draw())

    def _evict(self) -> None:
        loose = [key for key in self._cache if key not in self._pinned]  # oldest first
        for key in loose[: max(0, len(loose) - CACHE_ENTRIES)]:
            del self._cache[key]

    @contextlib.contextmanager
    def pinning(self) -> Iterator[None]:
        """Every answer this thread asks for inside the block stays cached for this state."""
        self._pinning.on = True
        try:
            yield
        finally:
            self._pinning.on = False

    def is_cached(self, key: Any) -> bool:
        return key in self._cache

    @property
    def lent(self) -> bool:
        """True while a command has the warehouse (the lease is not over)."""
        return self._ws is None and self._lent_until > time.monotonic()

    def data_state(self) -> Any:
        """The state of the data now (opening the warehouse if it is closed)."""
        with self.workspace():
            return self._state

    @property
    def state(self) -> Any:
        """The state the cached answers belong to, as last seen (no query)."""
        return self._state

    def release(self, lease: float) -> None:
        """Close the warehouse so that a command can open it; reopen after ``lease`` seconds."""
        with self._lock:
            self._lent_until = time.monotonic() + max(0.0, min(lease, 60.0))
            self.lends += 1
            if self._ws is not None:
                self._ws.close()
                self._ws = None

    def close(self) -> None:
        with self._lock:
            if self._ws is not None:
                self._ws.close()
                self._ws = None

    def _data_state(self, ws: cxray.Workspace) -> tuple[Any, ...]:
        """What changes when data or journey change: the import log and the journey file."""
        log = ws.warehouse.query("SELECT count(*), max(imported_at) FROM cxray_imports")[0]
        try:
            journey = ws.journey_path.stat().st_mtime_ns
        except OSError:
            journey = None
        return (self.opened, *log, journey)


def _busy_text() -> Message:
    return Message(
        "A command is working on this workspace (an import, most likely). "
        "This page reloads itself when it has finished.",
        "Er werkt een opdracht op deze werkruimte (waarschijnlijk een import). "
        "Deze pagina laadt zichzelf opnieuw zodra die klaar is.",
    )
