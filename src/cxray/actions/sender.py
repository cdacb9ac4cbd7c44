"""The sender: delivers the outbox's due mails, each exactly once, whatever stops it.

For each due mail (``queued``, ``not_before`` passed, the oldest first):

1. ``queued`` → ``sending``, one attempt more: committed before the server hears of the mail;
2. MAIL, RCPT, DATA and the mail's text go to the server;
3. ``handed_over_at`` is committed, then the final ``.`` line goes out (the server delivers
   only once it has that line);
4. the server's answer is stored at once: ``sent``; a temporary refusal back to ``queued``
   with a backoff (1, 5, 25 … minutes, at most ``MAX_BACKOFF``) until ``max_attempts``, then
   ``failed``; the address refused for good (5xx on RCPT) ``bounced``.

A sender killed at any moment leaves at most one mail in ``sending``. The next run settles it
first (:func:`cxray.actions.outbox.recover`): not handed over → queued again (the server has
delivered nothing); handed over → sent (the server had the whole mail). The one moment at
which a mail could still be lost is between step 3's commit and the ``.`` line leaving the
process: a few microseconds, with no I/O in between.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cxray.actions import jobs, outbox
from cxray.actions.mailer import (
    ConnectError,
    MailSettings,
    SendError,
    SmtpTransport,
    build_message,
    read_settings,
    wire_bytes,
)
from cxray.i18n import Message, number

BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_FACTOR = 5
MAX_BACKOFF = dt.timedelta(hours=6)
# One run at a time in a process: the outbox's settling of ``sending`` mails assumes no other
# sender is under way (DuckDB admits one writing process, so other processes cannot be).
_RUNNING = threading.Lock()

Borrow = Callable[[], contextlib.AbstractContextManager[Any]]
Progress = Callable[[int, int], None]


class Transport(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...

    def deliver(
        self, sender: str, recipient: str, data: bytes, handing_over: Callable[[], None]
    ) -> str: ...


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th attempt failed for now: 1, 5, 25 … minutes."""
    delay = BACKOFF_BASE * (BACKOFF_FACTOR ** max(0, attempts - 1))
    return min(delay, MAX_BACKOFF)


@dataclass
class SendReport:
    """What one run did."""

    due: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    bounced: int = 0
    cancelled: int = 0  # queued to an address that bounced in this run
    requeued: int = 0  # left in sending by a stopped sender, never handed over
    assumed_sent: int = 0  # left in sending after it was handed over
    stopped: Message | None = None  # why the run ended before every due mail was tried
    would_send: list[dict[str, Any]] = field(default_factory=list)  # a dry run's mails
    dry_run: bool = False

    @property
    def tried(self) -> int:
        return self.sent + self.retrying + self.failed + self.bounced

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "due": self.due,
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "bounced": self.bounced,
            "cancelled": self.cancelled,
            "requeued": self.requeued,
            "assumed_sent": self.assumed_sent,
            "stopped": None
            if self.stopped is None
            else {"en": self.stopped.en, "nl": self.stopped.nl},
            "would_send": self.would_send,
        }

    def summary(self, lang: str = "en") -> str:
        """One line: what happened to the due mails."""
        n = lambda value: number(value, lang)  # noqa: E731
        if self.dry_run:
            return (
                f"{n(self.due)} mail(s) due; nothing sent (dry run)"
                if lang != "nl"
                else f"{n(self.due)} mail(s) aan de beurt; niets verstuurd (proefrun)"
            )
        if lang == "nl":
            text = (
                f"verstuurd {n(self.sent)}, later opnieuw {n(self.retrying)}, "
                f"mislukt {n(self.failed)}, onbestelbaar {n(self.bounced)}"
            )
        else:
            text = (
                f"sent {n(self.sent)}, retry later {n(self.retrying)}, "
                f"failed {n(self.failed)}, bounced {n(self.bounced)}"
            )
        return text


def send_due(
    warehouse: Any,
    settings: MailSettings,
    now: dt.datetime | None = None,
    limit: int | None = None,
    **options: Any,
) -> SendReport:
    """Send the mails due at ``now`` (at most ``limit``; the settings' ``batch_size`` if None).

    ``now`` fixes the clock of the run (due mails, backoffs, timestamps); by default the real
    time, read for each mail. Options: ``dry_run`` (list what would go, change nothing),
    ``progress(done, total)``, ``transport`` (a stand-in for SMTP), ``sleep``."""
    return send_due_borrowing(
        lambda: contextlib.nullcontext(warehouse), settings, now, limit, **options
    )


def send_due_borrowing(
    borrow: Borrow,
    settings: MailSettings,
    now: dt.datetime | None = None,
    limit: int | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    transport: Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """:func:`send_due` over a warehouse borrowed for each mail (``with borrow() as
    warehouse``), so the web app can lend its warehouse to a command between two mails. An
    error from ``borrow`` (the warehouse is lent) ends the run; no mail is left claimed."""
    clock: Callable[[], dt.datetime] = (
        (lambda: now) if now is not None else (lambda: dt.datetime.now(dt.UTC))
    )
    report = SendReport(dry_run=dry_run)
    limit = settings.batch_size if limit is None else max(0, limit)
    if not _RUNNING.acquire(blocking=False):
        report.stopped = Message(
            "another send is under way in this process", "er loopt al een verzending in dit proces"
        )
        return report
    try:
        with borrow() as warehouse:
            if not dry_run:
                outbox.ensure_table(warehouse)
                report.requeued, report.assumed_sent = outbox.recover(warehouse, clock())
            due = outbox.due(warehouse, clock(), limit)
        report.due = len(due)
        if dry_run:
            report.would_send = [mail.to_dict() for mail in due]
            return report
        if not due:
            return report
        settings.require()
        transport = transport if transport is not None else SmtpTransport(settings)
        try:
            _send_all(borrow, settings, due, clock, report, transport, progress, sleep)
        finally:
            transport.close()
        return report
    finally:
        _RUNNING.release()


def _send_all(
    borrow: Borrow,
    settings: MailSettings,
    due: list[outbox.StoredMail],
    clock: Callable[[], dt.datetime],
    report: SendReport,
    transport: Transport,
    progress: Progress | None,
    sleep: Callable[[float], None],
) -> None:
    gap = 60.0 / settings.rate_per_minute if settings.rate_per_minute else 0.0
    last_start: float | None = None
    for done, mail in enumerate(due):
        try:
            transport.open()  # before the claim: a server out of reach costs no attempt
        except ConnectError as exc:
            report.stopped = exc.args[0] if isinstance(exc.args[0], Message) else None
            report.stopped = report.stopped or Message(str(exc), str(exc))
            return
        if gap and last_start is not None:
            wait = last_start + gap - time.monotonic()
            if wait > 0:
                sleep(wait)
        last_start = time.monotonic()
        with borrow() as warehouse:
            outcome = _send_one(warehouse, settings, mail, clock, transport)
        if outcome.startswith("retrying:"):  # the server itself is in trouble: stop for now
            report.retrying += 1
            reason = outcome.split(":", 1)[1]
            report.stopped = Message(
                f"the mail server broke off: {reason}; the rest waits for the next run",
                f"de mailserver brak af: {reason}; de rest wacht op de volgende ronde",
            )
            if progress is not None:
                progress(done + 1, len(due))
            return
        if outcome == "cancelled":
            report.cancelled += 1
        elif outcome.startswith("bounced"):
            report.bounced += 1
            report.cancelled += int(outcome.split(":")[1])
        elif outcome != "skipped":
            setattr(report, outcome, getattr(report, outcome) + 1)
        if progress is not None:
            progress(done + 1, len(due))


def _send_one(
    warehouse: Any,
    settings: MailSettings,
    mail: outbox.StoredMail,
    clock: Callable[[], dt.datetime],
    transport: Transport,
) -> str:
    """One mail from claim to its stored outcome; the name of the outcome."""
    attempts = outbox.claim(warehouse, mail.message_id, clock())
    if attempts is None:
        # the address bounced after the mail was queued (and it is still queued), or the mail
        # is no longer queued (cancelled meanwhile, by a bounce of this run among others)
        if outbox.is_bounced(warehouse, mail.recipient) and outbox.cancel(
            warehouse, mail.message_id, outbox.note("address-bounced")
        ):
            return "cancelled"
        return "skipped"
    try:
        message = wire_bytes(
            build_message(
                message_id=mail.message_id,
                recipient=mail.recipient,
                subject=mail.subject,
                text=mail.text,
                html=mail.html,
                headers=mail.headers,
                settings=settings,
                date=clock(),
            )
        )
    except (ValueError, TypeError, LookupError) as exc:  # a stored mail that cannot be written
        outbox.mark_failed(warehouse, mail.message_id, outbox.note("cannot-write", str(exc)))
        return "failed"
    try:
        transport.deliver(
            settings.from_address or "",
            mail.recipient,
            message,
            lambda: outbox.mark_handed_over(warehouse, mail.message_id, clock()),
        )
    except SendError as exc:
        error = str(exc)
        if exc.kind == "unheard":
            outbox.mark_sent(warehouse, mail.message_id, clock(), outbox.note("answer-lost", error))
            return "sent"
        if exc.kind == "recipient":
            cancelled = outbox.mark_bounced(
                warehouse, mail.message_id, mail.recipient, clock(), exc.code, error
            )
            return f"bounced:{cancelled}"
        # the attempts are a column of their own: the error is the server's answer alone
        if exc.kind == "message" or attempts >= settings.max_attempts:
            outbox.mark_failed(warehouse, mail.message_id, error)
            return "failed"
        outbox.mark_retry(warehouse, mail.message_id, clock() + backoff(attempts), error)
        return f"retrying:{error}" if exc.kind == "server" else "retrying"
    outbox.mark_sent(warehouse, mail.message_id, clock())
    return "sent"


# -- the scheduler's job ----------------------------------------------------------------------
def _send_job(context: jobs.JobContext) -> Message:
    settings = read_settings(context.journey.settings)
    if not settings.configured:
        return Message(
            "mail is not set up ([mail] host and from_address): nothing sent",
            "mail is niet ingesteld ([mail] host en from_address): niets verstuurd",
        )
    limit = settings.batch_size
    if settings.rate_per_minute and context.every:
        # no run longer than the time between two: the rest waits for the next
        limit = min(limit, max(1, int(settings.rate_per_minute * context.every / 60)))
    report = send_due_borrowing(context.borrow, settings, None, limit)
    if report.stopped is not None and not report.tried:
        raise jobs.JobError(report.stopped)
    line = Message(report.summary("en"), report.summary("nl"))
    if report.stopped is not None:
        line = line + Message(f" ({report.stopped.en})", f" ({report.stopped.nl})")
    return line


SEND_JOB = jobs.register(
    jobs.Job(
        "send-mail",
        Message("send due mail", "verstuur wachtende mail"),
        _send_job,
        borrows=True,
    )
)


__all__ = ["SEND_JOB", "SendReport", "backoff", "send_due", "send_due_borrowing"]
