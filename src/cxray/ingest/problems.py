"""The problems of a refused import, kept in the engine: a million bad rows cost no Python list.

Every problem is a row of a temporary table (``__row``, the line a user sees, the column, the
value, the reason). Only what a person reads comes back to Python: the first problems, one
summary line per column whose dates are in a layout not read, and the counts. The full list is
written by DuckDB itself, to the errors file (refused) or the quarantine file (set aside).
"""

from __future__ import annotations

import contextlib
import gzip
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from cxray.i18n import Message, count_of, message_of, number, text_of
from cxray.ingest import columns as cols
from cxray.ingest.recode import NOT_A_NUMBER, refusal_lines
from cxray.ingest.sources import Source, csv_lines, position_nl, quote_ident, sql_literal
from cxray.ingest.values import suggest_timestamp_format

if TYPE_CHECKING:
    from cxray.ingest.result import ImportOptions
    from cxray.ingest.validation import Check

SCREEN_ERRORS = 20
FORMAT_SUMMARY_MIN = 3  # unreadable dates in one column summarised from this many on
SUGGESTION_SAMPLE = 200  # values a --timestamp-format suggestion is tried on
VALUE_CHARS = 200  # a value is shown and listed up to this length
RAW_TEXT_LIMIT = 1 << 20  # raw text of an unreadable record kept, at most
PROBLEMS_TABLE = "cxray_problems"
BAD_ROWS = "cxray_bad_rows"  # the bad rows as read: for the rules, and the quarantine file
UNREADABLE_TIMESTAMP = "not a date/time I can read (use ISO 8601, e.g. 2024-03-01 14:30:00)"
JSON_OBJECT_LINE = "json_valid(__json_line) AND starts_with(ltrim(__json_line), '{')"


class ImportError_(ValueError):
    """The import was refused. ``errors`` holds the first rows; ``report`` the file with all.

    The message is a :class:`Message` (``str()`` English, ``text_of(exc, "nl")`` Dutch), an
    error to take it from, or a text.
    """

    def __init__(
        self,
        message: str | Message | BaseException,
        errors: list[dict] | None = None,
        total: int = 0,
        report: Path | None = None,
    ):
        if isinstance(message, BaseException):
            message = message_of(message)
        elif isinstance(message, str):
            # ImportError_(str(exc)) while handling an error raised with a Message: its Dutch
            # is kept, not only its English text
            handled = sys.exc_info()[1]
            if handled is not None and text_of(handled, "en") == message:
                message = message_of(handled)
        super().__init__(message)
        self.errors = errors or []
        self.total = total
        self.report = report


@dataclass(frozen=True)
class Problems:
    """The problems table of one import, and the source they are about."""

    con: duckdb.DuckDBPyConnection
    source: Source
    table: str = PROBLEMS_TABLE
    bad_rows: str = BAD_ROWS  # the bad rows as read, once collected

    def first(self, limit: int, where: str = "true") -> list[dict]:
        label = self.source.position_label
        found = self.con.execute(
            f"SELECT __row, line, column_name, value, reason FROM {self.table} WHERE {where} "
            f"ORDER BY line, column_name LIMIT {int(limit)}"
        ).fetchall()
        out = []
        for row, line, column, value, reason in found:
            entry = {
                "file": str(self.source.path),
                label: line,
                "column": column,
                "value": (value or "")[:VALUE_CHARS],
                "reason": reason,
            }
            if row is not None:
                entry["__row"] = row
            out.append(entry)
        return out

    def add(self, detail: list[dict]) -> None:
        """Problems found in Python (rows that disagree about one key)."""
        if not detail:
            return
        label = self.source.position_label
        frame = pa.table(
            {
                "__row": pa.array([d.get("__row") for d in detail], pa.int64()),
                "line": pa.array([d[label] for d in detail], pa.int64()),
                "column_name": pa.array([d["column"] for d in detail], pa.string()),
                # values of rules come cut already; a record's raw text is kept for quarantine
                "value": pa.array([str(d["value"])[:RAW_TEXT_LIMIT] for d in detail], pa.string()),
                "reason": pa.array([d["reason"] for d in detail], pa.string()),
            }
        )
        self.con.register("cxray_found_problems", frame)
        try:
            self.con.execute(f"INSERT INTO {self.table} SELECT * FROM cxray_found_problems")
        finally:
            self.con.unregister("cxray_found_problems")


def collect(
    con: duckdb.DuckDBPyConnection,
    numbered: str,
    source: Source,
    plan: cols.ColumnPlan,
    checks: list[Check],
    structural: list[tuple[int, str]],
    records: int | None = None,
    suffix: str = "",
) -> Problems:
    """Every (row, column, value, reason) among the bad rows of ``numbered`` (the typed
    relation with ``__row`` and ``__bad``), with the line a user sees.

    The bad rows are kept once, narrow (their raw values and what the rules read), in
    ``problems.bad_rows``; each rule then scans only them. ``structural`` are the records the
    reader could not split and ``records`` the number it read (for the one-record-per-line
    test; counted when not given).
    """
    from cxray.ingest.staging import failed_flag
    from cxray.ingest.validation import condition_sql

    problems = problems_of(con, source, [], suffix)
    bad_rows = problems.bad_rows
    conditions = {check: condition_sql(check, plan) for check in checks}
    read = set(re.findall(r"\b__\w+", " ".join(conditions.values()))) - {"__row", "__bad"}
    read |= {failed_flag(i) for i in range(len(checks))}
    raw_columns = [c for c in source.columns if not c.startswith("__")]
    if source.format == "jsonl":
        read.add("__json_line")
    kept = ", ".join(["__row", *(quote_ident(c) for c in raw_columns), *sorted(read)])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {bad_rows} AS SELECT {kept} FROM {numbered} WHERE __bad"
    )
    parts = []
    if source.format == "jsonl":
        parts.append(
            f"SELECT __row, '(line)', left(__json_line, {VALUE_CHARS}), 'not a JSON object' "
            f"FROM {bad_rows} WHERE NOT coalesce({JSON_OBJECT_LINE}, false)"
        )
    # A line that is not JSON at all gets one reason, not one per missing field.
    only_parsed = f" AND coalesce({JSON_OBJECT_LINE}, false)" if source.format == "jsonl" else ""
    for index, check in enumerate(checks):
        src = plan.sources.get(check.column)
        raw = f"left(CAST({quote_ident(src)} AS VARCHAR), {VALUE_CHARS})" if src else "NULL"
        parts.append(
            f"SELECT __row, {sql_literal(src or check.column)}, {raw}, "
            f"{sql_literal(check.reason)} FROM {bad_rows} "
            f"WHERE {failed_flag(index)}{only_parsed}"
        )
    if parts:
        con.execute(
            f"INSERT INTO {problems.table} (__row, column_name, value, reason) "
            + " UNION ALL ".join(parts)
        )
    malformed = _place_on_lines(con, problems, source, structural, records)
    problems.add([_unsplit_record(source, line, reason) for line, reason in malformed])
    return problems


UNTERMINATED_QUOTE = "unterminated quote"  # how DuckDB names a quote never closed


def _unsplit_record(source: Source, line: int, reason: str) -> dict:
    """A record the reader could not split into fields, with its raw text (kept in the
    quarantine file). An unterminated quote runs to the end of the file: every line it took
    is named, so none is lost without a word."""
    lines = _raw_lines(source, line)
    if UNTERMINATED_QUOTE in reason.lower() and len(lines) > 1:
        last = line + len(lines) - 1
        reason = (
            f"a quote opened on line {line} is never closed: lines {line}–{last} (to the end of "
            f"the file) cannot be split into rows; close the quote"
        )
    else:
        lines = lines[:1]
    text = "".join(lines).rstrip("\r\n")
    return {source.position_label: line, "column": "", "value": text, "reason": reason}


def _raw_lines(source: Source, first: int) -> list[str]:
    """The file's lines from line ``first`` to its end (the last one read in full)."""
    path = source.read_path or source.path
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    found: list[str] = []
    size = 0
    with contextlib.suppress(OSError, EOFError), opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number >= first:
                found.append(raw.decode("utf-8", errors="replace"))
                size += len(raw)
                if size > RAW_TEXT_LIMIT:
                    break
    return found


def problems_of(
    con: duckdb.DuckDBPyConnection, source: Source, detail: list[dict], suffix: str = ""
) -> Problems:
    """A problems table holding ``detail`` (rows found in Python), ready for more.

    ``suffix`` tells apart the tables of two sources imported together (an event log's events
    and its cases)."""
    problems = Problems(con, source, PROBLEMS_TABLE + suffix, BAD_ROWS + suffix)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {problems.table} (__row BIGINT, line BIGINT, "
        "column_name VARCHAR, value VARCHAR, reason VARCHAR)"
    )
    problems.add(detail)
    return problems


def _place_on_lines(
    con: duckdb.DuckDBPyConnection,
    problems: Problems,
    source: Source,
    structural: list[tuple[int, str]],
    records: int | None,
) -> list[tuple[int, str]]:
    """Fill ``line`` from ``__row``; returns records that could not be split into fields."""
    offset = int(source.row_offset)
    if source.format == "csv" and not structural and records is None:
        (records,) = con.execute(f"SELECT count(*) FROM {source.relation}").fetchone()
    if source.format != "csv" or (not structural and _one_record_per_line(source, records)):
        con.execute(f"UPDATE {problems.table} SET line = __row + {offset}")
        return []
    # Quoted line breaks or blank lines shift lines: the exact place needs reading the file.
    query = f"SELECT DISTINCT __row FROM {problems.table} WHERE __row IS NOT NULL"
    rows = {r for (r,) in con.execute(query).fetchall()}
    lines, malformed = csv_lines(source, rows, find_malformed=bool(structural))
    if structural and not malformed:  # encoding or quoting problems csv cannot see
        malformed = list(structural)
    mapping = pa.table(
        {
            "row": pa.array(list(lines), pa.int64()),
            "line": pa.array(list(lines.values()), pa.int64()),
        }
    )
    con.register("cxray_row_lines", mapping)
    try:
        con.execute(
            f"UPDATE {problems.table} AS p SET line = coalesce("
            f"(SELECT m.line FROM cxray_row_lines m WHERE m.row = p.__row), p.__row + {offset})"
        )
    finally:
        con.unregister("cxray_row_lines")
    return malformed


def _one_record_per_line(source: Source, records: int) -> bool:
    """True when every line after the header holds one record: then line = record + 1.

    Counted in bytes (fast): a quoted line break, a blank line or a lone carriage return
    makes the counts differ, and the exact mapping is read instead.
    """
    path = source.read_path or source.path
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    newlines = returns = pairs = 0
    last = b""
    ends_with_newline = True
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                newlines += chunk.count(b"\n")
                returns += chunk.count(b"\r")
                pairs += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
                last = chunk[-1:]
                ends_with_newline = last == b"\n"
    except OSError:
        return False
    if returns != pairs:
        return False
    lines = newlines + (0 if ends_with_newline else 1)
    return lines == records + 1


# -- what a person reads ------------------------------------------------------------------
def unreadable_file(source: Source, message: str) -> Message:
    """Why the engine could not read the file, in the user's terms and with its line."""
    line = _lone_carriage_return(source) if source.format == "csv" else None
    if line is not None:
        return Message(
            f"{source.path}: line {line}: a carriage return (\\r) inside a field that is not "
            "quoted, so the file cannot be split into rows; quote that field or remove the "
            "character (nothing was imported)",
            f"{source.path}: regel {line}: een regelterugloop (\\r) in een veld zonder "
            "aanhalingstekens, dus het bestand is niet in rijen te splitsen; zet dat veld tussen "
            "aanhalingstekens of verwijder het teken (er is niets geïmporteerd)",
        )
    text = message.removeprefix("cannot read the file: ")
    return Message(
        f"{source.path}: cannot read the file: {text} (nothing was imported)",
        f"{source.path}: kan het bestand niet lezen: {text} (er is niets geïmporteerd)",
    )


def _lone_carriage_return(source: Source) -> int | None:
    """The line of the first \\r that ends no line, in a file whose lines end in \\n."""
    path = source.read_path or source.path
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    line, previous = 1, b""
    with contextlib.suppress(OSError, EOFError), opener(path, "rb") as handle:
        head = handle.read(1 << 16)
        if b"\n" not in head:
            return None  # classic Mac line endings: \\r is the line break
        chunk = head
        while chunk:
            data = previous + chunk
            start = 0
            while (found := data.find(b"\r", start)) != -1:
                if found + 1 < len(data) and data[found + 1 : found + 2] != b"\n":
                    return line + data.count(b"\n", 0, found)
                if found + 1 >= len(data):
                    break  # the next chunk tells
                start = found + 1
            keep = data[-1:] if data.endswith(b"\r") else b""
            line += data.count(b"\n", 0, len(data) - len(keep))
            previous = keep
            chunk = handle.read(1 << 20)
    return None


def unreadable_layouts(problems: Problems) -> dict[str, tuple[int, dict, str | None]]:
    """Columns with at least FORMAT_SUMMARY_MIN unreadable dates: how many, the first, and
    the --timestamp-format that reads a sample of them all, if one does."""
    reason = sql_literal(UNREADABLE_TIMESTAMP)
    counts = problems.con.execute(
        f"SELECT column_name, count(*) FROM {problems.table} WHERE reason = {reason} "
        f"GROUP BY 1 HAVING count(*) >= {FORMAT_SUMMARY_MIN} ORDER BY 1"
    ).fetchall()
    found = {}
    for column, count in counts:
        where = f"reason = {reason} AND column_name = {sql_literal(column)}"
        sample = problems.first(SUGGESTION_SAMPLE, where)
        layout = suggest_timestamp_format([d["value"] for d in sample])
        found[column] = (int(count), sample[0], layout)
    return found


def misread_day_first(layouts: dict[str, tuple[int, dict, str | None]]) -> bool:
    """A column whose unreadable dates all read month-first: its other values, read day-first,
    are probably wrong too (02/03 is 2 March day-first, 3 February month-first)."""
    return any(layout and layout.startswith("%m") for _, _, layout in layouts.values())


def format_summaries(
    problems: Problems, layouts: dict[str, tuple[int, dict, str | None]], given: str | None
) -> list[Message]:
    """One line per column whose dates are in a layout not read, suggesting --timestamp-format,
    instead of the same reason on every row."""
    label = problems.source.position_label
    lines = []
    for column, (count, first, layout) in layouts.items():
        if layout:
            hint = Message(
                f"they read as {layout}: import with --timestamp-format '{layout}'",
                f"ze lezen als {layout}: importeer met --timestamp-format '{layout}'",
            )
        else:
            hint = Message(
                "name their layout with --timestamp-format, e.g. --timestamp-format '%d.%m.%Y'",
                "geef hun opmaak met --timestamp-format, bijv. --timestamp-format '%d.%m.%Y'",
            )
        if given:
            hint = (
                Message(
                    f"they do not match --timestamp-format '{given}'; ",
                    f"ze passen niet bij --timestamp-format '{given}'; ",
                )
                + hint
            )
        where, value, at = f"  {first['file']}: {column}", first["value"], first[label]
        lines.append(
            Message(
                f"{where}: {count:,} values are not a date/time I can read, "
                f"e.g. {value!r} on {label} {at}; {hint.en}",
                f"{where}: {number(count, 'nl')} waarden zijn geen datum/tijd die ik kan lezen, "
                f"bijv. {value!r} op {position_nl(label)} {at}; {hint.nl}",
            )
        )
    return lines


def write_errors_file(problems: Problems, options: ImportOptions) -> Path | None:
    """Every problem in a CSV file for the user (None if it cannot be written)."""
    source = problems.source
    report = options.errors_file or source.path.with_name(f"{source.path.name}.errors.csv")
    label = source.position_label
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        # the file's name joins the rows after the sort: a constant carried through it costs
        # a fifth of the write at a million rows
        problems.con.execute(
            f"COPY (SELECT {sql_literal(str(source.path))} AS file, * FROM ("
            f"SELECT line AS {quote_ident(label)}, column_name AS column, "
            f"left(coalesce(value, ''), {VALUE_CHARS}) AS value, reason FROM {problems.table} "
            f"ORDER BY line, column_name)) TO {sql_literal(str(report))} (HEADER, DELIMITER ',')"
        )
    except (OSError, duckdb.Error):
        return None
    return report


def refusal(problems: Problems, rejected: int, options: ImportOptions) -> ImportError_:
    source = problems.source
    label = source.position_label
    report = write_errors_file(problems, options)
    layouts = unreadable_layouts(problems)
    summaries = format_summaries(problems, layouts, options.timestamp_format)
    labels = refusal_lines(problems)  # text labels in a number column: the --recode
    summaries += labels.values()
    # what a summary line says is not repeated row by row
    summarised = [(UNREADABLE_TIMESTAMP, column) for column in layouts]
    many = problems.con.execute(
        f"SELECT column_name FROM {problems.table} WHERE reason = {sql_literal(NOT_A_NUMBER)} "
        f"GROUP BY 1 HAVING count(*) >= {FORMAT_SUMMARY_MIN}"
    ).fetchall()
    summarised += [(NOT_A_NUMBER, column) for (column,) in many if column in labels]
    rest_where = (
        " AND ".join(
            f"NOT (reason = {sql_literal(reason)} AND column_name = {sql_literal(column)})"
            for reason, column in summarised
        )
        or "true"
    )
    rest = problems.first(SCREEN_ERRORS, rest_where)
    rest_total = int(
        problems.con.execute(
            f"SELECT count(*) FROM {problems.table} WHERE {rest_where}"
        ).fetchone()[0]
    )
    from cxray.ingest.validation import reason_text

    def text(lang: str) -> str:
        nl = lang == "nl"
        at = position_nl(label) if nl else label
        shown = "\n".join(
            [summary.text(lang) for summary in summaries]
            + [
                f"  {d['file']}:{at} {d[label]}: {d['column'] or ('(rij)' if nl else '(row)')} = "
                f"{d['value'][:VALUE_CHARS]!r}: {reason_text(d['reason'], lang)}"
                for d in rest
            ]
        )
        more_rows = rest_total - SCREEN_ERRORS
        more = ""
        if more_rows > 0:
            more = f"\n  … {'en nog' if nl else 'and'} {number(more_rows, lang)}"
            more += "" if nl else " more"
        rows = count_of(
            rejected, lang, ("invalid row", "invalid rows"), ("ongeldige rij", "ongeldige rijen")
        )
        if nl:
            where = f"\nAlle problemen staan in {report}" if report else ""
            advice = (
                "Importeer met de voorgestelde --timestamp-format: --skip-invalid zou de andere "
                "datums van die kolom ten onrechte met de dag voorop lezen."
                if misread_day_first(layouts)
                else "Verbeter de rijen, of importeer de geldige met --skip-invalid."
            )
            head = f"{source.path}: import geweigerd, {rows}; er is niets geïmporteerd.\n"
        else:
            where = f"\nAll problems are listed in {report}" if report else ""
            advice = (
                "Import with the --timestamp-format suggested: --skip-invalid would read the "
                "other dates of that column day-first, wrongly."
                if misread_day_first(layouts)
                else "Fix the rows, or import the valid ones with --skip-invalid."
            )
            head = f"{source.path}: import refused, {rows}; nothing was imported.\n"
        return f"{head}{shown}{more}{where}\n{advice}"

    message = Message(text("en"), text("nl"))
    return ImportError_(message, problems.first(SCREEN_ERRORS), rejected, report)
