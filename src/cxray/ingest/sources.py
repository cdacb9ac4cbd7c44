"""Source files as DuckDB relations: CSV, Parquet, JSON Lines and XES event logs.

Each reader exposes the file as a SQL relation with the file's own column names and a ``__row``
ordinal in file order, so that validation can point at the row a user sees in an editor.
DuckDB is used as the file reader even when the warehouse is another engine: it streams, runs on
all cores and keeps memory bounded.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xes": "xes",
}


class SourceError(ValueError):
    """The file cannot be read at all (not a row-level problem)."""


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in FORMATS:
        raise SourceError(
            f"{path}: unknown file type; expected .csv, .tsv, .parquet, .jsonl or .xes "
            "(optionally .gz)"
        )
    return FORMATS[suffixes[-1]]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Source:
    """A file opened for import: a relation SQL text plus what is needed to report errors."""

    path: Path
    format: str
    relation: str  # SQL for a FROM clause; its columns are the file's columns
    columns: dict[str, str]  # source column -> DuckDB type
    position_label: str = "line"  # what __row means to a user: line, row, event
    csv_dialect: dict[str, str] = field(default_factory=dict)
    row_offset: int = 1  # CSV: the header is line 1, so data row 1 sits on line 2
    temp_files: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for tmp in self.temp_files:
            tmp.unlink(missing_ok=True)


def open_source(con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path) -> Source:
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    fmt = detect_format(path)
    if fmt == "csv":
        return _open_csv(con, path)
    if fmt == "parquet":
        return _open_parquet(con, path)
    if fmt == "jsonl":
        return _open_jsonl(con, path)
    return _open_xes(con, path, work_dir)


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {name: dtype for name, dtype, *_ in rows}


def _read_header(path: Path) -> tuple[str, list[str]]:
    """The delimiter and column names, judged on the header line alone.

    The delimiter is the candidate the header uses most (Dutch Excel exports use ';'); reading
    only the header keeps malformed data rows from misleading the guess.
    """
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        header = handle.readline(1 << 20).decode("utf-8-sig", errors="replace")
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d])
    delimiter = delimiter if counts[delimiter] else ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter), [])
    if not names or not any(n.strip() for n in names):
        raise SourceError(f"{path}: the first line must be a header naming the columns")
    seen: dict[str, int] = {}
    unique = []
    for position, name in enumerate(names, start=1):
        name = name.strip() or f"column{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        unique.append(name)
    return delimiter, unique


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    lit = sql_literal(str(path))
    delimiter, names = _read_header(path)
    columns = "{" + ", ".join(f"{sql_literal(n)}: 'VARCHAR'" for n in names) + "}"
    relation = (
        f"read_csv({lit}, header = true, columns = {columns}, delim = {sql_literal(delimiter)}, "
        "quote = '\"', escape = '\"', auto_detect = false, "
        "store_rejects = true, rejects_table = 'cxray_rejects', rejects_scan = 'cxray_rejects_scan')"
    )
    return Source(
        path,
        "csv",
        relation,
        dict.fromkeys(names, "VARCHAR"),
        "line",
        csv_dialect={"delimiter": delimiter, "quote": '"', "escape": '"'},
    )


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    relation = f"read_parquet({sql_literal(str(path))})"
    try:
        columns = _describe(con, relation)
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot read as Parquet: {exc}") from None
    return Source(path, "parquet", relation, columns, "row", row_offset=0)


def _open_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    """Each line is read as text first, so a broken line is reported with its number."""
    lit = sql_literal(str(path))
    lines = (
        f"read_csv({lit}, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1), "
        "quote = '', escape = '', auto_detect = false, new_line = '\\n')"
    )
    try:
        keys = [
            row[0]
            for row in con.execute(
                f"SELECT DISTINCT unnest(json_keys(line)) AS k FROM {lines} "
                "WHERE line IS NOT NULL AND json_valid(line) AND starts_with(ltrim(line), '{') "
                "ORDER BY k"
            ).fetchall()
        ]
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot read as JSON Lines: {exc}") from None
    fields = ", ".join(
        f"CASE WHEN json_valid(line) THEN json_extract_string(line, "
        f"{sql_literal('$.' + _json_path_key(k))}) END AS {quote_ident(k)}"
        for k in keys
    )
    relation = f"(SELECT line AS __json_line{', ' + fields if fields else ''} FROM {lines})"
    columns = {k: "VARCHAR" for k in keys}
    return Source(path, "jsonl", relation, columns, "line", row_offset=0)


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


# -- XES ----------------------------------------------------------------------------------
XES_BATCH = 50_000


def _open_xes(con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path) -> Source:
    """Stream the XML into a temporary Parquet file of string columns, then read that."""
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f"{path.name}.events.parquet"
    try:
        _xes_to_parquet(path, tmp)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"{path}: cannot read as XES: {exc}") from None
    relation = f"read_parquet({sql_literal(str(tmp))})"
    columns = {k: v for k, v in _describe(con, relation).items() if not k.startswith("__")}
    source = Source(path, "xes", relation, columns, "line", row_offset=0, temp_files=[tmp])
    return source


def _xes_rows(path: Path) -> Iterator[dict[str, str | int | None]]:
    """One dict per event: case id, activity, timestamp, every other attribute as a string.

    Case (trace) attributes are carried as ``case:<key>`` so they can feed the customers table.
    ``__line`` is the event's line in the XML file, for error messages.
    """
    from lxml import etree

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        trace_attrs: dict[str, str] = {}
        in_event = False
        for action, element in etree.iterparse(handle, events=("start", "end"), huge_tree=True):
            tag = etree.QName(element).localname
            if action == "start":
                if tag == "trace":
                    trace_attrs = {}
                elif tag == "event":
                    in_event = True
                continue
            if tag == "event":
                row: dict[str, str | int | None] = {f"case:{k}": v for k, v in trace_attrs.items()}
                for child in element:
                    key = child.get("key")
                    if key is not None and child.get("value") is not None:
                        row[key] = child.get("value")
                row["__line"] = element.sourceline
                yield row
                in_event = False
                element.clear()
            elif tag == "trace":
                element.clear()
            elif not in_event and element.getparent() is not None:
                parent_tag = etree.QName(element.getparent()).localname
                key = element.get("key")
                if parent_tag == "trace" and key is not None and element.get("value") is not None:
                    trace_attrs[key] = element.get("value")


def _xes_to_parquet(path: Path, out: Path) -> None:
    # Attributes can first appear anywhere in a log: a first pass collects the full key set.
    keys: set[str] = set()
    count = 0
    for row in _xes_rows(path):
        keys.update(row)
        count += 1
    if count == 0:
        raise SourceError("the log has no events")
    names = ["__line", *sorted(k for k in keys if k != "__line")]
    schema = pa.schema(
        [pa.field("__line", pa.int64())] + [pa.field(n, pa.string()) for n in names[1:]]
    )
    batch: list[dict] = []
    with pq.ParquetWriter(out, schema) as writer:

        def flush() -> None:
            arrays = [pa.array([row.get(n) for row in batch], schema.field(n).type) for n in names]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            batch.clear()

        for row in _xes_rows(path):
            batch.append(row)
            if len(batch) >= XES_BATCH:
                flush()
        if batch:
            flush()


# -- exact editor lines for CSV rows --------------------------------------------------------
def csv_lines(
    source: Source, rows: set[int], find_malformed: bool
) -> tuple[dict[int, int], list[tuple[int, str]]]:
    """Map data-row ordinals to the line an editor shows them on, and find malformed records.

    DuckDB numbers records, not lines: a quoted field with a newline or a blank line shifts
    every later line. Only run on the error path: it reads the file once in Python.
    Returns ({row: line}, [(line, reason) for records with the wrong number of fields]).
    """
    dialect = source.csv_dialect
    opener = gzip.open if source.path.suffix.lower() == ".gz" else open
    found: dict[int, int] = {}
    malformed: list[tuple[int, str]] = []
    with opener(source.path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(
            text,
            delimiter=dialect.get("delimiter", ","),
            quotechar=dialect.get("quote") or None,
            escapechar=(dialect.get("escape") or None)
            if dialect.get("escape") != dialect.get("quote")
            else None,
            doublequote=True,
            strict=False,
        )
        header = next(reader, None)
        width = len(header or [])
        ordinal = 0
        previous_end = reader.line_num
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not record:
                continue  # blank line
            if len(record) != width:
                malformed.append((start, f"expected {width} fields, found {len(record)}"))
                continue
            ordinal += 1
            if ordinal in rows:
                found[ordinal] = start
                if len(found) == len(rows) and not find_malformed:
                    break
    return found, malformed
