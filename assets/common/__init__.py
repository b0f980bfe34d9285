"""Helpers shared by every asset group: partitions, the gpu pool, config, metadata, checks, code versions."""
