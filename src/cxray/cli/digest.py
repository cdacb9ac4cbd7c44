"""`cxray digest`: the weekly digest, printed, or queued as mail to the recipients of [digest]."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up.

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from cxray.cli.common import (
    Format,
    FormatOption,
    Lang,
    LangOption,
    WorkspaceArg,
    app,
    fail,
    moment_of,
    open_workspace,
    out,
    render,
)


@app.command("digest")
def digest_command(
    path: WorkspaceArg,
    team: Annotated[
        str | None, typer.Option(help="One team's digest: the touchpoints it owns (an owner).")
    ] = None,
    week: Annotated[
        str | None,
        typer.Option(
            help="The week, as 2026-W48 or a date in it (default: the last complete week with "
            "data; with --send the last complete week)."
        ),
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Queue the digest as mail to the recipients of [digest] (once per week and "
            "recipient; `cxray mail send` or `cxray serve` sends it).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --send: list who would get it; queue nothing.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The moment to act as now (ISO date or time, UTC)."),
    ] = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """The weekly digest: scores with intervals against the week before, new detractors,
    follow-ups open and overdue, the biggest significant change and the top driver of churn."""
    from cxray.actions.digest import DigestError, digest, latest_week
    from cxray.actions.digest_mail import comment_head, comment_lines, queue_digests
    from cxray.actions.digest_settings import DigestSettingsError, read_settings
    from cxray.actions.outbox import OutboxError

    now = moment_of(as_of) or dt.datetime.now(dt.UTC)
    writes = send and not dry_run
    ws = open_workspace(path, read_only=not writes)
    try:
        if send or dry_run:
            settings = read_settings(ws.journey)
            if team is not None:
                from cxray.actions.digest import check_team

                check_team(ws.journey, team)
            report = queue_digests(
                ws.warehouse, ws.journey, now, week=week, team=team, settings=settings,
                dry_run=not writes, force=True,
            )  # fmt: skip
            if fmt == Format.json:
                _dump(report.to_dict())
                return
            out.print(report.summary(lang.value), highlight=False, soft_wrap=True)
            for who, address in report.new:
                whole = "iedereen" if lang == Lang.nl else "everyone"
                out.print(f"  {address} ({who or whole})", highlight=False, soft_wrap=True)
            for _who, address, why in report.refused:
                out.print(f"  {address}: {why.text(lang.value)}", highlight=False, soft_wrap=True)
            if not settings.audiences():
                out.print(
                    "Geen ontvangers: zet ze onder [digest] in cxray.toml (everyone, recipients)."
                    if lang == Lang.nl
                    else "No recipients: list them under [digest] in cxray.toml (everyone, "
                    "recipients).",
                    highlight=False,
                    soft_wrap=True,
                )
            return
        chosen = week if week is not None else latest_week(ws, now=now)
        result = digest(ws, team=team, week=chosen, now=now)
    except (DigestError, DigestSettingsError, OutboxError) as exc:
        fail(exc)
        return
    finally:
        ws.close()
    if fmt == Format.json:
        _dump(result.to_dict())
        return
    if fmt == Format.csv:
        render(result, fmt, lang)
        return
    for sentence in result.sentences(lang.value):
        out.print(sentence, highlight=False, soft_wrap=True)
    comments = comment_lines(result, lang.value)
    if comments:
        out.print(comment_head(lang.value) + ":", highlight=False, soft_wrap=True)
        for line in comments:
            out.print(line, highlight=False, soft_wrap=True)


def _dump(data: Any) -> None:
    from cxray.results import jsonable

    sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
