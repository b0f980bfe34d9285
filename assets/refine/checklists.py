"""checklists: a dynamic yes/no checklist per problem (model-written) plus the generic criteria."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import counts_table, generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.plots import histogram_png, markdown_image
from thinkforge.refinement import ChecklistSettings, build_checklists

ChecklistConfig = run_config(ChecklistSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="A yes/no checklist per problem: instruction-specific criteria written by the judge role plus the "
    "generic ones.\n\n"
    "- 4–10 model-written criteria\n"
    "- generic: correctness, completeness, consistency, executability (code only), safety\n"
    "- an unparsed reply keeps the generic list and says so in `status`",
)
def checklists(
    context: AssetExecutionContext,
    config: ChecklistConfig,
    judge: ModelResource,
    selected_problems: pl.DataFrame,
    verified_responses: pl.DataFrame,
) -> Output:
    settings = ChecklistSettings.from_config(config)
    with judge.generator(log=context.log.info) as gen:
        out = build_checklists(selected_problems, verified_responses, gen.generate, gen.backend.model_id, settings)
        stats = {"judge": gen.stats}
    metadata = stage_metadata(out, ["id", "status", "criteria", "problem"])
    metadata.update(generation_metadata(stats))
    metadata.update(
        tables(
            status=(
                counts_table(out.kept.with_columns(pl.col("status").str.split(":").list.first()), "status"),
                "status",
            )
        )
    )
    if out.report.model_items:
        png = histogram_png(out.report.model_items, "model-written criteria per problem", "criteria", bins=11)
        metadata["criteria_per_problem"] = MetadataValue.md(markdown_image(png, "criteria per problem"))
    return Output(out, metadata=metadata)
