"""`cxray survey`: the surveys of cxray.toml, who is due one, invitations and personal links."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up.

import csv
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from cxray.cli.common import (
    Format,
    FormatOption,
    Lang,
    LangOption,
    WorkspaceArg,
    app,
    err,
    fail,
    open_workspace,
    out,
    say,
)

survey_app = typer.Typer(
    help="Surveys per touchpoint: definitions, planning, invitations, personal links.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(survey_app, name="survey")

LINK_COLUMNS = (
    "invitation_id",
    "survey",
    "customer_id",
    "email",
    "language",
    "touchpoint",
    "event_id",
    "metric",
    "created_at",
    "expires_at",
    "link",
    "opt_out_link",
)


def _settings(ws: Any) -> Any:
    from cxray.surveys import SurveyConfigError, read_surveys

    try:
        return read_surveys(ws.journey, source=str(ws.journey_path))
    except SurveyConfigError as exc:
        ws.close()
        fail(exc)


def _warn(settings: Any, lang: Lang) -> None:
    from cxray.i18n import text_of

    for warning in settings.warnings:
        label = say(lang, "warning", "let op")
        err.print(
            Text.assemble((f"{label}:", "yellow"), " ", text_of(warning, lang.value)),
            highlight=False,
            soft_wrap=True,
        )


def _json(data: Any) -> None:
    from cxray.results import jsonable

    sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")


def _table(title: str, headers: list[str], rows: list[list[Any]], right: set[int]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index in right else "left")
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    out.print(table)


def _trigger(survey: Any, lang: Lang) -> str:
    if survey.touchpoint is not None:
        return say(
            lang,
            f"{survey.touchpoint} + {survey.delay_days:g} d",
            f"{survey.touchpoint} + {survey.delay_days:g} d",
        )
    return say(lang, f"every {survey.every_months} months", f"elke {survey.every_months} maanden")


@survey_app.command("list")
def list_surveys(path: WorkspaceArg, fmt: FormatOption = Format.table, lang: LangOption = Lang.en):
    """The surveys defined in cxray.toml with their invitations, answers and mails."""
    from cxray.surveys.invitations import opted_out_count, survey_counts

    ws = open_workspace(path, read_only=True)
    try:
        settings = _settings(ws)
        counts = survey_counts(ws.warehouse)
        opted = opted_out_count(ws.warehouse)
    finally:
        ws.close()
    if fmt != Format.table:
        _json(
            {
                "surveys": [
                    {**s.to_dict(), "counts": counts.get(s.name, {})} for s in settings.surveys
                ],
                "fatigue_days": settings.fatigue_days,
                "opted_out": opted,
                "warnings": [{"en": w.en, "nl": w.nl} for w in settings.warnings],
            }
        )
        return
    _warn(settings, lang)
    if not settings.surveys:
        out.print(
            say(
                lang,
                f"No surveys in {path}/cxray.toml yet: add a [surveys.NAME] table with "
                "'touchpoint = \"...\"' and 'metric = \"nps\"'.",
                f"Nog geen enquêtes in {path}/cxray.toml: voeg een tabel [surveys.NAAM] toe met "
                "'touchpoint = \"...\"' en 'metric = \"nps\"'.",
            ),
            highlight=False,
            soft_wrap=True,
        )
        return
    headers = [
        say(lang, "survey", "enquête"),
        say(lang, "trigger", "aanleiding"),
        say(lang, "metric", "maat"),
        say(lang, "invited", "uitgenodigd"),
        say(lang, "open", "open"),
        say(lang, "answered", "beantwoord"),
        say(lang, "expired", "verlopen"),
        say(lang, "mails queued", "mails in wachtrij"),
        say(lang, "mails sent", "mails verstuurd"),
    ]
    rows = []
    for survey in settings.surveys:
        found = counts.get(survey.name, {})
        rows.append(
            [
                survey.name,
                _trigger(survey, lang),
                survey.metric,
                *(found.get(k, 0) for k in ("invited", "open", "answered", "expired")),
                found.get("mail_queued", 0),
                found.get("mail_sent", 0),
            ]
        )
    _table(say(lang, "Surveys", "Enquêtes"), headers, rows, set(range(3, 9)))
    out.print(
        say(
            lang,
            f"At most one invitation per customer per {settings.fatigue_days:g} days; "
            f"{opted} customers opted out.",
            f"Hoogstens één uitnodiging per klant per {settings.fatigue_days:g} dagen; "
            f"{opted} klanten afgemeld.",
        ),
        highlight=False,
    )


def _show_plan(plan: Any, settings: Any, lang: Lang, top: int) -> None:
    from cxray.i18n import text_of
    from cxray.surveys.planning import REASONS

    code = lang.value
    due_rows = [
        [d.survey, d.customer_id, d.touchpoint or "", d.event_id or "", d.language]
        for d in plan.due[:top]
    ]
    if due_rows:
        _table(
            say(lang, f"Due now: {plan.due_total}", f"Nu aan de beurt: {plan.due_total}"),
            [
                say(lang, "survey", "enquête"),
                say(lang, "customer", "klant"),
                say(lang, "touchpoint", "contactmoment"),
                say(lang, "event", "interactie"),
                say(lang, "language", "taal"),
            ],
            due_rows,
            set(),
        )
        if plan.due_total > len(due_rows):
            more = plan.due_total - len(due_rows)
            out.print(say(lang, f"... and {more} more", f"... en nog {more}"))
    else:
        out.print(say(lang, "Nobody is due an invitation now.", "Niemand is nu aan de beurt."))
    rows = []
    for survey in settings.surveys:
        for reason, count in plan.counts.get(survey.name, {}).items():
            if count:
                sample = ", ".join(plan.samples.get(survey.name, {}).get(reason, []))
                rows.append([survey.name, text_of(REASONS[reason], code), count, sample])
    if rows:
        _table(
            say(lang, "Not invited, and why", "Niet uitgenodigd, en waarom"),
            [
                say(lang, "survey", "enquête"),
                say(lang, "reason", "reden"),
                say(lang, "candidates", "kandidaten"),
                say(lang, "for example", "bijvoorbeeld"),
            ],
            rows,
            {2},
        )


TopOption = Annotated[int, typer.Option("--top", help="Show the first N due customers.")]


@survey_app.command()
def plan(
    path: WorkspaceArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show (plan never stores or sends anything).")
    ] = False,
    top: TopOption = 20,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
):
    """Who would be invited now, and why the others are not (counts and examples per reason)."""
    from cxray.surveys import plan_invitations

    ws = open_workspace(path, read_only=True)
    try:
        settings = _settings(ws)
        result = plan_invitations(ws.warehouse, ws.journey, settings=settings, limit=top)
    finally:
        ws.close()
    if fmt != Format.table:
        _json(result.to_dict())
        return
    _warn(settings, lang)
    _show_plan(result, settings, lang, top)


@survey_app.command()
def invite(
    path: WorkspaceArg,
    limit: Annotated[
        int | None, typer.Option(help="Invite at most this many customers in this run.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would be invited; store and queue nothing.")
    ] = False,
    reminders: Annotated[bool, typer.Option(help="Also queue the reminders that are due.")] = True,
    top: TopOption = 20,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
):
    """Make the due invitations and queue their mails (and due reminders) in the outbox."""
    from cxray.surveys import create_invitations, create_reminders, plan_invitations
    from cxray.surveys.tokens import workspace_key

    ws = open_workspace(path, read_only=dry_run)
    try:
        settings = _settings(ws)
        shown = top if dry_run else limit
        planned = plan_invitations(ws.warehouse, ws.journey, settings=settings, limit=shown)
        if dry_run:
            made, reminded = [], []
        else:
            key = workspace_key(path)
            made = create_invitations(
                ws.warehouse,
                ws.journey,
                key,
                planned.now,
                limit=limit,
                plan=planned,
                settings=settings,
            ).invitations
            reminded = (
                create_reminders(ws.warehouse, ws.journey, key, planned.now, settings)
                if reminders
                else []
            )
    except ValueError as exc:
        fail(exc)
    finally:
        ws.close()
    if fmt != Format.table:
        _json(
            {
                "dry_run": dry_run,
                "invitations": len(made),
                "reminders": len(reminded),
                "plan": planned.to_dict(),
            }
        )
        return
    _warn(settings, lang)
    if dry_run:
        _show_plan(planned, settings, lang, top)
        out.print(
            say(
                lang,
                "Dry run: nothing stored, nothing queued.",
                "Proefdraaien: niets opgeslagen, niets in de wachtrij.",
            )
        )
        return
    out.print(
        say(
            lang,
            f"{len(made)} invitations made and queued in the outbox; {len(reminded)} reminders "
            "queued. A mail sender delivers them.",
            f"{len(made)} uitnodigingen gemaakt en in de wachtrij gezet; {len(reminded)} "
            "herinneringen in de wachtrij. Een mailverzender bezorgt ze.",
        ),
        highlight=False,
        soft_wrap=True,
    )


@survey_app.command()
def links(
    path: WorkspaceArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The CSV file to write.")],
    lang: LangOption = Lang.en,
):
    """The personal links of every open invitation as CSV, for another mail tool.

    The file holds e-mail addresses and personal links: it is made readable by you only.
    """
    from cxray.surveys import open_links
    from cxray.surveys.tokens import workspace_key

    ws = open_workspace(path, read_only=True)
    try:
        _settings(ws)
        rows = open_links(ws.warehouse, ws.journey, workspace_key(path), dt.datetime.now(dt.UTC))
    finally:
        ws.close()
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        fail(
            say(
                lang,
                f"{output}: cannot write ({exc.strerror})",
                f"{output}: kan niet schrijven ({exc.strerror})",
            )
        )
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LINK_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()}
            )
    out.print(
        say(
            lang,
            f"{len(rows)} personal links written to {output}",
            f"{len(rows)} persoonlijke links geschreven naar {output}",
        ),
        highlight=False,
        soft_wrap=True,
    )
