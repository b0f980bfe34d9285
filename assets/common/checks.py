"""Asset checks shared by every stage."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetsDefinition, asset_check

from resources.warehouse import WarehouseResource
from thinkforge import warehouse


def rows_conserved_check(asset_def: AssetsDefinition):
    """rows in = rows out + rows rejected, counted from the stored partition files."""
    asset_name = asset_def.key.path[-1]

    @asset_check(
        asset=asset_def,
        name="rows_conserved",
        partitions_def=asset_def.partitions_def,
        blocking=True,
        description="Every input row is either kept or stored in the rejects table with a reason (rows in = out + rejected).",
    )
    def _check(context: AssetCheckExecutionContext, warehouse_store: WarehouseResource) -> AssetCheckResult:
        partition = context.partition_key if asset_def.partitions_def else None
        info = warehouse_store.info(asset_name, partition) or {}
        kept = warehouse.count_rows(warehouse_store.root, asset_name, partition)
        rejected = warehouse.count_rows(warehouse_store.root, warehouse.rejects_name(asset_name), partition)
        rows_in = info.get("rows_in", -1)
        return AssetCheckResult(
            passed=rows_in == kept + rejected,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "rows_in": rows_in,
                "rows_out": kept,
                "rows_rejected": rejected,
                "missing": rows_in - kept - rejected,
            },
        )

    return _check
