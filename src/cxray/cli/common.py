"""What every command shares: the app, output formats, languages, rendering, errors."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

import cxray
from cxray.i18n import Message, text_of
from cxray.journey import JourneyError
from cxray.results import Result, jsonable
from cxray.results import Table as ResultTable
from cxray.warehouse import WarehouseError

app = typer.Typer(
    help="cxray: where, how and why customers leave — from your own journey data.",
    no_args_is_help=True,
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


def _remember_lang(value: Lang) -> Lang:
    # every command takes --lang; errors raised deep down are shown in the language chosen
    global chosen_lang
    chosen_lang = value
    return value


chosen_lang = Lang.en
LangOption = Annotated[
    Lang,
    typer.Option(
        "--lang",
        envvar="CXRAY_LANG",
        help="Language of sentences: en or nl.",
        callback=_remember_lang,
    ),
]
WorkspaceArg = Annotated[Path, typer.Argument(help="The workspace folder.")]


def say(lang: Lang, en: str, nl: str) -> str:
    return nl if lang == Lang.nl else en


def fail(message: object, code: int = 1) -> None:
    """Print an error (a text, a Message or an exception) in the chosen language and exit."""
    text = text_of(message, chosen_lang.value)
    label = "fout:" if chosen_lang == Lang.nl else "error:"
    # the message carries user data and journey keys like [touchpoints.x]: never read as markup
    err.print(Text.assemble((label, "red"), " ", text), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The moment to act as now (ISO date or time, UTC); default: the clock.",
    ),
]


def moment_of(text: str | None) -> dt.datetime | None:
    """The moment ``--as-of`` names (UTC when it names no zone), or a clear refusal."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(
            Message(
                f"--as-of takes a date or time like 2025-03-01 or 2025-03-01T09:00; got {text!r}",
                f"--as-of verwacht een datum of tijd zoals 2025-03-01 of 2025-03-01T09:00; "
                f"niet {text!r}",
            )
        )
        raise
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def run_on(
    path: Path,
    read_only: bool,
    work: Callable[[cxray.Workspace], Any],
    refused: tuple[type[BaseException], ...] = (ValueError,),
) -> Any:
    """``work(ws)`` on the workspace, closed afterwards; ``refused`` errors become one line."""
    ws = open_workspace(path, read_only=read_only)
    try:
        return work(ws)
    except refused as exc:
        fail(exc)
    finally:
        ws.close()


def open_workspace(path: Path, read_only: bool = True) -> cxray.Workspace:
    """Questions read side by side (read-only); only a command that writes asks for a write."""
    try:
        return cxray.open(path, read_only=read_only)
    except (cxray.WorkspaceError, JourneyError, WarehouseError) as exc:
        fail(exc)
        raise  # unreachable: fail exits


def render(
    result: Result,
    fmt: Format,
    lang: Lang,
    title: str | None = None,
    *,
    table: ResultTable | None = None,
    wide: bool = False,
    top: int | None = None,
) -> None:
    """Print a result as a table (with its sentence), JSON (its to_dict) or CSV (its rows).

    The table is the result's own (``result.display()``) unless a command picks another view of
    it; the terminal shows what fits (``wide``: every column; ``top``: the first rows). CSV and
    JSON keep everything.
    """
    from cxray.cli.tables import print_table

    caveats = result.caveats(lang.value)
    if fmt == Format.json:
        data = result.to_dict()
        if caveats:
            data = {**data, "warnings": [*data.get("warnings", []), *caveats]}
        sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
        sys.stdout.write("\n")
        return
    shown = table if table is not None else result.display()
    if fmt == Format.csv:
        sys.stdout.write(shown.data.to_csv(index=False))
        for caveat in caveats:  # CSV goes to a program: the caveat to the person, on stderr
            err.print(f"{say(lang, 'warning', 'let op')}: {caveat}", highlight=False, markup=False)
        return
    print_table(out, shown, lang.value, wide=wide, top=top, title=title)
    sentence = result.summary(lang.value)
    if sentence:
        out.print(sentence, highlight=False, markup=False, soft_wrap=True)
    for caveat in caveats:
        warning = say(lang, "warning", "let op")
        err.print(Text.assemble((f"{warning}:", "yellow"), " ", caveat), highlight=False)


def _cell(value: Any) -> str:
    """One plain value as a table cell (numbers without exponents, infinity "not reached")."""
    from cxray.cells import cell
    from cxray.results import Column

    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return cell(bool(value), Column("v", "flag", "v"))
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return cell(value, Column("v", "duration", "v"))
    if isinstance(value, int | float) or type(value).__module__ == "numpy":
        kind = "count" if float(value).is_integer() and not isinstance(value, float) else "number"
        return cell(value, Column("v", kind, "v"))
    return cell(value, Column("v", "text", "v"))


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            fail(
                Message(
                    f"{option} takes NAME=VALUE, got {pair!r}",
                    f"{option} verwacht NAAM=WAARDE, niet {pair!r}",
                )
            )
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
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

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


def _run(path: Path, question: Callable[[cxray.Workspace], Result]) -> Result:
    ws = open_workspace(path)
    try:
        return question(ws)
    except (ValueError, KeyError) as exc:
        fail(exc)
        raise
    finally:
        ws.close()


def _period(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    if ".." not in text:
        fail(
            Message(
                f"a period is START..END, e.g. 2024-01-01..2024-03-31; got {text!r}",
                f"een periode is BEGIN..EINDE, bijv. 2024-01-01..2024-03-31; niet {text!r}",
            )
        )
    start, end = text.split("..", 1)
    return start, end
