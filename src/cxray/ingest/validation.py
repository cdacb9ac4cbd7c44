"""Validation rules over the typed stage (the report of a refused import: problems.py).

Every rule is a SQL condition over the typed relation; a failing row becomes
(row, column, value, reason), mapped to the line an editor shows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from cxray.ingest import columns as cols
from cxray.ingest import values
from cxray.ingest.problems import JSON_OBJECT_LINE as JSON_OBJECT_LINE
from cxray.ingest.problems import UNREADABLE_TIMESTAMP
from cxray.ingest.problems import ImportError_ as ImportError_
from cxray.ingest.sources import Source, csv_lines, position_nl, sql_literal
from cxray.schema import TableSpec

if TYPE_CHECKING:
    from cxray.ingest.importer import ImportOptions
    from cxray.journey import Journey

TEXT_METRIC = "text"
IMPLAUSIBLE = (
    f"outside the plausible years {values.PLAUSIBLE_YEARS[0]}–{values.PLAUSIBLE_YEARS[1]} "
    "(a placeholder such as infinity or 9999-12-31, or a typo)"
)
NOT_FINITE = "not a finite number (NaN, infinity, or beyond what a number can hold)"
# Survey answers given in whole points: an NPS of 6.5 is neither detractor nor passive.
# Star ratings may come in halves; scales added in cxray.toml are not assumed to be whole.
WHOLE_POINT_SCALES = frozenset({"nps", "csat", "ces"})
STRUCTURED = "a JSON list or object where one value belongs"
CONTROL_CHARACTERS = (
    "contains control characters (a NUL byte, an escape code or similar): refused, not stripped, "
    "so no two values are merged silently"
)
# NUL, ESC (ANSI codes), the other C0 and C1 controls and DEL. Tabs and line breaks are
# whitespace a quoted CSV field may hold; they cannot rewrite a terminal.
# What a value without any control character is: one regex that must match all of it (a full
# match runs at twice the speed of searching for a forbidden character).
PLAIN_TEXT = "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*"


@dataclass(frozen=True)
class Check:
    """A validation rule: ``condition`` is SQL over the typed relation, where ``{raw}`` stands
    for the cleaned source value (NULL when blank) and ``{c}`` for the canonical column name."""

    column: str
    condition: str
    reason: str


def condition_sql(check: Check, plan: cols.ColumnPlan) -> str:
    cleaned = f"__s_{check.column}" if check.column in plan.sources else "NULL"
    return check.condition.replace("{c}", check.column).replace("{raw}", cleaned)


def checks(
    spec: TableSpec,
    plan: cols.ColumnPlan,
    journey: Journey,
    options: ImportOptions,
    known_touchpoints: set[str],
    parsed: frozenset[str] = frozenset(),
) -> list[Check]:
    """The rules for this table. ``parsed`` names columns whose value as read from the file
    is kept as ``__p_<column>`` because ``__t_<column>`` is derived (lifetime data)."""
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
            read = unreadable.replace("__t_", "__p_") if column in parsed else unreadable
            checks.append(Check(column, read, UNREADABLE_TIMESTAMP))
            stored = "__p_{c}" if column in parsed else "__t_{c}"
            checks.append(Check(column, values.implausible_timestamp_sql(stored), IMPLAUSIBLE))
        elif dtype.is_floating():
            checks.append(Check(column, unreadable, "not a number"))
            checks.append(Check(column, "NOT isfinite(__t_{c})", NOT_FINITE))
        elif dtype.is_string():
            checks += text_checks(column)
    for column, dtype in spec.schema.items():
        if column in plan.constants and dtype.is_timestamp():
            value = plan.constants[column]
            checks.append(
                Check(column, "__t_{c} IS NULL", f"--set {column}={value}: {UNREADABLE_TIMESTAMP}")
            )
            checks.append(
                Check(column, values.implausible_timestamp_sql("__t_{c}"), f"--set: {IMPLAUSIBLE}")
            )
    if spec.json_column and spec.json_column in plan.sources:
        checks.append(
            Check(
                spec.json_column,
                "{raw} IS NOT NULL AND NOT json_valid(CAST({raw} AS VARCHAR))",
                "not valid JSON",
            )
        )
    if spec.name == "feedback":
        scales = journey.scales
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
            on_scale = f"__t_metric = {sql_literal(metric)} AND isfinite(__t_score) AND "
            checks.append(
                Check(
                    "score",
                    on_scale + f"(__t_score < {scale.min} OR __t_score > {scale.max})",
                    f"outside the {metric} scale {scale.min:g}–{scale.max:g}",
                )
            )
            if metric in WHOLE_POINT_SCALES:
                checks.append(
                    Check(
                        "score",
                        on_scale + "__t_score <> round(__t_score)",
                        f"not a whole number: the {metric} scale {scale.min:g}–{scale.max:g} "
                        "has whole points only",
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


def text_checks(column: str) -> list[Check]:
    """A name or id is plain text: not a JSON list or object, no control characters.

    Control characters are refused, not stripped: stripping would silently merge ids that
    differ only by them, and a name with an escape code is a sign of a broken export.
    """
    structured = (
        "(typeof({raw}) LIKE '%[]' OR typeof({raw}) SIMILAR TO '(STRUCT|MAP|UNION|JSON).*' "
        # ascii() of the first character: cheaper than left(); 91 is '[', 123 is '{'
        "OR (ascii(CAST({raw} AS VARCHAR)) IN (91, 123) AND json_valid(CAST({raw} AS VARCHAR))))"
    )
    rules = [Check(column, f"{{raw}} IS NOT NULL AND {structured}", STRUCTURED)]
    rules.append(
        Check(
            column,
            f"NOT regexp_full_match(CAST({{raw}} AS VARCHAR), {sql_literal(PLAIN_TEXT)})",
            CONTROL_CHARACTERS,
        )
    )
    return rules


def forget_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what the CSV reader set aside so far: the next scan lists its own."""
    for table in ("cxray_rejects", "cxray_rejects_scan"):
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def structural_rejects(con: duckdb.DuckDBPyConnection, source: Source) -> list[tuple[int, str]]:
    """Records DuckDB could not split into the header's columns (CSV only)."""
    if source.format != "csv":
        return []
    try:
        # DuckDB lists a short row once per missing field: one problem per line
        rows = con.execute(
            "SELECT line, min(error_message) FROM cxray_rejects GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        forget_rejects(con)
    return [(int(line), message) for line, message in rows]


def key_conflicts(
    con: duckdb.DuckDBPyConnection,
    numbered: str,
    spec: TableSpec,
    source: Source,
    plan: cols.ColumnPlan,
) -> list[dict]:
    """Rows repeating a key given in the file (customer_id, event_id, response_id) with other
    content: one of them is wrong and nothing tells which, so both lines are named.

    A repeat that agrees (or leaves a value blank) is a duplicate, not a conflict. Runs only when
    a key repeats, over the valid rows; each later row is compared with the key's first row.
    """
    key = spec.key
    if key not in plan.sources:
        return []
    keyed = f"(SELECT * FROM {numbered} WHERE NOT __bad AND __t_{key} IS NOT NULL)"
    parts = [
        f"SELECT f.__row, k.__row, {sql_literal(plan.sources.get(c, c))}, "
        f"CAST(k.__t_{c} AS VARCHAR), CAST(f.__t_{c} AS VARCHAR), CAST(k.__t_{key} AS VARCHAR) "
        f"FROM k JOIN f USING (__t_{key}) WHERE k.__row <> f.__row AND "
        + (
            json_disagree(f"f.__t_{c}", f"k.__t_{c}")
            if c == spec.json_column
            else f"k.__t_{c} <> f.__t_{c}"
        )
        for c in spec.columns
        if c != key
    ]
    found = con.execute(
        f"WITH k AS (SELECT * FROM {keyed}), f AS (SELECT * FROM k QUALIFY row_number() "
        f"OVER (PARTITION BY __t_{key} ORDER BY __row) = 1) "
        + " UNION ALL ".join(parts)
        + " ORDER BY 2, 3"
    ).fetchall()
    rows = {r[0] for r in found} | {r[1] for r in found}
    if source.format == "csv":
        lines, _ = csv_lines(source, rows, find_malformed=False)
    else:
        lines = {}
    line = {r: lines.get(r, r + source.row_offset) for r in rows}
    label = source.position_label

    def entry(row: int, other: int, column: str, value: str, theirs: str, key_value: str) -> dict:
        return {
            "file": str(source.path),
            label: line[row],
            "column": column,
            "value": value[:200],
            "reason": (
                f"{plan.sources[key]} {key_value!r} is also on {label} {line[other]}, with "
                f"{column} = {theirs[:200]!r}: which one is right?"
            ),
            "__row": row,
        }

    detail = []
    for first, later, column, value, earlier, key_value in found:
        detail.append(entry(later, first, column, value, earlier, key_value))
        detail.append(entry(first, later, column, earlier, value, key_value))
    unique = {(d["__row"], d["column"], d["reason"]): d for d in detail}
    return sorted(unique.values(), key=lambda d: (d[label], d["column"]))


def json_disagree(first: str, later: str) -> str:
    """SQL true where two JSON objects give one key different values (a key only one has is
    something new, not a disagreement)."""

    def at(doc: str) -> str:
        return f"json_extract({doc}, '$.\"' || name || '\"')"

    return f"len(list_filter(json_keys({later}), name -> {at(first)} <> {at(later)})) > 0"


# -- plausibility warnings (imported, but probably not what was meant) ------------------------
STAR_SCALE_MIN_ROWS = 20


def scale_aggregates(prefix: str = "__t_", valid: str = "NOT __bad") -> dict[str, str]:
    """NPS answers among the valid rows and their range: 1–5 only looks like star ratings.

    Over the typed relation by default; ``prefix=""`` reads rows already stored."""
    nps = f"{valid} AND {prefix}metric = 'nps' AND {prefix}score IS NOT NULL"
    return {
        "nps_n": f"count(*) FILTER (WHERE {nps})",
        "nps_min": f"min({prefix}score) FILTER (WHERE {nps})",
        "nps_max": f"max({prefix}score) FILTER (WHERE {nps})",
    }


def scale_warnings(summary: dict) -> list[dict[str, str]]:
    n, low, high = summary.get("nps_n") or 0, summary.get("nps_min"), summary.get("nps_max")
    if n < STAR_SCALE_MIN_ROWS or low is None or high is None or low < 1 or high > 5:
        return []
    return [
        {
            "en": (
                f"warning: all {n:,} NPS scores lie between 1 and 5, never 0 or 6–10: these look "
                "like 1–5 star ratings, not 0–10 recommendation scores. If so, import them with "
                "--set metric=rating (or metric=csat) instead."
            ),
            "nl": (
                f"let op: alle {n:,} NPS-scores liggen tussen 1 en 5, nooit 0 of 6–10: dit lijken "
                "sterrenbeoordelingen van 1–5, geen aanbevelingsscores van 0–10. Importeer ze dan "
                "met --set metric=rating (of metric=csat)."
            ).replace(",", "."),
        }
    ]


# -- the reasons in Dutch ---------------------------------------------------------------------
# Reasons are stored in English (the problems table, the errors and quarantine files); a Dutch
# reader sees them translated. A reason not listed (a reader's own message) stays English.
_REASONS_NL = {
    "missing value": "waarde ontbreekt",
    UNREADABLE_TIMESTAMP: (
        "geen datum/tijd die ik kan lezen (gebruik ISO 8601, bijv. 2024-03-01 14:30:00)"
    ),
    IMPLAUSIBLE: (
        f"buiten de plausibele jaren {values.PLAUSIBLE_YEARS[0]}–{values.PLAUSIBLE_YEARS[1]} "
        "(een plaatshouder als infinity of 9999-12-31, of een typefout)"
    ),
    "not a number": "geen getal",
    NOT_FINITE: "geen eindig getal (NaN, oneindig, of groter dan een getal kan bevatten)",
    STRUCTURED: "een JSON-lijst of -object waar één waarde hoort",
    CONTROL_CHARACTERS: (
        "bevat stuurtekens (een NUL-byte, een escapecode of iets dergelijks): geweigerd, niet "
        "verwijderd, zodat geen twee waarden ongemerkt samenvallen"
    ),
    "not valid JSON": "geen geldige JSON",
    "not a JSON object": "geen JSON-object",
    "missing score": "score ontbreekt",
    "touchpoint not in the journey (--strict)": "contactmoment staat niet in de journey (--strict)",
    # lifetime data
    "negative tenure": "negatieve klantduur",
    "tenure out of range (not a finite number, or longer than 200 years)": (
        "klantduur buiten bereik (geen eindig getal, of langer dan 200 jaar)"
    ),
    "tenure, but no start date, end date or --as-of to count it from": (
        "klantduur, maar geen startdatum, einddatum of --as-of om vanaf te tellen"
    ),
    "missing value (yes or no)": "waarde ontbreekt (ja of nee)",
    "churned, but nothing says when: give an end date, a start date with tenure, or --as-of "
    "(the date of the export)": (
        "vertrokken, maar niets zegt wanneer: geef een einddatum, een startdatum met klantduur, "
        "of --as-of (de datum van de export)"
    ),
    "end date before the start date": "einddatum vóór de startdatum",
    "last seen before the start date": "laatst gezien vóór de startdatum",
}
_DATE_KINDS_NL = {"start": "startdatum", "end": "einddatum", "last seen": "laatst-gezien-datum"}
_REASON_PATTERNS_NL: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"unknown metric \(known: (.*); add a scale in cxray\.toml\)"),
        lambda m: f"onbekende metriek (bekend: {m[1]}; voeg een schaal toe in cxray.toml)",
    ),
    (
        re.compile(r"outside the (\S+) scale (\S+)"),
        lambda m: f"buiten de {m[1]}-schaal {m[2]}",
    ),
    (
        re.compile(r"not a whole number: the (\S+) scale (\S+) has whole points only"),
        lambda m: f"geen geheel getal: de {m[1]}-schaal {m[2]} kent alleen hele punten",
    ),
    (
        re.compile(r"not a yes/no value \(expected (.*)\)"),
        lambda m: f"geen ja/nee-waarde (verwacht {m[1]})",
    ),
    (
        re.compile(r"(start|end|last seen) date after the as-of date (.*)"),
        lambda m: f"{_DATE_KINDS_NL[m[1]]} na de peildatum {m[2]}",
    ),
    (
        re.compile(r"start date plus tenure is after the as-of date (.*)"),
        lambda m: f"startdatum plus klantduur valt na de peildatum {m[1]}",
    ),
    (
        re.compile(
            r"(\S+) ('.*') is also on (line|row|event) (\d+), with (.*) = (.*): "
            r"which one is right\?",
            re.S,
        ),
        lambda m: (
            f"{m[1]} {m[2]} staat ook op {position_nl(m[3])} {m[4]}, met {m[5]} = {m[6]}: "
            "welke klopt?"
        ),
    ),
    (
        re.compile(
            r"a quote opened on line (\d+) is never closed: lines (\S+) \(to the end of "
            r"the file\) cannot be split into rows; close the quote"
        ),
        lambda m: (
            f"een aanhalingsteken geopend op regel {m[1]} wordt nooit gesloten: regels "
            f"{m[2]} (tot het einde van het bestand) zijn niet in rijen te splitsen; sluit het "
            "aanhalingsteken"
        ),
    ),
    (
        re.compile(r"cannot read this line as CSV: (.*)", re.S),
        lambda m: f"deze regel is niet als CSV te lezen: {m[1]}",
    ),
    (
        re.compile(r"expected (\d+) fields, found (\d+)"),
        lambda m: f"{m[1]} velden verwacht, {m[2]} gevonden",
    ),
    (re.compile(r"--set: (.*)", re.S), lambda m: f"--set: {reason_nl(m[1])}"),
    (re.compile(r"(--set \S+=[^:]*): (.*)", re.S), lambda m: f"{m[1]}: {reason_nl(m[2])}"),
]


def reason_nl(reason: str) -> str:
    """A row's reason as a Dutch reader sees it."""
    if reason in _REASONS_NL:
        return _REASONS_NL[reason]
    for pattern, dutch in _REASON_PATTERNS_NL:
        found = pattern.fullmatch(reason)
        if found:
            return dutch(found)
    return reason


def reason_text(reason: str, lang: str = "en") -> str:
    return reason_nl(reason) if lang == "nl" else reason
