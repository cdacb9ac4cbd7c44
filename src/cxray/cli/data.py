"""Commands that set a workspace up and fill it: init, import, status, demo."""

# Annotations stay real objects here (no `from __future__ import annotations`): Typer reads
# every command's signature on each start, and string annotations cost it a compile and an
# eval per parameter (80 ms a command line).

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

import cxray
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
    parse_pairs,
    render,
    say,
)
from cxray.i18n import count_of, join_words, position_word
from cxray.journey import TEMPLATES, JourneyError
from cxray.labels import channel_label, phase_label
from cxray.results import jsonable
from cxray.warehouse import WarehouseError


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
        fail(exc)
    ws.close()
    out.print(
        say(
            lang,
            f"Created workspace {path} ({template}). Next: cxray import {path} events FILE",
            f"Werkruimte {path} gemaakt ({template}). Volgende stap: cxray import {path} events BESTAND",
        ),
        highlight=False,
        soft_wrap=True,  # the command stays on one line, to copy
    )


NONE = ("", "")  # no noun in the other language: count_of is asked for one language only


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
    recode: Annotated[
        list[str] | None,
        typer.Option(
            "--recode",
            help="COLUMN=LABEL:VALUE,...: labels to values before typing, e.g. "
            "--recode score=negative:1,neutral:3,positive:5 (case-insensitive).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the column mapping and the first rows as they would be stored; write "
            "nothing.",
        ),
    ] = False,
    rows: Annotated[int, typer.Option(min=1, help="With --dry-run: how many rows to show.")] = 10,
    fmt: FormatOption = Format.table,
    lang: LangOption = Lang.en,
) -> None:
    """Import a file into customers, events or feedback (all or nothing unless --skip-invalid)."""
    from cxray.ingest.importer import ImportError_
    from cxray.ingest.recode import RecodeError, parse_recode

    try:
        recoded = parse_recode(recode)  # before any file is read
    except RecodeError as exc:
        fail(exc)
    # how the file is read: the same for a dry run and for the import itself
    reading = {
        "constants": parse_pairs(set_, "--set"),
        "timezone": timezone,
        "timestamp_format": timestamp_format,
        "recode": recoded,
        "strict": strict,
        "as_of": as_of,
        "tenure_unit": tenure_unit.value if tenure_unit else None,
    }
    mapping = parse_pairs(map_, "--map")
    if dry_run:
        ws = open_workspace(path, read_only=True)  # a dry run never writes
        try:
            preview = ws.preview_import(table.value, file, mapping, rows=rows, **reading)
        except (ImportError_, JourneyError) as exc:
            fail(exc)
        finally:
            ws.close()
        _show_preview(preview, fmt, lang)
        return
    ws = open_workspace(path, read_only=False)  # the one command here that writes
    with _progress(f"import {file.name}", enabled=fmt == Format.table) as update:
        try:
            result = ws.import_table(
                table.value,
                file,
                mapping,
                skip_invalid=skip_invalid,
                errors_file=errors_file,
                progress=update,
                **reading,
            )
        except (ImportError_, JourneyError) as exc:
            ws.close()
            fail(exc)
    ws.close()
    # what an earlier, interrupted import had left and this one repaired first
    for repair in ws.repairs:
        err.print(say(lang, "repaired: ", "hersteld: ") + repair.text(lang.value), highlight=False)
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
        new = result.new_touchpoints
        mean = say(lang, "did you mean", "bedoelt u")
        names = join_words(
            (
                f"{n} ({mean} {result.suggestions[n]}?)" if n in result.suggestions else n
                for n in new
            ),
            lang.value,
        )
        count = len(new)
        err.print(
            say(
                lang,
                f"warning: {count_of(count, 'en', ('new touchpoint', 'new touchpoints'), NONE)} "
                f"added to cxray.toml without a phase: {names}",
                f"let op: {count_of(count, 'nl', NONE, ('nieuw contactmoment', 'nieuwe contactmomenten'))}"
                f" zonder fase toegevoegd aan cxray.toml: {names}",
            ),
            highlight=False,
            soft_wrap=True,
        )


def _show_preview(preview: Any, fmt: Format, lang: Lang) -> None:
    """A dry run: the mapping and the rows as Rich tables (every cell plain text), or data."""
    if fmt != Format.table:
        render(preview, fmt, lang)
        return
    out.print(
        say(
            lang,
            f"Dry run of {preview.source} into {preview.table}: nothing is written.",
            f"Proefimport van {preview.source} in {preview.table}: er wordt niets geschreven.",
        ),
        highlight=False,
        soft_wrap=True,
    )
    mapping = preview.mapping_frame(lang.value)
    from rich.table import Table  # only when a table is drawn: --help stays light

    table = Table(title=Text(say(lang, "Column mapping", "Kolomtoewijzing")))
    headers = {
        "column": say(lang, "column", "kolom"),
        "file column": say(lang, "file column", "kolom in bestand"),
        "found by": say(lang, "found by", "gevonden via"),
        "note": say(lang, "note", "opmerking"),
    }
    for name in mapping.columns:
        table.add_column(Text(headers[name]))
    for record in mapping.itertuples(index=False):
        table.add_row(*(Text(str(v)) for v in record))
    out.print(table)
    lines = []
    if preview.extras:
        kept = say(lang, "kept as JSON in", "bewaard als JSON in")
        lines.append(f"{kept} {preview.json_column}: " + ", ".join(preview.extras))
    if preview.ignored:
        ignored = say(
            lang, "ignored (no place in this table)", "genegeerd (geen plaats in deze tabel)"
        )
        lines.append(f"{ignored}: " + ", ".join(preview.ignored))
    for passed in preview.passed_over:
        lines.append(
            say(
                lang,
                f"not guessed: {passed.column} for {passed.target}: {passed.reason()}; to use it "
                f"anyway: {passed.option}",
                f"niet geraden: {passed.column} voor {passed.target}: {passed.reason('nl')}; om "
                f"deze kolom toch te gebruiken: {passed.option}",
            )
        )
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    if preview.problem:
        label = say(lang, "error:", "fout:")
        error = Text.assemble((label, "red"), " ", preview.problem_text(lang.value))
        err.print(error, highlight=False, soft_wrap=True)
        out.print(preview.summary(lang.value), highlight=False, soft_wrap=True)
        return
    frame = preview.rows
    # columns nothing feeds are empty in every row: left out on screen, kept in json/csv
    # (lifetime dates derived from a tenure are fed by no column, yet hold values)
    fed = {m.column for m in preview.mapping if m.found_by != "not found"}
    fed |= {preview.position_label, "refused"} | {c for c in frame if frame[c].notna().any()}
    shown = [c for c in frame.columns if c in fed]
    n = len(frame)
    title = say(
        lang,
        f"The first {count_of(n, 'en', ('row', 'rows'), NONE)} as "
        f"{'it' if n == 1 else 'they'} would be stored (times in UTC)",
        f"De eerste {count_of(n, 'nl', NONE, ('rij', 'rijen'))} zoals "
        f"{'die wordt' if n == 1 else 'ze worden'} opgeslagen (tijden in UTC)",
    )
    from rich.table import Table  # only when a table is drawn: --help stays light

    rows_table = Table(title=Text(title))
    for name in shown:
        if name == "refused":
            header = say(lang, name, "afgewezen")
        elif name == preview.position_label:
            header = position_word(name, lang.value)
        else:
            header = name  # a canonical column: the name to --map to
        rows_table.add_column(Text(header), overflow="fold")
    refused = shown.index("refused") if "refused" in shown else None
    for record in frame[shown].itertuples(index=False):
        cells = [_preview_cell(v) for v in record]
        if refused is not None:
            cells[refused] = preview.reason_text(cells[refused], lang.value)
        rows_table.add_row(*(Text(cell) for cell in cells))
    out.print(rows_table)
    out.print(preview.summary(lang.value), highlight=False, soft_wrap=True)
    label = preview.position_label
    for problem in preview.problems[:20]:
        where = f"{position_word(label, lang.value)} {problem[label]}"
        what = f"{problem['column']} = {problem['value']!r}: " if problem["column"] else ""
        reason = preview.reason_text(problem["reason"], lang.value)
        err.print(f"  {where}: {what}{reason}", highlight=False, soft_wrap=True)
    if len(preview.problems) > 20:
        more = len(preview.problems) - 20
        err.print(say(lang, f"  … and {more} more", f"  … en nog {more}"), highlight=False)
    for hint in preview.hint_texts(lang.value):
        err.print(hint, highlight=False, soft_wrap=True)
    if preview.new_touchpoints:
        names = join_words(preview.new_touchpoints, lang.value)
        one = len(preview.new_touchpoints) == 1
        err.print(
            say(
                lang,
                f"{'a new touchpoint' if one else 'new touchpoints'} the import would add to "
                f"cxray.toml: {names}",
                f"{'een nieuw contactmoment' if one else 'nieuwe contactmomenten'} die de import "
                f"aan cxray.toml toevoegt: {names}",
            ),
            highlight=False,
            soft_wrap=True,
        )


PREVIEW_CELL_CHARS = 60  # on screen; json and csv keep every character


def _preview_cell(value: Any) -> str:
    import pandas as pd  # a preview is a frame: loaded already, never by `cxray --help`

    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp):
        text = value.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")
        return text.removesuffix(" 00:00:00")
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"


@app.command()
def status(
    path: WorkspaceArg, fmt: FormatOption = Format.table, lang: LangOption = Lang.en
) -> None:
    """The journey, table counts, date range and data-quality warnings."""
    ws = open_workspace(path, read_only=True)
    result = ws.status()
    ws.close()
    if fmt != Format.table:
        render(result, fmt, lang)
        return
    journey = result.journey
    code = lang.value
    out.print(
        Text.assemble((str(journey["name"]), "bold"), f"  {result.path}  ({result.engine})"),
        highlight=False,
    )
    phases = [phase_label(p, code) for p in journey["phases"]]
    out.print(
        say(lang, "The journey's phases: ", "De fasen van de journey: ") + " → ".join(phases),
        highlight=False,
        soft_wrap=True,
    )
    names = list(dict.fromkeys([*journey["touchpoints"], *result.touchpoint_counts]))
    if names:
        from rich.table import Table  # only when a table is drawn: --help stays light

        table = Table(title=say(lang, "Touchpoints", "Contactmomenten"))
        headers = {
            "touchpoint": say(lang, "touchpoint", "contactmoment"),
            "phase": say(lang, "phase", "fase"),
            "channel": say(lang, "channel", "kanaal"),
            "events": say(lang, "events", "interacties"),
        }
        for column, header in headers.items():
            table.add_column(header, justify="right" if column == "events" else "left")
        for name in names:
            spec = journey["touchpoints"].get(name, {})
            table.add_row(  # cells as Text: a name like "[/bold]x" is data, not markup
                Text(str(name)),
                Text(phase_label(str(spec.get("phase", "unassigned")), code)),
                Text(channel_label(str(spec.get("channel", "")), code)),
                f"{result.touchpoint_counts.get(name, 0):,}".replace(
                    ",", "." if code == "nl" else ","
                ),
            )
        out.print(table)
    for sentence in result.sentences(code):
        out.print(sentence, highlight=False, markup=False, soft_wrap=True)
    for warning in result.all_warnings(code):
        label = say(lang, "warning", "let op")
        err.print(Text.assemble((f"{label}:", "yellow"), " ", warning), highlight=False)


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
            fail(exc)
    if fmt != Format.table:
        sys.stdout.write(json.dumps(jsonable(result.to_dict()), indent=2) + "\n")
        return
    out.print(
        say(lang, f"Demo workspace written to {path}", f"Demowerkruimte staat in {path}"),
        highlight=False,
    )
