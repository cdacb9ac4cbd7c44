"""The web app's hold on its workspace: one warehouse, read by many requests at once.

DuckDB admits one writing process, so the app keeps the warehouse open; each request thread reads
it through a cursor of its own (a second connection to the same database, so a customer's timeline
never waits for an analysis under way on another thread). When a command (``cxray import``,
``cxray status``) finds the file locked, it asks the app to let go
(:mod:`cxray.warehouse.holder`): the app lets the requests in flight finish (interrupting what still
runs after a few seconds), closes the warehouse and every cursor, and opens it again on the first
request after the lease, once the command is done.

Answers are cached per state of the data: a new import or a changed journey file empties the
cache, so pages show the new data without a restart. Feedback written by the app itself (survey
answers) joins the state at most every ``ANSWERS_REFRESH`` seconds, so a stream of answers does not
recompute every page on each one. Two requests asking for the same missing answer compute it once.
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
from cxray.warehouse import Warehouse, WarehouseError

# How long a request waits for a command that has the workspace before the page says so.
REQUEST_LOCK_WAIT = 2.0
# Answers kept per state of the data (each filter combination is one); the oldest go first.
# The default views' answers (about twenty, kept by the warm-up: :mod:`cxray.web.warm`) are
# pinned and not counted: browsing filters never pushes a default page out.
CACHE_ENTRIES = 512
# How often the state of the data is read again (an import always starts a new state: the app
# lends the warehouse for it and opens it afresh), and how often the count of feedback rows is.
STATE_CHECK = 1.0
ANSWERS_REFRESH = 900.0
# A command asking for the warehouse waits this long for requests in flight, then they are
# interrupted (their pages say a command is at work and reload themselves).
RELEASE_GRACE = 5.0
_MISSING = object()


class WorkspaceBusy(RuntimeError):
    """A command holds the workspace (an import); the page says so and reloads itself."""

    def __init__(self, message: Message, retry_after: float):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class WorkspaceHost:
    """Opens the workspace on demand and lends each request thread a cursor of its own."""

    def __init__(self, path: Path, lock_wait: float = REQUEST_LOCK_WAIT):
        self.path = Path(path)
        self.lock_wait = lock_wait
        self._lock = threading.RLock()  # opening, closing, the state and the cache's books
        self._idle = threading.Condition(self._lock)
        self._serial = threading.RLock()  # engines without cursors serve one request at a time
        self._ws: cxray.Workspace | None = None
        self._lent_until = 0.0
        self._active = 0
        self._threads = threading.local()
        self._cursors: list[Warehouse] = []
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        self._pinned: set[Any] = set()
        self._computing: dict[Any, threading.Lock] = {}
        self._pinning = threading.local()
        self._state: Any = None
        self._checked = 0.0
        self._answers: tuple[float, Any] = (0.0, None)
        self.opened = 0  # how many times the warehouse was opened
        self.lends = 0  # how many times it was lent to a command (the warm-up stops then)
        self.computed = 0  # how many answers were computed (not found in the cache)

    # -- opening and lending ----------------------------------------------------------------
    def _open(self) -> cxray.Workspace:
        waiting = self._lent_until - time.monotonic()
        if waiting > 0:
            raise WorkspaceBusy(_busy_text(), retry_after=waiting)
        if self._ws is not None:
            return self._ws
        try:
            self._ws = cxray.open(self.path, lock_wait=self.lock_wait, ask_holder=False)
        except WarehouseError as exc:
            if "busy" not in str(exc):
                raise
            raise WorkspaceBusy(_busy_text(), retry_after=self.lock_wait) from None
        self.opened += 1
        self._checked = 0.0  # what the command did is read before the next answer
        return self._ws

    def _own_workspace(self, main: cxray.Workspace) -> cxray.Workspace:
        """This thread's workspace: its own cursor on the open warehouse, made on first use."""
        if not main.warehouse.is_duckdb:
            return main
        mine = getattr(self._threads, "workspace", None)
        if mine is None or getattr(self._threads, "opened", None) != self.opened:
            cursor = main.warehouse.cursor()
            with self._lock:
                self._cursors.append(cursor)
            mine = cxray.Workspace(main.path, main.journey, cursor)
            self._threads.workspace, self._threads.opened = mine, self.opened
        mine.journey = main.journey
        return mine

    @contextlib.contextmanager
    def workspace(self) -> Iterator[cxray.Workspace]:
        """The open workspace, for one request (through this thread's cursor)."""
        with self._lock:
            main = self._open()
            self._active += 1
        try:
            serial = self._serial if not main.warehouse.is_duckdb else contextlib.nullcontext()
            with serial:
                ws = self._own_workspace(main)
                self._check_state(ws)
                try:
                    yield ws
                except Exception as exc:
                    if self._lent_until > time.monotonic() and _interrupted(exc):
                        raise WorkspaceBusy(_busy_text(), retry_after=self.lock_wait) from None
                    raise
        finally:
            with self._lock:
                self._active -= 1
                self._idle.notify_all()

    def release(self, lease: float) -> None:
        """Close the warehouse so that a command can open it; reopen after ``lease`` seconds.

        Requests in flight may finish for ``RELEASE_GRACE`` seconds; what still runs then is
        interrupted, so a command never waits for a long analysis."""
        with self._lock:
            self._lent_until = time.monotonic() + max(0.0, min(lease, 60.0))
            self.lends += 1
            deadline = time.monotonic() + RELEASE_GRACE
            while self._active and time.monotonic() < deadline:
                self._idle.wait(timeout=0.1)
            if self._active:
                for cursor in self._cursors:
                    with contextlib.suppress(Exception):
                        cursor.con.interrupt()
                while self._active and time.monotonic() < deadline + RELEASE_GRACE:
                    self._idle.wait(timeout=0.1)
            self._close_all()

    def close(self) -> None:
        with self._lock:
            self._close_all()

    def _close_all(self) -> None:
        for cursor in self._cursors:
            with contextlib.suppress(Exception):
                cursor.con.close()
        self._cursors.clear()
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    @property
    def lent(self) -> bool:
        """True while a command has the warehouse (the lease is not over)."""
        return self._ws is None and self._lent_until > time.monotonic()

    # -- the state of the data ----------------------------------------------------------------
    def _check_state(self, ws: cxray.Workspace) -> None:
        now = time.monotonic()
        if self._state is not None and now - self._checked < STATE_CHECK:
            return
        state = self._data_state(ws, now)
        with self._lock:
            self._checked = now
            if state != self._state:
                self._forget()
                self._state = state
                if self._ws is not None:
                    self._ws.reload_journey()
                    ws.journey = self._ws.journey

    def _data_state(self, ws: cxray.Workspace, now: float) -> tuple[Any, ...]:
        """What changes when data or journey change: the import log, the journey file and (read
        at most every ``ANSWERS_REFRESH`` seconds) the number of feedback rows."""
        log = ws.warehouse.query("SELECT count(*), max(imported_at) FROM cxray_imports")[0]
        try:
            journey = ws.journey_path.stat().st_mtime_ns
        except OSError:
            journey = None
        read_at, answers = self._answers
        if answers is None or now - read_at >= ANSWERS_REFRESH:
            answers = ws.warehouse.query("SELECT count(*) FROM feedback")[0][0]
            self._answers = (now, answers)
        return (*log, journey, answers)

    def data_state(self) -> Any:
        """The state of the data now (opening the warehouse if it is closed)."""
        with self.workspace():
            return self._state

    @property
    def state(self) -> Any:
        """The state the cached answers belong to, as last seen (no query)."""
        return self._state

    def _forget(self) -> None:
        self._cache.clear()
        self._pinned.clear()

    # -- the cache ------------------------------------------------------------------------------
    def cached(self, key: Any, compute: Callable[[cxray.Workspace], Any]) -> Any:
        """``compute(ws)`` once per state of the data; an error is not kept."""
        pin = getattr(self._pinning, "on", False)
        with self.workspace() as ws:
            while True:
                with self._lock:
                    if pin:
                        self._pinned.add(key)
                    if key in self._cache:
                        self._cache.move_to_end(key)
                        return self._cache[key]
                    state = self._state
                    computing = self._computing.setdefault(key, threading.Lock())
                with computing:  # another thread computing this very answer: wait for it
                    with self._lock:
                        if key in self._cache or self._state != state:
                            continue
                    try:
                        answer = compute(ws)
                    finally:
                        with self._lock:
                            self._computing.pop(key, None)
                    with self._lock:
                        self.computed += 1
                        if self._state == state:
                            self._cache[key] = answer
                            self._evict()
                    return answer

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


def _interrupted(exc: BaseException) -> bool:
    """An engine error from a query interrupted or cut off by the lease."""
    name = type(exc).__name__
    return "Interrupt" in name or "Connection" in name or "closed" in str(exc).lower()


def _busy_text() -> Message:
    return Message(
        "A command is working on this workspace (an import, most likely). "
        "This page reloads itself when it has finished.",
        "Er werkt een opdracht op deze werkruimte (waarschijnlijk een import). "
        "Deze pagina laadt zichzelf opnieuw zodra die klaar is.",
    )
