"""The `cxray` command: a thin face over the Python API (every command has a Workspace twin)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import cxray
from cxray.journey import TEMPLATES, JourneyError
from cxray.results import Result, jsonable
from cxray.warehouse import WarehouseError

app = typer.Typer(
    help="cxray: where, how and why customers leave — from your own journey data.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Lang(StrEnum):
    en = "en"
    nl = "nl"


FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="Output: a table to read, or json/csv to process.")
]
LangOption = Annotated[
    Lang,
    typer.Option("--lang", envvar="CXRAY_LANG", help="Language of sentences: en or nl."),
]
WorkspaceArg = Annotated[Path, typer.Argument(help="The workspace folder.")]


def say(lang: Lang, en: str, nl: str) -> str:
    return nl if lang == Lang.nl else en


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def open_workspace(path: Path) -> cxray.Workspace:
    try:
        return cxray.open(path)
    except (cxray.WorkspaceError, JourneyError, WarehouseError) as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


def render(
    result: Result,
    fmt: Format,
    lang: Lang,
    title: str | None = None,
    columns: list[str] | None = None,
) -> None:
    """Print a result as a table (with its sentence), JSON (its to_dict) or CSV (its frame).

    ``columns`` picks what fits on a screen for the table view; CSV and JSON keep everything.
    """
    caveats = result.caveats(lang.value)
    if fmt == Format.json:
        data = result.to_dict()
        if caveats:
            data = {**data, "warnings": [*data.get("warnings", []), *caveats]}
        sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
        sys.stdout.write("\n")
        return
    frame = result.to_pandas()
    if fmt == Format.csv:
        sys.stdout.write(frame.to_csv(index=False))
        for caveat in caveats:  # CSV goes to a program: the caveat to the person, on stderr
            err.print(f"{say(lang, 'warning', 'let op')}: {caveat}", highlight=False)
        return
    if columns:
        frame = frame[[c for c in columns if c in frame.columns]]
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(
            str(column), justify="right" if frame[column].dtype.kind in "iuf" else "left"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    out.print(table)
    sentence = result.summary(lang.value)
    if sentence:
        out.print(sentence, highlight=False, soft_wrap=True)
    for caveat in caveats:
        err.print(f"[yellow]{say(lang, 'warning', 'let op')}:[/yellow] {caveat}", highlight=False)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else ""
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        if value in (float("inf"), float("-inf")):  # a median or bound the data never reach
            return "not reached"
        if value == 0:
            return "0"
        if abs(value) < 0.001:  # 3.47e-18 reads as noise: say what it is, a value below 0.001
            return "<0.001" if value > 0 else ">-0.001"
        # three significant digits, never in exponent notation (999.7 would read "1e+03")
        return f"{value:,.3g}" if abs(value) < 99.95 else f"{value:,.0f}"
    return str(value)


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            fail(f"{option} takes NAME=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        parsed[key.strip()] = value.strip()
    return parsed


# -- commands -------------------------------------------------------------------------------
@app.command()
def init(
    path: WorkspaceArg,
    template: Annotated[
        str, typer.Option(help=f"Phase model: {', '.join(TEMPLATES)}.")
    ] = "five-phase",
    name: Annotated[str | None, typer.Option(help="Journey name (default: folder name).")] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default: DuckDB file in the folder).")
    ] = None,
    lang: LangOption = Lang.en,
) -> None:
    """Create a workspace: a journey file (cxray.toml) and an empty warehouse."""
    try:
        ws = cxray.init(path, template=template, name=name, warehouse_url=warehouse)
    except (cxray.WorkspaceError, JourneyError, WarehouseError) as exc:
        fail(str(exc))
    ws.close()
    out.print(
        say(
            lang,
            f"Created workspace {path} ({template}). Next: cxray import {path} events FILE",
            f"Werkruimte {path} gemaakt ({template}). Volgende stap: cxray import {path} events BESTAND",
        ),
        highlight=False,
    )


class TableName(StrEnum):
    customers = "customers"
    events = "events"
    feedback = "feedback"


class TenureUnit(StrEnum):
    days = "days"
    weeks = "weeks"
    months = "months"
    years = "years"


@app.command("import")
def import_(
    path: WorkspaceArg,
    table: Annotated[TableName, typer.Argument(help="customers, events or feedback.")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet, JSON Lines or XES file.")],
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="SOURCE=TARGET: a file column to a canonical column."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="COLUMN=VALUE: a fixed value, e.g. --set metric=nps."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid rows; write the bad ones to a quarantine file.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Refuse touchpoints that are not in the journey file.")
    ] = False,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of timestamps without one, e.g. Europe/Amsterdam.")
    ] = None,
    timestamp_format: Annotated[
        str | None, typer.Option(help="strptime layout of timestamps, e.g. %d-%m-%Y %H:%M.")
    ] = None,
    errors_file: Annotated[
        Path | None, typer.Option(help="Where to list every bad row when an import is refused.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Customers' lifetime data: the date of the export, e.g. 2024-01-31 (tenure is "
            "counted back from it; those not churned were customers until then)."
        ),
    ] = None,
    tenure_unit: Annotated[
        TenureUnit | None,
        typer.Option(help="Unit of a tenure column (months = 30.4375 days, years = 365.25)."),
    ] = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Import a file into customers, events or feedback (all or nothing unless --skip-invalid)."""
    from cxray.ingest.importer import ImportError_

    ws = open_workspace(path)
    with _progress(f"import {file.name}", enabled=fmt == Format.table) as update:
        try:
            result = ws.import_table(
                table.value,
                file,
                parse_pairs(map_, "--map"),
                constants=parse_pairs(set_, "--set"),
                skip_invalid=skip_invalid,
                strict=strict,
                timezone=timezone,
                timestamp_format=timestamp_format,
                errors_file=errors_file,
                as_of=as_of,
                tenure_unit=tenure_unit.value if tenure_unit else None,
                progress=update,
            )
        except (ImportError_, JourneyError) as exc:
            ws.close()
            fail(str(exc))
    ws.close()
    if fmt != Format.table:
        render(result, fmt, lang)
        return
    out.print(result.summary(lang.value), highlight=False)
    for warning in result.warning_texts(lang.value):
        err.print(warning, highlight=False, soft_wrap=True)
    if result.ignored_columns:
        err.print(
            say(
                lang,
                "ignored columns (no place in this table): ",
                "genegeerde kolommen (geen plaats in deze tabel): ",
            )
            + ", ".join(result.ignored_columns),
            highlight=False,
        )
    if result.quarantine:
        err.print(
            say(
                lang,
                f"rejected rows written to {result.quarantine}",
                f"afgewezen rijen staan in {result.quarantine}",
            ),
            highlight=False,
        )
    if result.new_touchpoints:
        names = ", ".join(
            f"{n} (did you mean {result.suggestions[n]}?)" if n in result.suggestions else n
            for n in result.new_touchpoints
        )
        err.print(
            say(
                lang,
                f"warning: {len(result.new_touchpoints)} new touchpoint(s) added to cxray.toml without "
                f"a phase: {names}",
                f"let op: {len(result.new_touchpoints)} nieuwe contactmoment(en) zonder fase toegevoegd "
                f"aan cxray.toml: {names}",
            ),
            highlight=False,
        )


class _progress:
    """A Rich progress bar fed by (step, fraction) callbacks; silent when output is data."""

    def __init__(self, label: str, enabled: bool = True):
        self.enabled = enabled and err.is_terminal
        self.label = label

    def __enter__(self) -> Callable[[str, float | None], None]:
        if not self.enabled:
            return lambda step, fraction: None
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=1.0)

        def update(step: str, fraction: float | None) -> None:
            self.bar.update(
                self.task,
                description=f"{self.label}: {step}",
                completed=fraction if fraction is not None else None,
            )

        return update

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


@app.command()
def status(
    path: WorkspaceArg, fmt: FormatOption = Format.table, lang: LangOption = Lang.en
) -> None:
    """The journey, table counts, date range and data-quality warnings."""
    ws = open_workspace(path)
    result = ws.status()
    ws.close()
    if fmt != Format.table:
        render(result, fmt, lang)
        return
    journey = result.journey
    out.print(f"[bold]{journey['name']}[/bold]  {result.path}  ({result.engine})")
    out.print(say(lang, "phases: ", "fasen: ") + " → ".join(journey["phases"]), highlight=False)
    table = Table(title=say(lang, "Touchpoints", "Contactmomenten"))
    for column in ("touchpoint", "phase", "channel", "events"):
        table.add_column(column, justify="right" if column == "events" else "left")
    names = list(dict.fromkeys([*journey["touchpoints"], *result.touchpoint_counts]))
    for name in names:
        spec = journey["touchpoints"].get(name, {})
        table.add_row(
            name,
            spec.get("phase", "unassigned"),
            spec.get("channel", ""),
            f"{result.touchpoint_counts.get(name, 0):,}",
        )
    out.print(table)
    render(result, Format.table, lang)
    if result.first_ts is not None:
        out.print(
            say(lang, "data from ", "gegevens van ")
            + f"{result.first_ts:%Y-%m-%d} "
            + say(lang, "to ", "tot ")
            + f"{result.last_ts:%Y-%m-%d}",
            highlight=False,
        )
    for warning in result.all_warnings(lang.value):
        err.print(f"[yellow]{say(lang, 'warning', 'let op')}:[/yellow] {warning}", highlight=False)


@app.command()
def demo(
    path: WorkspaceArg,
    customers: Annotated[int, typer.Option(help="How many customers to generate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same company.")] = 42,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing workspace.")] = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Generate a demo webshop with planted causes of churn (ground truth written beside it)."""
    from cxray.demo import generate_demo

    with _progress("demo", enabled=fmt == Format.table) as update:
        try:
            result = generate_demo(
                path,
                customers=customers,
                seed=seed,
                overwrite=overwrite,
                progress=lambda step, done, total: update(step, done / total if total else None),
            )
        except cxray.WorkspaceError as exc:
            fail(str(exc))
    if fmt != Format.table:
        sys.stdout.write(json.dumps(jsonable(result.to_dict()), indent=2) + "\n")
        return
    out.print(
        say(lang, f"Demo workspace written to {path}", f"Demowerkruimte staat in {path}"),
        highlight=False,
    )


def main() -> None:  # pragma: no cover - console entry
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()


# -- analyses: where customers drop off and how touchpoints are experienced -----------------
class _Framed(Result):
    """Show one frame of a multi-frame result in table/csv output (JSON keeps them all)."""

    def __init__(self, result: Result, frame: Any):
        self.result, self.frame = result, frame

    def to_pandas(self) -> Any:
        return self.frame

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def summary(self, lang: str = "en") -> str:
        return self.result.summary(lang)


def _run(path: Path, question: Callable[[cxray.Workspace], Result]) -> Result:
    ws = open_workspace(path)
    try:
        return question(ws)
    except (ValueError, KeyError) as exc:
        fail(str(exc))
        raise
    finally:
        ws.close()


def _period(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    if ".." not in text:
        fail(f"a period is START..END, e.g. 2024-01-01..2024-03-31; got {text!r}")
    start, end = text.split("..", 1)
    return start, end


# What fits on a screen per command; --format csv/json give every column.
METRIC_COLUMNS = ["metric", "group", "n", "score", "low", "high", "too_few"]
COMPARE_COLUMNS = [
    "group",
    "n",
    "score",
    "n_ref",
    "score_ref",
    "difference",
    "diff_low",
    "diff_high",
    "q_value",
    "significant",
]
FUNNEL_COLUMNS = [
    "group",
    "phase",
    "reached",
    "converted",
    "conversion",
    "dropped",
    "drop_share",
    "censored",
    "median_days_to_next",
    "p90_days_to_next",
]
DROPOFF_COLUMNS = [
    "touchpoint",
    "phase",
    "churners_last",
    "share_of_churners",
    "stayers_last",
    "lift",
    "lift_low",
    "lift_high",
    "q_value",
]


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
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """NPS, CES and CSAT with n and 95% intervals, overall or per group."""
    result = _run(path, lambda ws: ws.metrics(metric, by, start=start, end=end, min_n=min_n))
    render(result, fmt, lang, columns=METRIC_COLUMNS)


@app.command()
def compare(
    path: WorkspaceArg,
    metric: Annotated[str, typer.Option(help="The metric to compare, e.g. nps.")] = "nps",
    by: Annotated[str | None, typer.Option(help="Groups (default: segment).")] = None,
    before: Annotated[str | None, typer.Option(help="Reference period START..END.")] = None,
    after: Annotated[str | None, typer.Option(help="Period to compare START..END.")] = None,
    fdr: Annotated[float, typer.Option(help="False-discovery rate.")] = 0.05,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Which differences are real: two periods per group, or each group against the rest."""
    periods = None
    if before or after:
        if not (before and after):
            fail("give both --before and --after periods")
        periods = (_period(before), _period(after))
    result = _run(path, lambda ws: ws.compare(metric, by=by, periods=periods, fdr=fdr))
    render(result, fmt, lang, columns=COMPARE_COLUMNS)


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
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Customers per phase, conversion, drop-off (censored apart) and time to the next phase."""
    chosen = [p.strip() for p in phases.split(",")] if phases else None
    result = _run(path, lambda ws: ws.funnel(chosen, window_days=window, by=by))
    render(result, fmt, lang, columns=FUNNEL_COLUMNS)


@app.command()
def dropoff(
    path: WorkspaceArg,
    top: Annotated[int, typer.Option(help="How many touchpoints to show.")] = 20,
    by_phase: Annotated[bool, typer.Option(help="Per phase instead of per touchpoint.")] = False,
    rank_by: Annotated[str, typer.Option(help="count or lift.")] = "count",
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Where customers leave: the last touchpoint before churn, by count and lift."""
    result = _run(path, lambda ws: ws.dropoff(top=top, by_phase=by_phase, rank_by=rank_by))
    render(result, fmt, lang, columns=DROPOFF_COLUMNS)


class FlowView(StrEnum):
    edges = "edges"
    variants = "variants"
    sankey = "sankey"


FLOW_COLUMNS = {
    FlowView.edges: ["source", "target", "count", "customers", "median_seconds", "p90_seconds"],
    FlowView.variants: ["label", "customers", "share", "churned", "churn_rate"],
    FlowView.sankey: None,
}


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
    render(_Framed(result, getattr(result, show.value)), fmt, lang, columns=FLOW_COLUMNS[show])


@app.command()
def retention(
    path: WorkspaceArg,
    period: Annotated[str, typer.Option(help="week, month or quarter.")] = "month",
    max_periods: Annotated[int, typer.Option(help="How many periods after acquisition.")] = 24,
    wide: Annotated[bool, typer.Option(help="Cohorts × periods matrix.")] = False,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Cohort retention: share of each acquisition cohort not churned after k periods."""
    result = _run(path, lambda ws: ws.retention(period=period, max_periods=max_periods))
    frame = result.to_pandas(wide=True).reset_index() if wide else result.to_pandas()
    render(_Framed(result, frame), fmt, lang)


@app.command()
def survival(
    path: WorkspaceArg,
    by: Annotated[str | None, typer.Option(help="segment or a customer attribute.")] = None,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Kaplan–Meier survival to churn with 95% intervals and median lifetime."""
    result = _run(path, lambda ws: ws.survival(by=by))
    render(_Framed(result, result.groups), fmt, lang)  # the curve: --format csv/json


@app.command("early-churn")
def early_churn(
    path: WorkspaceArg,
    days: Annotated[int, typer.Option(help="The first days of a customer's life.")] = 100,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Share of new customers who left within their first N days, per acquisition cohort."""
    result = _run(path, lambda ws: ws.early_churn(days=days))
    render(result, fmt, lang)


@app.command()
def report(
    path: WorkspaceArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    lang: LangOption = Lang.en,
) -> None:
    """One self-contained HTML page (opens offline): scores, funnel, survival, flows, summary."""
    ws = open_workspace(path)
    try:
        written = ws.report(output, lang=lang.value)
    finally:
        ws.close()
    out.print(
        say(lang, f"Report written to {written}", f"Rapport geschreven naar {written}"),
        highlight=False,
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
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """What drives the overall score: importance with intervals × current performance."""
    result = _run(path, lambda ws: ws.nps_drivers(target, bootstrap=bootstrap))
    render(result, fmt, lang, columns=NPS_DRIVER_COLUMNS)


NPS_DRIVER_COLUMNS = [
    "driver",
    "n",
    "importance",
    "importance_low",
    "importance_high",
    "performance",
    "quadrant",
]


@app.command()
def risk(
    path: WorkspaceArg,
    horizon: Annotated[int, typer.Option(help="Days ahead the risk is about.")] = 90,
    evaluate: Annotated[
        bool, typer.Option(help="Judge the model on a time-based hold-out instead of scoring.")
    ] = False,
    top: Annotated[int, typer.Option(help="How many customers to show (table view).")] = 20,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Churn risk per active customer with reasons, or --evaluate: AUC, calibration, lift."""
    if evaluate:
        result = _run(path, lambda ws: ws.evaluate_risk(horizon))
        if fmt == Format.table:
            for name, value in result.metrics().items():
                out.print(f"{name}: {value}", highlight=False)
        render(result, fmt, lang)
        return

    result = _run(path, lambda ws: ws.risk(horizon))  # today's customers
    if fmt == Format.table:
        frame = result.to_pandas().sort_values("probability", ascending=False).head(top)
        reasons = "reasons_nl" if lang == Lang.nl else "reasons"
        frame = frame.assign(
            reasons=frame[reasons].map(lambda r: "; ".join(r) if isinstance(r, list | tuple) else r)
        )
        render(
            _Framed(result, frame),
            fmt,
            lang,
            columns=["customer_id", "probability", "band", "reasons"],
        )
        return
    render(result, fmt, lang)


@app.command()
def onboarding(
    path: WorkspaceArg,
    days: Annotated[int, typer.Option(help="The onboarding period in days.")] = 100,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """New customers: their phase, whether they are late for the next one, their risk."""
    result = _run(path, lambda ws: ws.onboarding(days=days))
    render(result, fmt, lang)


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
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """What customers say: themes with their volume, score and effect on churn."""
    result = _run(
        path,
        lambda ws: ws.themes(metric, discover=discover, taxonomy=taxonomy, lang=lang.value),
    )
    render(result, fmt, lang, columns=result.columns)


@app.command()
def phrases(
    path: WorkspaceArg,
    metric: Annotated[
        str | None,
        typer.Option(help="nps, csat, rating… or all (default: the main scored metric)."),
    ] = None,
    top: Annotated[int, typer.Option(help="Phrases per side.")] = 20,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """The words and phrases that set detractors apart from promoters."""
    result = _run(path, lambda ws: ws.phrases(metric, top=top))
    render(result, fmt, lang)


@app.command("dose-response")
def dose_response(
    path: WorkspaceArg,
    horizon: Annotated[float, typer.Option(help="Days for the churn-within-horizon figure.")] = 90,
    max_dose: Annotated[int, typer.Option(help="The top dose level (shown as N+).")] = 3,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """How churn rises with each extra bad experience (0, 1, 2, 3+), censoring handled."""
    result = _run(path, lambda ws: ws.dose_response(horizon, max_dose))
    render(result, fmt, lang)


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
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Why customers leave: hazard ratios adjusted for segment and tenure, customers lost to each.

    Candidates the data cannot estimate are listed with their reason and no numbers; top
    drivers whose customers-lost intervals overlap share a rank (tied).
    """
    result = _run(path, lambda ws: ws.drivers(coding=coding, fdr=fdr, by=by or None))
    render(result, fmt, lang, columns=DRIVER_COLUMNS)


DRIVER_COLUMNS = [
    "rank",
    "tied",
    "driver",
    "reason",
    "customers_exposed",
    "hazard_ratio",
    "hr_lower",
    "hr_upper",
    "q_value",
    "significant",
    "customers_lost",
    "lost_lower",
    "lost_upper",
]
