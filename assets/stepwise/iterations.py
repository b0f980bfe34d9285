"""step_preferences_i and step_dpo_model_i, one pair of assets per iteration M_i → M_{i+1}, built by a factory.

A factory rather than a second partition dimension: each iteration's model is a different upstream asset (M1 is
`m1_model`, M2 is `step_dpo_model_1`), so the lineage graph shows the chain, every iteration is its own node that can
be re-run alone (re-running iteration 2 never touches iteration 1), and checkpoints get stable folder names.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, Output, asset

from assets.common.checks import rows_fit_metadata
from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.training import trained_metadata
from assets.common.versions import code_version
from assets.stepwise.domains import ITERATIONS, applies
from resources.generation import ModelResource
from thinkforge import paths
from thinkforge.answers import last_boxed
from thinkforge.checkpoints import read_card
from thinkforge.stepwise import PreferenceSettings, StepDpoSettings, run_tournament, step_dpo_trainer
from thinkforge.stepwise.tournament import pick_problems
from thinkforge.training.runner import fit, trainer_dir
from thinkforge.verify import AnswerChecker, MathVerifier

PreferenceConfig = run_config(PreferenceSettings)
StepDpoConfig = run_config(StepDpoSettings)


def previous_model(i: int) -> str:
    return "m1_model" if i == 1 else f"step_dpo_model_{i - 1}"


def _model_dir(name: str, domain: str):
    """The checkpoint folder of M_i, or None when that asset trained nothing for the domain (no data)."""
    folder = paths.home() / "models" / name / domain
    return folder if read_card(folder) is not None else None


def _verifier_agreement(pairs: pl.DataFrame) -> float | None:
    """Among pairs whose two steps both state a final answer and differ in correctness: how often the judge's
    choice is the one the answer checker (math-verify) calls correct."""
    rows = [
        p for p in pairs.to_dicts() if p["reference_answer"] and last_boxed(p["chosen"]) and last_boxed(p["rejected"])
    ]
    if not rows:
        return None
    with MathVerifier(workers=1) as math:
        verdicts = AnswerChecker(math).check(
            [p for p in rows for _ in range(2)], [s for p in rows for s in (p["chosen"], p["rejected"])]
        )
    truth = [(a.correct, b.correct) for a, b in zip(verdicts[::2], verdicts[1::2])]
    decided = [(a, b) for a, b in truth if None not in (a, b) and a != b]
    return sum(a for a, _ in decided) / len(decided) if decided else None


def iteration(i: int):
    prev = previous_model(i)

    @asset(
        name=f"step_preferences_{i}",
        partitions_def=domain_partitions,
        io_manager_key="warehouse_io",
        kinds={"parquet"},
        pool=GPU_POOL,
        op_tags=GPU_OP_TAGS,
        deps=[prev],
        code_version=code_version(
            "stepwise/tournament.py", "stepwise/steps.py", "templates/stepwise", "generation/backends.py"
        ),
        description=f"Iteration {i}: M{i} ({prev}) samples candidate next steps, continuing its own answer to the "
        "reasoning prompt, and judges every ordered pair; best vs worst becomes a (prompt + previous steps, chosen, "
        "rejected) step pair; ties roll back one step.",
    )
    def step_preferences(
        context: AssetExecutionContext,
        config: PreferenceConfig,
        policy: ModelResource,
        selected_problems: pl.DataFrame,
    ) -> Output:
        settings = PreferenceSettings.from_config(config)
        domain = context.partition_key
        problems, left_out = pick_problems(selected_problems.to_dicts() if applies(domain) else [], settings, i)
        model_dir = _model_dir(prev, domain)
        if not problems or model_dir is None:
            why = "no problems" if applies(domain) else "domain not step-wise"
            if problems:
                why = f"{prev} has no checkpoint for {domain} (it trained nothing)"
                context.log.warning(f"{why}: no pairs in iteration {i}")
            out = run_tournament([], None, None, settings, i, "")
            return Output(out, metadata={**stage_metadata(out, ["id"]), "applicable": False, "reason": why})
        with policy.generator(log=context.log.info, model=str(model_dir)) as gen:
            out = run_tournament(
                problems,
                gen.generate,
                gen.generate,
                settings,
                i,
                gen.backend.model_id,
                log=context.log.info,
                left_out=left_out,
            )
            stats = gen.stats
        metadata = stage_metadata(
            out, ["id", "step_index", "chosen_wins", "rejected_wins", "problem", "prefix", "chosen", "rejected"]
        )
        metadata.update(generation_metadata(stats))
        report = out.report
        metadata.update(
            {
                "iteration": i,
                "model": prev,
                "problems": report["problems"],
                "pairs": report["pairs"],
                "rollbacks": report["rollbacks"],
                "steps_per_solution": report["steps_per_solution"],
                "chars_per_step": report["chars_per_step"],
                "tokens_per_step": report["tokens_per_step"],
                "judge_consistency": report["judge_consistency"],
                "verifier_agreement": _verifier_agreement(out.kept) if domain == "math" else None,
                **tables(stops=(report["stops"], "stop")),
            }
        )
        return Output(out, metadata=metadata)

    @asset(
        name=f"step_dpo_model_{i}",
        partitions_def=domain_partitions,
        kinds={"pytorch", "huggingface"},
        pool=GPU_POOL,
        op_tags=GPU_OP_TAGS,
        deps=[prev],
        ins={"pairs": AssetIn(f"step_preferences_{i}")},
        code_version=code_version(
            "stepwise/dpo.py",
            "stepwise/steps.py",
            "generation/backends.py",
            "training/data.py",
            "training/runner.py",
            "training/settings.py",
        ),
        description=f"M{i + 1}: step-DPO of M{i} ({prev}, also the reference) on step_preferences_{i}, no EOS after "
        f"a step; HF folder at `$THINKFORGE_HOME/models/step_dpo_model_{i}/<domain>/`.",
    )
    def step_dpo_model(
        context: AssetExecutionContext, config: StepDpoConfig, pairs: pl.DataFrame
    ) -> MaterializeResult:
        settings = StepDpoSettings.from_config(config)
        domain = context.partition_key
        if pairs.is_empty():
            context.log.warning(f"{domain}: no step pairs in iteration {i}; no model")
            return MaterializeResult(metadata={"trained": False, "reason": f"no step_preferences_{i} rows"})
        start, final = _model_dir(prev, domain), paths.home() / "models" / f"step_dpo_model_{i}" / domain
        if start is None:
            raise FileNotFoundError(f"no {prev} checkpoint for {domain}: materialize {prev} first")
        trainer = step_dpo_trainer(str(start), pairs, settings, str(trainer_dir(final)))
        report = trainer.pair_report
        fit_metadata = {
            **rows_fit_metadata(report),
            "prompts_shortened": report["prompts_shortened"],
            "steps_left_out": report["steps_left_out"],
        }
        if not report["pairs_trained"]:
            context.log.warning(f"{domain}: every step pair of iteration {i} is too_long; no model")
            return MaterializeResult(metadata={"trained": False, "reason": "every pair is too_long", **fit_metadata})
        card = {
            "asset": f"step_dpo_model_{i}",
            "domain": domain,
            "initial_model": str(start),
            "reference_model": str(start),
            "iteration": i,
            "pairs": pairs.height,
            "data_ids": pairs["id"].to_list(),
            **report,
        }
        out = fit(trainer, final, card, settings, prompt_format="stepwise", log=context.log.info)
        curves = ("loss", "rewards/margins", "rewards/accuracies")
        return MaterializeResult(
            metadata={
                **trained_metadata(out, final, f"step_dpo_model_{i} · {domain}", curves),
                "pairs": pairs.height,
                **fit_metadata,
            }
        )

    return step_preferences, step_dpo_model


ITERATION_ASSETS = [a for i in range(1, ITERATIONS + 1) for a in iteration(i)]
