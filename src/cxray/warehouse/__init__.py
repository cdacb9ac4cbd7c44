"""The engine connection. Everything above this package talks Ibis, never a specific engine."""

from cxray.warehouse.core import Warehouse, WarehouseError, connect

__all__ = ["Warehouse", "WarehouseError", "connect"]
