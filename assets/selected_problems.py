"""selected_problems: reference/tests, language, quality, difficulty and category rules, then rebalancing."""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, Config, MetadataValue, Output, asset

from assets.base_model import base_model
from assets.gpu import GPU_OP_TAGS, GPU_POOL
from assets.metadata import counts_table, generation_metadata, stage_metadata
from assets.partitions import domain_partitions
from assets.settings import settings_from
from assets.versions import code_version
from resources.models import LazyJudge, ModelResource
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


@asset(partitions_def=domain_partitions, io_manager_key="warehouse_io", group_name="curate", kinds={"parquet"},
       pool=GPU_POOL, op_tags=GPU_OP_TAGS, deps=[base_model], code_version=code_version("selection", "templates/select_judge.txt"),
       description="Problems that pass the select rules, with language, difficulty (1-10), quality (1-10) and category.")
def selected_problems(context: AssetExecutionContext, config: SelectConfig, model: ModelResource,
                      deduped_problems: pl.DataFrame) -> Output[StageOutput]:
    domain = context.partition_key
    with ExitStack() as stack:
        judge = LazyJudge(model, stack, config.judge_max_tokens, log=context.log.info)

        settings = settings_from(config, SelectSettings)
        out, report = select(deduped_problems, domain, judge if config.judge else None, settings, log=context.log.info)
    metadata = stage_metadata(out, ["id", "difficulty", "quality", "category", "language", "problem"])
    metadata.update(generation_metadata(judge.stats))
    metadata.update({
        "judged_rows": report.judged,
        "judge_parse_rate": round(report.judge_parsed / report.judged, 3) if report.judged else 1.0,
        "rated_from_metadata": report.from_metadata,
        "difficulty": MetadataValue.json(counts_table(out.kept.with_columns(pl.col("difficulty").cast(pl.String)), "difficulty")),
        "categories": MetadataValue.json(counts_table(out.kept, "category")),
        "languages": MetadataValue.json(counts_table(out.kept, "language")),
    })
    return Output(out, metadata=metadata)
