"""From a file's columns to the canonical ones: mapping and aliases (typed SQL: ``values``).

Mapping order, per canonical column: ``--map``, ``--set``, the column's own name, then its
aliases in the order listed (a weak alias only when the file's values fit, see
:data:`WEAK_ALIASES`). Every conversion is a SQL expression run by DuckDB over the whole file at
once, never a Python loop over rows.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from cxray.i18n import Message
from cxray.ingest.sources import Source, csv_lines, sql_literal
from cxray.ingest.values import (
    clean_expr,
    number_expr,
    suggest_timestamp_format,
    text_expr,
    timestamp_expr,
)
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


class MappingError(ValueError):  # raised with a bilingual Message
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
            listed = ", ".join(targets)
            raise MappingError(
                Message(
                    f"{file_label}: cannot map to {target!r}: the {spec.name} table has {listed}",
                    f"{file_label}: kan niet naar {target!r}: de tabel {spec.name} heeft {listed}",
                )
            )
    missing_sources = [s for s in mapping if s not in source_columns]
    if missing_sources:
        absent, present = ", ".join(missing_sources), ", ".join(source_columns)
        many = len(missing_sources) > 1
        raise MappingError(
            Message(
                f"{file_label}: --map names {'columns' if many else 'a column'} not in the "
                f"file: {absent}; the file has: {present}",
                f"{file_label}: --map noemt {'kolommen' if many else 'een kolom'} die niet in "
                f"het bestand {'staan' if many else 'staat'}: {absent}; het bestand heeft: "
                f"{present}",
            )
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
) -> Message:
    """Required columns the file lacks: how to name them, and why a likely column was not
    taken (a weak alias whose values do not fit)."""
    many = len(missing) > 1
    absent, present = ", ".join(missing), ", ".join(names)
    hint_en = ", ".join(f"--map YOUR_COLUMN={c}" for c in missing)
    hint_nl = ", ".join(f"--map UW_KOLOM={c}" for c in missing)
    metric = "metric" in missing
    en = (
        f"{file_label}: {'required columns' if many else 'a required column'} missing: "
        f"{absent}. The file has: {present}. Name {'them' if many else 'it'} with {hint_en}"
        + (" or set a constant with --set metric=nps" if metric else "")
    )
    nl = (
        f"{file_label}: {'verplichte kolommen ontbreken' if many else 'een verplichte kolom ontbreekt'}"
        f": {absent}. Het bestand heeft: {present}. Wijs {'ze' if many else 'hem'} aan met "
        f"{hint_nl}" + (" of geef een vaste waarde met --set metric=nps" if metric else "")
    )
    for passed in passed_over:
        if passed.target in missing:
            on_metric = passed.target == "metric"
            en += (
                f"\n  {passed.column} was not taken for {passed.target}: {passed.reason()}; to "
                f"use it anyway: {passed.option}"
                + (" (or one metric for every row: --set metric=nps)" if on_metric else "")
            )
            nl += (
                f"\n  {passed.column} is niet gebruikt voor {passed.target}: "
                f"{passed.reason('nl')}; om deze kolom toch te gebruiken: {passed.option}"
                + (" (of één metriek voor elke rij: --set metric=nps)" if on_metric else "")
            )
    return Message(en, nl)


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
