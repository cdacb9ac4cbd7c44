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


class ImportError_(ValueError):
    """The import was refused. ``errors`` holds the first rows; ``report`` the file with all."""

    def __init__(self, message: str, errors: list[dict] | None = None, total: int = 0,
                 report: Path | None = None):
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
    work_dir = ws.path / ".cxray-tmp"
    report = progress or (lambda step, fraction: None)
    tag = uuid.uuid4().hex[:8]
    stage = f"cxray_stage_{tag}"
    errors = f"cxray_errors_{tag}"

    try:
        source = open_source(con, path, work_dir)
    except SourceError as exc:
        raise ImportError_(str(exc)) from None
    try:
        with _temporary_tables(con, stage, errors):
            report("reading", 0.0)
            plan = _plan(spec, source, options)
            _stage(con, stage, spec, source, plan, options, ws, report)
            report("validating", None)
            rows_read = con.execute(f"SELECT count(*) FROM {stage}").fetchone()[0]
            known = set(ws.journey.touchpoints)
            _validate(con, stage, errors, spec, plan, options, ws, known)
            structural = _structural_rejects(con, source)
            bad_rows = con.execute(f"SELECT count(DISTINCT __row) FROM {errors}").fetchone()[0]
            rejected = bad_rows + len(structural)
            rows_read += len(structural)

            detail: list[dict] = []
            if rejected:
                detail = _error_rows(con, errors, source, structural)
                if not options.skip_invalid:
                    raise _refusal(source, detail, rejected, options)

            new_touchpoints = _new_touchpoints(con, stage, errors, spec, known, rejected > 0)
            report("writing", None)
            with warehouse.transaction():
                imported, updated = _write(con, stage, errors, spec, rejected > 0)
                valid = rows_read - rejected
                duplicates = valid - imported - updated
                _log_import(con, spec, source, started, rows_read, imported, updated,
                            duplicates, rejected)
            quarantine = None
            if rejected:
                quarantine = _write_quarantine(con, ws, stage, source, detail, plan)
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
    if spec.name == "feedback" and "score" not in plan.sources and "score" not in plan.constants:
        if plan.constants.get("metric") not in (TEXT_METRIC, None) or "metric" in plan.sources:
            missing.append("score")
    if missing:
        hint = ", ".join(f"--map YOUR_COLUMN={c}" for c in missing)
        raise ImportError_(
            f"{source.path}: required column(s) missing: {', '.join(missing)}. The file has: "
            f"{', '.join(names)}. Name them with {hint}"
            + (" or set a constant with --set metric=nps" if "metric" in missing else "")
        )
    return plan


def _typed_expressions(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, source: Source, plan: cols.ColumnPlan,
    options: ImportOptions,
) -> dict[str, str]:
    exprs: dict[str, str] = {}
    for column, dtype in spec.schema.items():
        if column == spec.json_column:
            exprs[column] = cols.json_expr(plan.sources.get(column), plan.extras)
            continue
        if column in plan.constants:
            exprs[column] = f"CAST({sql_literal(plan.constants[column])} AS VARCHAR)"
            if dtype.is_floating():
                exprs[column] = f"TRY_CAST({sql_literal(plan.constants[column])} AS DOUBLE)"
            continue
        src = plan.sources.get(column)
        if src is None:
            exprs[column] = "NULL"
            continue
        duck_type = source.columns[src]
        if dtype.is_timestamp():
            fallbacks = _needs_fallback_formats(con, source, src, duck_type, options)
            exprs[column] = cols.timestamp_expr(
                src, duck_type, options.timezone, options.timestamp_format, fallbacks
            )
        elif dtype.is_floating():
            exprs[column] = cols.number_expr(src, duck_type)
        else:
            exprs[column] = cols.text_expr(src)
    if spec.name == "feedback":
        exprs["metric"] = f"lower({exprs['metric']})"
    if "language" in exprs and exprs["language"] != "NULL":
        exprs["language"] = f"lower({exprs['language']})"
    return exprs


def _needs_fallback_formats(
    con: duckdb.DuckDBPyConnection, source: Source, column: str, duck_type: str,
    options: ImportOptions,
) -> bool:
    """Try the non-ISO layouts only when a sample of the column shows they are needed."""
    if options.timestamp_format or duck_type.upper() != "VARCHAR":
        return False
    iso = cols.timestamp_expr(column, duck_type, options.timezone, None, with_fallbacks=False)
    failures = con.execute(
        f"SELECT count(*) FROM (SELECT {quote_ident(column)} FROM {source.relation} "
        f"WHERE {cols.text_expr(column)} IS NOT NULL LIMIT 2000) WHERE {iso} IS NULL"
    ).fetchone()[0]
    return failures > 0


def _id_expression(spec: TableSpec, plan: cols.ColumnPlan) -> str | None:
    """A content-derived key where the file has none, so re-imports find the same rows."""
    if spec.key in plan.sources or spec.key in plan.constants:
        return None
    parts = [c for c in spec.columns if c != spec.key]
    text = ", ".join(f"coalesce(CAST(__t_{c} AS VARCHAR), '')" for c in parts)
    return f"substr(md5(concat_ws(chr(31), {text})), 1, 24)"


def _stage(
    con: duckdb.DuckDBPyConnection, stage: str, spec: TableSpec, source: Source,
    plan: cols.ColumnPlan, options: ImportOptions, ws: Workspace, report: Progress,
) -> None:
    exprs = _typed_expressions(con, spec, source, plan, options)
    typed = ", ".join(f"{expr} AS __t_{name}" for name, expr in exprs.items())
    position = "__line" if "__line" in source.columns else "row_number() OVER ()"
    blank_filter = " WHERE __json_line IS NOT NULL" if source.format == "jsonl" else ""
    inner = (
        f"SELECT {position} AS __row, * FROM {source.relation}"
        if position != "__line"
        else f"SELECT * EXCLUDE (__line), __line AS __row FROM {source.relation}"
    )
    inner = f"SELECT * FROM ({inner}){blank_filter}"
    body = f"SELECT *, {typed} FROM ({inner})"
    id_expr = _id_expression(spec, plan)
    if id_expr:
        body = f"SELECT * REPLACE ({id_expr} AS __t_{spec.key}) FROM ({body})"
    _run_with_progress(con, f"CREATE TEMP TABLE {stage} AS {body}", report)


def _run_with_progress(con: duckdb.DuckDBPyConnection, statement: str, report: Progress) -> None:
    """Run a long statement while a thread reports DuckDB's own progress estimate."""
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            with contextlib.suppress(Exception):
                fraction = con.query_progress()
                if fraction is not None and fraction >= 0:
                    report("reading", min(fraction / 100.0, 1.0))

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        con.execute(statement)
    except duckdb.Error as exc:
        raise ImportError_(f"cannot read the file: {exc}") from None
    finally:
        done.set()
        watcher.join()


# -- validation -----------------------------------------------------------------------------
def _checks(spec: TableSpec, plan: cols.ColumnPlan, ws: Workspace, options: ImportOptions,
            known_touchpoints: set[str]) -> list[tuple[str, str, str]]:
    """(canonical column, SQL condition that marks a bad row, reason)."""
    checks: list[tuple[str, str, str]] = []
    for column in spec.required:
        if column in plan.constants:
            continue
        checks.append((column, f"__t_{column} IS NULL AND (raw IS NULL OR trim(raw) = '')",
                       "missing value"))
    for column, dtype in spec.schema.items():
        src = plan.sources.get(column)
        if src is None or column == spec.json_column:
            continue
        if dtype.is_timestamp():
            checks.append((column, "__t_{c} IS NULL AND raw IS NOT NULL AND trim(raw) <> ''",
                           "not a date/time I can read (use ISO 8601, e.g. 2024-03-01 14:30:00)"))
        elif dtype.is_floating():
            checks.append((column, "__t_{c} IS NULL AND raw IS NOT NULL AND trim(raw) <> ''",
                           "not a number"))
    if spec.json_column and spec.json_column in plan.sources:
        checks.append((spec.json_column,
                       "raw IS NOT NULL AND trim(raw) <> '' AND NOT json_valid(trim(raw))",
                       "not valid JSON"))
    if spec.name == "feedback":
        scales = ws.journey.scales
        known = sorted({*scales, TEXT_METRIC})
        listed = ", ".join(sql_literal(m) for m in known)
        checks.append(("metric", f"__t_metric IS NOT NULL AND __t_metric NOT IN ({listed})",
                       f"unknown metric (known: {', '.join(known)}; add a scale in cxray.toml)"))
        checks.append(("score", f"__t_score IS NULL AND __t_metric <> '{TEXT_METRIC}' "
                       f"AND __t_metric IN ({listed}) AND (raw IS NULL OR trim(raw) = '')",
                       "missing score"))
        for metric, scale in scales.items():
            checks.append((
                "score",
                f"__t_metric = {sql_literal(metric)} AND "
                f"(__t_score < {scale.min} OR __t_score > {scale.max})",
                f"outside the {metric} scale {scale.min:g}–{scale.max:g}",
            ))
    if options.strict and "touchpoint" in plan.sources:
        listed = ", ".join(sql_literal(t) for t in sorted(known_touchpoints)) or "NULL"
        checks.append(("touchpoint", f"__t_touchpoint IS NOT NULL AND __t_touchpoint NOT IN ({listed})",
                       "touchpoint not in the journey (--strict)"))
    return checks


def _validate(
    con: duckdb.DuckDBPyConnection, stage: str, errors: str, spec: TableSpec,
    plan: cols.ColumnPlan, options: ImportOptions, ws: Workspace, known: set[str],
) -> None:
    con.execute(
        f"CREATE TEMP TABLE {errors} (__row BIGINT, column_name VARCHAR, value VARCHAR, "
        "reason VARCHAR)"
    )
    if "__json_line" in _stage_columns(con, stage):
        con.execute(
            f"INSERT INTO {errors} SELECT __row, '(line)', left(__json_line, 200), "
            f"'not a JSON object' FROM {stage} WHERE NOT coalesce(json_valid(__json_line) "
            "AND starts_with(ltrim(__json_line), '{'), false)"
        )
    for column, condition, reason in _checks(spec, plan, ws, options, known):
        src = plan.sources.get(column)
        raw = f"CAST({quote_ident(src)} AS VARCHAR)" if src else "CAST(NULL AS VARCHAR)"
        shown = src or column
        cond = condition.replace("{c}", column).replace("raw", raw)
        con.execute(
            f"INSERT INTO {errors} SELECT __row, {sql_literal(shown)}, {raw}, "
            f"{sql_literal(reason)} FROM {stage} WHERE {cond}"
        )


def _stage_columns(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {stage}").fetchall()]


def _structural_rejects(con: duckdb.DuckDBPyConnection, source: Source) -> list[tuple[int, str]]:
    """Records DuckDB could not split into the header's columns (CSV only)."""
    if source.format != "csv":
        return []
    try:
        rows = con.execute(
            "SELECT line, error_message FROM cxray_rejects ORDER BY line"
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DROP TABLE IF EXISTS temp.cxray_rejects")
            con.execute("DROP TABLE IF EXISTS temp.cxray_rejects_scan")
    return [(int(line), message) for line, message in rows]


def _error_rows(
    con: duckdb.DuckDBPyConnection, errors: str, source: Source,
    structural: list[tuple[int, str]],
) -> list[dict]:
    found = con.execute(
        f"SELECT __row, column_name, value, reason FROM {errors} ORDER BY __row, column_name"
    ).fetchall()
    rows = {r[0] for r in found}
    if source.format == "csv":
        lines, malformed = csv_lines(source, rows, find_malformed=bool(structural))
        if structural and not malformed:  # encoding or quoting problems csv cannot see
            malformed = [(line + source.row_offset - 1, msg) for line, msg in structural]
    else:
        lines = {r: r + source.row_offset for r in rows}
        malformed = []
    detail = [
        {"file": str(source.path), source.position_label: line, "column": "", "value": "",
         "reason": reason}
        for line, reason in malformed
    ]
    for row, column, value, reason in found:
        detail.append({
            "file": str(source.path),
            source.position_label: lines.get(row, row + source.row_offset),
            "column": column,
            "value": "" if value is None else str(value)[:200],
            "reason": reason,
            "__row": row,
        })
    detail.sort(key=lambda d: d[source.position_label])
    return detail


def _refusal(source: Source, detail: list[dict], rejected: int,
             options: ImportOptions) -> ImportError_:
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
def _good_rows(stage: str, errors: str, any_bad: bool) -> str:
    if not any_bad:
        return stage
    return f"(SELECT * FROM {stage} WHERE __row NOT IN (SELECT __row FROM {errors}))"


def _new_touchpoints(con: duckdb.DuckDBPyConnection, stage: str, errors: str, spec: TableSpec,
                     known: set[str], any_bad: bool) -> list[str]:
    if "touchpoint" not in spec.columns:
        return []
    seen = con.execute(
        f"SELECT DISTINCT __t_touchpoint FROM {_good_rows(stage, errors, any_bad)} "
        "WHERE __t_touchpoint IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [name for (name,) in seen if name not in known]


def _write(con: duckdb.DuckDBPyConnection, stage: str, errors: str, spec: TableSpec,
           any_bad: bool) -> tuple[int, int]:
    names = spec.columns
    key = spec.key
    typed = ", ".join(f"__t_{c} AS {quote_ident(c)}" for c in names)
    # First occurrence of a key in the file wins; later ones count as duplicates.
    unique = (
        f"SELECT {typed} FROM {_good_rows(stage, errors, any_bad)} "
        f"QUALIFY row_number() OVER (PARTITION BY __t_{key} ORDER BY __row) = 1"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE cxray_unique AS {unique}")
    try:
        updated = 0
        if spec.name == "customers":
            updated = _update_customers(con, spec)
        column_list = ", ".join(quote_ident(c) for c in names)
        inserted = con.execute(
            f"INSERT INTO {spec.name} ({column_list}) SELECT {column_list} FROM cxray_unique u "
            f"WHERE NOT EXISTS (SELECT 1 FROM {spec.name} t WHERE t.{key} = u.{key})"
        ).fetchone()[0]
    finally:
        con.execute("DROP TABLE IF EXISTS temp.cxray_unique")
    return int(inserted), int(updated)


def _update_customers(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> int:
    """Customers already known get what the file says new about them; blanks keep old values."""
    key = spec.key
    settable = [c for c in spec.columns if c not in (key, spec.json_column)]
    sets = [f"{c} = coalesce(u.{c}, t.{c})" for c in settable]
    merged = (
        f"CAST(json_merge_patch(coalesce(t.{spec.json_column}, '{{}}'), "
        f"coalesce(u.{spec.json_column}, '{{}}')) AS VARCHAR)"
    )
    sets.append(f"{spec.json_column} = CASE WHEN u.{spec.json_column} IS NULL "
                f"THEN t.{spec.json_column} ELSE {merged} END")
    differs = " OR ".join(
        [f"(u.{c} IS NOT NULL AND u.{c} IS DISTINCT FROM t.{c})" for c in settable]
        + [f"(u.{spec.json_column} IS NOT NULL AND {merged} IS DISTINCT FROM "
           f"t.{spec.json_column})"]
    )
    result = con.execute(
        f"UPDATE {spec.name} AS t SET {', '.join(sets)} FROM cxray_unique u "
        f"WHERE t.{key} = u.{key} AND ({differs})"
    ).fetchone()
    return int(result[0]) if result else 0


def _log_import(con: duckdb.DuckDBPyConnection, spec: TableSpec, source: Source,
                started: dt.datetime, read: int, imported: int, updated: int,
                duplicates: int, rejected: int) -> None:
    con.execute(
        "INSERT INTO cxray_imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [uuid.uuid4().hex, spec.name, source.path.name, started, read, imported, updated,
         duplicates, rejected],
    )


def _write_quarantine(con: duckdb.DuckDBPyConnection, ws: Workspace, stage: str,
                      source: Source, detail: list[dict], plan: cols.ColumnPlan) -> Path:
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
    rows = con.execute(
        f"SELECT __row, {selected} FROM {stage} WHERE __row IN "
        f"(SELECT unnest(?::BIGINT[])) ORDER BY __row",
        [sorted(reasons)],
    ).fetchall()
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([label, "reason", *raw_columns])
        out_rows = [
            [d[label], d["reason"]] + [""] * len(raw_columns)  # could not be split into columns
            for d in detail
            if "__row" not in d
        ]
        out_rows += [[positions[row], "; ".join(reasons[row]), *values] for row, *values in rows]
        writer.writerows(sorted(out_rows, key=lambda r: r[0]))
    return out
