"""Writing a validated import: insert new keys, update known customers, log, quarantine."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import duckdb

from cxray.files import fsync_folder
from cxray.i18n import Message
from cxray.ingest.problems import Problems
from cxray.ingest.reconcile import PENDING_SUFFIX
from cxray.ingest.sources import Source, quote_ident, sql_literal
from cxray.ingest.validation import ImportError_
from cxray.schema import TableSpec

Progress = Callable[[str, float | None], None]


def run_with_progress(
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
    except duckdb.OutOfMemoryException:
        raise  # the import says how to allow more memory
    except duckdb.Error as exc:
        # DuckDB's first line says what; the rest is its reader's settings, not for users.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportError_(
            Message(f"cannot read the file: {first}", f"kan het bestand niet lezen: {first}")
        ) from None
    finally:
        done.set()
        watcher.join()


def write(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    rows: str,
    report: Progress,
    skip_bad: bool = True,
) -> tuple[int, int]:
    """Insert rows whose key is new (customers: update those that changed). Returns counts.

    ``skip_bad=False`` when no row was bad: the checks then need not run a second time.
    """
    typed = ", ".join(f"__t_{c} AS {quote_ident(c)}" for c in spec.columns)
    where = " WHERE NOT __bad" if skip_bad else ""
    relation = f"(SELECT {typed} FROM {rows}{where})"
    updated = update_customers(con, spec, relation) if spec.name == "customers" else 0
    column_list = ", ".join(quote_ident(c) for c in spec.columns)
    target_empty = con.execute(f"SELECT count(*) = 0 FROM (SELECT 1 FROM {spec.name} LIMIT 1)")
    if target_empty.fetchone()[0]:
        new_rows = f"SELECT {column_list} FROM {relation}"  # nothing to be a duplicate of
    else:
        new_rows = (
            f"SELECT {', '.join('u.' + quote_ident(c) for c in spec.columns)} FROM {relation} u "
            f"ANTI JOIN {spec.name} t ON t.{spec.key} = u.{spec.key}"
        )
    (inserted,) = run_with_progress(
        con, f"INSERT INTO {spec.name} ({column_list}) {new_rows}", report, "writing"
    )
    return int(inserted), int(updated)


def update_customers(con: duckdb.DuckDBPyConnection, spec: TableSpec, relation: str) -> int:
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


def log_import(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    started: dt.datetime,
    counts: tuple[int, int, int, int, int],
    quarantine: Path | None,
) -> None:
    """One row in ``cxray_imports``, written in the import's own transaction.

    ``counts`` are rows read, imported, updated, duplicate and rejected. The quarantine file is
    named here so that a crash between the commit and publishing the file can be repaired.
    """
    columns = "import_id, table_name, source, imported_at, rows_read, rows_imported, "
    columns += "rows_updated, rows_duplicate, rows_rejected, quarantine"
    # Literals, not bound parameters: binding Python values makes DuckDB load pandas (~1 s).
    values = [
        sql_literal(uuid.uuid4().hex),
        sql_literal(spec.name),
        sql_literal(source.path.name),
        f"CAST({sql_literal(started.isoformat())} AS TIMESTAMPTZ)",
        *(str(int(count)) for count in counts),
        sql_literal(quarantine.name) if quarantine else "NULL",
    ]
    con.execute(f"INSERT INTO cxray_imports ({columns}) VALUES ({', '.join(values)})")


def write_quarantine(folder: Path, raw_rows: str, problems: Problems) -> Path:
    """The rejected rows as they were in the file, with where and why, for fixing and re-import.

    ``raw_rows`` is the file's rows as read, numbered like the problems' ``__row``.

    Written before the import commits, as ``<final name>.pending``: the import log names the
    final file, and ``publish_quarantine`` renames it once the commit is done. A crash in between
    leaves a pending file that ``cxray.ingest.reconcile`` publishes or removes. DuckDB writes it:
    a million rows set aside never pass through Python.
    """
    source, con = problems.source, problems.con
    label = quote_ident(source.position_label)
    raw_columns = [c for c in source.columns if not c.startswith("__")]
    raw = ", ".join(f"CAST(b.{quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in raw_columns)
    # a record not split into fields keeps its raw text, in the first column
    blanks = ", ".join(
        f"{'value' if i == 0 else 'NULL'} AS {quote_ident(c)}" for i, c in enumerate(raw_columns)
    )
    reasons = (
        # Not an ordered aggregate: those cannot spill, and a row's problems arrive together.
        f"SELECT __row, min(line) AS line, string_agg(column_name || ': ' || reason, '; ') "
        f"AS reason FROM {problems.table} WHERE __row IS NOT NULL GROUP BY __row"
    )
    query = (
        f"SELECT r.line AS {label}, r.reason, {raw} FROM ({reasons}) r "
        f"JOIN {raw_rows} b ON b.__row = r.__row "
        f"UNION ALL SELECT line, reason, {blanks} FROM {problems.table} WHERE __row IS NULL "
        "ORDER BY 1"
    )
    out, handle = _new_quarantine_file(folder, source.path.name)
    pending = pending_path(out)
    handle.close()
    try:
        con.execute(f"COPY ({query}) TO {sql_literal(str(pending))} (HEADER, DELIMITER ',')")
        with open(pending, "rb+") as written:
            os.fsync(written.fileno())
    except BaseException:
        pending.unlink(missing_ok=True)  # no half-written quarantine file stays behind
        raise
    return out


def pending_path(final: Path) -> Path:
    return final.with_name(final.name + PENDING_SUFFIX)


def publish_quarantine(final: Path) -> None:
    """The import committed: its quarantine file takes its final name (durably)."""
    pending_path(final).replace(final)
    fsync_folder(final.parent)


def _new_quarantine_file(folder: Path, name: str) -> tuple[Path, TextIO]:
    """A file of its own for this import: ``<file>.<UTC time>.csv``, then ``-2``, ``-3``...

    Returns the final name and the pending file, opened for writing. Created exclusively, so
    two imports in the same second (in one process or two) never write over each other's
    rejected rows, nor over any file already there.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    for counter in itertools.count(1):
        suffix = "" if counter == 1 else f"-{counter}"
        out = folder / f"{name}.{stamp}{suffix}.csv"
        if out.exists():
            continue
        try:
            return out, open(pending_path(out), "x", newline="", encoding="utf-8")
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # itertools.count never ends
