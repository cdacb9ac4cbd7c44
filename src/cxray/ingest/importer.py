"""Import a file into a canonical table: map, type, validate, deduplicate, all or nothing.

The pipeline runs inside DuckDB:

1. **stage**: the file is read once into a temporary table with its raw columns, a ``__row``
   ordinal in file order, and the typed canonical columns (``__t_<name>``);
2. **validate**: every rule is a filter over the stage; failures become rows of
   (row, column, value, reason), mapped to the line an editor shows;
3. **write**: in one transaction, rows whose key is new are inserted (customers are updated
   where the file says something new); nothing is written when validation failed, unless the
   caller asked to skip invalid rows, which then go to a quarantine file.

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

from cxray.ingest import columns as cols
from cxray.ingest import lifetime as life
from cxray.ingest.faults import crash_point
from cxray.ingest.problems import (
    BAD_ROWS,
    JSON_OBJECT_LINE,
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
    open_source,
    quote_ident,
    sql_literal,
)
from cxray.ingest.validation import (
    TEXT_METRIC,
    Check,
    checks,
    condition_sql,
    key_conflicts,
    scale_aggregates,
    scale_warnings,
    structural_rejects,
)
from cxray.ingest.writing import (
    Progress,
    log_import,
    pending_path,
    publish_quarantine,
    run_with_progress,
    write,
    write_quarantine,
)
from cxray.journey import Journey
from cxray.schema import TableSpec, table_spec
from cxray.warehouse import Warehouse

__all__ = ["ImportError_", "ImportOptions", "ImportResult", "import_file"]


@dataclass(frozen=True)
class _Stage:
    """Everything that turns the file into the typed, validated relation."""

    spec: TableSpec
    source: Source
    plan: cols.ColumnPlan
    options: ImportOptions
    checks: list[Check]
    lifetime: life.Lifetime | None


ERRORS_DIR = "errors"  # in the workspace: the full list of rows a refused import named


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
    the journey file.
    """
    spec = table_spec(table)
    if options.errors_file is None:
        # the list of bad rows belongs to the workspace, never to whatever folder we run in
        name = f"{Path(path).name}.errors.csv"
        options = dataclasses.replace(options, errors_file=Path(workdir) / ERRORS_DIR / name)
    if not warehouse.is_duckdb:
        raise ImportError_(
            f"importing into a {warehouse.engine} warehouse is not supported yet; import into a "
            "DuckDB workspace"
        )
    if spec.name != "customers" and (options.as_of is not None or options.tenure_unit):
        raise ImportError_(
            f"{path}: --as-of and --tenure-unit describe lifetime data; they apply to customers, "
            f"not {spec.name}"
        )
    started = dt.datetime.now(dt.UTC)
    con: duckdb.DuckDBPyConnection = warehouse.backend.con
    report = progress or (lambda step, fraction: None)
    try:
        check_timezone(options.timezone)  # before reading a byte of a possibly large file
        source = open_source(con, path, workdir / ".cxray-tmp")
    except SourceError as exc:
        raise ImportError_(str(exc)) from None
    if source.format == "xes" and spec.name == "customers":
        source = _xes_cases(source)
    try:
        tables = ("cxray_rejects", "cxray_rejects_scan", PROBLEMS_TABLE, BAD_ROWS)
        with _temporary_tables(con, *tables), _import_memory(con, path):
            stage = _stage(spec, source, options, journey)
            plan = stage.plan
            typed = _typed_relation(con, stage, numbered=False)

            # Pass 1: count, validate and collect touchpoints in one streaming scan.
            try:
                summary = _scan_summary(con, stage, typed, report)
            except ImportError_ as exc:
                raise ImportError_(unreadable_file(source, str(exc))) from None
            structural = structural_rejects(con, source)
            rows_read = summary["rows"] + len(structural)
            rejected = summary["bad"] + len(structural)

            problems = None
            numbered = None
            if rejected:
                numbered = _typed_relation(con, stage, numbered=True)
                report("finding bad rows", None)
                problems = collect_problems(
                    con,
                    numbered,
                    source,
                    plan,
                    stage.checks,
                    structural,
                    summary["rows"],
                )
                # A month-first column would be half read day-first: refused even so.
                if not options.skip_invalid or misread_day_first(unreadable_layouts(problems)):
                    raise refusal(problems, rejected, options)
            known = set(journey.touchpoints)
            new_touchpoints = sorted(t for t in summary["touchpoints"] if t not in known)

            # Pass 2: write. Keys repeated inside the file need ordering; most files have none.
            valid = rows_read - rejected
            repeats = summary["distinct_keys"] < summary["rows"] - summary["bad"]
            rows = typed
            conflicts: list[dict] = []
            if repeats and _id_expression(spec, plan):
                # A content-derived key repeats where the content does: keep one row of each
                # (feedback's extra columns describe an answer but are not part of it).
                canonical = ", ".join(f"__t_{c}" for c in spec.columns)
                rows = (
                    f"(SELECT DISTINCT ON (__t_{spec.key}) {canonical}, false AS __bad "
                    f"FROM {typed} WHERE NOT __bad)"
                )
            elif repeats:
                numbered = numbered or _typed_relation(con, stage, numbered=True)
                # Nothing tells which of two rows that disagree about one key is right.
                conflicts = key_conflicts(con, numbered, spec, source, plan)
                if conflicts and not options.skip_invalid:
                    conflicting = len({c["__row"] for c in conflicts})
                    raise refusal(problems_of(con, source, conflicts), conflicting, options)
                kept = "NOT __bad"
                if conflicts:  # --skip-invalid: every row of a disagreement is quarantined
                    set_aside = len({c["__row"] for c in conflicts})
                    rejected, valid = rejected + set_aside, valid - set_aside
                    problems = problems or problems_of(con, source, [])
                    problems.add(conflicts)
                    kept += f" AND __row NOT IN (SELECT __row FROM {problems.table})"
                rows = (
                    f"(SELECT * FROM {numbered} WHERE {kept} QUALIFY row_number() OVER "
                    f"(PARTITION BY __t_{spec.key} ORDER BY __row) = 1)"
                )
            # The quarantine file is written first and published after the commit; the import
            # log names it, so a crash in between is repaired (cxray.ingest.reconcile).
            quarantine = None
            if rejected:
                # Rows set aside for disagreeing about a key are valid rows: not among BAD_ROWS.
                raw = BAD_ROWS if not conflicts else _numbered_source(source)
                quarantine = write_quarantine(workdir / QUARANTINE_DIR, raw, problems)
            try:
                with warehouse.transaction():
                    # Without bad rows, the checks need not run again while writing.
                    imported, updated = write(con, spec, rows, report, skip_bad=bool(rejected))
                    duplicates = valid - imported - updated
                    counts = (rows_read, imported, updated, duplicates, rejected)
                    log_import(con, spec, source, started, counts, quarantine)
                    crash_point("before-commit")
            except BaseException:
                if quarantine:
                    pending_path(quarantine).unlink(missing_ok=True)
                raise
            crash_point("after-commit")
            if quarantine:
                publish_quarantine(quarantine)
                crash_point("after-quarantine")
    finally:
        source.cleanup()

    suggestions = {}
    for name in new_touchpoints:
        hint = journey.closest_touchpoint(name)
        if hint:
            suggestions[name] = hint
    report("done", 1.0)
    lifetime = stage.lifetime
    warnings = scale_warnings(summary) if spec.name == "feedback" else []
    return ImportResult(
        table=spec.name,
        source=str(path),
        rows_read=rows_read,
        rows_imported=imported,
        rows_updated=updated,
        rows_duplicate=duplicates,
        rows_rejected=rejected,
        new_touchpoints=new_touchpoints,
        suggestions=suggestions,
        quarantine=str(quarantine) if quarantine else None,
        ignored_columns=plan.ignored,
        column_map=plan.sources,
        seconds=(dt.datetime.now(dt.UTC) - started).total_seconds(),
        lifetime_customers=summary.get("lifetime_customers") if lifetime else None,
        lifetime_churned=summary.get("lifetime_churned") if lifetime else None,
        as_of=lifetime.as_of_text if lifetime else None,
        warnings=[w["en"] for w in warnings],
        warnings_nl=[w["nl"] for w in warnings],
    )


def _stage(spec: TableSpec, source: Source, options: ImportOptions, journey: Journey) -> _Stage:
    plan = _plan(spec, source, options, journey)
    lifetime = None
    if spec.name == "customers":
        try:
            lifetime = life.prepare(
                plan, options.as_of, options.tenure_unit, options.timezone, str(source.path)
            )
        except (life.LifetimeError, ValueError) as exc:
            raise ImportError_(str(exc)) from None
    parsed = frozenset(life.DATES) if lifetime else frozenset()
    rules = checks(spec, plan, journey, options, set(journey.touchpoints), parsed=parsed)
    if lifetime:
        rules += life.checks(lifetime, plan)
    return _Stage(spec, source, plan, options, rules, lifetime)


@contextlib.contextmanager
def _temporary_tables(con: duckdb.DuckDBPyConnection, *names: str) -> Iterator[None]:
    try:
        yield
    finally:
        for name in names:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _xes_cases(source: Source) -> Source:
    """An event log as customers: one row per case, its attributes, first seen at its first event.

    Case attributes lose their ``case:`` prefix (``case:AMOUNT_REQ`` becomes ``AMOUNT_REQ``).
    """
    attributes = [c for c in source.columns if c.startswith("case:") and c != "case:concept:name"]
    picked = "".join(
        f", any_value({quote_ident(c)}) AS {quote_ident(c.removeprefix('case:'))}"
        for c in attributes
    )
    relation = (
        f'(SELECT min(__line) AS __line, "case:concept:name" AS customer_id, '
        f'CAST(min(TRY_CAST("time:timestamp" AS TIMESTAMPTZ)) AS VARCHAR) AS first_seen{picked} '
        f'FROM {source.relation} GROUP BY "case:concept:name")'
    )
    columns = {"__line": "BIGINT", "customer_id": "VARCHAR", "first_seen": "VARCHAR"}
    columns |= {c.removeprefix("case:"): "VARCHAR" for c in attributes}
    return Source(
        source.path,
        "xes",
        relation,
        columns,
        "line",
        row_offset=0,
        temp_files=source.temp_files,
    )


def _plan(
    spec: TableSpec,
    source: Source,
    options: ImportOptions,
    journey: Journey | None = None,
    *,
    check_required: bool = True,
) -> cols.ColumnPlan:
    """The column plan; refused when a required column is missing, unless ``check_required``
    is off (a dry run shows the plan with ``missing`` filled in). ``journey`` names the
    metrics a weak ``type`` alias must hold; without one, the default scales."""
    from cxray.ingest.recode import RecodeError, resolve_recode
    from cxray.journey import DEFAULT_SCALES

    names = [c for c in source.columns if not c.startswith("__")]
    if source.format == "xes" and spec.name == "events":
        # Case attributes describe the customer, not each event: they belong in `customers`.
        names = [c for c in names if not c.startswith("case:") or c == "case:concept:name"]
    scales = journey.scales if journey is not None else DEFAULT_SCALES
    sample = cols.ValueSample(
        source, sorted({*scales, TEXT_METRIC}), options.timezone, options.timestamp_format
    )
    try:
        inputs = life.INPUTS if spec.name == "customers" else None
        # An event log's case end date is when the case closed, not when a customer left.
        exact = frozenset(life.DATES) | frozenset(life.INPUTS) if source.format == "xes" else None
        plan = cols.plan_columns(
            spec,
            names,
            options.mapping,
            options.constants,
            str(source.path),
            inputs,
            exact or frozenset(),
            weak_fit=sample,
        )
        plan.recode = resolve_recode(
            spec, plan.sources, plan.constants, options.recode, str(source.path)
        )
    except (cols.MappingError, RecodeError) as exc:
        raise ImportError_(str(exc)) from None
    except duckdb.Error as exc:
        raise ImportError_(f"{source.path}: cannot read the file: {exc}") from None
    finally:
        sample.close()
    missing = [c for c in spec.required if c not in plan.sources and c not in plan.constants]
    no_score = "score" not in plan.sources and "score" not in plan.constants
    if spec.name == "feedback" and no_score and plan.constants.get("metric") != TEXT_METRIC:
        missing.append("score")  # only comment-only sources (--set metric=text) go without
    plan.missing = missing
    if missing and check_required:
        raise ImportError_(cols.missing_message(str(source.path), missing, names, plan.passed_over))
    return plan


def _typed_expressions(con: duckdb.DuckDBPyConnection, stage: _Stage) -> dict[str, str]:
    """canonical column -> SQL over the cleaned ``__s_<column>`` values (recoded where asked)."""
    from cxray.ingest.recode import recode_sql

    spec, source, plan, options = stage.spec, stage.source, stage.plan, stage.options
    exprs: dict[str, str] = {}
    for column, dtype in spec.schema.items():
        src = plan.sources.get(column)
        duck_type = source.columns[src] if src else "VARCHAR"
        value = f"__s_{column}"
        if column in plan.recode:  # labels become values before typing
            value, duck_type = recode_sql(value, duck_type, plan.recode[column]), "VARCHAR"
        if column == spec.json_column:
            # Feedback's extra columns are not part of its content-derived ids: blanks dropped.
            exprs[column] = cols.json_expr(
                value if src else None,
                duck_type,
                plan.extras,
                source.columns,
                drop_blanks=spec.name in ("customers", "feedback"),
            )
        elif column in plan.constants:
            constant = sql_literal(plan.constants[column])
            exprs[column] = f"TRY_CAST({constant} AS DOUBLE)" if dtype.is_floating() else constant
            if dtype.is_timestamp():  # --set ts=2024-03-01 is read like a value in the file
                exprs[column] = cols.timestamp_expr(
                    constant, "VARCHAR", options.timezone, options.timestamp_format, True
                )
        elif src is None:
            exprs[column] = "NULL"
        elif dtype.is_timestamp():
            # Day-first values may appear anywhere in a file, not only in a sample of it.
            exprs[column] = cols.timestamp_expr(
                value, duck_type, options.timezone, options.timestamp_format, True
            )
        elif dtype.is_floating():
            exprs[column] = cols.number_expr(value, duck_type)
        else:
            exprs[column] = cols.text_expr(value, duck_type)
    if spec.name == "feedback":
        exprs["metric"] = f"lower({exprs['metric']})"
    if "language" in exprs and exprs["language"] != "NULL":
        exprs["language"] = f"lower({exprs['language']})"
    if stage.lifetime:
        recoded = {c: labels for c, labels in plan.recode.items() if c in life.INPUTS}
        types = source.columns | {plan.sources[c]: "VARCHAR" for c in recoded}
        for column, expr in life.typed_expressions(stage.lifetime, plan, types).items():
            # a recoded tenure or churned flag is read from its recoded text
            for name, labels in recoded.items():
                recoded_text = recode_sql(f"__s_{name}", source.columns[plan.sources[name]], labels)
                expr = expr.replace(f"__s_{name}", recoded_text)
            exprs[column] = expr
    return exprs


def _content_columns(spec: TableSpec) -> list[str]:
    """The columns a row's content is: all but the key. Feedback gained its JSON column after
    its ids were first stored: an answer's extra columns describe it, they never enter its id
    (so old files re-import as duplicates)."""
    return [
        column
        for column in spec.columns
        if column != spec.key and not (spec.name == "feedback" and column == spec.json_column)
    ]


def _id_expression(spec: TableSpec, plan: cols.ColumnPlan) -> str | None:
    """A content-derived key where the file has none, so re-imports find the same rows.

    md5 (not DuckDB's faster ``hash``) because ids are stored: they must not change when the
    engine is upgraded. Timestamps enter as epoch microseconds, the cheapest exact text form.
    """
    if spec.key in plan.sources or spec.key in plan.constants:
        return None
    parts = []
    for column in _content_columns(spec):
        dtype = spec.schema[column]
        value = (
            f"CAST(epoch_us(__t_{column}) AS VARCHAR)"
            if dtype.is_timestamp()
            else (f"CAST(__t_{column} AS VARCHAR)")
        )
        parts.append(f"coalesce({value}, '')")
    return f"substr(md5(concat_ws(chr(31), {', '.join(parts)})), 1, 24)"


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
            f"{IMPORT_MEMORY_ENV}={limit!r} is not a memory size DuckDB understands (e.g. 2GB)"
        ) from None
    try:
        yield
    except duckdb.OutOfMemoryException:
        raise ImportError_(
            f"{path}: this import needs more memory than the {limit} it may use; nothing was "
            f"imported. Allow more with the environment variable {IMPORT_MEMORY_ENV} (e.g. 2GB)"
        ) from None
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET memory_limit = '{previous}'")


def _typed_relation(con: duckdb.DuckDBPyConnection, stage: _Stage, numbered: bool) -> str:
    """The file as SQL: its raw columns, typed canonical ``__t_*`` columns and a ``__bad`` flag.

    ``numbered`` adds ``__row``, the record's place in the file; it costs a window over the
    whole file, so only the error and repeated-key paths ask for it.
    """
    spec, source, plan = stage.spec, stage.source, stage.plan
    exprs = _typed_expressions(con, stage)
    typed = ", ".join(f"{expr} AS __t_{name}" for name, expr in exprs.items())
    # JSON Lines count blank lines too: numbered before they are left out, so rows are lines.
    number_first = numbered and source.format == "jsonl"
    if "__line" in source.columns:
        inner = f"SELECT * EXCLUDE (__line), __line AS __row FROM {source.relation}"
    elif number_first:
        inner = f"SELECT row_number() OVER () AS __row, * FROM {source.relation}"
    else:
        inner = f"SELECT * FROM {source.relation}"
    if source.format == "jsonl":
        inner = f"SELECT * FROM ({inner}) WHERE __json_line IS NOT NULL"  # blank lines
    cleaned = ", ".join(
        f"{cols.clean_expr(src, source.columns[src])} AS __s_{column}"
        for column, src in plan.sources.items()
    )
    if cleaned:
        inner = f"SELECT *, {cleaned} FROM ({inner})"
    body = f"SELECT *, {typed} FROM ({inner})"
    id_expr = _id_expression(spec, plan)
    if id_expr:
        body = f"SELECT * REPLACE ({id_expr} AS __t_{spec.key}) FROM ({body})"
    if stage.lifetime:
        body = life.derive(stage.lifetime, plan, body)
    conditions = [f"coalesce({condition_sql(check, plan)}, false)" for check in stage.checks]
    if source.format == "jsonl":
        conditions.append(f"NOT coalesce({JSON_OBJECT_LINE}, false)")
    bad = " OR ".join(conditions) if conditions else "false"
    relation = f"SELECT *, ({bad}) AS __bad FROM ({body})"
    if numbered and not number_first and "__line" not in source.columns:
        # Numbered last: DuckDB streams row_number() OVER () in file order, after the typing
        # and the checks have run in parallel below it.
        relation = f"SELECT row_number() OVER () AS __row, * FROM ({relation})"
    return f"({relation})"


def _scan_summary(
    con: duckdb.DuckDBPyConnection, stage: _Stage, typed: str, report: Progress
) -> dict[str, Any]:
    spec, plan = stage.spec, stage.plan
    # A 64-bit hash of the key (or of the content, for derived keys) tells cheaply whether any
    # key repeats; a collision only sends the import down the exact, slower path.
    if _id_expression(spec, plan):
        hashed = "hash(" + ", ".join(f"__t_{c}" for c in _content_columns(spec)) + ")"
    else:
        hashed = f"hash(__t_{spec.key})"
    touchpoints = (
        "list(DISTINCT __t_touchpoint) FILTER (WHERE NOT __bad AND __t_touchpoint IS NOT NULL)"
        if "touchpoint" in spec.columns
        else "[]"
    )
    extras: dict[str, str] = {}
    if stage.lifetime:
        extras |= life.summary_aggregates()
    if spec.name == "feedback":
        extras |= scale_aggregates()
    more = "".join(f", {sql}" for sql in extras.values())
    query = (
        f"SELECT count(*), count(*) FILTER (WHERE __bad), "
        f"count(DISTINCT {hashed}) FILTER (WHERE NOT __bad), {touchpoints}{more} FROM {typed}"
    )
    rows, bad, distinct_keys, seen, *values = run_with_progress(con, query, report, "checking")
    summary = {"rows": rows, "bad": bad, "distinct_keys": distinct_keys, "touchpoints": seen or []}
    return summary | dict(zip(extras, values, strict=True))


def _numbered_source(source: Source) -> str:
    """The file's raw rows with ``__row`` numbered exactly as in the typed relation."""
    if "__line" in source.columns:
        return f"(SELECT * EXCLUDE (__line), __line AS __row FROM {source.relation})"
    return f"(SELECT row_number() OVER () AS __row, * FROM {source.relation})"
