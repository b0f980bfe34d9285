"""Dagster resources: storage now; models, embedder, sandbox and gpu as their stages land."""

from resources.warehouse import WarehouseIOManager, WarehouseResource

__all__ = ["WarehouseIOManager", "WarehouseResource"]
