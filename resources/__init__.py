"""Dagster resources: storage now; models, embedder, sandbox and gpu as their stages land."""

from resources.models import EmbedderResource, ModelResource
from resources.warehouse import WarehouseIOManager, WarehouseResource

__all__ = ["EmbedderResource", "ModelResource", "WarehouseIOManager", "WarehouseResource"]
