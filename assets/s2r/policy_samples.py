"""policy_samples: K answers per problem from the initial policy, each verified (math-verify, sandbox, judge)."""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.judging import LazyJudge
from thinkforge.plots import bar_png, markdown_image
from thinkforge.rows import verified_first
from thinkforge.s2r import PolicySampleSettings, sample_policy
from thinkforge.verify import AnswerChecker, MathVerifier, Sandbox

PolicySampleConfig = run_config(PolicySampleSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="K samples per problem from the initial policy, each with its extracted answer and correctness.\n\n"
    "- the policy role: base_model unless run config names a folder or served model\n"
    "- correctness by math-verify, the sandbox, or the judge against the reference for science\n"
    "- chat and problems without a reference are rejected as not checkable",
)
def policy_samples(
    context: AssetExecutionContext,
    config: PolicySampleConfig,
    policy: ModelResource,
    judge: ModelResource,
    selected_problems: pl.DataFrame,
    verified_responses: pl.DataFrame,
) -> Output:
    settings = PolicySampleSettings.from_config(config)
    domain, log = context.partition_key, context.log.info
    with ExitStack() as stack:
        rater = LazyJudge(lambda: judge.generator(log=log), stack, 64)
        math = stack.enter_context(MathVerifier(workers=1)) if domain == "math" else None
        checker = AnswerChecker(math, Sandbox() if domain == "code" else None, rater)
        gen = stack.enter_context(policy.generator(log=log, model=settings.policy or None))
        # problems with a verified response first: the trajectory fallback needs one when no sample is correct
        problems, _ = verified_first(
            selected_problems, verified_responses.filter(pl.col("verdict_correct") == "correct"), 0
        )
        out = sample_policy(problems, gen.generate, gen.backend.model_id, checker, settings, log=log)
        stats = {"policy": gen.stats, "judge": rater.stats}
    metadata = stage_metadata(out, ["id", "sample_index", "answer", "correct", "verdict", "response"])
    metadata.update(generation_metadata(stats))
    metadata.update(tables(verdicts=(out.report.verdicts, "verdict", "samples")))
    metadata["sample_accuracy"] = out.report.accuracy
    metadata["unscorable_samples"] = out.report.unscorable
    metadata["problems_sampled"] = out.report.problems_sampled
    metadata["truncated_samples"] = out.report.truncated
    wrong = out.report.wrong_per_problem
    metadata.update(tables(wrong_per_problem=({str(k): v for k, v in wrong.items()}, "wrong samples", "problems")))
    if wrong:
        title = f"problems by wrong samples out of {settings.samples}"
        png = bar_png({f"{k} wrong": v for k, v in wrong.items()}, title, ylabel="problems")
        metadata["wrong_per_problem_chart"] = MetadataValue.md(markdown_image(png, title))
    return Output(out, metadata=metadata)
