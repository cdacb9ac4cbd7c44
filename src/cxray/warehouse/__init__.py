"""The engine connection. Everything above this package talks Ibis, never a specific engine.

The one exception is a few counts that must answer before Ibis could load (`cxray status`):
they write plain SQL that DuckDB and PostgreSQL read alike, with the helpers here.
"""

from cxray.warehouse.core import (
    Warehouse,
    WarehouseError,
    connect,
    from_utc,
    literal,
    literals,
    utc,
)

__all__ = ["Warehouse", "WarehouseError", "connect", "from_utc", "literal", "literals", "utc"]
