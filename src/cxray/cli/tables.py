"""A result's table on a terminal: every number whole, long text wrapped, columns that fit.

The result says what its columns hold (:class:`cxray.results.Column`); this module only lays them
out. At the terminal's width it leaves out the least important columns (and says which) rather
than cut a number or a name; ``--wide`` shows every column, ``--top`` how many rows.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from cxray.cells import formatted, more_note
from cxray.results import ESSENTIAL, Column, Table

TEXT_FLOOR = 10  # a text column is never narrower than this (or its longest word, up to 24)
LONGEST_WORD = 24


def _overhead(count: int) -> int:
    # a space of padding on each side of a cell and a rule between and around the columns
    return 3 * count + 1 if count else 0


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _needs(column: Column, header: str, cells: list[str]) -> tuple[int, int]:
    """(narrowest, natural) width of a column: numbers never wrap, text wraps at spaces."""
    lines = [line for text in cells for line in text.splitlines()] or [""]
    natural = max(max(map(len, lines)), max(map(len, header.splitlines())) if header else 0)
    head = _longest_word(header)
    if column.numeric or column.kind in ("date", "flag"):
        return max(max(map(len, lines)), head), natural
    word = min(max(map(_longest_word, lines)), LONGEST_WORD)
    return min(natural, max(word, head, TEXT_FLOOR)), natural


def layout(
    table: Table, lang: str, width: int, wide: bool = False, top: int | None = None
) -> tuple[list[Column], list[list[str]], list[int], list[Column], int]:
    """(columns shown, their cells, their widths, columns left out, rows shown before the pinned)."""
    rows = table.top(top)
    columns = [c for c in table.columns if wide or not c.wide]
    headers = [c.label(lang) for c in columns]
    cells = formatted(table, rows, columns, lang)
    needs = [
        _needs(c, h, [r[i] for r in cells])
        for i, (c, h) in enumerate(zip(columns, headers, strict=True))
    ]
    left_out = [c for c in table.columns if c.wide and not wide]
    keep = list(range(len(columns)))

    def narrowest() -> int:
        return sum(needs[i][0] for i in keep) + _overhead(len(keep))

    while not wide and narrowest() > width:
        droppable = [i for i in keep if columns[i].priority < ESSENTIAL]
        if not droppable:
            break
        drop = min(droppable, key=lambda i: (columns[i].priority, -i))
        keep.remove(drop)
        left_out.append(columns[drop])
    shown = [columns[i] for i in keep]
    widths = [needs[i][1] for i in keep]
    if not wide:
        widths = _share_width([needs[i] for i in keep], shown, width - _overhead(len(keep)))
    return shown, [[row[i] for i in keep] for row in cells], widths, left_out, len(rows)


def _share_width(needs: list[tuple[int, int]], columns: list[Column], room: int) -> list[int]:
    """Every column starts at its narrowest; the room left goes round, one character at a time,
    to the columns not yet at their natural width (so long headers wrap evenly)."""
    widths = [least for least, _ in needs]
    spare = room - sum(widths)
    while spare > 0:
        growing = [i for i, (_, natural) in enumerate(needs) if widths[i] < natural]
        if not growing:
            break
        for i in growing[:spare]:
            widths[i] += 1
        spare -= min(spare, len(growing))
    return widths


def print_table(
    console: Console,
    table: Table,
    lang: str,
    wide: bool = False,
    top: int | None = None,
    title: str | None = None,
) -> None:
    """Print ``table`` (nothing when it has no rows: the result's sentence says why)."""
    if not len(table):
        return
    width = console.width
    shown, cells, widths, left_out, count = layout(table, lang, width, wide, top)
    rich = RichTable(
        title=Text(title, style="table.title") if title else None,
        box=box.HEAVY_HEAD,
        header_style="bold",
    )
    for column, size in zip(shown, widths, strict=True):
        # headers and cells hold user data: Text, so "[/bold]" is never markup
        rich.add_column(
            Text(column.label(lang)),
            justify="right" if column.numeric else "left",
            width=size,
            overflow="fold",
            no_wrap=False,  # widths fit every cell; a long header wraps at its spaces
        )
    for row in cells:
        rich.add_row(*(Text(text) for text in row))
    needed = sum(widths) + _overhead(len(widths))
    target = console
    if wide and needed > width:  # every column: let the lines run past the screen's edge
        target = Console(file=console.file, width=needed, markup=False, no_color=console.no_color)
    target.print(rich)
    notes = []
    if count < len(table):
        notes.append(more_note(table, count - table.pinned, lang) + _top_hint(lang))
    if left_out:
        left_out.sort(key=table.columns.index)
        names = list(dict.fromkeys(_name(c, table.columns, lang) for c in left_out))
        if len(names) > 5:  # a grid of periods: name a few, count the rest
            rest = len(names) - 4
            names = [*names[:4], f"nog {rest}" if lang == "nl" else f"{rest} more"]
        names = ", ".join(names)
        notes.append(
            f"Niet getoond op deze breedte: {names} (--wide toont alles)."
            if lang == "nl"
            else f"Not shown at this width: {names} (--wide shows all)."
        )
    for note in notes:
        console.print(Text(note, style="dim"), highlight=False, soft_wrap=True)


def _top_hint(lang: str) -> str:
    return (
        " (--top N toont er meer, --top 0 alle)."
        if lang == "nl"
        else (" (--top N shows more, --top 0 all).")
    )


def _name(column: Column, columns: list[Column], lang: str) -> str:
    if column.bounds:  # "95% interval" alone does not say of what
        index = columns.index(column)
        owner = next((c for c in reversed(columns[:index]) if not c.bounds), None)
        if owner is not None:
            return f"{column.label(lang)} ({owner.label(lang)})"
    return column.label(lang)
