"""selected_problems: reference/tests, language, quality, difficulty and category rules, then rebalancing."""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import counts_table, generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.judging import LazyJudge
from thinkforge.plots import histogram_png, markdown_image
from thinkforge.selection import SelectSettings, select
from thinkforge.stage import StageOutput

SelectConfig = run_config(SelectSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="Problems that pass the select rules, with language, difficulty (1-10), quality (1-10) and category.",
)
def selected_problems(
    context: AssetExecutionContext, config: SelectConfig, judge: ModelResource, deduped_problems: pl.DataFrame
) -> Output[StageOutput]:
    settings = SelectSettings.from_config(config)
    with ExitStack() as stack:
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, settings.judge_max_tokens)
        out = select(
            deduped_problems, context.partition_key, rater if settings.judge else None, settings, log=context.log.info
        )
    metadata = stage_metadata(
        out, ["id", "difficulty", "quality", "category", "language", "problem"], "selected_problems"
    )
    metadata.update(generation_metadata({"judge": rater.stats}))
    metadata.update(
        {
            "judged_rows": out.report.judged,
            "judge_parse_rate": round(out.report.judge_parsed / out.report.judged, 3) if out.report.judged else 1.0,
            "rated_from_metadata": out.report.from_metadata,
        }
    )
    metadata.update(
        tables(
            difficulty=(
                counts_table(out.kept.with_columns(pl.col("difficulty").cast(pl.String)), "difficulty"),
                "difficulty",
            ),
            categories=(counts_table(out.kept, "category"), "category"),
            languages=(counts_table(out.kept, "language"), "language"),
        )
    )
    scores = {name: out.kept[name].drop_nulls().to_list() for name in ("difficulty", "quality")}
    if any(scores.values()):
        title = "difficulty and quality (1-10) of the selected problems"
        png = histogram_png(scores, title=title, xlabel="rating", bins=10)
        metadata["ratings_chart"] = MetadataValue.md(markdown_image(png, title))
    return Output(out, metadata=metadata)
