"""Source files as DuckDB relations: CSV, Parquet, JSON Lines and XES event logs.

Each reader exposes the file as a SQL relation with the file's own column names and a ``__row``
ordinal in file order, so that validation can point at the row a user sees in an editor.
DuckDB is used as the file reader even when the warehouse is another engine: it streams, runs on
all cores and keeps memory bounded.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import uuid
import zlib
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cxray.i18n import Message, number, position_word

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
    """The file cannot be read at all (not a row-level problem); raised with a Message."""


def position_nl(label: str) -> str:
    """What a position (``Source.position_label``) is called in Dutch."""
    return position_word(label, "nl")


# Python's csv module refuses fields over 128 KB by default; DuckDB reads lines up to 2 MB.
csv.field_size_limit(1 << 30)

HEADER_LIMIT = 16 << 20  # a first line longer than this is not a CSV header
MAX_COLUMNS = 5_000  # wider files exhaust memory in the reader (10,000 did at 1,000 rows)
CHUNK = 1 << 20


def check_timezone(name: str | None) -> None:
    """Refuse an unknown ``--timezone`` before any file is read."""
    if not name:
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise SourceError(
            Message(
                f"--timezone {name!r}: not a time zone I know; use a name like "
                "Europe/Amsterdam, America/New_York or UTC",
                f"--timezone {name!r}: geen tijdzone die ik ken; gebruik een naam als "
                "Europe/Amsterdam, America/New_York of UTC",
            )
        ) from None


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _check_gzip(path: Path) -> None:
    """Read a .gz file to its end once: a cut-off or damaged file is refused, never half-read."""
    with path.open("rb") as handle:
        magic = handle.read(2)
    if magic != b"\x1f\x8b":
        raise SourceError(
            Message(
                f"{path}: the name ends in .gz but the file is not gzip-compressed; "
                "rename it without .gz, or compress it with gzip",
                f"{path}: de naam eindigt op .gz, maar het bestand is niet met gzip "
                "gecomprimeerd; hernoem het zonder .gz, of comprimeer het met gzip",
            )
        )
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(CHUNK):
                pass
    except EOFError:
        raise SourceError(
            Message(
                f"{path}: the compressed file is cut off (it ends before the end of the gzip "
                "stream, e.g. an interrupted download or copy); nothing was imported. "
                "Copy or download the file again",
                f"{path}: het gecomprimeerde bestand is afgebroken (het houdt op vóór het einde "
                "van de gzip-stroom, bijv. door een onderbroken download of kopie); er is niets "
                "geïmporteerd. Kopieer of download het bestand opnieuw",
            )
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(
            Message(
                f"{path}: the compressed data is damaged ({exc}); nothing was imported. "
                "Copy or download the file again",
                f"{path}: de gecomprimeerde gegevens zijn beschadigd ({exc}); er is niets "
                "geïmporteerd. Kopieer of download het bestand opnieuw",
            )
        ) from None


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in FORMATS:
        raise SourceError(
            Message(
                f"{path}: unknown file type; expected .csv, .tsv, .parquet, .jsonl or .xes "
                "(optionally .gz)",
                f"{path}: onbekend bestandstype; verwacht .csv, .tsv, .parquet, .jsonl of .xes "
                "(eventueel .gz)",
            )
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
    read_path: Path | None = None  # the file actually read, when it is a converted copy

    def cleanup(self) -> None:
        for tmp in self.temp_files:
            tmp.unlink(missing_ok=True)


def open_source(con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path) -> Source:
    path = Path(path)
    if not path.exists():
        raise SourceError(Message(f"{path}: no such file", f"{path}: dit bestand bestaat niet"))
    if path.is_dir():
        raise SourceError(
            Message(
                f"{path}: is a folder; give the path of a file to import",
                f"{path}: is een map; geef het pad van een bestand om te importeren",
            )
        )
    if not path.is_file():
        raise SourceError(Message(f"{path}: not a regular file", f"{path}: geen gewoon bestand"))
    fmt = detect_format(path)
    try:
        path.open("rb").close()
    except OSError as exc:
        reason = exc.strerror or exc
        raise SourceError(
            Message(
                f"{path}: cannot be read ({reason})", f"{path}: kan niet worden gelezen ({reason})"
            )
        ) from None
    if _is_gzip(path):
        _check_gzip(path)
    if path.suffix.lower() == ".zst" and fmt != "jsonl":
        raise SourceError(
            Message(
                f"{path}: zstd-compressed {fmt.upper()} files cannot be imported yet; "
                "decompress it (zstd -d) or compress it with gzip instead",
                f"{path}: met zstd gecomprimeerde {fmt.upper()}-bestanden zijn nog niet te "
                "importeren; pak het uit (zstd -d) of comprimeer het met gzip",
            )
        )
    if fmt == "csv":
        return _open_csv(con, path, work_dir)
    if fmt == "parquet":
        return _open_parquet(con, path)
    if fmt == "jsonl":
        return _open_jsonl(con, path, work_dir)
    return _open_xes(con, path, work_dir)


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {name: dtype for name, dtype, *_ in rows}


def _first_line(path: Path, shown: Path) -> bytes:
    """The bytes of line 1 (up to the first newline of any kind: \\n, \\r\\n or a lone \\r)."""
    opener = gzip.open if _is_gzip(path) else open
    parts: list[bytes] = []
    size = 0
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
            if ends:
                parts.append(chunk[: min(ends)])
                break
            parts.append(chunk)
            size += len(chunk)
            if size > HEADER_LIMIT:
                raise SourceError(
                    Message(
                        f"{shown}: line 1 is longer than {HEADER_LIMIT >> 20} MB without a line "
                        "break; this is not a CSV file with a header",
                        f"{shown}: regel 1 is langer dan {HEADER_LIMIT >> 20} MB zonder "
                        "regeleinde; dit is geen CSV-bestand met een kopregel",
                    )
                )
    return b"".join(parts)


def _read_header(path: Path, shown: Path | None = None) -> tuple[str, list[str]]:
    """The delimiter and column names, judged on the header line alone.

    The delimiter is the candidate the header uses most (Dutch Excel exports use ';'); reading
    only the header keeps malformed data rows from misleading the guess. ``shown`` is the
    name used in messages when ``path`` is a converted copy.
    """
    shown = shown or path
    raw = _first_line(path, shown)
    if b"\x00" in raw:
        raise SourceError(
            Message(
                f"{shown}: line 1 contains NUL bytes: this is a binary file, not CSV text",
                f"{shown}: regel 1 bevat NUL-bytes: dit is een binair bestand, geen CSV-tekst",
            )
        )
    try:
        header = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        column = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
        byte = f"0x{raw[exc.start]:02X}"
        raise SourceError(
            Message(
                f"{shown}: line 1, column {column}: byte {byte} is not UTF-8 text; "
                "save the file as UTF-8 (in Excel: 'CSV UTF-8'), or it is not a text file",
                f"{shown}: regel 1, kolom {column}: byte {byte} is geen UTF-8-tekst; "
                "sla het bestand op als UTF-8 (in Excel: 'CSV UTF-8'), of het is geen "
                "tekstbestand",
            )
        ) from None
    control = next((c for c in header if c < " " and c != "\t"), None)
    if control is not None:
        where, code = header.index(control) + 1, f"U+{ord(control):04X}"
        raise SourceError(
            Message(
                f"{shown}: line 1, column {where}: control character {code}: this is a binary "
                "file, not CSV text",
                f"{shown}: regel 1, kolom {where}: stuurteken {code}: dit is een binair "
                "bestand, geen CSV-tekst",
            )
        )
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d])
    delimiter = delimiter if counts[delimiter] else ","
    try:
        names = next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error as exc:
        raise SourceError(
            Message(
                f"{shown}: line 1 is not a CSV header: {exc}",
                f"{shown}: regel 1 is geen CSV-kopregel: {exc}",
            )
        ) from None
    if not names or not any(n.strip() for n in names):
        raise SourceError(
            Message(
                f"{shown}: the first line must be a header naming the columns",
                f"{shown}: de eerste regel moet een kopregel met de kolomnamen zijn",
            )
        )
    if len(names) > MAX_COLUMNS:
        raise SourceError(
            Message(
                f"{shown}: the header has {len(names):,} columns; cxray reads at most "
                f"{MAX_COLUMNS:,}. Keep the columns you import (customer, time, touchpoint, ...)",
                f"{shown}: de kopregel heeft {number(len(names), 'nl')} kolommen; cxray leest er "
                f"hoogstens {number(MAX_COLUMNS, 'nl')}. Houd de kolommen die u importeert "
                "(klant, tijd, contactmoment, ...)",
            )
        )
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


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path) -> Source:
    encoding = _wide_encoding(path)
    temp_files: list[Path] = []
    read_path = path
    if encoding:
        read_path = _to_utf8(path, encoding, work_dir)
        temp_files.append(read_path)
    try:
        delimiter, names = _read_header(read_path, shown=path)
    except BaseException:
        for tmp in temp_files:
            tmp.unlink(missing_ok=True)
        raise
    lit = sql_literal(str(read_path))
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
        temp_files=temp_files,
        read_path=read_path,
    )


def _wide_encoding(path: Path) -> str | None:
    """UTF-16 or UTF-32 (Excel's 'Unicode text' export), told by the byte-order mark or,
    without one, by the zero bytes of ASCII text; None for UTF-8 and other 8-bit text."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[: len(head) // 2 * 2]
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) == 0:
            return "utf-16-be"
    return None


def _to_utf8(path: Path, encoding: str, work_dir: Path) -> Path:
    """A UTF-8 copy of a UTF-16/32 file, line for line (so line numbers stay the same)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f"{path.name}.{uuid.uuid4().hex[:8]}.utf8.csv"
    opener = gzip.open if _is_gzip(path) else open
    line = 1
    strict = codecs.getincrementaldecoder(encoding)("strict")
    lenient = codecs.getincrementaldecoder(encoding)("replace")  # to find the line at fault
    try:
        with opener(path, "rb") as raw, tmp.open("w", encoding="utf-8", newline="") as out:
            while True:
                chunk = raw.read(CHUNK)
                try:
                    text = strict.decode(chunk, final=not chunk)
                except UnicodeDecodeError:
                    seen = lenient.decode(chunk, final=True)
                    line += seen[: max(seen.find("\ufffd"), 0)].count("\n")
                    raise
                lenient.decode(chunk, final=not chunk)
                out.write(text)
                line += text.count("\n")
                if not chunk:
                    break
    except UnicodeDecodeError:
        tmp.unlink(missing_ok=True)
        name = encoding.upper().replace("-LE", " little-endian").replace("-BE", " big-endian")
        raise SourceError(
            Message(
                f"{path}: the file is {name} text, but around line {line} it is not valid "
                f"{name}; save it again as UTF-8 (in Excel: 'CSV UTF-8')",
                f"{path}: het bestand is {name}-tekst, maar rond regel {line} is het geen "
                f"geldige {name}; sla het opnieuw op als UTF-8 (in Excel: 'CSV UTF-8')",
            )
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    relation = f"read_parquet({sql_literal(str(path))})"
    try:
        columns = _describe(con, relation)
    except duckdb.Error as exc:
        raise SourceError(
            Message(
                f"{path}: cannot read as Parquet: {exc}",
                f"{path}: niet te lezen als Parquet: {exc}",
            )
        ) from None
    return Source(path, "parquet", relation, columns, "row", row_offset=0)


def _open_jsonl(con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path) -> Source:
    """Each line is read as text first, so a broken line is reported with its number."""
    encoding = None if path.suffix.lower() == ".zst" else _wide_encoding(path)
    read_path = _to_utf8(path, encoding, work_dir) if encoding else path
    temp_files = [read_path] if encoding else []
    lit = sql_literal(str(read_path))
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
        for tmp in temp_files:
            tmp.unlink(missing_ok=True)
        raise SourceError(
            Message(
                f"{path}: cannot read as JSON Lines: {exc}",
                f"{path}: niet te lezen als JSON Lines: {exc}",
            )
        ) from None
    fields = ", ".join(
        f"CASE WHEN json_valid(line) THEN json_extract_string(line, "
        f"{sql_literal('$.' + _json_path_key(k))}) END AS {quote_ident(k)}"
        for k in keys
    )
    relation = f"(SELECT line AS __json_line{', ' + fields if fields else ''} FROM {lines})"
    columns = {k: "VARCHAR" for k in keys}
    return Source(
        path,
        "jsonl",
        relation,
        columns,
        "line",
        row_offset=0,
        temp_files=temp_files,
        read_path=read_path,
    )


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


# -- XES ----------------------------------------------------------------------------------
def _open_xes(con: duckdb.DuckDBPyConnection, path: Path, work_dir: Path) -> Source:
    """An XES event log, one row per event, read in one streaming pass (see ``ingest.xes``)."""
    from cxray.ingest.xes import open_xes  # ingest.xes builds on this module

    log = open_xes(con, path, work_dir)
    log.cases.cleanup()  # callers of open_source want the events; open_xes gives both
    return log.events


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
    path = source.read_path or source.path
    opener = gzip.open if _is_gzip(path) else open
    found: dict[int, int] = {}
    malformed: list[tuple[int, str]] = []
    with opener(path, "rb") as raw:
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
        header = _next_record(reader)
        width = len(header or [])
        ordinal = 0
        previous_end = reader.line_num
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a NUL byte: reported on its line, reading goes on
                malformed.append((previous_end + 1, f"cannot read this line as CSV: {exc}"))
                previous_end = reader.line_num
                continue
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


def _next_record(reader: Iterator[list[str]]) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error:
        return None
