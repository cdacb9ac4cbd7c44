"""`cxray followups`: open follow-ups for detractors, list them, and measure whether they help."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up.

from typing import Annotated, Any

import typer

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
    render,
    run_on,
)

followups_app = typer.Typer(
    help="Close the loop: follow-ups for detractors, their list, and whether they help.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(followups_app, name="followups")


def _run(path: Any, read_only: bool, work: Any) -> Any:
    from cxray.actions.followup_rules import FollowupRulesError
    from cxray.actions.followups import FollowupError

    return run_on(path, read_only, work, (FollowupRulesError, FollowupError))


@followups_app.command("open")
def open_command(
    path: WorkspaceArg,
    as_of: AsOfOption = None,
    lang: LangOption = Lang.en,
) -> None:
    """Open a follow-up for every new detractor answer (and the [followups] rules), then
    escalate those overdue. Running it again opens nothing twice: run it from cron."""
    from cxray.actions.followups import open_followups

    now = moment_of(as_of)
    opened = _run(path, False, lambda ws: open_followups(ws.warehouse, ws.journey, now))
    out.print(opened.summary(lang.value), highlight=False, soft_wrap=True)


@followups_app.command("list")
def list_command(
    path: WorkspaceArg,
    status: Annotated[
        str | None, typer.Option(help="open, in_progress or done (default: all).")
    ] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this person's or team's.")] = None,
    touchpoint: Annotated[str | None, typer.Option(help="Only this touchpoint's.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
    held_out: Annotated[
        bool, typer.Option("--held-out", help="Only those held out to measure the effect.")
    ] = False,
    as_of: AsOfOption = None,
    top: Annotated[int, typer.Option(help="How many to show (1-1000).")] = 100,
    fmt: FormatOption = Format.table,
    wide: Annotated[bool, typer.Option("--wide", help="Show every column.")] = False,
    lang: LangOption = Lang.en,
) -> None:
    """Follow-ups, overdue first, with counts per status."""
    from cxray.actions.followups import list_followups

    now = moment_of(as_of)

    def listing(ws: Any) -> Any:
        return list_followups(
            ws.warehouse, status=status, assignee=assignee, touchpoint=touchpoint,
            overdue=overdue, held_out=held_out, now=now, limit=top,
        )  # fmt: skip

    render(_run(path, True, listing), fmt, lang, wide=wide)


@followups_app.command("effect")
def effect_command(
    path: WorkspaceArg,
    horizon: Annotated[
        float, typer.Option("--horizon-days", help="Churned share within this many days.")
    ] = 90.0,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Does following up help? Churn and later answers of detractors followed up against
    those not (randomised with a hold-out, observational without), with 95% intervals."""
    from cxray.actions.followup_effect import followup_effect

    now = moment_of(as_of)
    result = _run(path, True, lambda ws: followup_effect(ws, horizon_days=horizon, now=now))
    render(result, fmt, lang)
