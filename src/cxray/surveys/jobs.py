"""The surveys' background job: store the invitations that are due and queue their mails (and
the reminders that are due), so that ``cxray serve`` invites on its own.

Planning reads every trigger event in the engine (seconds at ten million events), so the job
runs every ``EVERY_SECONDS``, not at every tick; ``cxray survey invite`` does the same at once.
"""

from __future__ import annotations

from cxray.actions import jobs
from cxray.i18n import Message, number
from cxray.surveys import tokens
from cxray.surveys.config import read_surveys
from cxray.surveys.invitations import create_invitations, create_reminders

EVERY_SECONDS = 300.0
BATCH = 5000  # invitations per run: the rest follow at the next run


def _invite_job(context: jobs.JobContext) -> Message:
    settings = read_surveys(context.journey)
    if not settings.surveys:
        return Message("no surveys in cxray.toml", "geen enquêtes in cxray.toml")
    if context.workspace is None:
        raise jobs.JobError(
            Message(
                "the survey links need the workspace folder (its key)",
                "de enquêtelinks hebben de werkmap nodig (de sleutel)",
            )
        )
    key = tokens.workspace_key(context.workspace)
    with context.borrow() as warehouse:
        created = create_invitations(
            warehouse, context.journey, key, context.now, limit=BATCH, settings=settings
        )
        reminded = create_reminders(warehouse, context.journey, key, context.now, settings)
    made, again = len(created.invitations), len(reminded)
    return Message(
        f"{number(made)} invitations and {number(again)} reminders queued",
        f"{number(made, 'nl')} uitnodigingen en {number(again, 'nl')} herinneringen klaargezet",
    )


INVITE_JOB = jobs.register(
    jobs.Job(
        "invite",
        Message("queue due survey invitations", "zet enquête-uitnodigingen klaar"),
        _invite_job,
        every=EVERY_SECONDS,
    )
)

__all__ = ["INVITE_JOB"]
