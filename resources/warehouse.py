"""Parquet-per-partition storage with a DuckDB catalog (see thinkforge.warehouse)."""

from pathlib import Path

import polars as pl
from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext
from pydantic import Field

from thinkforge import paths, warehouse
from thinkforge.stage import StageOutput


def _root(home: str) -> Path:
    return Path(home).resolve() if home else paths.home()


class WarehouseResource(ConfigurableResource):
    """Read access to the warehouse for checks, sensors and scripts."""

    home: str = Field("", description="warehouse root; empty: THINKFORGE_HOME (default .thinkforge/ in the repo)")

    @property
    def root(self) -> Path:
        return _root(self.home)

    def read(self, asset: str, partition: str | None) -> pl.DataFrame:
        return warehouse.read_partition(self.root, asset, partition)

    def info(self, asset: str, partition: str | None) -> dict | None:
        return warehouse.read_info(self.root, asset, partition)


class WarehouseIOManager(ConfigurableIOManager):
    """Stores a StageOutput as kept + rejects Parquet files and loads kept rows downstream."""

    home: str = Field("", description="warehouse root; empty: THINKFORGE_HOME (default .thinkforge/ in the repo)")

    def handle_output(self, context: OutputContext, obj: StageOutput) -> None:
        asset = context.asset_key.path[-1]
        partition = context.partition_key if context.has_partition_key else None
        if not isinstance(obj, StageOutput):
            raise TypeError(f"{asset}: assets stored in the warehouse return a StageOutput, got {type(obj).__name__}")
        root = _root(self.home)
        warehouse.write_partition(root, asset, partition, obj, run_id=context.run_id, log=context.log.warning)
        context.add_output_metadata(
            {
                "path": str(warehouse.partition_path(root, asset, partition)),
                "rejects_path": str(warehouse.partition_path(root, warehouse.rejects_name(asset), partition)),
                "duckdb_view": asset,
            }
        )

    def load_input(self, context: InputContext) -> pl.DataFrame:
        asset = context.asset_key.path[-1]
        root = _root(self.home)
        if not context.has_asset_partitions:
            return warehouse.read_partition(root, asset, None)
        frames = [warehouse.read_partition(root, asset, key) for key in context.asset_partition_keys]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
