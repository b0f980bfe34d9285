"""refined_solutions: several evaluators critique each candidate against its checklist; the reviser rewrites."""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import EvaluatorsResource, ModelResource
from thinkforge.judging import LazyJudge
from thinkforge.plots import bar_png, histogram_png, markdown_image
from thinkforge.refinement import RefineSettings, refine
from thinkforge.verification import best_answers
from thinkforge.verify import AnswerChecker, MathVerifier, Sandbox

RefineConfig = run_config(RefineSettings)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="The best solution per problem after checklist critique by every evaluator and revision rounds.\n\n"
    "- rounds stop when all items pass, the score reaches the threshold, a round brings no improvement, or "
    "max_rounds\n"
    "- the answer checker (math-verify, the sandbox, the judge role against the reference) outranks the evaluators\n"
    "- every round is in `rounds`",
)
def refined_solutions(
    context: AssetExecutionContext,
    config: RefineConfig,
    teacher: ModelResource,
    evaluators: EvaluatorsResource,
    reviser: ModelResource,
    judge: ModelResource,
    checklists: pl.DataFrame,
    verified_responses: pl.DataFrame,
) -> Output:
    settings = RefineSettings.from_config(config)
    domain = context.partition_key
    log = context.log.info
    with ExitStack() as stack:
        math = stack.enter_context(MathVerifier(workers=1)) if domain == "math" else None
        rater = LazyJudge(lambda: judge.generator(log=log), stack, 16)
        check = AnswerChecker(math, Sandbox() if domain == "code" else None, rater)
        gens = stack.enter_context(evaluators.generators(log=log))
        rev = stack.enter_context(reviser.generator(log=log))
        draft = stack.enter_context(teacher.generator(log=log))
        named = [(f"{i}:{g.backend.model_id}", g.generate) for i, g in enumerate(gens)]
        out = refine(
            checklists, best_answers(verified_responses), named, rev.generate, draft.generate, check, settings, log=log
        )
        role_stats = {
            "teacher": draft.stats,
            "reviser": rev.stats,
            "judge": rater.stats,
            **{f"evaluator {n}": g.stats for (n, _), g in zip(named, gens)},
        }
    report = out.report
    if report.warning is not None:
        context.log.warning(report.warning)
    metadata = stage_metadata(
        out, ["id", "n_rounds", "stop_reason", "score_before", "score_after", "verified", "solution"]
    )
    metadata.update(generation_metadata(role_stats))
    metadata["revisions_not_verifying"] = report.not_verifying_revisions
    metadata["evaluators"] = len(report.evaluators)
    if report.warning is not None:
        metadata["warning"] = report.warning
    metadata.update(
        tables(
            stop_reasons=(dict(report.stop_reasons), "stop reason", "problems"),
            rounds_histogram=({str(k): v for k, v in sorted(report.rounds.items())}, "rounds", "problems"),
            criterion_pass_rate=(
                {name: round(p / t, 3) for name, (p, t) in report.criteria.items() if t},
                "criterion",
                "pass rate",
            ),
        )
    )
    if report.score_before:
        mean = lambda xs: round(sum(xs) / len(xs), 3)  # noqa: E731
        metadata["score_before_mean"] = mean(report.score_before)
        metadata["score_after_mean"] = mean(report.score_after)
        png = histogram_png(
            {"before": report.score_before, "after": report.score_after},
            "evaluator score",
            "score (0-1)",
            bins=10,
        )
        metadata["scores"] = MetadataValue.md(markdown_image(png, "score before and after refinement"))
    if report.rounds:
        png = bar_png({f"{k} rounds": v for k, v in sorted(report.rounds.items())}, "rounds per problem", "problems")
        metadata["rounds_chart"] = MetadataValue.md(markdown_image(png, "rounds per problem"))
    return Output(out, metadata=metadata)
