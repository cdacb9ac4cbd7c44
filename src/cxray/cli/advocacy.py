"""`cxray advocacy`: review and referral asks after the value moment (a dry run, then ask)."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up.

import json
import sys
from typing import Annotated, Any

import typer
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

advocacy_app = typer.Typer(
    help="Ask for reviews and referrals at the value moment (never only the happy customers).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(advocacy_app, name="advocacy")


def _show(plan: Any, lang: Lang) -> None:
    from cxray.actions.advocacy import REASONS

    out.print(plan.summary(lang.value), highlight=False, soft_wrap=True)
    for reason, count in plan.counts.items():
        if count:
            sample = ", ".join(plan.samples.get(reason, []))
            line = f"  {REASONS[reason].text(lang.value)}: {count}" + (
                f" ({say(lang, 'e.g.', 'bijv.')} {sample})" if sample else ""
            )
            out.print(Text(line), highlight=False, soft_wrap=True)


def _json(data: Any) -> None:
    from cxray.results import jsonable

    sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")


@advocacy_app.command("plan")
def plan_command(
    path: WorkspaceArg,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """A dry run: who would be asked for a review or referral now, and why the others not.
    Stores and sends nothing."""
    from cxray.actions.advocacy import plan_asks

    now = moment_of(as_of)
    plan = run_on(path, True, lambda ws: plan_asks(ws.warehouse, ws.journey, now, limit=1000))
    if fmt != Format.table:
        _json(plan.to_dict())
        return
    _show(plan, lang)


@advocacy_app.command("ask")
def ask_command(
    path: WorkspaceArg,
    limit: Annotated[
        int | None, typer.Option(help="Ask at most this many customers in this run.")
    ] = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Store the due asks and queue their mails in the outbox (`cxray mail send` sends them).
    Running it again the same day asks nobody twice."""
    from cxray.actions.advocacy import make_asks

    now = moment_of(as_of)
    done = run_on(path, False, lambda ws: make_asks(ws.warehouse, ws.journey, now, limit=limit))
    if fmt != Format.table:
        _json({"asked": done.asked, "skipped_bounced": done.skipped_bounced,
               "plan": done.plan.to_dict()})  # fmt: skip
        return
    out.print(done.summary(lang.value), highlight=False, soft_wrap=True)
