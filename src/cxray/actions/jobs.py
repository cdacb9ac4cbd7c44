"""Background jobs: work that runs on its own every so often (send due mail, create due
invitations, escalate overdue follow-ups).

A module adds its job once, at import::

    from cxray.actions import jobs

    jobs.register(jobs.Job("create-invitations", Message("...", "..."), create_due))

``cxray serve`` runs every registered job at each tick of its scheduler (cxray.web.scheduler,
which imports the modules listed in its ``JOB_MODULES``), each in turn; :func:`run_all` runs
them once from a command or cron. A job gets a :class:`JobContext` and returns one line saying
what it did (a Message or text); it raises to say it failed (logged, shown on the outbox page,
tried again at the next tick).

A job works on the warehouse through ``with context.borrow() as warehouse:``. By default the
scheduler holds the warehouse for the whole job; a job that says ``borrows=True`` borrows it
for each step instead, so the web app can lend the warehouse to a command between two steps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxray.i18n import Message
from cxray.journey import Journey


class JobError(RuntimeError):
    """A job that could not do its work; raised with a bilingual Message."""


@dataclass(frozen=True)
class JobContext:
    journey: Journey
    now: dt.datetime
    borrow: Callable[[], contextlib.AbstractContextManager[Any]]
    every: float | None = None  # seconds between two runs, when run by a scheduler
    workspace: Path | None = None  # the workspace folder (its keys live there, not in the data)


@dataclass(frozen=True)
class Job:
    name: str
    label: Message
    run: Callable[[JobContext], Any]
    every: float | None = None  # seconds between runs; None: at every tick of the scheduler
    borrows: bool = False  # borrows the warehouse step by step (else held for the whole run)


_JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    """Add ``job`` (a job of the same name is replaced: a module imported again)."""
    _JOBS[job.name] = job
    return job


def registered() -> list[Job]:
    """Every registered job, in the order they were first registered."""
    return list(_JOBS.values())


def unregister(name: str) -> None:
    _JOBS.pop(name, None)


@dataclass(frozen=True)
class JobRun:
    name: str
    ok: bool
    result: Message | None
    error: Message | None
    seconds: float


def run_all(
    warehouse: Any,
    journey: Journey,
    now: dt.datetime | None = None,
    only: set[str] | None = None,
    workspace: Path | None = None,
) -> list[JobRun]:
    """Run every registered job once over an open warehouse (a command, cron)."""
    import time

    now = now or dt.datetime.now(dt.UTC)
    runs = []
    for job in registered():
        if only is not None and job.name not in only:
            continue
        started = time.perf_counter()
        context = JobContext(
            journey, now, lambda: contextlib.nullcontext(warehouse), workspace=workspace
        )
        try:
            result = job.run(context)
        except Exception as exc:
            runs.append(
                JobRun(job.name, False, None, as_message(exc), time.perf_counter() - started)
            )
            continue
        message = None if result is None else as_message(result)
        runs.append(JobRun(job.name, True, message, None, time.perf_counter() - started))
    return runs


def as_message(value: object) -> Message:
    """A job's result or error as a Message (an error raised with a plain text speaks
    English in both)."""
    if isinstance(value, Message):
        return value
    if isinstance(value, BaseException):
        if len(value.args) == 1 and isinstance(value.args[0], Message):
            return value.args[0]
        text = str(value) or type(value).__name__
        return Message(text, text)
    return Message(str(value), str(value))


__all__ = [
    "Job",
    "JobContext",
    "JobError",
    "JobRun",
    "as_message",
    "register",
    "registered",
    "run_all",
]
