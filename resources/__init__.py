"""Dagster resources: the warehouse, the model roles and the embedder."""

from resources.embedding import EmbedderResource
from resources.generation import EvaluatorsResource, ModelResource, ModelSpec, role_resources
from resources.warehouse import WarehouseIOManager, WarehouseResource

__all__ = [
    "EmbedderResource",
    "EvaluatorsResource",
    "ModelResource",
    "ModelSpec",
    "WarehouseIOManager",
    "WarehouseResource",
    "role_resources",
]
