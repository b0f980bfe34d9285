"""distilled_responses: the teacher's K thinking-format responses per selected problem, plus existing ones."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import counts_table, generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.distill import DistillSettings, distill, teacher_problems
from thinkforge.generation import GenerationStats
from thinkforge.plots import histogram_png, markdown_image
from thinkforge.stage import StageOutput
from thinkforge.thinking import CLOSE

DistillConfig = run_config(DistillSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="Candidate responses per problem: the sources' own and K teacher samples.\n\n"
    "- teacher samples are in the thinking format (`<think>…</think>` + answer)\n"
    "- the teacher samples only problems whose source gives no reasoning chain (every problem with `distill_existing: "
    "also`)",
)
def distilled_responses(
    context: AssetExecutionContext, config: DistillConfig, teacher: ModelResource, selected_problems: pl.DataFrame
) -> Output[StageOutput]:
    settings = DistillSettings.from_config(config)
    stats = {"teacher": GenerationStats()}
    if settings.samples and teacher_problems(selected_problems.to_dicts(), settings):
        with teacher.generator(log=context.log.info) as generator:
            out = distill(
                selected_problems, context.partition_key, generator.generate, generator.backend.model_id, settings
            )
            stats = {"teacher": generator.stats}
    else:
        out = distill(selected_problems, context.partition_key, None, "", settings)
    metadata = stage_metadata(
        out,
        ["id", "origin", "model", "finish_reason", "problem", "response"],
        first=pl.col("response").str.contains(CLOSE, literal=True),
    )
    metadata.update(generation_metadata(stats))
    metadata.update(
        {
            "problems": selected_problems.height,
            "problems_with_chain": out.report.problems_with_chain,
            "problems_skipped_with_chain": out.report.problems_skipped_with_chain,
            "problems_distilled": out.report.problems_distilled,
            **tables(
                origins=(counts_table(out.kept, "origin"), "origin"),
                finish_reasons=(
                    counts_table(out.kept.filter(pl.col("origin") == "teacher"), "finish_reason"),
                    "finish reason",
                ),
            ),
        }
    )
    lengths = {
        origin: [len(t) for t in out.kept.filter(pl.col("origin") == origin)["response"].drop_nulls().to_list()]
        for origin in sorted(set(out.kept["origin"].to_list()))
    }
    if any(lengths.values()):
        title = "response length (characters) by origin"
        png = histogram_png(lengths, title=title, xlabel="characters")
        metadata["length_chart"] = MetadataValue.md(markdown_image(png, title))
    return Output(out, metadata=metadata)
