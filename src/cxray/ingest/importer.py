"""Import a file into a canonical table: map, type, validate, deduplicate, all or nothing.

The pipeline runs inside DuckDB (the SQL is built in ``staging``):

1. **append** (events, feedback): in the import's transaction, the typed rows go straight into
   the table; a bad row stops the statement and the transaction rolls back. Counts, touchpoints
   and duplicates are read from the rows written (``append``);
2. **check** (customers, and files the single pass cannot take): one streaming scan of the
   typed relation counts the rows, the bad ones, the distinct keys and the touchpoints;
3. **explain**: only when rows are bad, their problems (row, column, value, reason) are kept in
   the engine and mapped to the lines an editor shows (``problems``); the import is refused, or
   with ``skip_invalid`` they go to a quarantine file and the valid rows are written;
4. **write**: in one transaction, rows whose key is new are inserted (customers are updated
   where the file says something new), with a row of the import log. An event log (XES) as
   events also fills customers from its cases in the same transaction.

Rows read = imported + updated + duplicates + rejected, always.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cxray.i18n import Message
from cxray.ingest.append import Appended, BadRows, NotAppendable, append, appends
from cxray.ingest.faults import crash_point
from cxray.ingest.problems import (
    BAD_ROWS,
    PROBLEMS_TABLE,
    ImportError_,
    misread_day_first,
    problems_of,
    refusal,
    unreadable_file,
    unreadable_layouts,
)
from cxray.ingest.problems import collect as collect_problems
from cxray.ingest.reconcile import QUARANTINE_DIR
from cxray.ingest.result import ImportOptions, ImportResult
from cxray.ingest.sources import (
    Source,
    SourceError,
    check_timezone,
    detect_format,
    open_source,
    sql_literal,
)
from cxray.ingest.staging import (
    Stage,
    build_stage,
    id_expression,
    numbered_copy,
    numbered_source,
    scan_summary,
    typed_relation,
)
from cxray.ingest.validation import (
    forget_rejects,
    key_conflicts,
    scale_warnings,
    structural_rejects,
)
from cxray.ingest.writing import (
    Progress,
    log_import,
    pending_path,
    publish_quarantine,
    write,
    write_quarantine,
)
from cxray.ingest.xes import open_xes, refuse_absent_keys
from cxray.journey import Journey
from cxray.schema import TableSpec, table_spec
from cxray.warehouse import Warehouse

__all__ = ["ImportError_", "ImportOptions", "ImportResult", "import_file"]


ERRORS_DIR = "errors"  # in the workspace: the full list of rows a refused import named
NUMBERED_COPY = "cxray_numbered"  # a source's rows numbered once, to explain its bad rows
CASES_OPTIONS = ("timezone", "timestamp_format", "skip_invalid")  # what also applies to cases


@dataclass
class _Prepared:
    """One source checked and ready to write: what to insert, and the counts so far."""

    stage: Stage
    summary: dict[str, Any]
    rows: str  # SQL of the rows to write
    rows_read: int
    rejected: int
    valid: int
    quarantine: Path | None
    new_touchpoints: list[str]
    suffix: str = ""  # tells apart the temporary tables of an event log's two sources
    appending: bool = False  # written in one pass (cxray.ingest.append), counted as written
    exclude_bad: bool = False  # appending: bad rows were explained and set aside

    @property
    def spec(self) -> TableSpec:
        return self.stage.spec


# -- the pipeline -----------------------------------------------------------------------------
def import_file(
    warehouse: Warehouse,
    journey: Journey,
    workdir: Path,
    table: str,
    path: Path,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportResult:
    """Import ``path`` into ``table`` of ``warehouse``, all or nothing.

    ``workdir`` (the workspace folder) holds temporary files and the quarantine folder. New
    touchpoints are returned in the result, not written anywhere: the caller places them in
    the journey file. An event log (XES) imported as events fills ``customers`` from its cases
    in the same transaction (the result's ``cases``).
    """
    spec = table_spec(table)
    workdir = Path(workdir)
    options = _with_errors_file(options, workdir, Path(path).name)
    if not warehouse.is_duckdb:
        raise ImportError_(
            Message(
                f"importing into a {warehouse.engine} warehouse is not supported yet; import "
                "into a DuckDB workspace",
                f"importeren in een {warehouse.engine}-warehouse kan nog niet; importeer in een "
                "DuckDB-werkruimte",
            )
        )
    if spec.name != "customers" and (options.as_of is not None or options.tenure_unit):
        raise ImportError_(
            Message(
                f"{path}: --as-of and --tenure-unit describe lifetime data; they apply to "
                f"customers, not {spec.name}",
                f"{path}: --as-of en --tenure-unit beschrijven levensduurgegevens; ze gelden voor "
                f"customers, niet voor {spec.name}",
            )
        )
    started = dt.datetime.now(dt.UTC)
    con: duckdb.DuckDBPyConnection = warehouse.backend.con
    report = progress or (lambda step, fraction: None)
    parts = _open_parts(con, spec, Path(path), workdir, options)
    prepared: list[_Prepared] = []
    try:
        temporary = ["cxray_rejects", "cxray_rejects_scan"]
        per_part = (PROBLEMS_TABLE, BAD_ROWS, NUMBERED_COPY)
        temporary += [t + f"_{i}" for i in range(len(parts)) for t in per_part]
        with _temporary_tables(con, *temporary), _import_memory(con, Path(path)):
            for index, (part_spec, source, part_options) in enumerate(parts):
                if appends(part_spec):
                    stage = build_stage(part_spec, source, part_options, journey)
                    typed = typed_relation(con, stage, numbered=False)
                    prepared.append(
                        _Prepared(stage, {}, typed, 0, 0, 0, None, [], f"_{index}", True)
                    )
                    continue
                prepared.append(
                    _prepare(
                        con, part_spec, source, part_options, journey, workdir, report, f"_{index}"
                    )
                )
            written = _write(warehouse, con, prepared, started, journey, workdir, report)
    except BaseException:
        for part in prepared:  # the import did not commit: no quarantine file of it stays
            if part.quarantine:
                pending_path(part.quarantine).unlink(missing_ok=True)
        raise
    finally:
        for _, source, _ in parts:
            source.cleanup()
    crash_point("after-commit")
    for part in prepared:
        if part.quarantine:
            publish_quarantine(part.quarantine)
    if any(part.quarantine for part in prepared):
        crash_point("after-quarantine")
    report("done", 1.0)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    results = [
        _result(part, counts, str(path), journey, seconds)
        for part, counts in zip(prepared, written, strict=True)
    ]
    main, *cases = results
    main.cases = cases[0] if cases else None
    return main


def _with_errors_file(options: ImportOptions, workdir: Path, name: str) -> ImportOptions:
    if options.errors_file is not None:
        return options
    # the list of bad rows belongs to the workspace, never to whatever folder we run in
    return dataclasses.replace(options, errors_file=workdir / ERRORS_DIR / f"{name}.errors.csv")


def _open_parts(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    path: Path,
    workdir: Path,
    options: ImportOptions,
) -> list[tuple[TableSpec, Source, ImportOptions]]:
    """The sources to import: the file, or an event log's events and its cases."""
    try:
        check_timezone(options.timezone)  # before reading a byte of a possibly large file
        if detect_format(path) != "xes":
            return [(spec, open_source(con, path, workdir / ".cxray-tmp"), options)]
        refuse_absent_keys(path, options.mapping)
        log = open_xes(con, path, workdir / ".cxray-tmp")
    except SourceError as exc:
        raise ImportError_(exc) from None
    if spec.name == "customers":
        log.events.cleanup()
        return [(spec, log.cases, options)]
    # The cases' own columns are named by the log: only the reading options carry over.
    kept = {name: getattr(options, name) for name in CASES_OPTIONS}
    cases_options = _with_errors_file(ImportOptions(**kept), workdir, f"{path.name}.cases")
    return [(spec, log.events, options), (table_spec("customers"), log.cases, cases_options)]


def _prepare(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    options: ImportOptions,
    journey: Journey,
    workdir: Path,
    report: Progress,
    suffix: str,
) -> _Prepared:
    """Check one source; refuse it (raising) or return what to write, quarantine written."""
    stage = build_stage(spec, source, options, journey)
    plan = stage.plan
    typed = typed_relation(con, stage, numbered=False)

    # Pass 1: count, validate and collect touchpoints in one streaming scan.
    try:
        summary = scan_summary(con, stage, typed, report)
    except ImportError_ as exc:
        raise ImportError_(unreadable_file(source, str(exc))) from None
    structural = structural_rejects(con, source)
    rows_read = summary["rows"] + len(structural)
    rejected = summary["bad"] + len(structural)

    problems = None
    numbered = None
    if rejected:
        report("finding bad rows", None)
        copy = numbered_copy(con, stage, NUMBERED_COPY + suffix)
        numbered = typed_relation(con, copy, numbered=True)
        problems = collect_problems(
            con, numbered, copy.source, plan, stage.checks, structural, summary["rows"], suffix
        )
        # A month-first column would be half read day-first: refused even so.
        if not options.skip_invalid or misread_day_first(unreadable_layouts(problems)):
            raise refusal(problems, rejected, options)
    known = set(journey.touchpoints)
    new_touchpoints = sorted(t for t in summary["touchpoints"] if t not in known)

    # Keys repeated inside the file need ordering; most files have none.
    valid = rows_read - rejected
    repeats = summary["distinct_keys"] < summary["rows"] - summary["bad"]
    rows = typed
    conflicts: list[dict] = []
    if repeats and id_expression(spec, plan):
        # A content-derived key repeats where the content does: keep one row of each
        # (feedback's extra columns describe an answer but are not part of it).
        canonical = ", ".join(f"__t_{c}" for c in spec.columns)
        rows = (
            f"(SELECT DISTINCT ON (__t_{spec.key}) {canonical}, false AS __bad "
            f"FROM {typed} WHERE NOT __bad)"
        )
    elif repeats:
        numbered = numbered or typed_relation(con, stage, numbered=True)
        # Nothing tells which of two rows that disagree about one key is right.
        conflicts = key_conflicts(con, numbered, spec, source, plan)
        if conflicts and not options.skip_invalid:
            conflicting = len({c["__row"] for c in conflicts})
            raise refusal(problems_of(con, source, conflicts, suffix), conflicting, options)
        kept = "NOT __bad"
        if conflicts:  # --skip-invalid: every row of a disagreement is quarantined
            set_aside = len({c["__row"] for c in conflicts})
            rejected, valid = rejected + set_aside, valid - set_aside
            problems = problems or problems_of(con, source, [], suffix)
            problems.add(conflicts)
            kept += f" AND __row NOT IN (SELECT __row FROM {problems.table})"
        rows = (
            f"(SELECT * FROM {numbered} WHERE {kept} QUALIFY row_number() OVER "
            f"(PARTITION BY __t_{spec.key} ORDER BY __row) = 1)"
        )
    # The quarantine file is written first and published after the commit; the import
    # log names it, so a crash in between is repaired (cxray.ingest.reconcile).
    quarantine = None
    if rejected and problems is not None:
        # Rows set aside for disagreeing about a key are valid rows: not among the bad rows.
        raw = problems.bad_rows if not conflicts else numbered_source(source)
        quarantine = write_quarantine(workdir / QUARANTINE_DIR, raw, problems)
    return _Prepared(stage, summary, rows, rows_read, rejected, valid, quarantine, new_touchpoints)


def _write(
    warehouse: Warehouse,
    con: duckdb.DuckDBPyConnection,
    prepared: list[_Prepared],
    started: dt.datetime,
    journey: Journey,
    workdir: Path,
    report: Progress,
) -> list[tuple[int, int, int]]:
    """Write every source in one transaction. A source appended in one pass that turns out to
    have bad rows is explained (and refused, or its bad rows set aside) and the transaction
    run again; one the single pass cannot take goes the two-pass way."""
    while True:
        try:
            written = _write_all(warehouse, con, prepared, started, report)
        except BadRows as exc:
            index = _position(prepared, exc.args[0])
            prepared[index] = _explain(con, prepared[index], workdir, report)
        except NotAppendable as exc:
            index = _position(prepared, exc.args[0])
            part = prepared[index]
            if part.quarantine:
                pending_path(part.quarantine).unlink(missing_ok=True)
            stage = part.stage
            prepared[index] = _prepare(
                con, stage.spec, stage.source, stage.options, journey, workdir, report, part.suffix
            )
        else:
            known = set(journey.touchpoints)
            for part in prepared:
                if part.appending:
                    seen = part.summary["touchpoints"]
                    part.new_touchpoints = sorted(t for t in seen if t not in known)
            return written


def _position(prepared: list[_Prepared], part: _Prepared) -> int:
    return next(i for i, candidate in enumerate(prepared) if candidate is part)


def _explain(
    con: duckdb.DuckDBPyConnection, part: _Prepared, workdir: Path, report: Progress
) -> _Prepared:
    """The bad rows of a source being appended: refused, or (--skip-invalid) quarantined and
    left out of the next attempt."""
    report("finding bad rows", None)
    forget_rejects(con)  # of the append that stopped at a bad row: this read is whole
    stage = numbered_copy(con, part.stage, NUMBERED_COPY + part.suffix)
    structural = structural_rejects(con, stage.source)
    numbered = typed_relation(con, stage, numbered=True)
    problems = collect_problems(
        con, numbered, stage.source, stage.plan, stage.checks, structural, suffix=part.suffix
    )
    (bad,) = con.execute(f"SELECT count(*) FROM {problems.bad_rows}").fetchone()
    (unsplit,) = con.execute(
        f"SELECT count(*) FROM {problems.table} WHERE __row IS NULL"
    ).fetchone()
    rejected = int(bad) + int(unsplit)
    if not stage.options.skip_invalid or misread_day_first(unreadable_layouts(problems)):
        raise refusal(problems, rejected, stage.options)
    quarantine = write_quarantine(workdir / QUARANTINE_DIR, problems.bad_rows, problems)
    return dataclasses.replace(part, rejected=rejected, quarantine=quarantine, exclude_bad=True)


def _write_all(
    warehouse: Warehouse,
    con: duckdb.DuckDBPyConnection,
    prepared: list[_Prepared],
    started: dt.datetime,
    report: Progress,
) -> list[tuple[int, int, int]]:
    """Every prepared source in one transaction, each with its import log row."""
    written = []
    # set outside the transaction: a bad row aborts it, and then nothing can be set
    unordered = all("row_number()" not in part.rows for part in prepared)
    with _unordered_writes(con, allowed=unordered), warehouse.transaction():
        for part in prepared:
            if part.appending:
                try:
                    appended = append(con, part.stage, part.rows, report, part.exclude_bad)
                except (BadRows, NotAppendable) as exc:
                    raise type(exc)(part) from None  # the caller rolls back, then mends
                _count_appended(part, appended)
                imported, updated, duplicates = appended.imported, 0, appended.duplicates
            else:
                # Without bad rows, the checks need not run again while writing.
                skip_bad = bool(part.rejected)
                imported, updated = write(con, part.spec, part.rows, report, skip_bad=skip_bad)
                duplicates = part.valid - imported - updated
            counts = (part.rows_read, imported, updated, duplicates, part.rejected)
            log_import(con, part.spec, part.stage.source, started, counts, part.quarantine)
            written.append((imported, updated, duplicates))
        crash_point("before-commit")
    return written


def _count_appended(part: _Prepared, appended: Appended) -> None:
    """What the check pass would have counted, read from the rows just written."""
    part.summary = {"touchpoints": appended.touchpoints, **appended.scale}
    part.valid = appended.inserted
    part.rows_read = appended.inserted + part.rejected


def _result(
    part: _Prepared,
    counts: tuple[int, int, int],
    path: str,
    journey: Journey,
    seconds: float,
) -> ImportResult:
    imported, updated, duplicates = counts
    suggestions = {}
    for name in part.new_touchpoints:
        hint = journey.closest_touchpoint(name)
        if hint:
            suggestions[name] = hint
    lifetime, summary, plan = part.stage.lifetime, part.summary, part.stage.plan
    warnings = scale_warnings(summary) if part.spec.name == "feedback" else []
    return ImportResult(
        table=part.spec.name,
        source=path,
        rows_read=part.rows_read,
        rows_imported=imported,
        rows_updated=updated,
        rows_duplicate=duplicates,
        rows_rejected=part.rejected,
        new_touchpoints=part.new_touchpoints,
        suggestions=suggestions,
        quarantine=str(part.quarantine) if part.quarantine else None,
        ignored_columns=plan.ignored,
        column_map=plan.sources,
        seconds=seconds,
        lifetime_customers=summary.get("lifetime_customers") if lifetime else None,
        lifetime_churned=summary.get("lifetime_churned") if lifetime else None,
        as_of=lifetime.as_of_text if lifetime else None,
        warnings=[w["en"] for w in warnings],
        warnings_nl=[w["nl"] for w in warnings],
    )


@contextlib.contextmanager
def _temporary_tables(con: duckdb.DuckDBPyConnection, *names: str) -> Iterator[None]:
    try:
        yield
    finally:
        for name in names:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS temp.{name}")


@contextlib.contextmanager
def _unordered_writes(con: duckdb.DuckDBPyConnection, allowed: bool) -> Iterator[None]:
    """Rows need no order in a table: unordered, DuckDB writes them straight to the database
    file in parallel, instead of through its log and a rewrite at the next checkpoint (1.5 s of
    every 3M rows). Not ``allowed`` where the rows are numbered in file order (row_number)."""
    if not allowed:
        yield
        return
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("SET preserve_insertion_order = true")


# DuckDB's share while importing: it spills to disk past this, so an import of any size stays
# under 1 GB in all. A machine with more to spare can allow more (CXRAY_IMPORT_MEMORY=4GB).
IMPORT_MEMORY_ENV = "CXRAY_IMPORT_MEMORY"
IMPORT_MEMORY = "600MB"


@contextlib.contextmanager
def _import_memory(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[None]:
    """Bounded memory at any file size: the engine spills to the workspace's temp folder."""
    limit = os.environ.get(IMPORT_MEMORY_ENV) or IMPORT_MEMORY
    (previous,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    try:
        con.execute(f"SET memory_limit = {sql_literal(limit)}")
    except duckdb.Error:
        raise ImportError_(
            Message(
                f"{IMPORT_MEMORY_ENV}={limit!r} is not a memory size DuckDB understands (e.g. 2GB)",
                f"{IMPORT_MEMORY_ENV}={limit!r} is geen geheugengrootte die DuckDB begrijpt "
                "(bijv. 2GB)",
            )
        ) from None
    try:
        yield
    except duckdb.OutOfMemoryException:
        raise ImportError_(
            Message(
                f"{path}: this import needs more memory than the {limit} it may use; nothing "
                f"was imported. Allow more with the environment variable {IMPORT_MEMORY_ENV} "
                "(e.g. 2GB)",
                f"{path}: deze import heeft meer geheugen nodig dan de {limit} die hij mag "
                f"gebruiken; er is niets geïmporteerd. Sta meer toe met de omgevingsvariabele "
                f"{IMPORT_MEMORY_ENV} (bijv. 2GB)",
            )
        ) from None
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET memory_limit = '{previous}'")
