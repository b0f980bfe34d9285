"""selected_problems: reference/tests, language, quality, difficulty and category rules, then rebalancing."""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, Config, MetadataValue, Output, asset

from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import counts_table, generation_metadata, stage_metadata
from assets.common.partitions import domain_partitions
from assets.common.config import settings_from
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.judging import LazyJudge
from thinkforge.selection import SelectSettings, select
from thinkforge.stage import StageOutput


class SelectConfig(Config):
    required_info: dict[str, list[str]] = SelectSettings().required_info
    languages: list[str] = ["en", "zh"]
    language_min_prob: float = 0.9
    min_quality: int = 4
    easy_max: int = 3
    easy_max_fraction: float = 0.5
    judge: bool = True  # rate rows that source metadata leaves unrated with the LLM judge
    judge_max_tokens: int = 48


@asset(partitions_def=domain_partitions, io_manager_key="warehouse_io", kinds={"parquet"},
       pool=GPU_POOL, op_tags=GPU_OP_TAGS, deps=["base_model"], code_version=code_version("selection", "templates/select_judge.txt"),
       description="Problems that pass the select rules, with language, difficulty (1-10), quality (1-10) and category.")
def selected_problems(context: AssetExecutionContext, config: SelectConfig, judge: ModelResource,
                      deduped_problems: pl.DataFrame) -> Output[StageOutput]:
    domain = context.partition_key
    with ExitStack() as stack:
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, config.judge_max_tokens)

        settings = settings_from(config, SelectSettings)
        out, report = select(deduped_problems, domain, rater if config.judge else None, settings, log=context.log.info)
    metadata = stage_metadata(out, ["id", "difficulty", "quality", "category", "language", "problem"])
    metadata.update(generation_metadata(rater.stats))
    metadata.update({
        "judged_rows": report.judged,
        "judge_parse_rate": round(report.judge_parsed / report.judged, 3) if report.judged else 1.0,
        "rated_from_metadata": report.from_metadata,
        "difficulty": MetadataValue.json(counts_table(out.kept.with_columns(pl.col("difficulty").cast(pl.String)), "difficulty")),
        "categories": MetadataValue.json(counts_table(out.kept, "category")),
        "languages": MetadataValue.json(counts_table(out.kept, "language")),
    })
    return Output(out, metadata=metadata)
