"""cot_sft_data: a chain of thought rebuilt for each refined solution, consistency-checked, in TRL format."""

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
from thinkforge.plots import histogram_png, markdown_image
from thinkforge.refinement import CotSettings, reconstruct
from thinkforge.verify import MathVerifier

CotConfig = run_config(CotSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="A chain of thought rebuilt by the completer for each refined solution, as a TRL conversation.\n\n"
    "- from problem + refined solution: a reasoning summary, then the full chain of thought\n"
    "- kept when it concludes what the solution says (math-verify, the program for code, the judge for science and "
    "chat) and passes the rules of verified_responses\n"
    "- `messages` = [system?, user, assistant: `<think>CoT</think> solution`]",
)
def cot_sft_data(
    context: AssetExecutionContext,
    config: CotConfig,
    completer: ModelResource,
    judge: ModelResource,
    refined_solutions: pl.DataFrame,
) -> Output:
    settings = CotSettings.from_config(config)
    with ExitStack() as stack:
        math = stack.enter_context(MathVerifier(workers=1)) if context.partition_key == "math" else None
        gen = stack.enter_context(completer.generator(log=context.log.info))
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, settings.judge_max_tokens)
        out = reconstruct(
            refined_solutions, gen.generate, gen.backend.model_id, math, settings, log=context.log.info, judge=rater
        )
        stats = {"completer": gen.stats, "judge": rater.stats}
    metadata = stage_metadata(out, ["id", "verdict_consistency", "messages"])
    metadata.update(generation_metadata(stats))
    metadata.update(
        tables(
            verdicts=(out.report.verdicts, "rule"),
            judge_consistency=(out.report.judge_consistency, "judge verdict (science, chat)", "chains of thought"),
        )
    )
    if out.report.cot_chars:
        png = histogram_png(out.report.cot_chars, "chain-of-thought length", "characters")
        metadata["cot_length"] = MetadataValue.md(markdown_image(png, "CoT length"))
    return Output(out, metadata=metadata)
