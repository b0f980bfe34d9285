"""verified_responses: rule, math-verify and sandbox verdicts on every response; the accepted ones."""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.judging import LazyJudge, RewardModel
from thinkforge.plots import bar_png, histogram_png, markdown_image
from thinkforge.stage import StageOutput
from thinkforge.thinking import CLOSE
from thinkforge.verification import VerificationSettings, verify_responses
from thinkforge.verify import Limits, MathVerifier, Sandbox

VerificationConfig = run_config(VerificationSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="Responses that pass the rules and verify, every verdict a column.\n\n"
    "- rules: n-gram repetition, length, format, language and safety\n"
    "- the answer checker: math-verify on the stated answer for math, the bubblewrap sandbox for code, the judge role "
    "against the reference for science, chat and text math references\n"
    "- rejects keep their verdicts (incorrect, no_answer, text_reference, …)",
)
def verified_responses(
    context: AssetExecutionContext, config: VerificationConfig, judge: ModelResource, distilled_responses: pl.DataFrame
) -> Output[StageOutput]:
    domain = context.partition_key
    settings = VerificationSettings.from_config(config)
    sandbox = (
        Sandbox(limits=Limits(timeout_s=settings.sandbox_timeout_s, memory_mb=settings.sandbox_memory_mb))
        if domain == "code"
        else None
    )
    with ExitStack() as stack:
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, settings.judge_max_tokens)
        math = (
            stack.enter_context(MathVerifier(workers=settings.math_workers, timeout_s=settings.math_timeout_s))
            if domain == "math"
            else None
        )
        reward = RewardModel(settings.reward_model) if settings.reward_model else None
        out = verify_responses(
            distilled_responses,
            math,
            sandbox,
            settings,
            log=context.log.info,
            judge=rater if settings.judge else None,
            reward=reward,
        )
    metadata = stage_metadata(
        out,
        ["id", "origin", "verdict_correct", "verdict_detail", "score_judge_correctness", "pass_rate", "response"],
        first=pl.col("response").str.contains(CLOSE, literal=True),
    )
    metadata.update(generation_metadata({"judge": rater.stats}))
    metadata.update(
        {
            "teacher_accept_rate": out.report.teacher_accept_rate,
            "problems_with_pass_rate": out.report.problems_with_pass_rate,
            **tables(
                verdicts=(out.report.verdicts, "verdict"),
                math_answer_basis=(out.report.math_answer_basis, "basis"),
                judged=(out.report.judged, "automatic verdict before the judge", "responses judged"),
                source_solutions_failing=(out.report.source_solutions_failing, "source", "failing of checked"),
                unsupported_language=(out.report.unsupported_language, "source"),
            ),
        }
    )
    verdicts = out.report.verdicts["verdict_correct"]
    if verdicts:
        title = "correctness verdicts (math-verify, sandbox; skip: no automatic check)"
        metadata["verdicts_chart"] = MetadataValue.md(markdown_image(bar_png(verdicts, title=title), title))
    judged = pl.concat([out.kept, out.rejects], how="diagonal_relaxed")
    scores = {
        name.removeprefix("score_judge_"): judged[name].drop_nulls().to_list()
        for name in ("score_judge_correctness", "score_judge_helpfulness")
        if name in judged.columns
    }
    if any(scores.values()):
        title = "LLM-judge rubric scores (1-5)"
        png = histogram_png(scores, title=title, xlabel="score", bins=5)
        metadata["judge_scores_chart"] = MetadataValue.md(markdown_image(png, title))
    rates = out.report.source_pass_rates
    if rates:
        title = "share of checked responses verified correct, per source"
        png = bar_png(rates, title=title, ylabel="pass rate")
        metadata["pass_rate_per_source_chart"] = MetadataValue.md(markdown_image(png, title))
    return Output(out, metadata=metadata)
