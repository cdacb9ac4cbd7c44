"""`cxray playbooks`: create the tasks and mails of the moments that matter, and list them."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up.

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cxray.cli.common import (
    AsOfOption,
    Format,
    FormatOption,
    Lang,
    LangOption,
    WorkspaceArg,
    app,
    moment_of,
    out,
    run_on,
    say,
)

playbooks_app = typer.Typer(
    help="Playbooks: a task or a mail at the moments that matter, and whether they help.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(playbooks_app, name="playbooks")


@playbooks_app.command("run")
def run_command(path: WorkspaceArg, as_of: AsOfOption = None, lang: LangOption = Lang.en) -> None:
    """Create every due task and mail of the [playbooks] in cxray.toml. Running it again
    creates nothing twice: run it from cron."""
    from cxray.actions.playbooks import run_playbooks

    now = moment_of(as_of)
    ran = run_on(path, False, lambda ws: run_playbooks(ws.warehouse, ws.journey, now))
    out.print(ran.summary(lang.value), highlight=False, soft_wrap=True)


@playbooks_app.command("list")
def list_command(
    path: WorkspaceArg,
    status: Annotated[
        str | None, typer.Option(help="open, done, queued, skipped or held_out (default: all).")
    ] = None,
    playbook: Annotated[str | None, typer.Option(help="Only this playbook's.")] = None,
    top: Annotated[int, typer.Option(help="How many to show (1-1000).")] = 100,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """The playbooks in cxray.toml and their tasks and mails, the oldest moment first."""
    from cxray.actions.playbooks import (
        MOMENT_WORDS,
        OUTCOME_WORDS,
        STATE_WORDS,
        list_tasks,
        read_playbooks,
    )

    def work(ws: Any) -> Any:
        books = read_playbooks(ws.journey)
        held = None if status == "held_out" else False
        found = list_tasks(ws.warehouse, status=status, playbook=playbook, held_out=held,
                           limit=max(1, min(top, 1000)))  # fmt: skip
        return books, found

    books, found = run_on(path, True, work)
    if fmt != Format.table:
        from cxray.results import jsonable

        data = {"playbooks": [{"name": b.name, "moment": b.moment, "action": b.action}
                              for b in books],
                "tasks": [t.to_dict() for t in found]}  # fmt: skip
        sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
        return
    if not books:
        out.print(say(lang, "No playbooks in cxray.toml yet (see docs/journey.md, Playbooks).",
                      "Nog geen draaiboeken in cxray.toml (zie docs/journey.md, Playbooks)."),
                  highlight=False, soft_wrap=True)  # fmt: skip
        return
    lg = lang.value
    for b in books:
        action = say(lang, "task", "taak") if b.action == "task" else "mail"
        out.print(Text(f"{b.name}: {MOMENT_WORDS[b.moment][lg]} → {action}"), highlight=False)
    table = Table(title=say(lang, f"{len(found)} tasks and mails", f"{len(found)} taken en mails"))
    for header in (say(lang, "task", "taak"), say(lang, "playbook", "draaiboek"),
                   say(lang, "customer", "klant"), say(lang, "moment", "moment"),
                   say(lang, "assignee", "behandelaar"), say(lang, "status", "status")):  # fmt: skip
        table.add_column(header)
    for t in found:
        state = STATE_WORDS[t.status][lg] + (
            f" · {OUTCOME_WORDS[t.outcome][lg]}" if t.outcome in OUTCOME_WORDS else ""
        )
        cells = (t.task_id, t.playbook, t.customer_id, t.moment_at.date().isoformat(),
                 t.assignee or "", state)  # fmt: skip
        table.add_row(*(Text(str(c)) for c in cells))
    out.print(table)


@playbooks_app.command("effect")
def effect_command(
    path: WorkspaceArg,
    playbook: Annotated[str | None, typer.Option(help="Only this playbook (default: all).")] = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Does a playbook help? Churn after the moment with its action against without
    (randomised with a hold-out, observational without)."""
    from cxray.actions.playbook_effect import playbook_effect

    now = moment_of(as_of)
    effect = run_on(path, True, lambda ws: playbook_effect(ws, playbook=playbook, now=now))
    if fmt != Format.table:
        from cxray.results import jsonable

        sys.stdout.write(json.dumps(jsonable(effect.to_dict()), indent=2) + "\n")
        return
    out.print(effect.summary(lang.value), highlight=False, soft_wrap=True)
