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
import csv
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cxray import journey as journey_mod
from cxray.ingest import columns as cols
from cxray.ingest.sources import (
    Source,
    SourceError,
    csv_lines,
    open_source,
    quote_ident,
    sql_literal,
)
from cxray.journey import UNASSIGNED
from cxray.results import Result
from cxray.schema import TableSpec, table_spec

if TYPE_CHECKING:
    import pandas as pd

    from cxray.workspace import Workspace

Progress = Callable[[str, float | None], None]
SCREEN_ERRORS = 20
TEXT_METRIC = "text"
JSON_OBJECT_LINE = "json_valid(__json_line) AND starts_with(ltrim(__json_line), '{')"


class ImportError_(ValueError):
    """The import was refused. ``errors`` holds the first rows; ``report`` the file with all."""

    def __init__(
        self,
        message: str,
        errors: list[dict] | None = None,
        total: int = 0,
        report: Path | None = None,
    ):
        super().__init__(message)
        self.errors = errors or []
        self.total = total
        self.report = report


@dataclass
class ImportOptions:
    mapping: dict[str, str] = field(default_factory=dict)  # source column -> canonical column
    constants: dict[str, str] = field(default_factory=dict)  # canonical column -> fixed value
    skip_invalid: bool = False
    strict: bool = False
    timezone: str | None = None
    timestamp_format: str | None = None
    errors_file: Path | None = None


@dataclass
class ImportResult(Result):
    table: str
    source: str
    rows_read: int
    rows_imported: int
    rows_updated: int
    rows_duplicate: int
    rows_rejected: int
    new_touchpoints: list[str] = field(default_factory=list)
    suggestions: dict[str, str] = field(default_factory=dict)  # new name -> likely intended
    quarantine: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    column_map: dict[str, str] = field(default_factory=dict)  # canonical -> source
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        keys = ("rows_read", "rows_imported", "rows_updated", "rows_duplicate", "rows_rejected")
        return pd.DataFrame([{k: getattr(self, k) for k in ("table", "source", *keys)}])

    def summary(self, lang: str = "en") -> str:
        if lang == "nl":
            return (
                f"{self.rows_read:,} rijen gelezen = {self.rows_imported:,} geïmporteerd + "
                f"{self.rows_updated:,} bijgewerkt + {self.rows_duplicate:,} dubbel + "
                f"{self.rows_rejected:,} afgewezen"
            ).replace(",", ".")
        return (
            f"{self.rows_read:,} rows read = {self.rows_imported:,} imported + "
            f"{self.rows_updated:,} updated + {self.rows_duplicate:,} duplicates + "
            f"{self.rows_rejected:,} rejected"
        )


# -- the pipeline -----------------------------------------------------------------------------
def import_file(
    ws: Workspace,
    table: str,
    path: Path,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportResult:
    spec = table_spec(table)
    warehouse = ws.warehouse
    if not warehouse.is_duckdb:
        raise ImportError_(
            f"importing into a {warehouse.engine} warehouse is not supported yet; import into a "
            "DuckDB workspace"
        )
    started = dt.datetime.now(dt.UTC)
    con: duckdb.DuckDBPyConnection = warehouse.backend.con
    report = progress or (lambda step, fraction: None)
    bad_table = f"cxray_bad_{uuid.uuid4().hex[:8]}"
    try:
        source = open_source(con, path, ws.path / ".cxray-tmp")
    except SourceError as exc:
        raise ImportError_(str(exc)) from None
    if source.format == "xes" and spec.name == "customers":
        source = _xes_cases(source)
    try:
        with _temporary_tables(con, bad_table, "cxray_rejects", "cxray_rejects_scan"):
            plan = _plan(spec, source, options)
            known = set(ws.journey.touchpoints)
            checks = _checks(spec, plan, ws, options, known)
            typed = _typed_relation(con, spec, source, plan, options, checks, numbered=False)

            # Pass 1: count, validate and collect touchpoints in one streaming scan.
            summary = _scan_summary(con, spec, plan, typed, report)
            structural = _structural_rejects(con, source)
            rows_read = summary["rows"] + len(structural)
            rejected = summary["bad"] + len(structural)

            detail: list[dict] = []
            numbered = None
            if rejected:
                numbered = _typed_relation(con, spec, source, plan, options, checks, numbered=True)
                _collect_bad_rows(con, bad_table, numbered, report)
                detail = _error_rows(con, bad_table, source, plan, checks, structural)
                if not options.skip_invalid:
                    raise _refusal(source, detail, rejected, options)
            new_touchpoints = sorted(t for t in summary["touchpoints"] if t not in known)

            # Pass 2: write. Keys repeated inside the file need ordering; most files have none.
            valid = rows_read - rejected
            repeats = summary["distinct_keys"] < summary["rows"] - summary["bad"]
            rows = typed
            if repeats:
                numbered = numbered or _typed_relation(
                    con, spec, source, plan, options, checks, numbered=True
                )
                rows = (
                    f"(SELECT * FROM {numbered} WHERE NOT __bad QUALIFY row_number() OVER "
                    f"(PARTITION BY __t_{spec.key} ORDER BY __row) = 1)"
                )
            with warehouse.transaction():
                imported, updated = _write(con, spec, rows, report)
                duplicates = valid - imported - updated
                _log_import(
                    con, spec, source, started, rows_read, imported, updated, duplicates, rejected
                )
            quarantine = None
            if rejected:
                quarantine = _write_quarantine(con, ws, bad_table, source, detail)
    finally:
        source.cleanup()

    suggestions = {}
    if new_touchpoints:
        for name in new_touchpoints:
            hint = ws.journey.closest_touchpoint(name)
            if hint:
                suggestions[name] = hint
        journey_mod.add_touchpoints(ws.journey_path, new_touchpoints, phase=UNASSIGNED)
    report("done", 1.0)
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
    )


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


def _plan(spec: TableSpec, source: Source, options: ImportOptions) -> cols.ColumnPlan:
    names = [c for c in source.columns if not c.startswith("__")]
    if source.format == "xes" and spec.name == "events":
        # Case attributes describe the customer, not each event: they belong in `customers`.
        names = [c for c in names if not c.startswith("case:") or c == "case:concept:name"]
    try:
        plan = cols.plan_columns(spec, names, options.mapping, options.constants, str(source.path))
    except cols.MappingError as exc:
        raise ImportError_(str(exc)) from None
    missing = [c for c in spec.required if c not in plan.sources and c not in plan.constants]
    no_score = "score" not in plan.sources and "score" not in plan.constants
    if spec.name == "feedback" and no_score and plan.constants.get("metric") != TEXT_METRIC:
        missing.append("score")  # only comment-only sources (--set metric=text) go without
    if missing:
        hint = ", ".join(f"--map YOUR_COLUMN={c}" for c in missing)
        raise ImportError_(
            f"{source.path}: required column(s) missing: {', '.join(missing)}. The file has: "
            f"{', '.join(names)}. Name them with {hint}"
            + (" or set a constant with --set metric=nps" if "metric" in missing else "")
        )
    return plan


def _typed_expressions(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    plan: cols.ColumnPlan,
    options: ImportOptions,
) -> dict[str, str]:
    """canonical column -> SQL over the cleaned ``__s_<column>`` values."""
    exprs: dict[str, str] = {}
    for column, dtype in spec.schema.items():
        src = plan.sources.get(column)
        duck_type = source.columns[src] if src else "VARCHAR"
        value = f"__s_{column}"
        if column == spec.json_column:
            exprs[column] = cols.json_expr(value if src else None, duck_type, plan.extras)
        elif column in plan.constants:
            constant = sql_literal(plan.constants[column])
            exprs[column] = f"TRY_CAST({constant} AS DOUBLE)" if dtype.is_floating() else constant
        elif src is None:
            exprs[column] = "NULL"
        elif dtype.is_timestamp():
            fallbacks = _needs_fallback_formats(con, source, src, duck_type, options)
            exprs[column] = cols.timestamp_expr(
                value, duck_type, options.timezone, options.timestamp_format, fallbacks
            )
        elif dtype.is_floating():
            exprs[column] = cols.number_expr(value, duck_type)
        else:
            exprs[column] = cols.text_expr(value, duck_type)
    if spec.name == "feedback":
        exprs["metric"] = f"lower({exprs['metric']})"
    if "language" in exprs and exprs["language"] != "NULL":
        exprs["language"] = f"lower({exprs['language']})"
    return exprs


def _needs_fallback_formats(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    column: str,
    duck_type: str,
    options: ImportOptions,
) -> bool:
    """Try the non-ISO layouts only when a sample of the column shows they are needed."""
    if options.timestamp_format or not cols.is_text(duck_type):
        return False
    clean = cols.clean_expr(column, duck_type)
    iso = cols.timestamp_expr("v", duck_type, options.timezone, None, with_fallbacks=False)
    failures = con.execute(
        f"SELECT count(*) FROM (SELECT {clean} AS v FROM {source.relation} "
        f"WHERE {clean} IS NOT NULL LIMIT 2000) WHERE {iso} IS NULL"
    ).fetchone()[0]
    return failures > 0


def _id_expression(spec: TableSpec, plan: cols.ColumnPlan) -> str | None:
    """A content-derived key where the file has none, so re-imports find the same rows.

    md5 (not DuckDB's faster ``hash``) because ids are stored: they must not change when the
    engine is upgraded. Timestamps enter as epoch microseconds, the cheapest exact text form.
    """
    if spec.key in plan.sources or spec.key in plan.constants:
        return None
    parts = []
    for column, dtype in spec.schema.items():
        if column == spec.key:
            continue
        value = (
            f"CAST(epoch_us(__t_{column}) AS VARCHAR)"
            if dtype.is_timestamp()
            else (f"CAST(__t_{column} AS VARCHAR)")
        )
        parts.append(f"coalesce({value}, '')")
    return f"substr(md5(concat_ws(chr(31), {', '.join(parts)})), 1, 24)"


def _typed_relation(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    plan: cols.ColumnPlan,
    options: ImportOptions,
    checks: list[Check],
    numbered: bool,
) -> str:
    """The file as SQL: its raw columns, typed canonical ``__t_*`` columns and a ``__bad`` flag.

    ``numbered`` adds ``__row``, the record's place in the file; it costs a window over the
    whole file, so only the error and repeated-key paths ask for it.
    """
    exprs = _typed_expressions(con, spec, source, plan, options)
    typed = ", ".join(f"{expr} AS __t_{name}" for name, expr in exprs.items())
    if "__line" in source.columns:
        inner = f"SELECT * EXCLUDE (__line), __line AS __row FROM {source.relation}"
    elif numbered:
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
    conditions = [f"coalesce({_condition_sql(check, plan)}, false)" for check in checks]
    if source.format == "jsonl":
        conditions.append(f"NOT coalesce({JSON_OBJECT_LINE}, false)")
    bad = " OR ".join(conditions) if conditions else "false"
    return f"(SELECT *, ({bad}) AS __bad FROM ({body}))"


def _scan_summary(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    plan: cols.ColumnPlan,
    typed: str,
    report: Progress,
) -> dict[str, Any]:
    # A 64-bit hash of the key (or of the content, for derived keys) tells cheaply whether any
    # key repeats; a collision only sends the import down the exact, slower path.
    if _id_expression(spec, plan):
        hashed = "hash(" + ", ".join(f"__t_{c}" for c in spec.columns if c != spec.key) + ")"
    else:
        hashed = f"hash(__t_{spec.key})"
    touchpoints = (
        "list(DISTINCT __t_touchpoint) FILTER (WHERE NOT __bad AND __t_touchpoint IS NOT NULL)"
        if "touchpoint" in spec.columns
        else "[]"
    )
    query = (
        f"SELECT count(*), count(*) FILTER (WHERE __bad), "
        f"count(DISTINCT {hashed}) FILTER (WHERE NOT __bad), {touchpoints} FROM {typed}"
    )
    rows, bad, distinct_keys, seen = _run_with_progress(con, query, report, "checking")
    return {"rows": rows, "bad": bad, "distinct_keys": distinct_keys, "touchpoints": seen or []}


def _collect_bad_rows(
    con: duckdb.DuckDBPyConnection, bad_table: str, numbered: str, report: Progress
) -> None:
    _run_with_progress(
        con,
        f"CREATE TEMP TABLE {bad_table} AS SELECT * FROM {numbered} WHERE __bad",
        report,
        "finding bad rows",
    )


def _run_with_progress(
    con: duckdb.DuckDBPyConnection, statement: str, report: Progress, step: str
) -> tuple:
    """Run a long statement while a thread reports DuckDB's own progress estimate."""
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            with contextlib.suppress(Exception):
                fraction = con.query_progress()
                if fraction is not None and fraction >= 0:
                    report(step, min(fraction / 100.0, 1.0))

    report(step, 0.0)
    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        # fetchall, not fetchone: DuckDB finishes the scan (and its rejects table) only then.
        rows = con.execute(statement).fetchall()
        return rows[0] if rows else ()
    except duckdb.Error as exc:
        raise ImportError_(f"cannot read the file: {exc}") from None
    finally:
        done.set()
        watcher.join()


# -- validation -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """A validation rule: ``condition`` is SQL over the typed relation, where ``{raw}`` stands
    for the cleaned source value (NULL when blank) and ``{c}`` for the canonical column name."""

    column: str
    condition: str
    reason: str


def _condition_sql(check: Check, plan: cols.ColumnPlan) -> str:
    cleaned = f"__s_{check.column}" if check.column in plan.sources else "NULL"
    return check.condition.replace("{c}", check.column).replace("{raw}", cleaned)


def _checks(
    spec: TableSpec,
    plan: cols.ColumnPlan,
    ws: Workspace,
    options: ImportOptions,
    known_touchpoints: set[str],
) -> list[Check]:
    blank = "{raw} IS NULL"  # cleaned values are NULL when blank
    unreadable = "__t_{c} IS NULL AND {raw} IS NOT NULL"
    checks = [
        Check(column, "__t_{c} IS NULL AND " + blank, "missing value")
        for column in spec.required
        if column not in plan.constants
    ]
    for column, dtype in spec.schema.items():
        if column not in plan.sources or column == spec.json_column:
            continue
        if dtype.is_timestamp():
            reason = "not a date/time I can read (use ISO 8601, e.g. 2024-03-01 14:30:00)"
            checks.append(Check(column, unreadable, reason))
        elif dtype.is_floating():
            checks.append(Check(column, unreadable, "not a number"))
    if spec.json_column and spec.json_column in plan.sources:
        checks.append(
            Check(
                spec.json_column,
                "{raw} IS NOT NULL AND NOT json_valid(CAST({raw} AS VARCHAR))",
                "not valid JSON",
            )
        )
    if spec.name == "feedback":
        scales = ws.journey.scales
        known = sorted({*scales, TEXT_METRIC})
        listed = ", ".join(sql_literal(m) for m in known)
        checks.append(
            Check(
                "metric",
                f"__t_metric IS NOT NULL AND __t_metric NOT IN ({listed})",
                f"unknown metric (known: {', '.join(known)}; add a scale in cxray.toml)",
            )
        )
        checks.append(
            Check(
                "score",
                f"__t_score IS NULL AND __t_metric <> '{TEXT_METRIC}' "
                f"AND __t_metric IN ({listed}) AND " + blank,
                "missing score",
            )
        )
        for metric, scale in scales.items():
            checks.append(
                Check(
                    "score",
                    f"__t_metric = {sql_literal(metric)} AND "
                    f"(__t_score < {scale.min} OR __t_score > {scale.max})",
                    f"outside the {metric} scale {scale.min:g}–{scale.max:g}",
                )
            )
    if options.strict and "touchpoint" in plan.sources:
        listed = ", ".join(sql_literal(t) for t in sorted(known_touchpoints))
        unknown = f" AND __t_touchpoint NOT IN ({listed})" if listed else ""
        checks.append(
            Check(
                "touchpoint",
                f"__t_touchpoint IS NOT NULL{unknown}",
                "touchpoint not in the journey (--strict)",
            )
        )
    return checks


def _structural_rejects(con: duckdb.DuckDBPyConnection, source: Source) -> list[tuple[int, str]]:
    """Records DuckDB could not split into the header's columns (CSV only)."""
    if source.format != "csv":
        return []
    try:
        rows = con.execute("SELECT line, error_message FROM cxray_rejects ORDER BY line").fetchall()
    except duckdb.Error:
        return []
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DROP TABLE IF EXISTS temp.cxray_rejects")
            con.execute("DROP TABLE IF EXISTS temp.cxray_rejects_scan")
    return [(int(line), message) for line, message in rows]


def _error_rows(
    con: duckdb.DuckDBPyConnection,
    bad_table: str,
    source: Source,
    plan: cols.ColumnPlan,
    checks: list[Check],
    structural: list[tuple[int, str]],
) -> list[dict]:
    """Every (row, column, value, reason) among the bad rows, with the line a user sees."""
    parts = []
    if source.format == "jsonl":
        parts.append(
            f"SELECT __row, '(line)' AS column_name, left(__json_line, 200) AS value, "
            f"'not a JSON object' AS reason FROM {bad_table} "
            f"WHERE NOT coalesce({JSON_OBJECT_LINE}, false)"
        )
    # A line that is not JSON at all gets one reason, not one per missing field.
    only_parsed = f" AND coalesce({JSON_OBJECT_LINE}, false)" if source.format == "jsonl" else ""
    for check in checks:
        src = plan.sources.get(check.column)
        raw = f"CAST({quote_ident(src)} AS VARCHAR)" if src else "CAST(NULL AS VARCHAR)"
        parts.append(
            f"SELECT __row, {sql_literal(src or check.column)}, {raw}, "
            f"{sql_literal(check.reason)} FROM {bad_table} "
            f"WHERE coalesce({_condition_sql(check, plan)}, false){only_parsed}"
        )
    found = con.execute(" UNION ALL ".join(parts) + " ORDER BY 1, 2").fetchall() if parts else []
    rows = {r[0] for r in found}
    if source.format == "csv":
        lines, malformed = csv_lines(source, rows, find_malformed=bool(structural))
        if structural and not malformed:  # encoding or quoting problems csv cannot see
            malformed = list(structural)
    else:
        lines = {r: r + source.row_offset for r in rows}
        malformed = []
    detail = [
        {
            "file": str(source.path),
            source.position_label: line,
            "column": "",
            "value": "",
            "reason": reason,
        }
        for line, reason in malformed
    ]
    for row, column, value, reason in found:
        detail.append(
            {
                "file": str(source.path),
                source.position_label: lines.get(row, row + source.row_offset),
                "column": column,
                "value": "" if value is None else str(value)[:200],
                "reason": reason,
                "__row": row,
            }
        )
    detail.sort(key=lambda d: d[source.position_label])
    return detail


def _refusal(
    source: Source, detail: list[dict], rejected: int, options: ImportOptions
) -> ImportError_:
    label = source.position_label
    report = options.errors_file or Path.cwd() / f"{source.path.name}.errors.csv"
    fields = ["file", label, "column", "value", "reason"]
    try:
        with open(report, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(detail)
    except OSError:
        report = None
    shown = "\n".join(
        f"  {d['file']}:{label} {d[label]}: {d['column'] or '(row)'} = {d['value']!r}: {d['reason']}"
        for d in detail[:SCREEN_ERRORS]
    )
    more = f"\n  … and {len(detail) - SCREEN_ERRORS} more" if len(detail) > SCREEN_ERRORS else ""
    where = f"\nAll problems are listed in {report}" if report else ""
    message = (
        f"{source.path}: import refused, {rejected} invalid row(s); nothing was imported.\n"
        f"{shown}{more}{where}\nFix the rows, or import the valid ones with --skip-invalid."
    )
    return ImportError_(message, detail[:SCREEN_ERRORS], rejected, report)


# -- writing --------------------------------------------------------------------------------
def _write(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: str, report: Progress
) -> tuple[int, int]:
    """Insert rows whose key is new (customers: update those that changed). Returns counts."""
    typed = ", ".join(f"__t_{c} AS {quote_ident(c)}" for c in spec.columns)
    relation = f"(SELECT {typed} FROM {rows} WHERE NOT __bad)"
    updated = _update_customers(con, spec, relation) if spec.name == "customers" else 0
    column_list = ", ".join(quote_ident(c) for c in spec.columns)
    target_empty = con.execute(f"SELECT count(*) = 0 FROM (SELECT 1 FROM {spec.name} LIMIT 1)")
    if target_empty.fetchone()[0]:
        new_rows = f"SELECT {column_list} FROM {relation}"  # nothing to be a duplicate of
    else:
        new_rows = (
            f"SELECT {', '.join('u.' + quote_ident(c) for c in spec.columns)} FROM {relation} u "
            f"ANTI JOIN {spec.name} t ON t.{spec.key} = u.{spec.key}"
        )
    (inserted,) = _run_with_progress(
        con, f"INSERT INTO {spec.name} ({column_list}) {new_rows}", report, "writing"
    )
    return int(inserted), int(updated)


def _update_customers(con: duckdb.DuckDBPyConnection, spec: TableSpec, relation: str) -> int:
    """Customers already known get what the file says new about them; blanks keep old values."""
    key = spec.key
    settable = [c for c in spec.columns if c not in (key, spec.json_column)]
    sets = [f"{c} = coalesce(u.{c}, t.{c})" for c in settable]
    merged = (
        f"CAST(json_merge_patch(coalesce(t.{spec.json_column}, '{{}}'), "
        f"coalesce(u.{spec.json_column}, '{{}}')) AS VARCHAR)"
    )
    sets.append(
        f"{spec.json_column} = CASE WHEN u.{spec.json_column} IS NULL "
        f"THEN t.{spec.json_column} ELSE {merged} END"
    )
    differs = " OR ".join(
        [f"(u.{c} IS NOT NULL AND u.{c} IS DISTINCT FROM t.{c})" for c in settable]
        + [f"(u.{spec.json_column} IS NOT NULL AND {merged} IS DISTINCT FROM t.{spec.json_column})"]
    )
    result = con.execute(
        f"UPDATE {spec.name} AS t SET {', '.join(sets)} FROM {relation} u "
        f"WHERE t.{key} = u.{key} AND ({differs})"
    ).fetchone()
    return int(result[0]) if result else 0


def _log_import(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    started: dt.datetime,
    read: int,
    imported: int,
    updated: int,
    duplicates: int,
    rejected: int,
) -> None:
    con.execute(
        "INSERT INTO cxray_imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            uuid.uuid4().hex,
            spec.name,
            source.path.name,
            started,
            read,
            imported,
            updated,
            duplicates,
            rejected,
        ],
    )


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    bad_table: str,
    source: Source,
    detail: list[dict],
) -> Path:
    """The rejected rows as they were in the file, with where and why, for fixing and re-import."""
    folder = ws.path / "quarantine"
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = folder / f"{source.path.name}.{stamp}.csv"
    label = source.position_label
    reasons: dict[int, list[str]] = {}
    positions: dict[int, int] = {}
    for d in detail:
        if "__row" in d:
            reasons.setdefault(d["__row"], []).append(f"{d['column']}: {d['reason']}")
            positions[d["__row"]] = d[label]
    raw_columns = [c for c in source.columns if not c.startswith("__")]
    selected = ", ".join(quote_ident(c) for c in raw_columns)
    rows = con.execute(f"SELECT __row, {selected} FROM {bad_table} ORDER BY __row").fetchall()
    out_rows = [
        [d[label], d["reason"]] + [""] * len(raw_columns)  # could not be split into columns
        for d in detail
        if "__row" not in d
    ]
    out_rows += [
        [positions[row], "; ".join(reasons.get(row, ["invalid"])), *values]
        for row, *values in rows
        if row in positions
    ]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([label, "reason", *raw_columns])
        writer.writerows(sorted(out_rows, key=lambda r: r[0]))
    return out
