"""Asset checks shared by every stage. Each result names its partition (description and metadata): the UI shows
every partition's evaluations of a check on one time axis."""

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetRecordsFilter,
    AssetsDefinition,
    MetadataValue,
    asset_check,
)

from assets.common.metadata import markdown_table
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
            description=f"{partition or 'all'}: {rows_in} rows in, {kept} kept + {rejected} rejected",
            metadata={
                "partition": partition or "",
                "rows_in": rows_in,
                "rows_out": kept,
                "rows_rejected": rejected,
                "missing": rows_in - kept - rejected,
            },
        )

    return _check


def training_data_checks(asset_def: AssetsDefinition, kind: str, min_rows: int = 1) -> list:
    """`training_format` (blocking): every row well-formed for training (`kind`: messages | trajectory | pair);
    `enough_training_rows` (WARN): at least `min_rows` rows in the partition."""
    from thinkforge.training.formats import row_problem

    asset_name = asset_def.key.path[-1]

    @asset_check(
        asset=asset_def,
        name="training_format",
        partitions_def=asset_def.partitions_def,
        blocking=True,
        description=f"Every row is a well-formed training example ({kind}); a malformed row blocks training.",
    )
    def _format(context: AssetCheckExecutionContext, warehouse_store: WarehouseResource) -> AssetCheckResult:
        rows = warehouse.read_partition(warehouse_store.root, asset_name, context.partition_key).to_dicts()
        bad = [(r["id"], why) for r in rows if (why := row_problem(kind, r))]
        return AssetCheckResult(
            passed=not bad,
            severity=AssetCheckSeverity.ERROR,
            description=f"{context.partition_key}: {len(bad)} of {len(rows)} rows malformed",
            metadata={
                "partition": context.partition_key,
                "rows": len(rows),
                "malformed": len(bad),
                "examples": "; ".join(f"{i}: {w}" for i, w in bad[:5]),
            },
        )

    @asset_check(
        asset=asset_def,
        name="enough_training_rows",
        partitions_def=asset_def.partitions_def,
        description=f"At least {min_rows} training row(s) in the partition (a warning: training then does nothing).",
    )
    def _enough(context: AssetCheckExecutionContext, warehouse_store: WarehouseResource) -> AssetCheckResult:
        n = warehouse.count_rows(warehouse_store.root, asset_name, context.partition_key)
        return AssetCheckResult(
            passed=n >= min_rows,
            severity=AssetCheckSeverity.WARN,
            description=f"{context.partition_key}: {n} training rows (at least {min_rows} wanted)",
            metadata={"partition": context.partition_key, "rows": n, "min_rows": min_rows},
        )

    return [_format, _enough]


def rows_fit_metadata(report: dict) -> dict:
    """What a training asset left out as too_long (never cut): counts in all and per source, and the rows themselves
    with their token counts. `rows_fit_check` reads rows_in, rows_dropped and max_dropped_share from it."""
    rejects = pl.DataFrame(report["rejects"]) if report["rejects"] else None
    return {
        "rows_in": report["rows_in"],
        "rows_dropped": report["rows_dropped"],
        "trained_tokens_dropped": report["trained_tokens_dropped"],
        "dropped_share": report["dropped_share"],
        "max_dropped_share": report["max_dropped_share"],
        "dropped_by_source": MetadataValue.json(report["dropped_by_source"]),
        "too_long": MetadataValue.md(
            markdown_table(rejects, ["id", "source", "tokens", "trained_tokens", "detail"], n=20)
            if rejects is not None
            else "no row too long"
        ),
    }


def rows_fit_check(asset_def: AssetsDefinition):
    """`rows_fit` (blocking): the training asset left out at most its `max_dropped_share` of rows as too_long."""

    @asset_check(
        asset=asset_def,
        name="rows_fit",
        partitions_def=asset_def.partitions_def,
        blocking=True,
        description="At most `max_dropped_share` (run config, default 5 %) of the training rows were left out whole "
        "because they do not fit in max_length (reason too_long; rows are never cut); more blocks the model.",
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_def.key, asset_partitions=[context.partition_key]), limit=1
        ).records
        meta = {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}
        if "rows_dropped" not in meta:
            return AssetCheckResult(
                passed=True, severity=AssetCheckSeverity.ERROR, description="no training rows were read"
            )
        share = meta["rows_dropped"] / meta["rows_in"] if meta["rows_in"] else 0.0
        passed = share <= meta["max_dropped_share"]
        return AssetCheckResult(
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
            description=f"{meta['rows_dropped']} of {meta['rows_in']} rows too_long ({share:.1%}); "
            f"{'within' if passed else 'above'} max_dropped_share {meta['max_dropped_share']:.1%}",
            metadata={
                "rows_in": meta["rows_in"],
                "rows_dropped": meta["rows_dropped"],
                "dropped_share": round(share, 4),
                "max_dropped_share": meta["max_dropped_share"],
            },
        )

    return _check
