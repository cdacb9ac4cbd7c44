"""Appending events or feedback in one pass over the file: insert, then set duplicates aside.

Typing and checking a file costs more than DuckDB's own load of it, so it must happen once.
Rows of ``events`` and ``feedback`` are only ever added, never updated: the typed rows go
straight into the table inside the import's transaction, a bad row stops the statement (the
transaction then rolls back and the caller explains the bad rows), and what the check pass
used to count is read from the rows just written. Rows that repeat a stored key, or repeat
each other, are deleted again before the commit; DuckDB drops them from the transaction's own
storage, so nothing of them reaches the database file.

The rows written by this transaction are told apart by ``rowid``: DuckDB numbers a
transaction's new rows above every committed one. Each append checks this (the count above
the old maximum must be the count inserted) and hands the file to the two-pass path if not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from cxray.ingest.problems import ImportError_
from cxray.ingest.sources import quote_ident
from cxray.ingest.staging import Stage
from cxray.ingest.validation import scale_aggregates
from cxray.ingest.writing import Progress, run_with_progress
from cxray.schema import TableSpec

BAD_ROW_MARK = "cxray: a row failed its checks"  # the error a bad row raises mid-insert


class BadRows(Exception):
    """The file has bad rows (or records the reader could not split): explain them."""


class NotAppendable(Exception):
    """This file needs the two-pass path (e.g. keys given in the file that repeat)."""


@dataclass
class Appended:
    """What one append wrote: the counts and what the check pass would have summarised."""

    inserted: int  # valid rows read (all written, duplicates included)
    duplicates: int  # of them, deleted again: a stored key, or a repeat within the file
    touchpoints: list[str] = field(default_factory=list)
    scale: dict[str, Any] = field(default_factory=dict)

    @property
    def imported(self) -> int:
        return self.inserted - self.duplicates


def appends(spec: TableSpec) -> bool:
    """Tables whose rows an import only adds (customers are updated: the two-pass path)."""
    return spec.name in ("events", "feedback")


def append(
    con: duckdb.DuckDBPyConnection,
    stage: Stage,
    typed: str,
    report: Progress,
    exclude_bad: bool = False,
) -> Appended:
    """Insert the valid rows of ``typed`` into the stage's table, then remove duplicates.

    Must run inside a transaction: raises ``BadRows`` (a bad row, unless ``exclude_bad``) or
    ``NotAppendable`` with the table half-written, for the caller to roll back.
    """
    spec, plan = stage.spec, stage.plan
    table = spec.name
    (before,) = con.execute(f"SELECT max(rowid) FROM {table}").fetchone()
    column_list = ", ".join(quote_ident(c) for c in spec.columns)
    typed_columns = ", ".join(f"__t_{c}" for c in spec.columns)
    keep = (
        "NOT __bad" if exclude_bad else f"CASE WHEN __bad THEN error('{BAD_ROW_MARK}') END IS NULL"
    )
    try:
        (inserted,) = run_with_progress(
            con,
            f"INSERT INTO {table} ({column_list}) SELECT {typed_columns} FROM {typed} WHERE {keep}",
            report,
            "writing",
        )
    except ImportError_ as exc:
        if BAD_ROW_MARK in str(exc):
            raise BadRows from None
        raise NotAppendable(str(exc)) from None  # the two-pass path says what is unreadable
    if not exclude_bad and _unsplit_records(con, stage):
        raise BadRows
    new = f"rowid > {before}" if before is not None else "true"
    report("checking", None)
    key = quote_ident(spec.key)
    touchpoints = (
        "list(DISTINCT touchpoint) FILTER (WHERE touchpoint IS NOT NULL)"
        if "touchpoint" in spec.columns
        else "[]"
    )
    scale = scale_aggregates(prefix="", valid="true") if table == "feedback" else {}
    more = "".join(f", {sql}" for sql in scale.values())
    # Distinct 64-bit hashes first (cheap): as many as rows means no key repeats; fewer may be
    # a collision, so then the keys themselves are counted.
    query = (
        f"SELECT count(*), count(DISTINCT hash({key})), {touchpoints}{more} FROM {table} "
        f"WHERE {new}"
    )
    written, distinct, seen, *scale_values = con.execute(query).fetchone()
    if distinct < written:
        query = f"SELECT count(DISTINCT {key}) FROM {table} WHERE {new}"
        (distinct,) = con.execute(query).fetchone()
    if written != inserted:  # DuckDB numbered the new rows otherwise: not safe to tell apart
        raise NotAppendable("new rows not told apart by rowid")
    given_key = spec.key in plan.sources or spec.key in plan.constants
    if given_key and distinct < written:
        # Two rows naming one key may disagree: the two-pass path finds and explains them.
        raise NotAppendable("a key given in the file repeats")
    duplicates = written - distinct
    stored = (
        con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table} WHERE {new}) n "
            f"SEMI JOIN (SELECT {key} FROM {table} WHERE rowid <= {before}) o USING ({key})"
        ).fetchone()[0]
        if before is not None
        else 0
    )
    if duplicates or stored:
        _delete_duplicates(con, table, key, new, before)
        duplicates += stored
    return Appended(
        inserted=int(inserted),
        duplicates=int(duplicates),
        touchpoints=list(seen or []),
        scale=dict(zip(scale, scale_values, strict=True)),
    )


def _delete_duplicates(
    con: duckdb.DuckDBPyConnection, table: str, key: str, new: str, before: int | None
) -> None:
    """Of the new rows, keep one per key, and none whose key was stored before."""
    stored = (
        f" OR {key} IN (SELECT {key} FROM {table} WHERE rowid <= {before})"
        if before is not None
        else ""
    )
    con.execute(
        f"DELETE FROM {table} WHERE {new} AND (rowid NOT IN "
        f"(SELECT min(rowid) FROM {table} WHERE {new} GROUP BY {key}){stored})"
    )


def _unsplit_records(con: duckdb.DuckDBPyConnection, stage: Stage) -> bool:
    """True when the reader set aside records it could not split (CSV): they are bad rows."""
    from cxray.ingest.validation import structural_rejects

    return bool(structural_rejects(con, stage.source))
