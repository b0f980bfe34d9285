"""step_sft_data: IFT (solutions as steps) + EFT (step-pair judgments consistent under swap) for M1."""

from contextlib import ExitStack, nullcontext

import polars as pl
from dagster import AssetExecutionContext, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from assets.stepwise.domains import applies
from resources.generation import ModelResource
from thinkforge.judging import LazyJudge
from thinkforge.stepwise import StepDataSettings, build_step_data
from thinkforge.verify import AnswerChecker, MathVerifier, Sandbox

StepDataConfig = run_config(StepDataSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="IFT and EFT rows that teach M1 to write steps and to judge them.\n\n"
    "- IFT: sft_dataset solutions split into 'Step n: ' steps; `split_by` says how\n"
    "- EFT: the judge role's step-pair judgments, kept when both orders agree and they side with the verified step: "
    "the reference's own step, or with `eft_pairs: policy_vs_policy` the candidate whose rollout was checked right",
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
    with ExitStack() as stack:
        sampler = stack.enter_context(policy.generator(log=context.log.info))
        rater = stack.enter_context(judge.generator(log=context.log.info))
        check = None
        if settings.eft_pairs == "policy_vs_policy":  # rollouts graded as policy_samples grades answers
            math = stack.enter_context(MathVerifier(workers=1)) if domain == "math" else None
            reference_judge = LazyJudge(lambda: nullcontext(rater), stack, 64)
            check = AnswerChecker(math, Sandbox() if domain == "code" else None, reference_judge).check
        out = build_step_data(
            sft_dataset,
            sampler.generate,
            rater.generate,
            rater.backend.model_id,
            settings,
            log=context.log.info,
            check=check,
        )
        stats = {"policy": sampler.stats, "judge": rater.stats}
    metadata = stage_metadata(out, ["id", "kind", "split_by", "verdict", "messages"])
    metadata.update(generation_metadata(stats))
    metadata.update(
        {
            "ift": out.report.ift,
            "eft": out.report.eft,
            "eft_pairs": out.report.eft_pairs,
            "eft_judgments": out.report.eft_judgments,
            "eft_consistency": out.report.eft_consistency,
        }
    )
    metadata.update(
        tables(
            split_by=(out.report.split_by, "split by", "solutions"),
            eft_rollouts=(out.report.eft_rollouts, "verdict", "rollouts"),
        )
    )
    return Output(out, metadata=metadata)
