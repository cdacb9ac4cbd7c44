"""From a file's columns to the canonical ones: mapping, aliases, and typed SQL expressions.

Mapping order, per canonical column: ``--map``, ``--set``, the column's own name, then its
aliases in the order listed (a weak alias only when the file's values fit, see
:data:`WEAK_ALIASES`). Every conversion is a SQL expression run by DuckDB over the whole file at
once, never a Python loop over rows.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from cxray.ingest.sources import Source, csv_lines, quote_ident, sql_literal
from cxray.schema import TableSpec

# Names people give these columns, in English and Dutch, and in process-mining exports (XES).
ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer",
        "customerid",
        "customer_number",
        "client_id",
        "user_id",
        "account_id",
        "case",
        "case_id",
        "caseid",
        "case:concept:name",
        "klant",
        "klant_id",
        "klantid",
        "klantnummer",
    ),
    "ts": (
        "timestamp",
        "time",
        "datetime",
        "date",
        "event_time",
        "created_at",
        "time:timestamp",
        "tijdstip",
        "datum",
        "tijd",
        "recordeddate",
        "recorded_date",
    ),
    "touchpoint": ("activity", "event", "event_name", "concept:name", "contactmoment", "action"),
    "channel": ("kanaal", "org:channel", "channel"),
    "comment": ("text", "opmerking", "toelichting", "verbatim"),
    "language": ("lang", "taal", "locale", "userlanguage", "user_language"),
    "segment": ("segment", "klantsegment"),
    "first_seen": (
        "signup",
        "signup_date",
        "signed_up_at",
        "created",
        "customer_since",
        "member_since",
        "start",
        "start_date",
        "startdate",
        "started_at",
        "join_date",
        "joined",
        "joined_at",
        "subscription_start",
        "klant_sinds",
        "lid_sinds",
        "startdatum",
        "begindatum",
        "ingangsdatum",
        "aanmelddatum",
    ),
    "churned_at": (
        "end",
        "end_date",
        "enddate",
        "ended_at",
        "churn_date",
        "churned_on",
        "cancel_date",
        "cancelled_at",
        "canceled_at",
        "cancellation_date",
        "termination_date",
        "left_at",
        "einddatum",
        "opgezegd_op",
        "opzegdatum",
        "datum_opzegging",
        "vertrokken_op",
        "vertrekdatum",
    ),
    "last_seen": (
        "last_active",
        "last_activity",
        "last_seen_at",
        "last_login",
        "laatst_gezien",
        "laatste_activiteit",
        "laatst_actief",
    ),
    "metric": ("survey_type", "type"),
    "value": ("amount", "bedrag", "revenue", "omzet", "price", "prijs"),
    "survey_id": ("survey", "enquete"),
    "response_id": ("responseid", "answer_id", "antwoord_id"),
}

# Aliases that exports also use for something else: a survey tool's ``Type`` is the kind of
# response ("Survey Preview"), a ``time`` column may hold a time of day or a duration, an
# ``event`` column an id. Such an alias is taken only when the file's values fit the column,
# judged on the first SAMPLE_ROWS rows; otherwise the column is left to the JSON column.
WEAK_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("time", "date", "tijd", "datum"),
    "touchpoint": ("event", "action"),
    "comment": ("text",),
    "first_seen": ("start",),
    "churned_at": ("end",),
    "metric": ("type",),
}
SAMPLE_ROWS = 1_000
# What a weak alias's values must be, per canonical column (see ValueSample.misfits).
WEAK_KINDS = {
    "ts": "timestamp",
    "first_seen": "timestamp",
    "churned_at": "timestamp",
    "touchpoint": "name",
    "comment": "name",
    "metric": "metric",
}

# Layouts tried when ISO parsing fails: day-first dates (common in European exports) and an
# offset after a space (``2015-02-24 11:35:52 -0800``, as git and many logs write it).
# Month-first layouts are deliberately absent: ambiguous. Naive and zoned layouts are tried
# apart: DuckDB mixing both in one list rolls impossible dates over (31-02 became 3 March).
FALLBACK_TIMESTAMP_FORMATS = (
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
)
FALLBACK_ZONED_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S.%f %z",
)

# What the fallback layouts above can read at all, as a prefix.
SPACED_OFFSET = r"[0-9] [+-][0-9]{2}:?[0-9]{2}$"
DAY_FIRST_SHAPE = r"^[0-9]{1,2}[-/][0-9]{1,2}[-/][0-9]"
ISO_WITH_OFFSET_SHAPE = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[ T][0-9]"

OFFSET_AFTER_TIME = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
IMPOSSIBLE_OFFSET = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*[+-]((1[5-9]|[2-9][0-9])(:?[0-9]{2})?|[0-9]{2}:?[6-9][0-9])$"

# Timestamps outside this window are refused as implausible: ``infinity``, year 9999
# placeholders and typos (9909) break every analysis that spans time.
PLAUSIBLE_YEARS = (1900, 2200)

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)


class MappingError(ValueError):
    pass


def normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


FOUND_EXACT, FOUND_ALIAS, FOUND_MAP = "exact name", "alias", "--map"
WEAK_MISFITS = {  # kind -> what the values were instead (English, Dutch)
    "timestamp": ("not dates/times", "geen datums/tijden"),
    "name": ("all numbers (an id, a count or a code)", "allemaal getallen (id, aantal of code)"),
    "metric": ("not metrics cxray knows", "geen metrieken die cxray kent"),
}


@dataclass(frozen=True)
class PassedOver:
    """A file column whose name is a weak alias of ``target``, not taken: its values do not fit.

    ``examples`` are values that did not fit with the line (or row) they are on; none when the
    column had no value at all in the rows looked at.
    """

    column: str
    target: str
    kind: str  # timestamp, name or metric (WEAK_KINDS)
    examples: tuple[tuple[str, int], ...] = ()
    position_label: str = "line"

    def reason(self, lang: str = "en") -> str:
        nl = lang == "nl"
        if not self.examples:
            if nl:
                return f"ze is leeg in de eerste {SAMPLE_ROWS:,} rijen".replace(",", ".")
            return f"it has no values in the first {SAMPLE_ROWS:,} rows"
        where = {"line": "regel", "row": "rij"}.get(self.position_label) if nl else None
        on = "op" if nl else "on"
        shown = ", ".join(
            f"{value!r} {on} {where or self.position_label} {line}" for value, line in self.examples
        )
        en, dutch = WEAK_MISFITS[self.kind]
        return (
            f"de waarden zijn {dutch}, bijv. {shown}"
            if nl
            else f"its values are {en}, e.g. {shown}"
        )

    @property
    def option(self) -> str:
        """The --map that takes the column anyway."""
        return "--map " + shlex.quote(f"{self.column}={self.target}")


@dataclass
class ColumnPlan:
    """Which source column feeds which canonical column, and what stays as extra JSON."""

    sources: dict[str, str]  # canonical -> source column
    constants: dict[str, str]  # canonical -> constant text
    extras: list[str]  # source columns packed into the table's JSON column
    ignored: list[str] = field(default_factory=list)  # source columns with nowhere to go
    found_by: dict[str, str] = field(default_factory=dict)  # canonical -> FOUND_* for sources
    passed_over: list[PassedOver] = field(default_factory=list)  # weak aliases not taken
    missing: list[str] = field(default_factory=list)  # required, with no source or constant
    recode: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical -> labels


# (target, file column, kind) -> None when the values fit, else why not
WeakFit = Callable[[str, str, str], PassedOver | None]


def plan_columns(
    spec: TableSpec,
    source_columns: list[str],
    mapping: dict[str, str],
    constants: dict[str, str],
    file_label: str,
    inputs: dict[str, tuple[str, ...]] | None = None,
    exact_only: frozenset[str] = frozenset(),
    weak_fit: WeakFit | None = None,
) -> ColumnPlan:
    """``inputs`` are columns read but not stored as such (a customer's tenure), with aliases;
    ``exact_only`` columns are matched by their own name or --map, never by an alias.
    ``weak_fit`` judges a weak alias on the file's values; without it, weak aliases are not
    taken."""
    inputs = inputs or {}
    targets = [*spec.columns, *inputs]
    canonical = set(targets)
    for target in list(mapping.values()) + list(constants):
        if target not in canonical:
            raise MappingError(
                f"{file_label}: cannot map to {target!r}: the {spec.name} table has "
                f"{', '.join(targets)}"
            )
    missing_sources = [s for s in mapping if s not in source_columns]
    if missing_sources:
        raise MappingError(
            f"{file_label}: --map names column(s) not in the file: {', '.join(missing_sources)}; "
            f"the file has: {', '.join(source_columns)}"
        )

    sources: dict[str, str] = {target: src for src, target in mapping.items()}
    found_by = dict.fromkeys(sources, FOUND_MAP)
    passed_over: list[PassedOver] = []
    taken = set(mapping)
    by_norm = {normalise(c): c for c in source_columns if c not in taken}
    for column in targets:
        if column in sources or column in constants:
            continue
        if normalise(column) in by_norm:
            sources[column] = by_norm.pop(normalise(column))
            found_by[column] = FOUND_EXACT
            continue
        if column in exact_only:
            continue
        for alias in ALIASES.get(column, ()) + inputs.get(column, ()):
            if alias not in by_norm:
                continue
            if alias in WEAK_ALIASES.get(column, ()):
                misfit = weak_fit(column, by_norm[alias], WEAK_KINDS[column]) if weak_fit else None
                if weak_fit is None or misfit is not None:
                    passed_over += [misfit] if misfit else []
                    continue
            sources[column] = by_norm.pop(alias)
            found_by[column] = FOUND_ALIAS
            break
    taken |= set(sources.values())
    passed_over = [p for p in passed_over if p.column not in taken]
    leftover = [c for c in source_columns if c not in taken and not c.startswith("__")]
    extras, ignored = (leftover, []) if spec.json_column else ([], leftover)
    return ColumnPlan(sources, constants, extras, ignored, found_by, passed_over)


def missing_message(
    file_label: str, missing: list[str], names: list[str], passed_over: list[PassedOver]
) -> str:
    """Required columns the file lacks: how to name them, and why a likely column was not
    taken (a weak alias whose values do not fit)."""
    hint = ", ".join(f"--map YOUR_COLUMN={c}" for c in missing)
    message = (
        f"{file_label}: required column(s) missing: {', '.join(missing)}. The file has: "
        f"{', '.join(names)}. Name them with {hint}"
        + (" or set a constant with --set metric=nps" if "metric" in missing else "")
    )
    for passed in passed_over:
        if passed.target in missing:
            constant = " (or one metric for every row: --set metric=nps)"
            message += (
                f"\n  {passed.column} was not taken for {passed.target}: {passed.reason()}; to "
                f"use it anyway: {passed.option}" + (constant if passed.target == "metric" else "")
            )
    return message


class ValueSample:
    """The first SAMPLE_ROWS rows of a file, to judge weak aliases by their values.

    Read on a connection of its own, so the import's connection (and the rejects table its
    full scan keeps) is left alone; opened at the first question only.
    """

    def __init__(
        self,
        source: Source,
        known_metrics: list[str],
        timezone: str | None = None,
        timestamp_format: str | None = None,
    ):
        self.source = source
        self.known_metrics = known_metrics
        self.timezone, self.timestamp_format = timezone, timestamp_format
        self._con: duckdb.DuckDBPyConnection | None = None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __call__(self, target: str, column: str, kind: str) -> PassedOver | None:
        duck_type = self.source.columns[column]
        value = clean_expr(column, duck_type)
        if kind == "metric":
            known = ", ".join(sql_literal(m) for m in self.known_metrics)
            misfit = f"lower({text_expr('v', duck_type)}) NOT IN ({known})"
        elif kind == "timestamp":
            read = timestamp_expr("v", duck_type, self.timezone, self.timestamp_format, True)
            misfit = f"{read} IS NULL"
        else:  # a name fits unless every value is a number
            misfit = f"{number_expr('v', duck_type)} IS NOT NULL"
        rows = self._query(
            f"SELECT __r, CAST(v AS VARCHAR), {misfit} FROM (SELECT __r, {value} AS v "
            "FROM cxray_sample) WHERE v IS NOT NULL ORDER BY __r"
        )
        bad = [(text, row) for row, text, unfit in rows if unfit]
        if rows and kind == "name" and len(bad) < len(rows):
            return None
        if rows and kind == "metric" and not bad:
            return None
        # Dates: most must read (a typo is then refused on its line, as in any date column),
        # or all in one layout --timestamp-format can name (the import then says which).
        if rows and kind == "timestamp" and 2 * len(bad) < len(rows):
            return None
        if rows and kind == "timestamp" and suggest_timestamp_format([t for _, t, _ in rows]):
            return None
        examples: list[tuple[str, int]] = []
        for text, row in bad:
            if text not in {t for t, _ in examples}:
                examples.append((text, row))
            if len(examples) == 3:
                break
        lines = lines_of(self.source, {row for _, row in examples})
        shown = tuple((text, lines.get(row, row)) for text, row in examples)
        return PassedOver(column, target, kind, shown, self.source.position_label)

    def _query(self, sql: str) -> list[tuple]:
        if self._con is None:  # the sample is read once, at the first question
            self._con = duckdb.connect()
            self._con.execute("SET TimeZone = 'UTC'")
            position = "__line" if "__line" in self.source.columns else "row_number() OVER ()"
            self._con.execute(
                f"CREATE TEMP TABLE cxray_sample AS SELECT {position} AS __r, * "
                f"FROM (SELECT * FROM {self.source.relation} LIMIT {SAMPLE_ROWS})"
            )
        return self._con.execute(sql).fetchall()


def lines_of(source: Source, rows: set[int]) -> dict[int, int]:
    """Records (``__row`` as the import numbers them) as the line or row a user sees."""
    if not rows:
        return {}
    if "__line" in source.columns:
        return {r: r for r in rows}
    if source.format == "csv":  # quoted line breaks and blank lines shift the lines
        return csv_lines(source, rows, find_malformed=False)[0]
    return {r: r + source.row_offset for r in rows}


# -- typed expressions ----------------------------------------------------------------------
# Conversions run in two layers: first each source column is cleaned once (``clean_expr``),
# then typed from the cleaned value. Repeating the cleaning inside every CASE branch and
# validation rule made DuckDB evaluate it many times over.
WHITESPACE = "' \t\r\n'"


def is_text(duck_type: str) -> bool:
    return duck_type.upper() == "VARCHAR"


def clean_expr(column: str, duck_type: str) -> str:
    """Text with surrounding whitespace (spaces, tabs, line breaks) removed; blank is NULL.

    Columns the file already types (Parquet) are passed through untouched.
    """
    if not is_text(duck_type):
        return quote_ident(column)
    col = quote_ident(column)
    # trim() with a character set is several times slower than a look at both ends first.
    return (
        f"NULLIF(CASE WHEN ascii({col}) <= 32 OR ascii(right({col}, 1)) <= 32 "
        f"THEN trim({col}, {WHITESPACE}) ELSE {col} END, '')"
    )


def text_expr(value: str, duck_type: str) -> str:
    return value if is_text(duck_type) else f"CAST({value} AS VARCHAR)"


def number_expr(value: str, duck_type: str) -> str:
    if duck_type.upper().startswith(NUMERIC_TYPES):
        return f"CAST({value} AS DOUBLE)"
    if not is_text(duck_type):
        return f"TRY_CAST({value} AS DOUBLE)"
    v = value
    # 12,5 and 1.234,56 are Dutch decimals; 1,234.56 keeps its English thousands separator.
    return (
        f"CASE WHEN NOT contains({v}, ',') THEN TRY_CAST({v} AS DOUBLE) "
        f"WHEN strpos({v}, '.') > strpos({v}, ',') "
        f"THEN TRY_CAST(replace({v}, ',', '') AS DOUBLE) "
        f"ELSE TRY_CAST(replace(replace({v}, '.', ''), ',', '.') AS DOUBLE) END"
    )


def timestamp_expr(
    value: str,
    duck_type: str,
    timezone: str | None,
    timestamp_format: str | None,
    with_fallbacks: bool,
) -> str:
    """A TIMESTAMPTZ from ``value``; NULL where it cannot be read.

    A value with an offset (``+01:00``, ``-0800``, ``Z``) keeps it; a value without one (a date,
    or a date and time) is read in ``timezone``, UTC when none is given.
    """
    upper = duck_type.upper()
    zone = sql_literal(timezone) if timezone else None

    def localise(naive: str) -> str:
        return f"timezone({zone}, {naive})" if zone else f"CAST({naive} AS TIMESTAMPTZ)"

    if upper == "TIMESTAMP WITH TIME ZONE":
        return value
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return localise(f"CAST({value} AS TIMESTAMP)")
    v = text_expr(value, duck_type)
    if timestamp_format:
        has_zone = "%z" in timestamp_format or "%Z" in timestamp_format
        parsed = f"try_strptime({v}, {sql_literal(timestamp_format)})"
        return (
            possible_offset(v, f"CAST({parsed} AS TIMESTAMPTZ)") if has_zone else localise(parsed)
        )
    # An offset follows a time of day: the day of 2024-03-01 is not an offset of -01 hours.
    if zone:
        iso = (
            f"CASE WHEN regexp_matches({v}, {sql_literal(OFFSET_AFTER_TIME)}) "
            f"THEN TRY_CAST({v} AS TIMESTAMPTZ) ELSE {localise(f'TRY_CAST({v} AS TIMESTAMP)')} END"
        )
    else:
        iso = f"TRY_CAST({v} AS TIMESTAMPTZ)"
    # DuckDB never reads an offset after a space (``11:35:52 -0800``), and failing to costs it a
    # time zone lookup of 0.3 ms per value: such values go straight to the zoned layouts.
    iso = f"CASE WHEN NOT regexp_matches({v}, {sql_literal(SPACED_OFFSET)}) THEN {iso} END"
    if not with_fallbacks:
        return possible_offset(v, iso)
    naive = "[" + ", ".join(sql_literal(f) for f in FALLBACK_TIMESTAMP_FORMATS) + "]"
    zoned = "[" + ", ".join(sql_literal(f) for f in FALLBACK_ZONED_FORMATS) + "]"
    # A failing try_strptime costs microseconds per layout: values not shaped like a layout
    # (a cheap regex) skip them, so a file of bad dates is refused about as fast as it loads.
    day_first = f"CASE WHEN regexp_matches({v}, {sql_literal(DAY_FIRST_SHAPE)}) THEN "
    day_first += f"{localise(f'try_strptime({v}, {naive})')} END"
    with_offset = f"CASE WHEN regexp_matches({v}, {sql_literal(ISO_WITH_OFFSET_SHAPE)}) THEN "
    with_offset += f"CAST(try_strptime({v}, {zoned}) AS TIMESTAMPTZ) END"
    # coalesce evaluates each fallback only for the values still unread: ISO files pay nothing.
    return possible_offset(v, f"coalesce({iso}, {day_first}, {with_offset})")


def possible_offset(text: str, parsed: str) -> str:
    """``parsed``, or NULL where ``text`` ends in an offset beyond ±14:00 (DuckDB reads +25:00)."""
    return (
        f"CASE WHEN NOT regexp_matches({text}, {sql_literal(IMPOSSIBLE_OFFSET)}) THEN {parsed} END"
    )


def implausible_timestamp_sql(expr: str) -> str:
    """SQL true where ``expr`` (a TIMESTAMPTZ) lies outside :data:`PLAUSIBLE_YEARS`."""
    low, high = PLAUSIBLE_YEARS
    return (
        f"({expr} < TIMESTAMPTZ '{low}-01-01 00:00:00+00' "
        f"OR {expr} >= TIMESTAMPTZ '{high + 1}-01-01 00:00:00+00')"
    )


def json_expr(
    value: str | None,
    duck_type: str | None,
    extras: list[str],
    types: dict[str, str] | None = None,
    drop_blanks: bool = False,
) -> str:
    """The JSON column: an explicit JSON column merged with the extra columns packed as keys.

    ``drop_blanks`` (customers' attributes) leaves out blank values, so a blank TotalCharges is
    null, not " ", and merging into what is known keeps the old value, as blanks do in every
    other column. Events and feedback keep their packing as it was: it is part of their
    content-derived ids, which must not change between versions.
    """
    packed = None
    if extras and drop_blanks:
        pairs = ", ".join(
            f"{sql_literal(c)}, {clean_expr(c, (types or {}).get(c, 'VARCHAR'))}" for c in extras
        )
        # merge-patching into {} drops the null keys
        packed = f"CAST(json_merge_patch('{{}}', json_object({pairs})) AS VARCHAR)"
    elif extras:
        pairs = ", ".join(f"{sql_literal(c)}, {quote_ident(c)}" for c in extras)
        packed = f"CAST(json_object({pairs}) AS VARCHAR)"
    explicit = None
    if value is not None:
        text = text_expr(value, duck_type or "VARCHAR")
        explicit = f"CASE WHEN json_valid({text}) THEN {text} END"
    if explicit and packed:
        return f"CAST(json_merge_patch(coalesce({explicit}, '{{}}'), {packed}) AS VARCHAR)"
    return explicit or packed or "CAST(NULL AS VARCHAR)"


# Layouts --timestamp-format may be asked for, tried in this order on unreadable values.
# Month-first layouts are here (never tried silently): a whole column that reads only one
# way is evidence enough to suggest it.
SUGGESTED_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%m-%d-%Y %H:%M:%S",
    "%m-%d-%Y %H:%M",
    "%m-%d-%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",
    "%d/%m/%y %H:%M",
    "%d/%m/%y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%b %d %Y %H:%M",
    "%Y-%m-%d %I:%M:%S %p",
    "%d/%m/%Y %I:%M %p",
    "%d-%m-%Y %H.%M",
)


def suggest_timestamp_format(values: list[str]) -> str | None:
    """The first layout of :data:`SUGGESTED_FORMATS` that reads every one of ``values``."""
    samples = [v.strip() for v in values if v and v.strip()]
    if not samples:
        return None
    for layout in SUGGESTED_FORMATS:
        try:
            years = {dt.datetime.strptime(value, layout).year for value in samples}
        except ValueError:
            continue
        if PLAUSIBLE_YEARS[0] <= min(years) and max(years) <= PLAUSIBLE_YEARS[1]:
            return layout
    return None
