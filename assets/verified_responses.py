"""verified_responses: rule, math-verify and sandbox verdicts on every response; the accepted ones."""

import polars as pl
from dagster import AssetExecutionContext, Config, MetadataValue, Output, asset

from assets.metadata import counts_table, stage_metadata
from assets.partitions import domain_partitions
from assets.versions import code_version
from thinkforge.rejection import RejectSettings, verify_responses
from thinkforge.stage import StageOutput
from thinkforge.verify import Limits, MathVerifier, Sandbox


class VerifyConfig(Config):
    max_chars: dict[str, int] = RejectSettings().max_chars
    math_workers: int = 2
    math_timeout_s: int = 5
    sandbox_timeout_s: float = 5.0
    sandbox_memory_mb: int = 512


@asset(partitions_def=domain_partitions, io_manager_key="warehouse_io", group_name="distill", kinds={"parquet"},
       code_version=code_version("rejection.py", "verify"),
       description="Responses that pass n-gram repetition, length, format, language and safety rules and verify "
                   "(math-verify for math, the bubblewrap sandbox for code); every verdict is a column.")
def verified_responses(context: AssetExecutionContext, config: VerifyConfig, distilled_responses: pl.DataFrame) -> Output[StageOutput]:
    domain = context.partition_key
    settings = RejectSettings(max_chars=config.max_chars)
    sandbox = Sandbox(limits=Limits(timeout_s=config.sandbox_timeout_s, memory_mb=config.sandbox_memory_mb)) if domain == "code" else None
    if domain == "math":
        with MathVerifier(workers=config.math_workers, timeout_s=config.math_timeout_s) as math:
            out = verify_responses(distilled_responses, math, None, settings, log=context.log.info)
    else:
        out = verify_responses(distilled_responses, None, sandbox, settings, log=context.log.info)
    verdicts = {name: counts_table(pl.concat([out.kept, out.rejects], how="diagonal_relaxed").with_columns(
        pl.col(name).str.split(":").list.first()), name) for name in out.kept.columns if name.startswith("verdict_") and name != "verdict_detail"}
    teacher = pl.concat([out.kept, out.rejects], how="diagonal_relaxed").filter(pl.col("origin") == "teacher")
    metadata = stage_metadata(out, ["id", "origin", "verdict_correct", "pass_rate", "response"])
    metadata.update({
        "verdicts": MetadataValue.json(verdicts),
        "teacher_accept_rate": round(out.kept.filter(pl.col("origin") == "teacher").height / teacher.height, 3) if teacher.height else 0.0,
        "problems_with_pass_rate": int(out.kept["pass_rate"].is_not_null().sum()) if out.kept.height else 0,
    })
    return Output(out, metadata=metadata)
