"""XES event logs in one streaming pass: events and cases as temporary Parquet files.

The XML is read once with expat (C, streaming, line numbers for free) and written in batches,
so memory stays flat however long the log is and attribute keys may first appear anywhere.
Two outputs, both as :class:`Source` relations over Parquet in the work folder:

- **events**: one row per ``<event>``: ``__line`` (the event's line in the XML), every event
  attribute as a string column under its XES key, and the trace's attributes as ``case:<key>``
  columns (joined from the per-trace rows, so a trace attribute may sit after its events);
- **cases**: one row per ``<trace>``: ``__line`` (the trace's line), ``customer_id`` (the trace's
  ``concept:name``), ``first_seen`` (the string of its earliest event ``time:timestamp``) and each
  trace attribute under its own key.

Values are the strings the XML parser gives (entities decoded); the importer types them later.
The declared encoding is honoured when it is UTF-8, UTF-16 or a single-byte one (Latin-1,
Windows-1252, ...); multi-byte legacy encodings such as Shift JIS are refused.
What is read: typed attributes (``string``, ``date``, ``int``, ``float``, ``boolean``, ``id``)
that are direct children of a ``<trace>`` or an ``<event>``. What is ignored: attributes of the
``<log>`` itself, ``<global>``, ``<classifier>`` and ``<extension>`` elements, the children of an
attribute (nested attributes, ``<list>`` and ``<container>`` values), attributes without a
``key`` or ``value``, events outside a trace, text content, comments and processing
instructions. Column names are unique ignoring case (DuckDB folds case): a key that differs
from an earlier one only in case gets a ``_1`` suffix. For safety a document type declaration
(DTD) is refused outright, so no entity is ever expanded and nothing is fetched.
"""

from __future__ import annotations

import gzip
import uuid
import zlib
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO
from xml.parsers import expat

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cxray.i18n import Message
from cxray.ingest.sources import Source, SourceError, quote_ident, sql_literal

BATCH_EVENTS = 50_000  # events per Parquet part; a few tens of MB of Python objects at most
READ_CHUNK = 1 << 16
VALUE_TYPES = frozenset({"string", "date", "int", "float", "boolean", "id"})
TIMESTAMP_KEY = "time:timestamp"
CASE_ID_KEY = "concept:name"
CASE_PREFIX = "case:"

# element kinds, by local name
_LOG, _TRACE, _EVENT, _VALUE, _OTHER = 1, 2, 3, 4, 5
_KINDS = {"log": _LOG, "trace": _TRACE, "event": _EVENT} | dict.fromkeys(VALUE_TYPES, _VALUE)


@dataclass
class XesLog:
    """An opened event log: its events and its cases (traces), each a Parquet-backed source."""

    events: Source
    cases: Source
    event_count: int
    trace_count: int

    def cleanup(self) -> None:
        self.events.cleanup()
        self.cases.cleanup()


class _Refused(Exception):
    """Raised inside a parser callback; carries the position of the offending element."""

    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(reason)
        self.reason, self.line, self.column = reason, line, column


class _ColumnNames:
    """Parquet column names for XES keys, unique ignoring case and never a reserved name."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._taken = {"__line", "__trace"}

    def get(self, wanted: str) -> str:
        name = self._names.get(wanted)
        if name is None:
            name, suffix = wanted, 0
            while name.lower() in self._taken:
                suffix += 1
                name = f"{wanted}_{suffix}"
            self._taken.add(name.lower())
            self._names[wanted] = name
        return name

    def known(self, wanted: str) -> str | None:
        return self._names.get(wanted)


class _PartWriter:
    """Batches of events and traces, each batch written as one Parquet part per kind."""

    def __init__(self, work_dir: Path, stem: str) -> None:
        self.work_dir, self.stem = work_dir, stem
        self.names = _ColumnNames()
        self.event_parts: list[Path] = []
        self.trace_parts: list[Path] = []
        self.cases_file = work_dir / f"{stem}.cases.parquet"

    def write_events(self, lines: list[int], traces: list[int], rows: list[dict]) -> None:
        arrays = [pa.array(lines, pa.int64()), pa.array(traces, pa.int64())]
        names = ["__line", "__trace"]
        for key in dict.fromkeys(chain.from_iterable(rows)):
            if key:  # an attribute without a key cannot be named
                names.append(self.names.get(key))
                arrays.append(pa.array([row.get(key) for row in rows], pa.string()))
        self.event_parts.append(self._write(arrays, names, "events", len(self.event_parts)))

    def write_traces(self, lines: list[int], rows: list[dict]) -> None:
        arrays = [pa.array(lines, pa.int64())]
        names = ["__line"]
        for key in dict.fromkeys(chain.from_iterable(rows)):
            if key:
                names.append(self.names.get(CASE_PREFIX + key))
                arrays.append(pa.array([row.get(key) for row in rows], pa.string()))
        self.trace_parts.append(self._write(arrays, names, "traces", len(self.trace_parts)))

    def _write(self, arrays: list[pa.Array], names: list[str], kind: str, number: int) -> Path:
        out = self.work_dir / f"{self.stem}.{kind}-{number:05d}.parquet"
        pq.write_table(pa.Table.from_arrays(arrays, names=names), out, compression="snappy")
        return out

    def remove(self) -> None:
        for part in (*self.event_parts, *self.trace_parts, self.cases_file):
            part.unlink(missing_ok=True)


def _parse(path: Path, writer: _PartWriter, batch_events: int) -> tuple[int, int]:
    """Stream the XML into ``writer``; returns (events, traces). Raises _Refused or ExpatError."""
    parser = expat.ParserCreate()
    kinds = dict(_KINDS)
    value_names = set(VALUE_TYPES)  # grows by the prefixed forms a file uses (xes:string)
    depth = 0
    in_trace = in_event = False
    event: dict[str, str] = {}
    trace: dict[str, str] = {}
    trace_line = trace_column = 0
    event_lines: list[int] = []
    event_traces: list[int] = []
    event_rows: list[dict[str, str]] = []
    trace_lines: list[int] = []
    trace_rows: list[dict[str, str]] = []
    counts = [0, 0]  # events, traces

    def kind_of(name: str) -> int:
        # a prefixed name (xes:trace) is known by its local part
        kind = kinds[name] = _KINDS.get(name.rpartition(":")[2], _OTHER)
        if kind == _VALUE:
            value_names.add(name)
        return kind

    def flush() -> None:
        if event_rows:
            writer.write_events(event_lines, event_traces, event_rows)
            counts[0] += len(event_rows)
            event_lines.clear(), event_traces.clear(), event_rows.clear()
        if trace_rows:
            writer.write_traces(trace_lines, trace_rows)
            counts[1] += len(trace_rows)
            trace_lines.clear(), trace_rows.clear()

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, in_trace, in_event, event, trace, trace_line, trace_column
        depth += 1
        if depth == 4:  # most elements: an attribute of an event
            if in_event and (
                name in value_names or (name not in kinds and kind_of(name) == _VALUE)
            ):
                try:  # noqa: SIM105 - suppress() costs a context manager per attribute
                    event[attrs["key"]] = attrs["value"]
                except KeyError:  # without a key or a value it cannot be a column
                    pass
        elif depth == 3:
            if in_trace:
                kind = kinds.get(name) or kind_of(name)
                if kind == _EVENT:
                    in_event, event = True, {}
                    event_lines.append(parser.CurrentLineNumber)
                    event_traces.append(trace_line)
                elif kind == _VALUE:
                    value = attrs.get("value")
                    if value is not None:
                        trace[attrs.get("key", "")] = value
        elif depth == 2:
            if (kinds.get(name) or kind_of(name)) == _TRACE:
                in_trace, trace = True, {}
                trace_line, trace_column = parser.CurrentLineNumber, parser.CurrentColumnNumber
        elif depth == 1 and (kinds.get(name) or kind_of(name)) != _LOG:
            raise _Refused(
                f"not an XES event log: the root element is <{name}>, expected <log>",
                parser.CurrentLineNumber,
                parser.CurrentColumnNumber,
            )

    def end(name: str) -> None:
        nonlocal depth, in_trace, in_event
        if depth == 3:
            if in_event:
                in_event = False
                event_rows.append(event)
                if len(event_rows) >= batch_events:
                    flush()
        elif depth == 2 and in_trace:
            in_trace = False
            if not trace.get(CASE_ID_KEY):
                raise _Refused(
                    f"this trace has no {CASE_ID_KEY} attribute, or an empty one (the case "
                    f'id); every trace needs one, e.g. <string key="{CASE_ID_KEY}" value="c1"/>',
                    trace_line,
                    trace_column,
                )
            trace_lines.append(trace_line)
            trace_rows.append(trace)
            if len(trace_rows) >= batch_events:
                flush()
        depth -= 1

    def refuse_dtd(*_: object) -> None:
        raise _Refused(
            "the file declares a document type (<!DOCTYPE ...>); XES logs have none, and "
            "entity declarations are refused so that nothing is expanded or fetched",
            parser.CurrentLineNumber,
            parser.CurrentColumnNumber,
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    with _open(path) as handle:
        try:
            while data := handle.read(READ_CHUNK):
                parser.Parse(data, False)
            parser.Parse(b"", True)
        except (LookupError, ValueError) as exc:  # expat reads UTF-8/16, Latin-1 and 8-bit codecs
            if not isinstance(exc, LookupError) and "encoding" not in str(exc):
                raise
            raise _Refused(
                f"the declared encoding cannot be read ({exc}); save the log as UTF-8",
                parser.CurrentLineNumber,
                parser.CurrentColumnNumber,
            ) from None
    flush()
    return counts[0], counts[1]


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzip (known by its magic number)."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else path.open("rb")


SCAN_CHUNK = 4 << 20  # bytes read at a time when looking for attribute keys


def absent_keys(path: Path, names: list[str]) -> list[str]:
    """Of the column ``names`` (``case:`` for a trace's attributes), those whose key appears
    nowhere in the log: found by reading the bytes once, far faster than parsing them, so a
    ``--map`` that names no attribute of the log is refused before the log is parsed."""
    from xml.sax.saxutils import quoteattr

    def needles(name: str) -> list[bytes]:
        key = name.removeprefix(CASE_PREFIX)
        quoted = quoteattr(key).encode("utf-8")  # key="..." as XML writes it, quotes escaped
        inner = quoted[1:-1]
        return [b'key="' + inner + b'"', b"key='" + inner + b"'"]

    wanted = {name: needles(name) for name in names}
    longest = max((len(n) for group in wanted.values() for n in group), default=0)
    tail = b""
    with _open(Path(path)) as handle:
        while wanted:
            chunk = handle.read(SCAN_CHUNK)
            if not chunk:
                break
            window = tail + chunk
            for name in [n for n, group in wanted.items() if any(g in window for g in group)]:
                del wanted[name]
            tail = window[-longest:]
    return list(wanted)


def refuse_absent_keys(path: Path, mapping: dict[str, str]) -> None:
    """A --map naming an attribute the log never has is refused before the log is parsed."""
    absent = absent_keys(path, list(mapping)) if mapping else []
    if absent:
        listed = ", ".join(absent)
        many = len(absent) > 1
        raise SourceError(
            Message(
                f"{path}: --map names {'attributes' if many else 'an attribute'} the log does "
                f'not have: {listed} (no key="…" with that name anywhere in it)',
                f"{path}: --map noemt {'attributen' if many else 'een attribuut'} dat de log "
                f'niet heeft: {listed} (nergens een key="…" met die naam)',
            )
        )


def open_xes(
    con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path, batch_events: int = BATCH_EVENTS
) -> XesLog:
    """Parse an XES log (plain or gzip) once into Parquet parts under ``work_dir``.

    Raises SourceError, naming the file and where possible the line and column, for XML that
    is not well formed, a file that is not XES, a DTD, a trace without a case id or a log
    without events. ``cleanup()`` on the result (or on each source) removes the files.
    """
    path = Path(path)
    work_dir.mkdir(parents=True, exist_ok=True)
    writer = _PartWriter(work_dir, f"{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        event_count, trace_count = _parse(path, writer, batch_events)
        if event_count == 0:
            raise SourceError(
                f"{path}: the log has no events ({trace_count:,} trace(s), none with an <event>)"
            )
        return _sources(con, path, writer, event_count, trace_count)
    except _Refused as exc:
        writer.remove()
        raise SourceError(
            f"{path}: line {exc.line}, column {exc.column + 1}: {exc.reason}"
        ) from None
    except expat.ExpatError as exc:
        writer.remove()
        reason = expat.ErrorString(exc.code)
        raise SourceError(
            f"{path}: line {exc.lineno}, column {exc.offset + 1}: not well-formed XML ({reason})"
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        writer.remove()
        raise SourceError(
            f"{path}: the compressed file is cut off or damaged ({exc or 'unexpected end'}); "
            "nothing was imported. Copy or download the file again"
        ) from None
    except OSError as exc:
        writer.remove()
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except BaseException:
        writer.remove()
        raise


def _parquet(parts: list[Path]) -> str:
    files = ", ".join(sql_literal(str(p)) for p in parts)
    return f"read_parquet([{files}], union_by_name=true)"


def _sources(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    writer: _PartWriter,
    event_count: int,
    trace_count: int,
) -> XesLog:
    events_sql, traces_sql = _parquet(writer.event_parts), _parquet(writer.trace_parts)
    # every trace that has events was written, so each event finds its trace
    events_relation = (
        f"(SELECT e.* EXCLUDE (__trace), t.* EXCLUDE (__line) FROM {events_sql} e "
        f"LEFT JOIN {traces_sql} t ON e.__trace = t.__line)"
    )
    event_columns = _describe(con, events_relation)
    cases_file = writer.cases_file
    con.execute(f"COPY ({_cases_query(con, writer)}) TO {sql_literal(str(cases_file))}")
    cases_relation = f"read_parquet({sql_literal(str(cases_file))})"
    parts = [*writer.event_parts, *writer.trace_parts]
    return XesLog(
        events=Source(
            path, "xes", events_relation, event_columns, "line", row_offset=0, temp_files=parts
        ),
        cases=Source(
            path,
            "xes",
            cases_relation,
            _describe(con, cases_relation),
            "line",
            row_offset=0,
            temp_files=[cases_file],
        ),
        event_count=event_count,
        trace_count=trace_count,
    )


def _cases_query(con: duckdb.DuckDBPyConnection, writer: _PartWriter) -> str:
    """One row per trace: its line, case id, earliest event timestamp and attributes.

    The earliest timestamp is judged as a time (offsets differ within a log) but kept as the
    event's own string; when none of a trace's timestamps reads as one, the first in the file.
    """
    names = writer.names
    traces_sql = _parquet(writer.trace_parts)
    case_id = names.known(CASE_PREFIX + CASE_ID_KEY)
    trace_columns = [c for c in _describe(con, traces_sql) if c not in ("__line", case_id)]
    stamp = names.known(TIMESTAMP_KEY)
    if stamp is None:
        first_seen = "CAST(NULL AS VARCHAR) AS first_seen"
        joined = ""
    else:
        ts = quote_ident(stamp)
        first_seen = "f.first_seen"
        joined = (
            f"LEFT JOIN (SELECT __trace, coalesce(arg_min({ts}, TRY_CAST({ts} AS TIMESTAMPTZ)), "
            f"arg_min({ts}, __line)) AS first_seen FROM {_parquet(writer.event_parts)} "
            "GROUP BY __trace) f ON f.__trace = t.__line"
        )
    taken = {"__line", "customer_id", "first_seen"}
    picked = []
    for column in trace_columns:
        shown, suffix = column.removeprefix(CASE_PREFIX), 0
        if shown.lower() in taken:  # named like a cases column: keep the case: prefix
            shown = column
        while shown.lower() in taken:
            suffix += 1
            shown = f"{column}_{suffix}"
        taken.add(shown.lower())
        picked.append(f", t.{quote_ident(column)} AS {quote_ident(shown)}")
    return (
        f"SELECT t.__line, t.{quote_ident(case_id or '')} AS customer_id, {first_seen}"
        f"{''.join(picked)} FROM {traces_sql} t {joined} ORDER BY t.__line"
    )


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {name: dtype for name, dtype, *_ in rows}
