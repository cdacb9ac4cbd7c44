"""Writing a validated import: insert new keys, update known customers, log, quarantine."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import itertools
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import duckdb

from cxray.ingest.reconcile import PENDING_SUFFIX
from cxray.ingest.sources import Source, quote_ident
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
    except duckdb.Error as exc:
        raise ImportError_(f"cannot read the file: {exc}") from None
    finally:
        done.set()
        watcher.join()


def write(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: str, report: Progress
) -> tuple[int, int]:
    """Insert rows whose key is new (customers: update those that changed). Returns counts."""
    typed = ", ".join(f"__t_{c} AS {quote_ident(c)}" for c in spec.columns)
    relation = f"(SELECT {typed} FROM {rows} WHERE NOT __bad)"
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
    con.execute(
        f"INSERT INTO cxray_imports ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            uuid.uuid4().hex,
            spec.name,
            source.path.name,
            started,
            *counts,
            quarantine.name if quarantine else None,
        ],
    )


def write_quarantine(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    bad_table: str,
    source: Source,
    detail: list[dict],
) -> Path:
    """The rejected rows as they were in the file, with where and why, for fixing and re-import.

    Written before the import commits, as ``<final name>.pending``: the import log names the
    final file, and ``publish_quarantine`` renames it once the commit is done. A crash in between
    leaves a pending file that ``cxray.ingest.reconcile`` publishes or removes.
    """
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
    out, handle = _new_quarantine_file(folder, source.path.name)
    pending = pending_path(out)
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow([label, "reason", *raw_columns])
            writer.writerows(sorted(out_rows, key=lambda r: r[0]))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        pending.unlink(missing_ok=True)  # no half-written quarantine file stays behind
        raise
    return out


def pending_path(final: Path) -> Path:
    return final.with_name(final.name + PENDING_SUFFIX)


def publish_quarantine(final: Path) -> None:
    """The import committed: its quarantine file takes its final name (durably)."""
    pending_path(final).replace(final)
    _fsync_folder(final.parent)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
