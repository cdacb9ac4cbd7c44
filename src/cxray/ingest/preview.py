"""A dry run of an import: the column mapping, and the first rows as they would be stored.

The rows go through the import's own mapping, cleaning, typing (time zones, recoding) and
checks, on a DuckDB connection of the dry run's own: nothing is written, not a table, an import
log, the journey file, an errors file nor a quarantine file. Only the first rows are read (a
LIMIT over the file), so a dry run of a large file takes a moment, whatever its size.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from cxray.i18n import Message, count_of, join_words, number
from cxray.ingest import columns as cols
from cxray.ingest.recode import NOT_A_NUMBER, suggested_option
from cxray.ingest.result import ImportOptions
from cxray.ingest.sources import (
    Source,
    SourceError,
    check_timezone,
    detect_format,
    open_source,
    quote_ident,
    sql_literal,
)
from cxray.ingest.staging import build_stage, column_plan, typed_relation
from cxray.ingest.validation import (
    JSON_OBJECT_LINE,
    TEXT_METRIC,
    UNREADABLE_TIMESTAMP,
    ImportError_,
    condition_sql,
    reason_text,
    structural_rejects,
)
from cxray.ingest.values import suggest_timestamp_format
from cxray.ingest.xes import open_xes, refuse_absent_keys
from cxray.journey import Journey
from cxray.results import Result, frame_records
from cxray.schema import TableSpec, table_spec
from cxray.warehouse import Warehouse

FOUND_SET, NOT_FOUND, FOUND_EXTRAS = "--set", "not found", "other columns"
FOUND_BY_NL = {
    cols.FOUND_EXACT: "exacte naam",
    cols.FOUND_ALIAS: "alias",
    cols.FOUND_MAP: "--map",
    FOUND_SET: "--set",
    NOT_FOUND: "niet gevonden",
    FOUND_EXTRAS: "overige kolommen",
}
REFUSED = "refused"  # the rows frame's column naming why a row would be refused


@dataclass(frozen=True)
class MappedColumn:
    """One canonical column: what feeds it and how that was found."""

    column: str
    source: str | None  # the file's column, None for --set and not found
    found_by: str  # exact name, alias, --map, --set or not found
    required: bool = False
    constant: str | None = None
    recode: dict[str, str] | None = None


@dataclass
class Preview(Result):
    """What an import would do, without doing it. ``to_pandas()`` is the rows as stored."""

    table: str
    source: str
    position_label: str  # line (CSV, JSON Lines, XES) or row (Parquet)
    mapping: list[MappedColumn]
    json_column: str | None
    extras: list[str]  # file columns kept as JSON in json_column
    ignored: list[str]  # file columns with nowhere to go
    passed_over: list[cols.PassedOver]  # weak aliases not taken: their values do not fit
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[dict] = field(default_factory=list)  # line, column, value, reason
    rows_refused: int = 0
    rows_known: int = 0  # shown rows whose key the workspace already holds
    new_touchpoints: list[str] = field(default_factory=list)
    hints: list[dict] = field(default_factory=list)  # column, option, kind (recode/timestamp)
    missing: list[str] = field(default_factory=list)  # required columns nothing feeds
    problem: Message | None = None  # why the import would be refused before reading a row
    seconds: float = 0.0

    @property
    def rows_shown(self) -> int:
        return len(self.rows)

    def to_pandas(self) -> pd.DataFrame:
        return self.rows

    def mapping_frame(self, lang: str = "en") -> pd.DataFrame:
        """The mapping as a table: canonical column, file column, how it was found, a note."""
        nl = lang == "nl"
        records = []
        for m in self.mapping:
            notes = []
            if m.required:
                notes.append("verplicht" if nl else "required")
            if m.constant is not None:
                notes.append(f"= {m.constant}")
            if m.recode:
                pairs = ", ".join(f"{label} → {value}" for label, value in m.recode.items())
                notes.append(f"{'hercodering' if nl else 'recode'}: {pairs}")
            records.append(
                {
                    "column": m.column,
                    "file column": m.source or "",
                    "found by": FOUND_BY_NL.get(m.found_by, m.found_by) if nl else m.found_by,
                    "note": "; ".join(notes),
                }
            )
        return pd.DataFrame(records, columns=["column", "file column", "found by", "note"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "source": self.source,
            "dry_run": True,
            "mapping": [dataclasses.asdict(m) for m in self.mapping],
            "json_column": self.json_column,
            "extras": self.extras,
            "ignored": self.ignored,
            "not_guessed": [
                {"column": p.column, "target": p.target, "reason": p.reason(), "use": p.option}
                for p in self.passed_over
            ],
            "missing": self.missing,
            "problem": None if self.problem is None else self.problem.en,
            "rows_shown": self.rows_shown,
            "rows_refused": self.rows_refused,
            "rows_known": self.rows_known,
            "problems": self.problems,
            "hints": self.hints,
            "new_touchpoints": self.new_touchpoints,
            "rows": frame_records(self.rows),
            "seconds": self.seconds,
        }

    def hint_texts(self, lang: str = "en") -> list[str]:
        nl = lang == "nl"
        texts = []
        for hint in self.hints:
            if hint["kind"] == "recode":
                texts.append(
                    f"{hint['column']}: tekstlabels waar getallen horen; geef elk label een "
                    f"getal met {hint['option']}"
                    if nl
                    else f"{hint['column']}: text labels where numbers belong; give each a "
                    f"number with {hint['option']}"
                )
            else:
                texts.append(
                    f"{hint['column']}: de datums lezen als {hint['layout']}: importeer met "
                    f"{hint['option']}"
                    if nl
                    else f"{hint['column']}: the dates read as {hint['layout']}: import with "
                    f"{hint['option']}"
                )
        return texts

    def problem_text(self, lang: str = "en") -> str:
        return "" if self.problem is None else self.problem.text(lang)

    def reason_text(self, reason: str, lang: str = "en") -> str:
        """A refused row's reason (or several, joined by "; ") in the reader's language."""
        return "; ".join(reason_text(part, lang) for part in reason.split("; ")) if reason else ""

    def summary(self, lang: str = "en") -> str:
        nl = lang == "nl"
        if self.problem:
            what = join_words(self.missing, lang)
            one = len(self.missing) == 1
            return (
                "Proefimport, niets geschreven: de import zou worden geweigerd, "
                f"{'een verplichte kolom ontbreekt' if one else 'verplichte kolommen ontbreken'}"
                f": {what}."
                if nl
                else "Dry run, nothing written: the import would be refused, "
                f"{'a required column' if one else 'required columns'} missing: {what}."
            )
        n, refused, known = self.rows_shown, self.rows_refused, self.rows_known
        read = count_of(n, lang, ("row", "rows"), ("rij", "rijen"))
        if nl:
            text = (
                f"Proefimport, niets geschreven: {read} gelezen, {number(refused, lang)} "
                f"{'zou' if refused == 1 else 'zouden'} worden afgewezen"
            )
            if known:
                text += (
                    f", {number(known, lang)} {'staat' if known == 1 else 'staan'} al in de "
                    "werkruimte"
                )
            return text + "."
        # English keeps "row(s)": scripts and tests read this line
        text = f"Dry run, nothing written: {n:,} row(s) read, {refused:,} would be refused"
        if known:
            text += f", {known:,} already in the workspace"
        return text + "."


def preview_file(
    warehouse: Warehouse,
    journey: Journey,
    workdir: Path,
    table: str,
    path: Path,
    options: ImportOptions,
    rows: int = 10,
) -> Preview:
    """The mapping ``import_file`` would use and its first ``rows`` rows, nothing written.

    ``warehouse`` is only read: to count the rows whose key it already holds.
    """
    started = time.perf_counter()
    try:
        spec = table_spec(table)
    except ValueError as exc:
        raise ImportError_(exc) from None
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ImportError_(
            Message(
                f"rows: how many rows to show, at least 1; got {rows!r}",
                f"rows: hoeveel rijen te tonen, minstens 1; niet {rows!r}",
            )
        )
    if spec.name != "customers" and (options.as_of is not None or options.tenure_unit):
        raise ImportError_(
            Message(
                f"{path}: --as-of and --tenure-unit describe lifetime data; they apply to "
                f"customers, not {spec.name}",
                f"{path}: --as-of en --tenure-unit beschrijven levensduurgegevens; ze gelden "
                f"voor customers, niet voor {spec.name}",
            )
        )
    con = duckdb.connect()  # the dry run's own: the workspace's connection is never written
    try:
        con.execute("SET TimeZone = 'UTC'")
        try:
            check_timezone(options.timezone)
            if detect_format(Path(path)) == "xes":
                refuse_absent_keys(Path(path), options.mapping)
            if spec.name == "customers" and detect_format(Path(path)) == "xes":
                log = open_xes(con, Path(path), Path(workdir) / ".cxray-tmp")
                log.events.cleanup()
                source = log.cases  # an event log as customers: one row per case
            else:
                source = open_source(con, Path(path), Path(workdir) / ".cxray-tmp")
        except SourceError as exc:
            raise ImportError_(exc) from None
        try:
            # The first rows only; as many as weak aliases are judged on, so the plan is the
            # import's own.
            first = max(rows, cols.SAMPLE_ROWS)
            limited = dataclasses.replace(
                source, relation=f"(SELECT * FROM {source.relation} LIMIT {first})"
            )
            preview = _preview(con, warehouse, journey, spec, limited, options, rows)
        except duckdb.Error as exc:
            raise ImportError_(
                Message(
                    f"{path}: cannot read the file: {exc}",
                    f"{path}: kan het bestand niet lezen: {exc}",
                )
            ) from None
        finally:
            source.cleanup()
    finally:
        con.close()
    preview.seconds = time.perf_counter() - started
    return preview


def _preview(
    con: duckdb.DuckDBPyConnection,
    warehouse: Warehouse,
    journey: Journey,
    spec: TableSpec,
    source: Source,
    options: ImportOptions,
    rows: int,
) -> Preview:
    plan = column_plan(spec, source, options, journey, check_required=False)
    if plan.missing:
        names = [c for c in source.columns if not c.startswith("__")]
        preview = _mapping(spec, source, plan)
        preview.problem = cols.missing_message(
            str(source.path), plan.missing, names, plan.passed_over
        )
        return preview
    stage = build_stage(spec, source, options, journey)
    plan = stage.plan
    preview = _mapping(spec, source, plan)
    typed = typed_relation(con, stage, numbered=True)
    # read once, on the dry run's own in-memory connection, for every question below
    shown = "cxray_preview_rows"
    con.execute(f"CREATE TEMP TABLE {shown} AS FROM {typed} ORDER BY __row LIMIT {int(rows)}")
    typed_columns = ", ".join(f"__t_{c} AS {quote_ident(c)}" for c in spec.columns)
    frame = con.execute(f"SELECT __row, __bad, {typed_columns} FROM {shown} ORDER BY __row").df()
    structural = structural_rejects(con, source)
    lines = cols.lines_of(source, {int(r) for r in frame["__row"]})
    label = source.position_label
    problems = _problems(con, shown, source, stage)
    for problem in problems:
        problem[label] = lines.get(problem.pop("__row"), problem[label])
    # Records that could not be split into fields, among the lines the shown rows span (all
    # of them when the file ended sooner).
    last = max(lines.values(), default=0) if len(frame) == rows else None
    unsplit = [(line, why) for line, why in structural if last is None or line <= last]
    problems += [{label: line, "column": "", "value": "", "reason": why} for line, why in unsplit]
    problems.sort(key=lambda p: (p[label], p["column"]))

    reasons: dict[int, list[str]] = {}
    for problem in problems:
        reasons.setdefault(problem[label], []).append(
            f"{problem['column']}: {problem['reason']}" if problem["column"] else problem["reason"]
        )
    frame.insert(0, label, [lines.get(int(r), int(r)) for r in frame["__row"]])
    frame[REFUSED] = ["; ".join(reasons.get(line, [])) for line in frame[label]]
    valid = frame[~frame["__bad"].astype(bool)]
    preview.rows = frame.drop(columns=["__row", "__bad"]).reset_index(drop=True)
    preview.problems = problems
    preview.rows_refused = len(frame) - len(valid) + len(unsplit)
    preview.rows_known = _known_keys(warehouse, spec, valid[spec.key].dropna().tolist())
    if "touchpoint" in spec.columns:
        known = set(journey.touchpoints)
        seen = {str(t) for t in valid["touchpoint"].dropna()}
        preview.new_touchpoints = sorted(seen - known)
    preview.hints = _hints(problems, options, plan)
    return preview


def _mapping(spec: TableSpec, source: Source, plan: cols.ColumnPlan) -> Preview:
    required = set(spec.required)
    if spec.name == "feedback" and plan.constants.get("metric") != TEXT_METRIC:
        required.add("score")  # as the import asks: only comment-only sources go without
    mapped = []
    targets = [*spec.columns, *(c for c in plan.sources if c not in spec.columns)]
    for column in targets:
        if column in plan.constants:
            found_by, constant = FOUND_SET, plan.constants[column]
        elif column == spec.json_column and column not in plan.sources and plan.extras:
            found_by, constant = FOUND_EXTRAS, None
        else:
            found_by, constant = plan.found_by.get(column, NOT_FOUND), None
        mapped.append(
            MappedColumn(
                column,
                plan.sources.get(column),
                found_by,
                column in required,
                constant,
                plan.recode.get(column),
            )
        )
    return Preview(
        table=spec.name,
        source=str(source.path),
        position_label=source.position_label,
        mapping=mapped,
        json_column=spec.json_column,
        extras=list(plan.extras),
        ignored=list(plan.ignored),
        passed_over=list(plan.passed_over),
        missing=list(plan.missing),
    )


def _problems(con: duckdb.DuckDBPyConnection, shown: str, source: Source, stage: Any) -> list:
    """Every (row, column, value, reason) among the shown rows.

    Not the import's problem table: placing its rows on lines counts the whole file's lines,
    a full read a dry run does without (only the shown rows are placed, by ``lines_of``).
    """
    plan = stage.plan
    parts = []
    only_parsed = ""
    if source.format == "jsonl":
        parts.append(
            f"SELECT __row, '(line)', left(__json_line, 200), 'not a JSON object' FROM {shown} "
            f"WHERE __bad AND NOT coalesce({JSON_OBJECT_LINE}, false)"
        )
        only_parsed = f" AND coalesce({JSON_OBJECT_LINE}, false)"
    for check in stage.checks:
        src = plan.sources.get(check.column)
        raw = f"left(CAST({quote_ident(src)} AS VARCHAR), 200)" if src else "NULL"
        parts.append(
            f"SELECT __row, {sql_literal(src or check.column)}, {raw}, "
            f"{sql_literal(check.reason)} FROM {shown} "
            f"WHERE __bad AND coalesce({condition_sql(check, plan)}, false){only_parsed}"
        )
    if not parts:
        return []
    found = con.execute(" UNION ALL ".join(parts)).fetchall()
    label = source.position_label
    return [
        {"__row": int(row), label: int(row), "column": column, "value": value or "", "reason": why}
        for row, column, value, why in found
    ]


def _known_keys(warehouse: Warehouse, spec: TableSpec, keys: list[str]) -> int:
    if not keys:
        return 0
    stored = warehouse.table(spec.name)
    return int(stored.filter(stored[spec.key].isin(sorted(set(keys)))).count().execute())


def _hints(problems: list[dict], options: ImportOptions, plan: cols.ColumnPlan) -> list[dict]:
    """The options that would read the refused values: --recode (with the labels already
    given, if any), --timestamp-format."""
    feeding = {src: target for target, src in plan.sources.items()}
    by_column: dict[tuple[str, str], list[str]] = {}
    for problem in problems:
        if problem["reason"] in (NOT_A_NUMBER, UNREADABLE_TIMESTAMP):
            by_column.setdefault((problem["column"], problem["reason"]), []).append(
                problem["value"]
            )
    hints = []
    for (column, reason), values in by_column.items():
        if reason == NOT_A_NUMBER:
            target = feeding.get(column, column)
            given = plan.recode.get(target)
            option = suggested_option(target if given else column, values, given)
            if option:
                hints.append({"column": column, "kind": "recode", "option": option})
        elif options.timestamp_format is None:
            layout = suggest_timestamp_format(values)
            if layout:
                option = f"--timestamp-format '{layout}'"
                hints.append(
                    {"column": column, "kind": "timestamp", "option": option, "layout": layout}
                )
    return hints
