"""model_eval: every checkpoint of the domain (and any configured model) on the held-out eval problems."""

from contextlib import ExitStack
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, MetadataValue, Output, asset

from assets.common.checkpoints import CHECKPOINTS, PARENTS
from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge import paths
from thinkforge.checkpoints import read_card
from thinkforge.evaluation import (
    PROMPT_FORMATS,
    EvalSettings,
    base_formats,
    first_problems_per_eval_set,
    generate_rows,
    grade,
    parse_extra,
    report,
)
from thinkforge.evaluation.metrics import differences_markdown, markdown, paired_differences
from thinkforge.evaluation.plots import bar_chart_png, has_signal
from thinkforge.evaluation.proof import proof_report
from thinkforge.generation import GenerationStats
from thinkforge.judging import LazyJudge
from thinkforge.plots import markdown_image
from thinkforge.stage import StageOutput
from thinkforge.thinking import CLOSE
from thinkforge.verify import AnswerChecker, Limits, MathVerifier, Sandbox

EvalConfig = run_config(EvalSettings)
# Assets whose latest metadata of the domain the proof report reads (step-DPO preference accuracy, S²R trajectory
# figures, RL's reward curve).
REPORTED = [*(c for c in CHECKPOINTS if c.startswith("step_dpo_model_")), "s2r_trajectories", "rl_model"]


def _why_missing(context: AssetExecutionContext, name: str, domain: str, folder: Path) -> str:
    """Why a checkpoint has no folder, from its latest materialization of the domain: never materialized, trained
    nothing (its own reason), or written and since removed."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=[domain]), limit=1
    ).records
    if not records:
        return f"not materialized for {domain} yet: materialize {name} for {domain}"
    metadata = records[0].asset_materialization.metadata
    if "trained" in metadata and not metadata["trained"].value:
        reason = metadata["reason"].value if "reason" in metadata else "no reason recorded"
        return f"materialized for {domain} but trained nothing: {reason}"
    return f"materialized for {domain}, but {folder} is gone: materialize {name} for {domain} again"


def _latest_metadata(context: AssetExecutionContext, name: str, domain: str) -> dict:
    """The metadata values of the asset's latest materialization of the domain ({} when it has none)."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=[domain]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def comparisons(evaluated: list[str]) -> list[tuple[str, str]]:
    """(model, baseline) pairs whose paired accuracy difference model_eval reports: every evaluated model against
    base_model, and each checkpoint against the one it was trained from (rl_model vs sft_model, …)."""
    pairs = [(m, "base_model") for m in evaluated if m != "base_model"]
    return pairs + [(c, p) for c, p in PARENTS.items() if p != "base_model" and c in evaluated]


def _endpoint_model(policy: ModelResource, model: str, base_url: str) -> ModelResource:
    """The policy role's runtime settings, pointed at a served model."""
    runtime = {
        k: getattr(policy, k)
        for k in ("batch_size", "concurrency", "max_retries", "max_failed_fraction", "cache_dir", "api_key_env")
    }
    return ModelResource(role="policy", backend="openai", model=model, base_url=base_url, **runtime)


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=CHECKPOINTS,
    code_version=code_version(__file__),
    description="Every checkpoint of the domain answers the held-out problems: one row per model × prompt_format × "
    "problem × sample.\n\n"
    "- models: base_model, sft_model, rl_model, m1_model, step_dpo_model_i, plus `extra_models`, through the policy "
    "role\n"
    "- each asked in the prompt format it was trained in (its card's `prompt_format`: distill / s2r / stepwise); "
    "base_model in distill and in every format of the trained checkpoints beside it\n"
    "- `correct` by math-verify / sandbox / judge vs reference, plus format and S²R self-verification verdicts\n"
    "- every rate has its 95 % Wilson interval; accuracy differences vs base_model and vs the parent checkpoint are "
    "paired on the same rows\n"
    "- with `report`, the proof report (targets met / missed) goes to `$THINKFORGE_HOME/reports/`",
)
def model_eval(
    context: AssetExecutionContext,
    config: EvalConfig,
    policy: ModelResource,
    judge: ModelResource,
    eval_problems: pl.DataFrame,
) -> Output[StageOutput]:
    domain = context.partition_key
    settings = EvalSettings.from_config(config)
    problems = first_problems_per_eval_set(eval_problems, settings.max_problems)
    candidates, missing = [], {}  # candidates: (name, model, base_url, prompt formats)
    for name in settings.checkpoints or CHECKPOINTS:
        folder = paths.checkpoint_dir(name, domain)
        if not (folder / "config.json").is_file():
            missing[name] = _why_missing(context, name, domain, folder)
        elif name == "base_model":
            candidates.append((name, str(folder), "", []))  # its formats follow the trained checkpoints found
        elif (trained_in := (read_card(folder) or {}).get("prompt_format")) in PROMPT_FORMATS:
            candidates.append((name, str(folder), "", [trained_in]))
        else:
            missing[name] = (
                f"its card ({folder}) names no prompt_format, so the format it was trained in is unknown: "
                f"materialize {name} for {domain} again"
            )
    trained = {f for *_, formats in candidates for f in formats}
    candidates = [(name, model, url, formats or base_formats(trained)) for name, model, url, formats in candidates]
    for name, spec in settings.extra_models.items():
        extra = parse_extra(name, spec)
        candidates.append(
            (name, extra["model"], extra["base_url"], [settings.extra_model_formats.get(name, "distill")])
        )
    asked = ", ".join(f"{name} in {'/'.join(formats)}" for name, *_, formats in candidates)
    context.log.info(
        f"{len(problems)} problems × {settings.samples} samples × {sum(len(c[3]) for c in candidates)} "
        f"(model, prompt format) pairs ({asked or 'none'}); missing: {', '.join(missing) or 'none'}"
    )
    rows, stats = [], {}
    for name, model, base_url, formats in candidates:
        resource = _endpoint_model(policy, model, base_url) if base_url else policy
        with resource.generator(log=context.log.info, model=None if base_url else model) as gen:
            for prompt_format in formats:
                context.log.info(f"{name}: generating with {gen.backend.model_id}, {prompt_format} prompts")
                rows += generate_rows(
                    problems, name, model, gen.backend.model_id, gen.generate, settings, prompt_format
                )
            stats[name] = stats.get(name, GenerationStats()) + gen.stats
    with ExitStack() as stack:
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, settings.judge_max_tokens)
        math = (
            stack.enter_context(MathVerifier(workers=settings.math_workers, timeout_s=settings.math_timeout_s))
            if domain == "math" and rows
            else None
        )
        needs_sandbox = any(r["test_cases"] for r in rows)
        sandbox = (
            Sandbox(limits=Limits(timeout_s=settings.sandbox_timeout_s, memory_mb=settings.sandbox_memory_mb))
            if needs_sandbox
            else None
        )
        out = grade(rows, AnswerChecker(math, sandbox, rater), log=context.log.info)
    order = [c[0] for c in candidates]
    out.report = report(out, order, settings.samples)
    summaries = out.report.models
    differences = paired_differences(out.kept, comparisons(order))
    metadata = stage_metadata(
        out,
        ["model", "prompt_format", "eval_set", "item", "correct", "verdict", "self_verifies", "problem", "response"],
        "model_eval",
        first=pl.col("response").str.contains(CLOSE, literal=True),
    )
    metadata.update(generation_metadata({**stats, "judge": rater.stats}))
    metadata.update(
        {
            "comparison": MetadataValue.md(
                markdown(summaries, k=settings.samples) if summaries else "no model was evaluated"
            ),
            "comparison_per_eval_set": MetadataValue.md(
                markdown(out.report.per_set, lead=("eval_set", "model", "prompt_format"), k=settings.samples)
                if out.report.per_set
                else "–"
            ),
            "paired_differences": MetadataValue.md(
                differences_markdown(differences) if differences else "no two models evaluated in one format"
            ),
            "problems": problems.height,
            **tables(
                models_evaluated=({c[0]: c[1] for c in candidates}, "model", "checkpoint"),
                prompt_formats=({c[0]: ", ".join(c[3]) for c in candidates}, "model", "asked in"),
                models_missing=(missing, "model", "not evaluated because"),
                verdicts=(out.report.verdicts, "verdict", "answers"),
            ),
        }
    )
    if summaries and has_signal(summaries):
        png = bar_chart_png(summaries, title=f"model_eval · {domain}")
        metadata["chart"] = MetadataValue.md(markdown_image(png, f"model_eval {domain}"))
    elif summaries:
        metadata["chart"] = MetadataValue.md(
            f"no signal yet: every evaluated model scores 0 on every charted metric ({problems.height} problems × "
            f"{settings.samples} samples); the comparison table has the figures"
        )
    for s in summaries:
        if s["accuracy"] is not None:
            metadata[f"accuracy_{s['model']}_{s['prompt_format']}"] = round(s["accuracy"], 4)
    if settings.report:
        figures = {name: _latest_metadata(context, name, domain) for name in REPORTED}
        chart = metadata["chart"].value if "chart" in metadata else ""
        text = proof_report(domain, summaries, differences, problems.height, settings.samples, figures, chart)
        path = paths.reports_dir() / settings.report.replace("{domain}", domain)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        context.log.info(f"proof report written to {path}")
        metadata["report"] = MetadataValue.path(str(path))
        metadata["proof_report"] = MetadataValue.md(text)
    return Output(out, metadata=metadata)
