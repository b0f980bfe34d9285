"""Collection: the raw problem pool from real source formats."""

from thinkforge.collect.adapters import FORMATS
from thinkforge.collect.config import ConfigError, SourceSpec, load_sources
from thinkforge.collect.pool import POOL_SCHEMA, REJECTS_SCHEMA, STAGE, collect, domains_of

__all__ = [
    "FORMATS",
    "ConfigError",
    "SourceSpec",
    "load_sources",
    "collect",
    "domains_of",
    "POOL_SCHEMA",
    "REJECTS_SCHEMA",
    "STAGE",
]


def load(path) -> list[SourceSpec]:
    """Load a sources YAML with the known formats."""
    return load_sources(path, set(FORMATS))
