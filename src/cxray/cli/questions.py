"""Commands that ask a workspace the five questions: where, how, why, who, what."""

# Annotations stay real objects here (no `from __future__ import annotations`): Typer reads
# every command's signature on each start, and string annotations cost it a compile and an
# eval per parameter (80 ms a command line).

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cxray.cli.common import (
    Format,
    FormatOption,
    Lang,
    LangOption,
    WorkspaceArg,
    _period,
    _run,
    app,
    fail,
    open_workspace,
    out,
    render,
    say,
)
from cxray.i18n import Message

# The terminal shows what fits; these two options ask for more (csv/json give everything).
WideOption = Annotated[bool, typer.Option("--wide", help="Every column, however wide the screen.")]
TopOption = Annotated[int, typer.Option("--top", min=0, help="How many rows to show (0: all).")]


@app.command()
def metrics(
    path: WorkspaceArg,
    metric: Annotated[
        str | None, typer.Option(help="nps, ces, csat, rating… (default: all).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(help="touchpoint, phase, channel, segment, month or a customer attribute."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="Only answers from this date.")] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Only answers up to this date (a plain date includes that whole day)."),
    ] = None,
    min_n: Annotated[int, typer.Option(help="Below this many answers: flagged too few.")] = 30,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """NPS, CES and CSAT with n and 95% intervals, overall or per group."""
    result = _run(path, lambda ws: ws.metrics(metric, by, start=start, end=end, min_n=min_n))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def compare(
    path: WorkspaceArg,
    metric: Annotated[str, typer.Option(help="The metric to compare, e.g. nps.")] = "nps",
    by: Annotated[str | None, typer.Option(help="Groups (default: segment).")] = None,
    before: Annotated[str | None, typer.Option(help="Reference period START..END.")] = None,
    after: Annotated[str | None, typer.Option(help="Period to compare START..END.")] = None,
    fdr: Annotated[float, typer.Option(help="False-discovery rate.")] = 0.05,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Which differences are real: two periods per group, or each group against the rest."""
    periods = None
    if before or after:
        if not (before and after):
            fail(
                Message(
                    "give both --before and --after periods",
                    "geef zowel een --before- als een --after-periode",
                )
            )
        periods = (_period(before), _period(after))
    result = _run(path, lambda ws: ws.compare(metric, by=by, periods=periods, fdr=fdr))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def funnel(
    path: WorkspaceArg,
    phases: Annotated[
        str | None, typer.Option(help="Comma-separated phases in journey order (default: all).")
    ] = None,
    window: Annotated[
        int | None, typer.Option(help="Days allowed to reach the next phase.")
    ] = None,
    by: Annotated[str | None, typer.Option(help="segment, cohort or a customer attribute.")] = None,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Customers per phase, conversion, drop-off (censored apart) and time to the next phase."""
    chosen = [p.strip() for p in phases.split(",")] if phases else None
    result = _run(path, lambda ws: ws.funnel(chosen, window_days=window, by=by))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def dropoff(
    path: WorkspaceArg,
    top: Annotated[int, typer.Option(help="How many touchpoints to show.")] = 20,
    by_phase: Annotated[bool, typer.Option(help="Per phase instead of per touchpoint.")] = False,
    rank_by: Annotated[str, typer.Option(help="count or lift.")] = "count",
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Where customers leave: the last touchpoint before churn, by count and lift."""
    result = _run(path, lambda ws: ws.dropoff(top=top, by_phase=by_phase, rank_by=rank_by))
    render(result, fmt, lang, wide=wide)


class FlowView(StrEnum):
    edges = "edges"
    variants = "variants"
    sankey = "sankey"


@app.command()
def flows(
    path: WorkspaceArg,
    show: Annotated[FlowView, typer.Option(help="edges, variants or sankey.")] = FlowView.edges,
    segment: Annotated[str | None, typer.Option(help="Only this customer segment.")] = None,
    start: Annotated[str | None, typer.Option(help="Only events from this date.")] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Only events up to this date (a plain date includes that whole day)."),
    ] = None,
    only: Annotated[str | None, typer.Option(help="churned or retained.")] = None,
    top_variants: Annotated[int, typer.Option(help="How many path variants.")] = 20,
    top: Annotated[int, typer.Option("--top", min=0, help="How many rows to show (0: all).")] = 20,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Directly-follows graph, top path variants and phase-to-phase flows."""
    result = _run(
        path,
        lambda ws: ws.flows(
            segment=segment, start=start, end=end, only=only, top_variants=top_variants
        ),
    )
    render(result, fmt, lang, table=result.display(show.value), wide=wide, top=top)


@app.command()
def retention(
    path: WorkspaceArg,
    period: Annotated[str, typer.Option(help="week, month or quarter.")] = "month",
    max_periods: Annotated[int, typer.Option(help="How many periods after acquisition.")] = 24,
    top: TopOption = 0,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every period, however wide the screen.")
    ] = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Cohort retention: share of each acquisition cohort not churned after k periods.

    A grid of cohorts × periods; a narrow screen shows the round periods (1, 3, 6, 12…).
    """
    result = _run(path, lambda ws: ws.retention(period=period, max_periods=max_periods))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def survival(
    path: WorkspaceArg,
    by: Annotated[str | None, typer.Option(help="segment or a customer attribute.")] = None,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Kaplan–Meier survival to churn with 95% intervals and median lifetime."""
    result = _run(path, lambda ws: ws.survival(by=by))
    render(result, fmt, lang, wide=wide, top=top)  # the curve itself: --format json


@app.command("early-churn")
def early_churn(
    path: WorkspaceArg,
    days: Annotated[int, typer.Option(help="The first days of a customer's life.")] = 100,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Share of new customers who left within their first N days, per acquisition cohort."""
    result = _run(path, lambda ws: ws.early_churn(days=days))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def report(
    path: WorkspaceArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The HTML file to write (a name ending in .pdf: a PDF)."
        ),
    ] = Path("report.html"),
    segment: Annotated[
        str | None, typer.Option(help="Only this customer segment's customers.")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Only interactions and answers from this date.")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            help="Only interactions and answers up to this date (a plain date includes that "
            "whole day)."
        ),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf",
            help="Also write the report as a PDF beside the HTML (same name, .pdf); drawn by "
            "Chromium (Debian: apt-get install chromium, or set CXRAY_CHROMIUM).",
        ),
    ] = False,
    lang: LangOption = Lang.en,
) -> None:
    """One self-contained HTML page (opens offline): scores over time, canvas, funnel,
    survival, flows, why customers leave, who is about to leave, and a summary.

    --segment, --start and --end limit every part of it, as they do for metrics and flows;
    the report's header names them. --pdf (or -o report.pdf) gives the same report as a PDF.
    """
    from cxray.report import FilterError, write_report  # a face: the Workspace renders nothing
    from cxray.report.pdf import PdfUnavailable
    from cxray.report.text import say as report_say

    ws = open_workspace(path, read_only=True)
    try:
        written = write_report(
            ws, output, lang=lang.value, segment=segment, start=start, end=end, pdf=pdf
        )
    except PdfUnavailable as exc:  # one line saying how to install Chromium, no traceback
        fail(exc)
        raise
    except FilterError as exc:
        fail(report_say(lang.value, exc.key, **exc.values))
        raise
    except ValueError as exc:  # a date that is no date, or an empty period
        fail(str(exc))
        raise
    finally:
        ws.close()
    out.print(
        say(lang, f"Report written to {written}", f"Rapport geschreven naar {written}"),
        highlight=False,
    )
    if pdf and written.suffix.lower() != ".pdf":
        also = written.with_suffix(".pdf")
        out.print(
            say(lang, f"PDF written to {also}", f"PDF geschreven naar {also}"), highlight=False
        )


# -- analyses: why customers leave and who is about to --------------------------------------
@app.command("nps-drivers")
def nps_drivers(
    path: WorkspaceArg,
    target: Annotated[
        str | None,
        typer.Option(help="The overall score to explain (default: NPS, else the most answered)."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Resamples for the intervals.")] = 200,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """What drives the overall score: importance with intervals × current performance."""
    result = _run(path, lambda ws: ws.nps_drivers(target, bootstrap=bootstrap))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def risk(
    path: WorkspaceArg,
    horizon: Annotated[int, typer.Option(help="Days ahead the risk is about.")] = 90,
    evaluate: Annotated[
        bool, typer.Option(help="Judge the model on a time-based hold-out instead of scoring.")
    ] = False,
    top: Annotated[
        int, typer.Option(min=0, help="How many customers to show (table view; 0: all).")
    ] = 20,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Churn risk per active customer with reasons, or --evaluate: AUC, calibration, lift."""
    if evaluate:
        result = _run(path, lambda ws: ws.evaluate_risk(horizon))
    else:
        result = _run(path, lambda ws: ws.risk(horizon))  # today's customers, riskiest first
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def onboarding(
    path: WorkspaceArg,
    days: Annotated[int, typer.Option(help="The onboarding period in days.")] = 100,
    top: Annotated[
        int, typer.Option(min=0, help="How many customers to show (table view; 0: all).")
    ] = 20,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """New customers: their phase, whether they are late for the next one, their risk."""
    result = _run(path, lambda ws: ws.onboarding(days=days))
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def themes(
    path: WorkspaceArg,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Whose comments: nps, csat, rating, text… or all (default: the main one)."
        ),
    ] = None,
    discover: Annotated[int, typer.Option(help="How many new themes to find in the data.")] = 8,
    taxonomy: Annotated[
        Path | None, typer.Option(help="A TOML file adding to or replacing the default themes.")
    ] = None,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """What customers say: themes with their volume, score and effect on churn."""
    result = _run(
        path,
        lambda ws: ws.themes(metric, discover=discover, taxonomy=taxonomy, lang=lang.value),
    )
    render(result, fmt, lang, wide=wide, top=top)


@app.command()
def phrases(
    path: WorkspaceArg,
    metric: Annotated[
        str | None,
        typer.Option(help="nps, csat, rating… or all (default: the main scored metric)."),
    ] = None,
    top: Annotated[int, typer.Option(help="Phrases per side.")] = 20,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """The words and phrases that set detractors apart from promoters."""
    result = _run(path, lambda ws: ws.phrases(metric, top=top))
    render(result, fmt, lang, wide=wide)


@app.command("dose-response")
def dose_response(
    path: WorkspaceArg,
    horizon: Annotated[float, typer.Option(help="Days for the churn-within-horizon figure.")] = 90,
    max_dose: Annotated[int, typer.Option(help="The top dose level (shown as N+).")] = 3,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """How churn rises with each extra bad experience (0, 1, 2, 3+), censoring handled."""
    result = _run(path, lambda ws: ws.dose_response(horizon, max_dose))
    render(result, fmt, lang, wide=wide)


@app.command()
def drivers(
    path: WorkspaceArg,
    coding: Annotated[
        str, typer.Option(help="per_occurrence (each one counts) or ever (had one at all).")
    ] = "per_occurrence",
    fdr: Annotated[float, typer.Option(help="False-discovery rate for 'significant'.")] = 0.05,
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="Customer attributes whose levels are the candidates (repeatable); the "
            "default on lifetime data without events."
        ),
    ] = None,
    top: TopOption = 0,
    wide: WideOption = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Why customers leave: hazard ratios adjusted for segment and tenure, customers lost to each.

    Candidates the data cannot estimate are listed with their reason and no numbers; top
    drivers whose customers-lost intervals overlap share a rank (tied).
    """
    result = _run(path, lambda ws: ws.drivers(coding=coding, fdr=fdr, by=by or None))
    render(result, fmt, lang, wide=wide, top=top)
