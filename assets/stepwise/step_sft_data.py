"""step_sft_data: IFT (solutions as steps) + EFT (step-pair judgments consistent under swap) for M1."""

import polars as pl
from dagster import AssetExecutionContext, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from assets.stepwise.domains import applies
from resources.generation import ModelResource
from thinkforge.stepwise import StepDataSettings, build_step_data

StepDataConfig = run_config(StepDataSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version("stepwise/data.py", "stepwise/steps.py", "templates/stepwise"),
    description="IFT rows (sft_dataset solutions split into 'Step n: ' steps; `split_by` says how) and EFT rows "
    "(the judge role's step-pair judgments, kept when both orders agree and they side with the verified step).",
)
def step_sft_data(
    context: AssetExecutionContext,
    config: StepDataConfig,
    policy: ModelResource,
    judge: ModelResource,
    sft_dataset: pl.DataFrame,
) -> Output:
    settings = StepDataSettings.from_config(config)
    domain = context.partition_key
    if not applies(domain):
        out = build_step_data(sft_dataset.head(0), None, None, "", settings)
        return Output(out, metadata={**stage_metadata(out, ["id"]), "applicable": False})
    with policy.generator(log=context.log.info) as sampler, judge.generator(log=context.log.info) as rater:
        out = build_step_data(
            sft_dataset, sampler.generate, rater.generate, rater.backend.model_id, settings, log=context.log.info
        )
        stats = [sampler.stats, rater.stats]
    metadata = stage_metadata(out, ["id", "kind", "split_by", "verdict", "messages"])
    metadata.update(generation_metadata(stats[1]))
    metadata["model_calls"] = stats[0].calls + stats[1].calls
    metadata["cache_hits"] = stats[0].cache_hits + stats[1].cache_hits
    for key in ("ift", "eft", "eft_judgments", "eft_consistency"):
        metadata[key] = out.report[key]
    metadata.update(tables(split_by=(out.report["split_by"], "split by", "solutions")))
    return Output(out, metadata=metadata)
