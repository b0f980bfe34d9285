"""s2r_trajectories: teacher verifications of each distinct answer, then S²R's trajectory construction."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge.plots import bar_png, markdown_image
from thinkforge.s2r import TrajectorySettings, build_trajectories
from thinkforge.verification import best_answers

TrajectoryConfig = run_config(TrajectorySettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="S²R trajectories: wrong attempts, each with a teacher verification ending 'incorrect', then a "
    "correct attempt verified 'correct'.\n\n"
    "- wrong attempts are distinct answers\n"
    "- `actions` carry kind, text, correctness, verdict, the loss mask (0 on earlier solves) and origin\n"
    "- verdicts read by `verdict_rule` (exact closing sentence, or S²R's lenient parser)\n"
    "- with `fallback` on, rows without a correct sample use a verified response\n"
    "- every problem that yields no trajectory is a reject with its reason and the verification record",
)
def s2r_trajectories(
    context: AssetExecutionContext,
    config: TrajectoryConfig,
    teacher: ModelResource,
    policy_samples: pl.DataFrame,
    verified_responses: pl.DataFrame,
) -> Output:
    settings = TrajectorySettings.from_config(config)
    fallbacks = best_answers(verified_responses.filter(pl.col("verdict_correct") == "correct"))
    with teacher.generator(log=context.log.info) as gen:
        out = build_trajectories(
            policy_samples, fallbacks, gen.generate, gen.backend.model_id, settings, log=context.log.info
        )
        stats = {"teacher": gen.stats}
    report = out.report
    metadata = stage_metadata(out, ["id", "attempts", "difficulty", "used_fallback", "problem", "actions"])
    metadata.update(generation_metadata(stats))
    metadata.update(
        {
            "verifications": report.verifications,
            "verification_accuracy": report.verification_accuracy,
            "verification_accuracy_when_right": report.verification_accuracy_when_right,
            "verification_accuracy_when_wrong": report.verification_accuracy_when_wrong,
            "no_verdict": report.no_verdict,
            "used_fallback": report.used_fallback,
            "fallback_share": report.fallback_share,
            "self_corrections": report.self_corrections,
        }
    )
    metadata["verification_style"] = settings.verification_style
    metadata["verdict_rule"] = settings.verdict_rule
    metadata.update(
        tables(attempts=({str(k): v for k, v in sorted(report.attempts.items())}, "attempts", "trajectories"))
    )
    if report.attempts:
        png = bar_png({f"{k} attempts": v for k, v in sorted(report.attempts.items())}, "trajectories by attempts")
        metadata["attempts_chart"] = MetadataValue.md(markdown_image(png, "trajectories by attempts"))
    return Output(out, metadata=metadata)
