"""From a source file to the typed, checked relation an import writes: all SQL, run by DuckDB.

``build_stage`` decides the column plan (names, aliases, --map, --set, --recode) and the rules;
``typed_relation`` is the file as SQL with its raw columns, the cleaned ``__s_*`` and typed
``__t_*`` canonical columns and a ``__bad`` flag; ``scan_summary`` counts, validates and
collects touchpoints in one streaming scan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import duckdb

from cxray.i18n import Message
from cxray.ingest import columns as cols
from cxray.ingest import lifetime as life
from cxray.ingest import values
from cxray.ingest.problems import JSON_OBJECT_LINE, ImportError_
from cxray.ingest.result import ImportOptions
from cxray.ingest.sources import Source, sql_literal
from cxray.ingest.validation import (
    TEXT_METRIC,
    Check,
    checks,
    condition_sql,
    scale_aggregates,
)
from cxray.ingest.writing import Progress, run_with_progress
from cxray.journey import Journey
from cxray.schema import TableSpec


@dataclass(frozen=True)
class Stage:
    """Everything that turns the file into the typed, validated relation."""

    spec: TableSpec
    source: Source
    plan: cols.ColumnPlan
    options: ImportOptions
    checks: list[Check]
    lifetime: life.Lifetime | None


def build_stage(spec: TableSpec, source: Source, options: ImportOptions, journey: Journey) -> Stage:
    plan = column_plan(spec, source, options, journey)
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
    return Stage(spec, source, plan, options, rules, lifetime)


def column_plan(
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
        raise ImportError_(
            Message(
                f"{source.path}: cannot read the file: {exc}",
                f"{source.path}: kan het bestand niet lezen: {exc}",
            )
        ) from None
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


def typed_expressions(con: duckdb.DuckDBPyConnection, stage: Stage) -> dict[str, str]:
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
            exprs[column] = values.json_expr(
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
                exprs[column] = values.timestamp_expr(
                    constant, "VARCHAR", options.timezone, options.timestamp_format, True
                )
        elif src is None:
            exprs[column] = "NULL"
        elif dtype.is_timestamp():
            # Day-first values may appear anywhere in a file, not only in a sample of it.
            exprs[column] = values.timestamp_expr(
                value, duck_type, options.timezone, options.timestamp_format, True
            )
        elif dtype.is_floating():
            exprs[column] = values.number_expr(value, duck_type)
        else:
            exprs[column] = values.text_expr(value, duck_type)
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


def content_columns(spec: TableSpec) -> list[str]:
    """The columns a row's content is: all but the key. Feedback gained its JSON column after
    its ids were first stored: an answer's extra columns describe it, they never enter its id
    (so old files re-import as duplicates)."""
    return [
        column
        for column in spec.columns
        if column != spec.key and not (spec.name == "feedback" and column == spec.json_column)
    ]


def id_expression(spec: TableSpec, plan: cols.ColumnPlan) -> str | None:
    """A content-derived key where the file has none, so re-imports find the same rows.

    md5 (not DuckDB's faster ``hash``) because ids are stored: they must not change when the
    engine is upgraded. Timestamps enter as epoch microseconds, the cheapest exact text form.
    """
    if spec.key in plan.sources or spec.key in plan.constants:
        return None
    parts = []
    for column in content_columns(spec):
        dtype = spec.schema[column]
        value = (
            f"CAST(epoch_us(__t_{column}) AS VARCHAR)"
            if dtype.is_timestamp()
            else (f"CAST(__t_{column} AS VARCHAR)")
        )
        parts.append(f"coalesce({value}, '')")
    return f"substr(md5(concat_ws(chr(31), {', '.join(parts)})), 1, 24)"


def typed_relation(con: duckdb.DuckDBPyConnection, stage: Stage, numbered: bool) -> str:
    """The file as SQL: its raw columns, typed canonical ``__t_*`` columns and a ``__bad`` flag.

    ``numbered`` adds ``__row``, the record's place in the file, and per rule a flag
    (``failed_flag``); it costs a window over the whole file, so only the error and
    repeated-key paths ask for it.
    """
    spec, source, plan = stage.spec, stage.source, stage.plan
    exprs = typed_expressions(con, stage)
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
        f"{values.clean_expr(src, source.columns[src])} AS __s_{column}"
        for column, src in plan.sources.items()
    )
    if cleaned:
        inner = f"SELECT *, {cleaned} FROM ({inner})"
    body = f"SELECT *, {typed} FROM ({inner})"
    id_expr = id_expression(spec, plan)
    if id_expr:
        body = f"SELECT * REPLACE ({id_expr} AS __t_{spec.key}) FROM ({body})"
    if stage.lifetime:
        body = life.derive(stage.lifetime, plan, body)
    conditions = [f"coalesce({condition_sql(check, plan)}, false)" for check in stage.checks]
    if numbered and conditions:
        # Which rule each row fails, decided once here: the bad rows are then explained from
        # these flags instead of every rule being evaluated again (problems.collect).
        flags = ", ".join(f"{c} AS {failed_flag(i)}" for i, c in enumerate(conditions))
        body = f"SELECT *, {flags} FROM ({body})"
        conditions = [failed_flag(i) for i in range(len(conditions))]
    if source.format == "jsonl":
        conditions.append(f"NOT coalesce({JSON_OBJECT_LINE}, false)")
    bad = " OR ".join(conditions) if conditions else "false"
    relation = f"SELECT *, ({bad}) AS __bad FROM ({body})"
    if numbered and not number_first and "__line" not in source.columns:
        # Numbered last: DuckDB streams row_number() OVER () in file order, after the typing
        # and the checks have run in parallel below it.
        relation = f"SELECT row_number() OVER () AS __row, * FROM ({relation})"
    return f"({relation})"


def failed_flag(index: int) -> str:
    """The column of a numbered relation that is true where the row fails rule ``index``."""
    return f"__failed_{index}"


def scan_summary(
    con: duckdb.DuckDBPyConnection, stage: Stage, typed: str, report: Progress
) -> dict[str, Any]:
    spec, plan = stage.spec, stage.plan
    # A 64-bit hash of the key (or of the content, for derived keys) tells cheaply whether any
    # key repeats; a collision only sends the import down the exact, slower path.
    if id_expression(spec, plan):
        hashed = "hash(" + ", ".join(f"__t_{c}" for c in content_columns(spec)) + ")"
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


def numbered_copy(con: duckdb.DuckDBPyConnection, stage: Stage, table: str) -> Stage:
    """The stage over a temporary copy of the file's rows, numbered as they were read.

    Numbering on the fly (a window over the stream) keeps the typing and the checks to one
    thread; numbered once into a table, they run in parallel over it (0.7 s of 1.9 s for a
    million bad rows). The copy spills to the workspace's temp folder past the memory limit.
    """
    source = stage.source
    if "__line" in source.columns:  # numbered by its reader already
        return stage
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS "
        f"SELECT row_number() OVER () AS __line, * FROM {source.relation}"
    )
    copy = dataclasses.replace(
        source, relation=f"temp.{table}", columns={**source.columns, "__line": "BIGINT"}
    )
    return dataclasses.replace(stage, source=copy)


def numbered_source(source: Source) -> str:
    """The file's raw rows with ``__row`` numbered exactly as in the typed relation."""
    if "__line" in source.columns:
        return f"(SELECT * EXCLUDE (__line), __line AS __row FROM {source.relation})"
    return f"(SELECT row_number() OVER () AS __row, * FROM {source.relation})"
