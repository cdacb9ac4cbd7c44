"""The scheduler: background jobs inside ``cxray serve`` (send due mail, and whatever other
modules register: create due invitations, escalate overdue follow-ups).

One thread wakes every ``interval`` seconds (60 by default) and runs each job whose time has
come, one after the other (:mod:`cxray.actions.jobs` holds the list; the modules in
``JOB_MODULES`` are imported so that their jobs are in it). A job that fails is logged and
tried again at the next tick; it never stops the server or the other jobs. While the app has
lent the warehouse to a command (:class:`~cxray.web.host.WorkspaceBusy`) a job waits for the
next tick. Each job's last run, how long it took, what it said and its last error are in
:meth:`Scheduler.status` (the outbox page and ``/scheduler.json``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cxray.actions import jobs
from cxray.actions.jobs import Job, JobContext
from cxray.i18n import Message
from cxray.web.host import WorkspaceBusy, WorkspaceHost

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 60.0
# Modules whose import registers a job (a module that is not there is skipped).
JOB_MODULES: tuple[str, ...] = (
    "cxray.actions.sender",
    "cxray.actions.followup_jobs",
    "cxray.surveys.jobs",
    "cxray.actions.advocacy",
    "cxray.actions.playbooks",
    "cxray.actions.digest_mail",
)
SEND_JOB = "send-mail"


@dataclass
class JobState:
    """What is known of one job's runs."""

    runs: int = 0
    failures: int = 0
    waits: int = 0  # ticks at which the warehouse was lent to a command
    running: bool = False
    last_started: dt.datetime | None = None
    last_seconds: float | None = None
    last_result: Message | None = None
    last_error: Message | None = None
    last_error_at: dt.datetime | None = None
    last_outcome: str | None = None  # "ok", "failed", "waiting"
    next_due: float = 0.0  # monotonic time of the next run (jobs with their own every)


def load_job_modules(names: tuple[str, ...] = JOB_MODULES) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module is there but something it needs is not
                log.warning("jobs of %s not loaded: %s", name, exc)


class Scheduler:
    """The job thread over one host: ``start()``, ``stop()``, ``tick()``, ``status()``."""

    def __init__(
        self,
        host: WorkspaceHost,
        interval: float = INTERVAL_SECONDS,
        *,
        send_mail: bool = True,
        job_list: list[Job] | None = None,
    ):
        self.host = host
        self.interval = interval
        self.send_mail = send_mail
        self._job_list = job_list  # None: every registered job, read at each tick
        if job_list is None:
            load_job_modules()
        self._states: dict[str, JobState] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.started_at: dt.datetime | None = None

    # -- the thread -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self.started_at = dt.datetime.now(dt.UTC)
        self._thread = threading.Thread(target=self._run, name="cxray-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def kick(self) -> None:
        """Run the jobs now rather than at the next tick."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # never let the thread die: the next tick tries again
                log.exception("scheduler tick failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    # -- the jobs ---------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        listed = jobs.registered() if self._job_list is None else list(self._job_list)
        if not self.send_mail:
            listed = [job for job in listed if job.name != SEND_JOB]
        return listed

    def _state(self, name: str) -> JobState:
        with self._lock:
            return self._states.setdefault(name, JobState())

    def tick(self) -> None:
        """Run each job whose time has come, once."""
        self.ticks += 1
        for job in self.jobs():
            if self._stopping.is_set():
                return
            state = self._state(job.name)
            if job.every is not None and time.monotonic() < state.next_due:
                continue
            self._run_job(job, state)

    def _run_job(self, job: Job, state: JobState) -> None:
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        state.running, state.last_started = True, now
        try:
            if self.host.lent:  # no need to ask: the warehouse is with a command
                raise WorkspaceBusy(Message("lent", "uitgeleend"), retry_after=0)
            result = self._call(job, now)
        except WorkspaceBusy:
            state.waits += 1
            state.last_outcome = "waiting"
            return  # the warehouse is lent to a command: the next tick tries again
        except Exception as exc:
            state.failures += 1
            state.last_error = jobs.as_message(exc)
            state.last_error_at = now
            state.last_outcome = "failed"
            log.warning("job %s failed: %s", job.name, exc, exc_info=not _expected(exc))
        else:
            state.runs += 1
            state.last_result = None if result is None else jobs.as_message(result)
            state.last_outcome = "ok"
            if job.every is not None:
                state.next_due = time.monotonic() + job.every
        finally:
            state.running = False
            state.last_seconds = time.perf_counter() - started

    def _call(self, job: Job, now: dt.datetime) -> Any:
        with self.host.workspace() as ws:
            journey = ws.journey
            if not job.borrows:
                context = JobContext(
                    journey,
                    now,
                    lambda: contextlib.nullcontext(ws.warehouse),
                    self._every(job),
                    self.host.path,
                )
                return job.run(context)
        return job.run(JobContext(journey, now, self._borrow, self._every(job), self.host.path))

    def _every(self, job: Job) -> float:
        return job.every if job.every is not None else self.interval

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Any]:
        with self.host.workspace() as ws:
            yield ws.warehouse

    # -- what is known ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        listed = self.jobs()
        return {
            "running": self.running,
            "interval_seconds": self.interval,
            "ticks": self.ticks,
            "started_at": self.started_at,
            "send_mail": self.send_mail,
            "jobs": [self._job_status(job) for job in listed],
        }

    def _job_status(self, job: Job) -> dict[str, Any]:
        state = self._state(job.name)
        return {
            "name": job.name,
            "label": {"en": job.label.en, "nl": job.label.nl},
            "every_seconds": self._every(job),
            "running": state.running,
            "runs": state.runs,
            "failures": state.failures,
            "waits": state.waits,
            "last_started": state.last_started,
            "last_seconds": state.last_seconds,
            "last_outcome": state.last_outcome,
            "last_result": _pair(state.last_result),
            "last_error": _pair(state.last_error),
            "last_error_at": state.last_error_at,
        }


def _pair(message: Message | None) -> dict[str, str] | None:
    return None if message is None else {"en": message.en, "nl": message.nl}


def _expected(exc: BaseException) -> bool:
    """An error that says what is wrong in its message (no traceback needed in the log)."""
    return isinstance(exc, ValueError | jobs.JobError)


__all__ = ["INTERVAL_SECONDS", "JOB_MODULES", "Scheduler", "load_job_modules"]
