"""One `Warehouse` per workspace: an Ibis backend holding the canonical tables.

DuckDB (a file in the workspace) is the default; any URL Ibis understands
(``postgres://user@host/db``) works the same way for everything built on Ibis expressions.

A DuckDB warehouse opens as a plain DuckDB connection and wraps it in Ibis on first use: a
command that only counts (``cxray status``) answers without loading Ibis and its SQL compilers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import ibis
    import ibis.expr.types as ir

DEFAULT_FILE = "warehouse.duckdb"
# DuckDB admits one writing process or many reading ones. Another command holding the file is
# waited for this long (seconds, with backoff) before the user is told the workspace is busy.
LOCK_WAIT_SECONDS = 5.0
# The canonical tables (cxray.schema.TABLES, which needs Ibis to load) and the import log.
TABLE_NAMES = ("customers", "events", "feedback")
IMPORT_LOG = "cxray_imports"


def __getattr__(name: str) -> Any:
    # `core.ibis` for code that reaches the engine library through this module, loaded on demand
    if name == "ibis":
        import ibis

        return ibis
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class WarehouseError(RuntimeError):
    pass


class Warehouse:
    """The tables of one workspace, through Ibis (``backend``) or the engine's own SQL.

    Give either an Ibis ``backend`` or a DuckDB ``connection``; the latter becomes an Ibis
    backend the first time ``backend`` is asked for.
    """

    def __init__(
        self,
        backend: ibis.BaseBackend | None,
        url: str,
        temp_dir: Path | None = None,
        read_only: bool = False,
        *,
        connection: duckdb.DuckDBPyConnection | None = None,
    ):
        if backend is None and connection is None:
            raise ValueError("a Warehouse needs an Ibis backend or a DuckDB connection")
        self._backend = backend
        self._connection = connection
        self.url = url
        self.temp_dir = temp_dir
        self.read_only = read_only
        self._stored: dict[str, list[str]] | None = None  # columns per table, when read-only
        # the canonical tables' Ibis expressions, on a cursor (whose tables' columns change only
        # when the warehouse is opened again: every cursor is closed then)
        self._tables: dict[str, ir.Table] | None = None
        self._canonical: dict[str, list[str]] | None = None
        self._known_tables: set[str] = set()  # tables seen to exist (cxray drops none)

    @property
    def backend(self) -> ibis.BaseBackend:
        if self._backend is None:
            import ibis

            self._backend = ibis.duckdb.from_connection(self._connection)
        return self._backend

    @property
    def engine(self) -> str:
        return "duckdb" if self._connection is not None else self.backend.name

    @property
    def is_duckdb(self) -> bool:
        return self.engine == "duckdb"

    # -- tables ---------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        from cxray import schema

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
        import ibis

        from cxray import schema

        spec = schema.TABLES.get(name)
        expected = spec.schema if spec else schema.IMPORTS if name == IMPORT_LOG else None
        if self._tables is not None and expected is not None:
            if name not in self._tables:
                self._tables[name] = self.backend.table(name)
            return self._tables[name]
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
        if name in (*TABLE_NAMES, IMPORT_LOG):
            if not self.columns(name):  # an earlier version's workspace, opened read-only
                return 0 if self.read_only else int(self.table(name).count().execute())
            return int(self.query(f'SELECT COUNT(*) FROM "{name}"')[0][0])
        return int(self.table(name).count().execute())

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in TABLE_NAMES}

    def columns(self, name: str) -> list[str]:
        """The columns a table has in the engine, in order; none when it does not exist.

        Unlike :meth:`table`, this is what is stored: a workspace made by an earlier version
        may lack newer columns.
        """
        return list(self._present(name) or [])

    def has_table(self, name: str) -> bool:
        """Whether table ``name`` exists; a yes is remembered (cxray never drops a table, and
        pages ask on every request)."""
        if name in self._known_tables:
            return True
        rows = self.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        )
        if rows[0][0]:
            self._known_tables.add(name)
        return bool(rows[0][0])

    def _present(self, name: str) -> list[str] | None:
        """The stored columns of ``name`` (None: no such table)."""
        if self._tables is not None and name in (*TABLE_NAMES, IMPORT_LOG):
            # a cursor: the canonical tables change only when the warehouse opens again
            if self._canonical is None:
                self._canonical = self._stored_columns()
            return self._canonical.get(name)
        return self._stored_columns().get(name)

    def _stored_columns(self) -> dict[str, list[str]]:
        if self._stored is not None:
            return self._stored
        if self.read_only and self.is_duckdb:
            # Nothing changes the tables while this process reads them: ask once, table by
            # table (the first look at DuckDB's information_schema costs twice as long).
            self._stored = {}
            for name in (*TABLE_NAMES, IMPORT_LOG):
                with contextlib.suppress(Exception):  # no such table: it stays out
                    described = self.con.execute(f'SELECT * FROM "{name}" LIMIT 0').description
                    self._stored[name] = [column[0] for column in described]
            return self._stored
        stored: dict[str, list[str]] = {}
        for table, column in self.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ):
            stored.setdefault(table, []).append(column)
        return stored

    def relation(self, name: str, columns: dict[str, str]) -> str:
        """A FROM-clause source for table ``name`` with at least ``columns`` (name: SQL type).

        For plain-SQL fast paths. As with :meth:`table`, a workspace made by an earlier version
        and opened read-only may lack newer columns or tables: they read as empty (null).
        """
        present = self._present(name)
        if present is not None and all(column in present for column in columns):
            return f'"{name}"'
        items = ", ".join(
            f'"{column}"'
            if present and column in present
            else f'CAST(NULL AS {kind}) AS "{column}"'
            for column, kind in columns.items()
        )
        if present is None:
            return f"(SELECT {items} WHERE 1 = 0)"
        return f'(SELECT {items} FROM "{name}")'

    # -- raw access for engine-specific fast paths (ingest, status) -----------------------
    def sql(self, statement: str, params: list | None = None):
        """Run SQL on the engine's own connection (fast paths only; analyses use Ibis)."""
        if self.is_duckdb:
            return self.con.execute(statement, params or [])
        with self.backend.begin() as cur:
            cur.execute(statement, params or [])
            return cur.fetchall() if cur.description else None

    def query(self, statement: str, params: list | None = None) -> list[tuple[Any, ...]]:
        """The rows of one SELECT in plain SQL, ``?`` marking each parameter.

        Fast paths that must not wait for Ibis to load (a status check) use it with SQL that
        DuckDB and PostgreSQL read alike. They write values with :func:`literal` rather than
        pass parameters (DuckDB loads pandas to bind the first one), and read timestamps
        through :func:`utc` (a timezone-aware one would load pytz).
        """
        if self.is_duckdb:
            return self.con.execute(statement, params or []).fetchall()
        with self.backend.begin() as cur:
            if params:  # psycopg marks parameters with %s (a statement with them holds no "?")
                cur.execute(statement.replace("?", "%s"), params)
            else:  # without parameters nothing is read as a mark: a literal may hold ? or %
                cur.execute(statement)
            return cur.fetchall()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection itself (DuckDB warehouses only)."""
        if self._connection is not None:
            return self._connection
        if self._backend is not None and self._backend.name == "duckdb":
            return self._backend.con
        raise WarehouseError(f"{self.url}: not a DuckDB warehouse")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: a failed import leaves the tables exactly as they were."""
        if not self.is_duckdb:
            raise WarehouseError(f"transactions on {self.engine} go through the ingest adapter")
        self._refuse_read_only("import")
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")

    def cursor(self) -> Warehouse:
        """A second connection to the same DuckDB database, for another thread: queries on it
        run beside this one's (closing this warehouse does not close it)."""
        cursor = Warehouse(
            None,
            self.url,
            self.temp_dir,
            self.read_only,
            connection=_with_session_settings(self.con.cursor()),
        )
        if not self.read_only:  # read-only opens may lack newer columns: table() mends those
            cursor._tables = {}
        return cursor

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._backend is not None:
                self._backend.disconnect()
            elif self._connection is not None:
                self._connection.close()


def _with_session_settings(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """What every connection (and every cursor: they do not inherit it) is set to."""
    # What Ibis sets on a connection it makes, set here so that plain SQL reads the same as Ibis
    # does: UTC (after connecting, as a connect-time option it would need ICU before it loads)
    # and no Python variables read as tables.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET python_enable_replacements = false")
    # Progress is shown by cxray's own bar (from query_progress, which DuckDB tracks only with
    # its progress bar on), not printed by DuckDB.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    return con


def literal(value: str | float | dt.datetime | None) -> str:
    """A value written into SQL that DuckDB and PostgreSQL read alike (for fast paths)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"no SQL literal for {value!r}")
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"a timestamp needs its time zone: {value!r}")
        return f"CAST('{value.astimezone(dt.UTC).isoformat(sep=' ')}' AS TIMESTAMPTZ)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"  # standard SQL: a quote doubled
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def literals(values: list[str]) -> str:
    """``(a, b, c)`` for ``IN``; an empty list is ``(NULL)``, which nothing equals."""
    return "(" + (", ".join(literal(value) for value in values) or "NULL") + ")"


def utc(expression: str) -> str:
    """A timestamp column or expression read as UTC wall time (see :func:`from_utc`)."""
    return f"(({expression}) AT TIME ZONE 'UTC')"


def from_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A value read through :func:`utc`, timezone-aware again."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def connect(
    url: str | None,
    workspace_dir: Path,
    read_only: bool = False,
    *,
    lock_wait: float | None = None,
    ask_holder: bool = True,
) -> Warehouse:
    """The workspace's warehouse; a DuckDB file held by another process is waited for up to
    ``lock_wait`` seconds (asking the web app to let go of it unless ``ask_holder`` is false)."""
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

        def open_duckdb() -> duckdb.DuckDBPyConnection:
            try:
                return open_with(read_only)
            except Exception as exc:
                # This process already has the file open for writing (a notebook's workspace,
                # a test): DuckDB shares that instance only with the same settings. Reading
                # through it is safe; the Warehouse itself still refuses to write.
                if read_only and "different configuration" in str(exc):
                    return open_with(False)
                raise

        def open_with(read_only: bool) -> duckdb.DuckDBPyConnection:
            import duckdb

            con = duckdb.connect(
                str(path.absolute()),
                read_only=read_only,
                config={
                    # Bounded memory: DuckDB spills to the workspace's temp folder past this.
                    "memory_limit": "4GB",
                    "temp_directory": str(temp_dir),
                    "preserve_insertion_order": True,
                },
            )
            return _with_session_settings(con)

        try:
            connection = _waiting_for_lock(
                open_duckdb, workspace_dir, read_only, lock_wait, ask_holder
            )
        except WarehouseError:
            raise
        except Exception as exc:  # DuckDB raises its own IOException for corrupt files
            raise WarehouseError(f"{path}: cannot open the warehouse: {exc}") from exc
        return Warehouse(
            None, f"duckdb://{path}", temp_dir, read_only=read_only, connection=connection
        )
    # read_only is a DuckDB notion (a file lock); a server engine handles its own concurrency.
    import ibis

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
    open_duckdb: Callable[[], duckdb.DuckDBPyConnection],
    workspace_dir: Path,
    read_only: bool,
    lock_wait: float | None = None,
    ask_holder: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open, retrying with backoff while another process holds the file (bounded wait).

    When the web app holds it, it is asked once to let go (see :mod:`cxray.warehouse.holder`).

    DuckDB's own message names a process id and a link; the user gets one line saying the
    workspace is busy, with what, and what to do.
    """
    if lock_wait is None:
        lock_wait = LOCK_WAIT_SECONDS
    deadline = time.monotonic() + lock_wait
    pause = 0.05
    asked_holder = not ask_holder
    while True:
        try:
            return open_duckdb()
        except Exception as exc:
            if not _is_lock_conflict(exc):
                raise
            if not asked_holder:
                # The web app keeps the file open: it closes it for a moment when asked.
                from cxray.warehouse import holder

                asked_holder = True
                if holder.ask_to_release(workspace_dir):
                    deadline = time.monotonic() + lock_wait
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseError(_busy_message(workspace_dir, read_only, lock_wait)) from None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 1.0)


def _busy_message(workspace: Path, read_only: bool, waited: float | None = None) -> str:
    waited = LOCK_WAIT_SECONDS if waited is None else waited
    if read_only:
        holder = "another process is writing to it (a cxray import, or Python with it open)"
    else:
        holder = (
            "another process has it open (a cxray import, analysis or report, "
            "or Python with it open)"
        )
    return (
        f"{workspace}: the workspace is busy: {holder}; "
        f"try again when it has finished (waited {waited:g} s)"
    )
