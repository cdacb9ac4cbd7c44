"""One `Warehouse` per workspace: an Ibis backend holding the canonical tables.

DuckDB (a file in the workspace) is the default; any URL Ibis understands
(``postgres://user@host/db``) works the same way for everything built on Ibis expressions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import ibis
import ibis.expr.types as ir

from cxray import schema

DEFAULT_FILE = "warehouse.duckdb"


class WarehouseError(RuntimeError):
    pass


class Warehouse:
    def __init__(self, backend: ibis.BaseBackend, url: str, temp_dir: Path | None = None):
        self.backend = backend
        self.url = url
        self.temp_dir = temp_dir

    @property
    def engine(self) -> str:
        return self.backend.name

    @property
    def is_duckdb(self) -> bool:
        return self.engine == "duckdb"

    # -- tables ---------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        existing = set(self.backend.list_tables())
        for spec in schema.TABLES.values():
            if spec.name not in existing:
                self.backend.create_table(spec.name, schema=spec.schema)
            else:
                self._add_missing_columns(spec)
        if "cxray_imports" not in existing:
            self.backend.create_table("cxray_imports", schema=schema.IMPORTS)

    def _add_missing_columns(self, spec: schema.TableSpec) -> None:
        """Workspaces made by an earlier version lack newer columns: add them, empty."""
        present = set(self.backend.table(spec.name).columns)
        for column, dtype in spec.schema.items():
            if column not in present:
                if dtype.is_timestamp():
                    type_name = "TIMESTAMPTZ"
                elif dtype.is_floating():
                    type_name = "DOUBLE PRECISION"
                else:
                    type_name = "TEXT"
                self.backend.raw_sql(f'ALTER TABLE "{spec.name}" ADD COLUMN "{column}" {type_name}')

    def table(self, name: str) -> ir.Table:
        return self.backend.table(name)

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
        try:
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
            # Progress is shown by cxray's own bar (from query_progress), not printed by DuckDB.
            backend.con.execute("SET enable_progress_bar_print = false")
        except Exception as exc:  # DuckDB raises its own IOException for locked/corrupt files
            raise WarehouseError(f"{path}: cannot open the warehouse: {exc}") from exc
        return Warehouse(backend, f"duckdb://{path}", temp_dir)
    try:
        backend = ibis.connect(url)
    except Exception as exc:
        raise WarehouseError(f"cannot connect to {url.split('@')[-1]}: {exc}") from exc
    return Warehouse(backend, url)
