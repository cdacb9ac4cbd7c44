"""The follow-ups' background job: open a follow-up for each new qualifying answer (a survey
answer the app stored a minute ago, or imported feedback) and escalate overdue ones.

``cxray serve`` runs it at every tick of its scheduler; ``cxray followups open`` does the same
from a command or cron.
"""

from __future__ import annotations

from cxray.actions import jobs
from cxray.actions.followups import open_followups
from cxray.i18n import Message


def _open_job(context: jobs.JobContext) -> Message:
    with context.borrow() as warehouse:
        opened = open_followups(warehouse, context.journey, context.now)
    return Message(opened.summary("en"), opened.summary("nl"))


OPEN_JOB = jobs.register(
    jobs.Job(
        "open-follow-ups",
        Message("open follow-ups for new answers", "open opvolging voor nieuwe antwoorden"),
        _open_job,
    )
)

__all__ = ["OPEN_JOB"]
