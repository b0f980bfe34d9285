"""verified_responses: rule, math-verify and sandbox verdicts on every response; the accepted ones."""

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
from thinkforge.judging import RewardModel
from thinkforge.verification import RejectSettings, verify_responses
from thinkforge.stage import StageOutput
from thinkforge.verify import Limits, MathVerifier, Sandbox


class VerifyConfig(Config):
    max_chars: dict[str, int] = RejectSettings().max_chars
    math_workers: int = 2
    math_timeout_s: int = 5
    sandbox_timeout_s: float = 5.0
    sandbox_memory_mb: int = 512
    judge: bool = True  # LLM-as-a-judge rubric on responses that passed the rules
    judge_verified: bool = False  # also judge responses math-verify / the sandbox already found correct
    judge_max_tokens: int = 96
    judge_min_correctness: int = 2  # 1-5; 0 turns the judge threshold off
    reward_model: str = ""  # HF sequence-classification reward model folder or hub id; empty: none
    reward_min: float | None = None
    reward_percentile: float = 0.0  # drop this bottom share (0-100) of the partition's scored responses


@asset(partitions_def=domain_partitions, io_manager_key="warehouse_io", kinds={"parquet"},
       pool=GPU_POOL, op_tags=GPU_OP_TAGS, deps=["base_model"],
       code_version=code_version("verification.py", "verify", "judging.py", "templates/judge_rubric.txt"),
       description="Responses that pass n-gram repetition, length, format, language and safety rules and verify "
                   "(math-verify for math, the bubblewrap sandbox for code); every verdict is a column.")
def verified_responses(context: AssetExecutionContext, config: VerifyConfig, judge: ModelResource,
                       distilled_responses: pl.DataFrame) -> Output[StageOutput]:
    domain = context.partition_key
    settings = settings_from(config, RejectSettings)
    sandbox = Sandbox(limits=Limits(timeout_s=config.sandbox_timeout_s, memory_mb=config.sandbox_memory_mb)) if domain == "code" else None
    with ExitStack() as stack:
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, config.judge_max_tokens)

        math = stack.enter_context(MathVerifier(workers=config.math_workers, timeout_s=config.math_timeout_s)) if domain == "math" else None
        reward = RewardModel(config.reward_model) if config.reward_model else None
        out = verify_responses(distilled_responses, math, sandbox, settings, log=context.log.info,
                               judge=rater if config.judge else None, reward=reward)
    verdicts = {name: counts_table(pl.concat([out.kept, out.rejects], how="diagonal_relaxed").with_columns(
        pl.col(name).str.split(":").list.first()), name) for name in out.kept.columns if name.startswith("verdict_") and name != "verdict_detail"}
    teacher = pl.concat([out.kept, out.rejects], how="diagonal_relaxed").filter(pl.col("origin") == "teacher")
    metadata = stage_metadata(out, ["id", "origin", "verdict_correct", "score_judge_correctness", "pass_rate", "response"])
    metadata.update(generation_metadata(rater.stats))
    metadata.update({
        "verdicts": MetadataValue.json(verdicts),
        "teacher_accept_rate": round(out.kept.filter(pl.col("origin") == "teacher").height / teacher.height, 3) if teacher.height else 0.0,
        "problems_with_pass_rate": int(out.kept["pass_rate"].is_not_null().sum()) if out.kept.height else 0,
    })
    return Output(out, metadata=metadata)
