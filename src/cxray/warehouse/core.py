"""One `Warehouse` per workspace: an Ibis backend holding the canonical tables.

DuckDB (a file in the workspace) is the default; any URL Ibis understands
(``postgres://user@host/db``) works the same way for everything built on Ibis expressions.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import ibis
import ibis.expr.types as ir

from cxray import schema

DEFAULT_FILE = "warehouse.duckdb"
# DuckDB admits one writing process or many reading ones. Another command holding the file is
# waited for this long (seconds, with backoff) before the user is told the workspace is busy.
LOCK_WAIT_SECONDS = 5.0


class WarehouseError(RuntimeError):
    pass


class Warehouse:
    def __init__(
        self,
        backend: ibis.BaseBackend,
        url: str,
        temp_dir: Path | None = None,
        read_only: bool = False,
    ):
        self.backend = backend
        self.url = url
        self.temp_dir = temp_dir
        self.read_only = read_only

    @property
    def engine(self) -> str:
        return self.backend.name

    @property
    def is_duckdb(self) -> bool:
        return self.engine == "duckdb"

    # -- tables ---------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        self._refuse_read_only("update its tables")
        existing = set(self.backend.list_tables())
        for spec in schema.TABLES.values():
            if spec.name not in existing:
                self.backend.create_table(spec.name, schema=spec.schema)
            else:
                self._add_missing_columns(spec.name, spec.schema)
        if "cxray_imports" not in existing:
            self.backend.create_table("cxray_imports", schema=schema.IMPORTS)
        else:
            self._add_missing_columns("cxray_imports", schema.IMPORTS)

    def _add_missing_columns(self, name: str, expected: ibis.Schema) -> None:
        """Workspaces made by an earlier version lack newer columns: add them, empty."""
        present = set(self.backend.table(name).columns)
        for column, dtype in expected.items():
            if column not in present:
                if dtype.is_timestamp():
                    type_name = "TIMESTAMPTZ"
                elif dtype.is_floating():
                    type_name = "DOUBLE PRECISION"
                elif dtype.is_integer():
                    type_name = "BIGINT"
                else:
                    type_name = "TEXT"
                self.backend.raw_sql(f'ALTER TABLE "{name}" ADD COLUMN "{column}" {type_name}')

    def _refuse_read_only(self, what: str) -> None:
        if self.read_only:
            raise WarehouseError(
                f"{self.url}: opened read-only, so it cannot {what}; "
                f"open the workspace with read_only=False"
            )

    def table(self, name: str) -> ir.Table:
        """A table by name; a canonical one always has every current column.

        A workspace made by an earlier version, opened read-only (ensure_tables needs a write),
        may lack newer columns or tables: they read as empty (null) rather than failing.
        """
        spec = schema.TABLES.get(name)
        expected = spec.schema if spec else schema.IMPORTS if name == "cxray_imports" else None
        if expected is None or not self.read_only:
            return self.backend.table(name)
        if name not in self.backend.list_tables():
            return ibis.memtable(expected.to_pyarrow().empty_table())
        table = self.backend.table(name)
        missing = {
            column: ibis.null().cast(dtype)
            for column, dtype in expected.items()
            if column not in table.columns
        }
        if not missing:
            return table
        extra = [column for column in table.columns if column not in expected]
        return table.mutate(**missing).select(*expected.names, *extra)

    @property
    def customers(self) -> ir.Table:
        return self.table("customers")

    @property
    def events(self) -> ir.Table:
        return self.table("events")

    @property
    def feedback(self) -> ir.Table:
        return self.table("feedback")

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute())

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in schema.TABLES}

    # -- raw access for engine-specific fast paths (ingest) -------------------------------
    def sql(self, statement: str, params: list | None = None):
        """Run SQL on the engine's own connection (fast paths only; analyses use Ibis)."""
        if self.is_duckdb:
            return self.backend.con.execute(statement, params or [])
        with self.backend.begin() as cur:
            cur.execute(statement, params or [])
            return cur.fetchall() if cur.description else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: a failed import leaves the tables exactly as they were."""
        if not self.is_duckdb:
            raise WarehouseError(f"transactions on {self.engine} go through the ingest adapter")
        self._refuse_read_only("import")
        con = self.backend.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.backend.disconnect()


def connect(url: str | None, workspace_dir: Path, read_only: bool = False) -> Warehouse:
    workspace_dir = Path(workspace_dir)
    if url is None or url.startswith("duckdb://") or url.endswith(".duckdb"):
        relative = DEFAULT_FILE if url is None else url.removeprefix("duckdb://")
        path = (workspace_dir / relative) if not Path(relative).is_absolute() else Path(relative)
        temp_dir = workspace_dir / ".cxray-tmp"
        if read_only and not path.exists():
            raise WarehouseError(
                f"{path}: no warehouse file in this workspace; "
                f"create one with 'cxray init' or 'cxray import'"
            )

        def open_duckdb() -> ibis.BaseBackend:
            try:
                return open_with(read_only)
            except Exception as exc:
                # This process already has the file open for writing (a notebook's workspace,
                # a test): DuckDB shares that instance only with the same settings. Reading
                # through it is safe; the Warehouse itself still refuses to write.
                if read_only and "different configuration" in str(exc):
                    return open_with(False)
                raise

        def open_with(read_only: bool) -> ibis.BaseBackend:
            backend = ibis.duckdb.connect(
                str(path),
                read_only=read_only,
                # Bounded memory: DuckDB spills to the workspace's temp folder past this.
                memory_limit="4GB",
                temp_directory=str(temp_dir),
                preserve_insertion_order=True,
            )
            # Set after connecting: as a connect-time option it would need ICU before it loads.
            backend.con.execute("SET TimeZone = 'UTC'")
            # Progress is shown by cxray's own bar (from query_progress, which DuckDB tracks only
            # with its progress bar on), not printed by DuckDB.
            backend.con.execute("SET enable_progress_bar = true")
            backend.con.execute("SET enable_progress_bar_print = false")
            return backend

        try:
            backend = _waiting_for_lock(open_duckdb, workspace_dir, read_only)
        except WarehouseError:
            raise
        except Exception as exc:  # DuckDB raises its own IOException for corrupt files
            raise WarehouseError(f"{path}: cannot open the warehouse: {exc}") from exc
        return Warehouse(backend, f"duckdb://{path}", temp_dir, read_only=read_only)
    # read_only is a DuckDB notion (a file lock); a server engine handles its own concurrency.
    try:
        backend = ibis.connect(url)
    except Exception as exc:
        raise WarehouseError(f"cannot connect to {url.split('@')[-1]}: {exc}") from exc
    return Warehouse(backend, url)


# How DuckDB says another process holds the file: its own lock (POSIX), or Windows refusing to
# share the file.
LOCK_CONFLICTS = (
    "Could not set lock",
    "Conflicting lock",
    "being used by another process",
)


def _is_lock_conflict(exc: BaseException) -> bool:
    message = str(exc)
    return any(phrase in message for phrase in LOCK_CONFLICTS)


def _waiting_for_lock(
    open_duckdb: Callable[[], ibis.BaseBackend], workspace_dir: Path, read_only: bool
) -> ibis.BaseBackend:
    """Open, retrying with backoff while another process holds the file (bounded wait).

    DuckDB's own message names a process id and a link; the user gets one line saying the
    workspace is busy, with what, and what to do.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = 0.05
    while True:
        try:
            return open_duckdb()
        except Exception as exc:
            if not _is_lock_conflict(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseError(_busy_message(workspace_dir, read_only)) from None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 1.0)


def _busy_message(workspace: Path, read_only: bool) -> str:
    if read_only:
        holder = "another process is writing to it (a cxray import, or Python with it open)"
    else:
        holder = (
            "another process has it open (a cxray import, analysis or report, "
            "or Python with it open)"
        )
    return (
        f"{workspace}: the workspace is busy: {holder}; "
        f"try again when it has finished (waited {LOCK_WAIT_SECONDS:g} s)"
    )
