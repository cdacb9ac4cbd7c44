"""What every command shares: the app, output formats, languages, rendering, errors."""

from __future__ import annotations

import json
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
from rich.text import Text

import cxray
from cxray.journey import JourneyError
from cxray.results import Result, jsonable
from cxray.warehouse import WarehouseError

app = typer.Typer(
    help="cxray: where, how and why customers leave — from your own journey data.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
# Everything printed may hold user data (touchpoint names, values, file names): never read it as
# Rich markup. Styling goes through Text and style= instead.
out = Console(markup=False)
err = Console(stderr=True, markup=False)


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
    # the message carries user data and journey keys like [touchpoints.x]: never read as markup
    err.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def open_workspace(path: Path, read_only: bool = True) -> cxray.Workspace:
    """Questions read side by side (read-only); only a command that writes asks for a write."""
    try:
        return cxray.open(path, read_only=read_only)
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
            err.print(f"{say(lang, 'warning', 'let op')}: {caveat}", highlight=False, markup=False)
        return
    if columns:
        frame = frame[[c for c in columns if c in frame.columns]]
    # titles, headers, cells and sentences hold user data: Text, so "[/bold]" is never markup
    table = Table(
        title=Text(title, style="table.title") if title is not None else None, show_lines=False
    )
    for column in frame.columns:
        table.add_column(
            Text(str(column)), justify="right" if frame[column].dtype.kind in "iuf" else "left"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*(Text(_cell(v)) for v in row))
    out.print(table)
    sentence = result.summary(lang.value)
    if sentence:
        out.print(sentence, highlight=False, markup=False, soft_wrap=True)
    for caveat in caveats:
        warning = say(lang, "warning", "let op")
        err.print(Text.assemble((f"{warning}:", "yellow"), " ", caveat), highlight=False)


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

    def caveats(self, lang: str = "en") -> list[str]:
        return self.result.caveats(lang)


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
