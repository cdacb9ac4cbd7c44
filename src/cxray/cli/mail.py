"""`cxray mail`: send what the outbox holds, see its states, check the SMTP settings."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up.

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cxray.cli.common import (
    Format,
    FormatOption,
    Lang,
    LangOption,
    WorkspaceArg,
    _progress,
    app,
    err,
    fail,
    open_workspace,
    out,
    say,
)
from cxray.i18n import number, text_of

mail_app = typer.Typer(
    help="Mail: send what the outbox holds, its states, the SMTP settings ([mail] in cxray.toml).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(mail_app, name="mail")

STATE_WORDS = {
    "queued": ("queued", "in de wachtrij"),
    "sending": ("sending", "wordt verstuurd"),
    "sent": ("sent", "verstuurd"),
    "failed": ("failed", "mislukt"),
    "bounced": ("bounced", "onbestelbaar"),
    "cancelled": ("cancelled", "geannuleerd"),
}


def _settings(journey_settings: dict, lang: Lang) -> Any:
    from cxray.actions.mailer import MailSettingsError, read_settings

    try:
        return read_settings(journey_settings)
    except MailSettingsError as exc:
        fail(exc)


def _when(value: dt.datetime | None) -> str:
    return "–" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _dump(data: Any) -> None:
    from cxray.results import jsonable

    sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")


@mail_app.command("send")
def mail_send(
    path: WorkspaceArg,
    limit: Annotated[
        int | None, typer.Option(help="Send at most this many (default: [mail] batch_size).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what is due; send and change nothing.")
    ] = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Send the mails that are due, then say per state what became of them.

    Works while `cxray serve` runs on the workspace (the app lets go of it meanwhile). A mail
    a stopped sender left half-sent is settled first: queued again if the server never had
    all of it, counted as sent if it had."""
    from cxray.actions import sender

    if limit is not None and limit < 0:
        fail(say(lang, "--limit takes 0 or more", "--limit verwacht 0 of meer"))
    ws = open_workspace(path, read_only=dry_run)
    try:
        settings = _settings(ws.journey.settings, lang)
        if not dry_run:
            try:
                settings.require()
            except ValueError as exc:
                fail(exc)
        with _progress(say(lang, "sending", "versturen"), enabled=fmt == Format.table) as bar:
            report = sender.send_due(
                ws.warehouse,
                settings,
                limit=limit,
                dry_run=dry_run,
                progress=lambda done, total: bar(f"{done}/{total}", done / total),
            )
    finally:
        ws.close()
    code = lang.value
    if report.stopped is not None and not report.tried and not dry_run:
        fail(report.stopped)
    if fmt == Format.json:
        _dump(report.to_dict())
    elif dry_run:
        for mail in report.would_send:
            out.print(
                f"{mail['recipient']}\t{mail['kind']}\t{mail['subject']}\t"
                + say(lang, "attempts ", "pogingen ")
                + str(mail["attempts"]),
                highlight=False,
                soft_wrap=True,
            )
        out.print(report.summary(code), highlight=False)
    else:
        if report.requeued or report.assumed_sent:
            out.print(
                say(
                    lang,
                    f"left by a stopped sender: {report.requeued} queued again, "
                    f"{report.assumed_sent} counted as sent (the server had them)",
                    f"achtergelaten door een gestopte verzender: {report.requeued} opnieuw in de "
                    f"wachtrij, {report.assumed_sent} geteld als verstuurd (de server had ze)",
                ),
                highlight=False,
            )
        rows = [
            (say(lang, "sent", "verstuurd"), report.sent),
            (say(lang, "retry later", "later opnieuw"), report.retrying),
            (say(lang, "failed", "mislukt"), report.failed),
            (say(lang, "bounced", "onbestelbaar"), report.bounced),
        ]
        if report.cancelled:
            rows.append((say(lang, "cancelled (bounced address)", "geannuleerd"), report.cancelled))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            out.print(f"{label:<{width}}  {number(value, code):>6}", highlight=False)
    if report.stopped is not None:  # after some were tried: what became of them is above
        text = say(lang, "stopped: ", "gestopt: ") + text_of(report.stopped, code)
        err.print(text, highlight=False, soft_wrap=True)


@mail_app.command("status")
def mail_status(
    path: WorkspaceArg,
    errors: Annotated[int, typer.Option(help="How many of the latest errors to show.")] = 5,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Mails per state, the oldest queued, the next due and the latest errors."""
    from cxray.actions import bounces, outbox
    from cxray.actions.mailer import MailSettingsError, read_settings

    ws = open_workspace(path, read_only=True)
    try:
        counts = outbox.counts_of(ws.warehouse)
        oldest, next_due = outbox.queue_times(ws.warehouse)
        latest_errors = outbox.last_errors(ws.warehouse, max(0, errors))
        bounced = bounces.count(ws.warehouse)
        journey_settings = ws.journey.settings
    finally:
        ws.close()
    try:
        settings: Any = read_settings(journey_settings)
        problem = None
    except MailSettingsError as exc:
        settings, problem = None, exc
    code = lang.value
    if fmt != Format.table:
        _dump(
            {
                "counts": counts,
                "oldest_queued": oldest,
                "next_due": next_due,
                "bounced_addresses": bounced,
                "last_errors": [mail.to_dict() for mail in latest_errors],
                "settings": None if settings is None else settings.to_dict(),
                "settings_error": None if problem is None else text_of(problem, code),
            }
        )
        return
    width = max(len(say(lang, en, nl)) for en, nl in STATE_WORDS.values())
    for state in outbox.STATES:
        label = say(lang, *STATE_WORDS[state])
        out.print(f"{label:<{width}}  {number(counts[state], code):>6}", highlight=False)
    out.print(
        say(lang, "oldest queued: ", "oudste in de wachtrij: ")
        + _when(oldest)
        + say(lang, "; next due: ", "; volgende aan de beurt: ")
        + _when(next_due),
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        say(lang, f"bounced addresses: {bounced}", f"onbestelbare adressen: {bounced}"),
        highlight=False,
    )
    if problem is not None:
        err.print(text_of(problem, code), highlight=False, soft_wrap=True)
    elif not settings.configured:
        out.print(
            say(
                lang,
                "mail is not set up: give [mail] host and from_address in cxray.toml",
                "mail is niet ingesteld: geef [mail] host en from_address op in cxray.toml",
            ),
            highlight=False,
        )
    if latest_errors:
        out.print(say(lang, "latest errors:", "laatste fouten:"), highlight=False)
        for mail in latest_errors:
            state = say(lang, *STATE_WORDS.get(mail.state, (mail.state, mail.state)))
            out.print(
                f"  {mail.recipient}\t{state}\t{mail.attempts}\t"
                + text_of(outbox.error_text(mail.last_error), code),
                highlight=False,
                soft_wrap=True,
            )


@mail_app.command("check")
def mail_check(path: WorkspaceArg, lang: LangOption = Lang.en) -> None:
    """Connect to the SMTP server (EHLO, NOOP, and login when set) and say in one line whether
    sending works. Sends nothing."""
    from cxray import journey as journey_mod
    from cxray.actions.mailer import check
    from cxray.journey import JourneyError

    file = Path(path) / "cxray.toml"
    if not file.exists():
        fail(
            say(
                lang,
                f"{path}: not a cxray workspace (no cxray.toml)",
                f"{path}: geen cxray-werkruimte (geen cxray.toml)",
            )
        )
    try:
        journey = journey_mod.load(file)
    except JourneyError as exc:
        fail(exc)
    result = check(_settings(journey.settings, lang))
    if not result.ok:
        fail(result.message)
    out.print(text_of(result.message, lang.value), highlight=False, soft_wrap=True)


@mail_app.command("retry")
def mail_retry(path: WorkspaceArg, lang: LangOption = Lang.en) -> None:
    """Queue every failed mail again with fresh attempts (once the server is fixed)."""
    import datetime

    from cxray.actions import outbox

    ws = open_workspace(path, read_only=False)
    try:
        count = outbox.requeue_failed(ws.warehouse, datetime.datetime.now(datetime.UTC))
    finally:
        ws.close()
    out.print(
        say(
            lang,
            f"{count} failed mail(s) queued again",
            f"{count} mislukte mail(s) opnieuw in de wachtrij",
        ),
        highlight=False,
    )


@mail_app.command("unbounce")
def mail_unbounce(
    path: WorkspaceArg,
    address: Annotated[str, typer.Argument(help="The address to allow mail to again.")],
    lang: LangOption = Lang.en,
) -> None:
    """Allow mail to an address that bounced (it was fixed); mails already bounced stay so."""
    from cxray.actions import bounces

    ws = open_workspace(path, read_only=False)
    try:
        found = bounces.forget(ws.warehouse, address)
    finally:
        ws.close()
    if not found:
        fail(
            say(
                lang,
                f"{address} is not among the bounced addresses",
                f"{address} staat niet bij de onbestelbare adressen",
            )
        )
    out.print(
        say(lang, f"mail to {address} is allowed again", f"mail naar {address} mag weer"),
        highlight=False,
    )


__all__ = ["mail_app"]
