"""step_preferences_i and step_dpo_model_i, one pair of assets per iteration M_i → M_{i+1}, built by a factory.

A factory rather than a second partition dimension: each iteration's model is a different upstream asset (M1 is
`m1_model`, M2 is `step_dpo_model_1`), so the lineage graph shows the chain, every iteration is its own node that can
be re-run alone (re-running iteration 2 never touches iteration 1), and checkpoints get stable folder names.
"""

from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, MetadataValue, Output, asset

from assets.common.checks import rows_fit_metadata
from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import generation_metadata, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.training import Training
from assets.common.versions import code_version
from assets.stepwise.domains import ITERATIONS, applies
from resources.generation import ModelResource
from thinkforge import paths
from thinkforge.answers import last_boxed
from thinkforge.checkpoints import read_card
from thinkforge.stepwise import PreferenceSettings, StepDpoSettings, run_tournament, step_dpo_trainer
from thinkforge.stepwise.heldout import held_out_preference, split_held_out
from thinkforge.stepwise.tournament import iteration_problems
from thinkforge.verify import AnswerChecker, MathVerifier, Sandbox

PreferenceConfig = run_config(PreferenceSettings)
StepDpoConfig = run_config(StepDpoSettings)


def previous_model(i: int) -> str:
    return "m1_model" if i == 1 else f"step_dpo_model_{i - 1}"


def _model_dir(name: str, domain: str):
    """The checkpoint folder of M_i, or None when that asset trained nothing for the domain (no data)."""
    folder = paths.checkpoint_dir(name, domain)
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
        code_version=code_version(__file__),
        description=f"Iteration {i}: step pairs (prompt + previous steps, chosen, rejected) from M{i} ({prev}) judging "
        "its own candidate next steps.\n\n"
        f"- M{i} samples candidate next steps, continuing its own answer to the reasoning prompt, and judges every "
        "ordered pair\n"
        "- best vs worst becomes the step pair; ties roll back one step\n"
        "- the pairs of a `held_out_share` of the problems are `held_out`: not trained on, never a problem of "
        "step_sft_data or of an earlier iteration, both their steps rolled out to a checked answer",
    )
    def step_preferences(
        context: AssetExecutionContext,
        config: PreferenceConfig,
        policy: ModelResource,
        selected_problems: pl.DataFrame,
        step_sft_data: pl.DataFrame,
    ) -> Output:
        settings = PreferenceSettings.from_config(config)
        domain = context.partition_key
        pool = selected_problems.to_dicts() if applies(domain) else []
        problems, left_out = iteration_problems(pool, settings, i)
        # never held out: problems M1 learned from (step_sft_data, matched by text) or an earlier iteration paired
        m1_data = set(step_sft_data["problem"].to_list()) if step_sft_data.height else set()
        earlier = {p["id"] for k in range(1, i) for p in iteration_problems(pool, settings, k)[0]}
        trained_on = {p["id"] for p in problems if p["problem"] in m1_data or p["id"] in earlier}
        model_dir = _model_dir(prev, domain)
        if not problems or model_dir is None:
            why = "no problems" if applies(domain) else "domain not step-wise"
            if problems:
                why = f"{prev} has no checkpoint for {domain} (it trained nothing)"
                context.log.warning(f"{why}: no pairs in iteration {i}")
            out = run_tournament([], None, None, settings, i, "")
            return Output(out, metadata={**stage_metadata(out, ["id"]), "applicable": False, "reason": why})
        with ExitStack() as stack:
            gen = stack.enter_context(policy.generator(log=context.log.info, model=str(model_dir)))
            math = stack.enter_context(MathVerifier(workers=1)) if domain == "math" else None
            out = run_tournament(
                problems,
                gen.generate,
                gen.generate,
                settings,
                i,
                gen.backend.model_id,
                log=context.log.info,
                left_out=left_out,
                check=AnswerChecker(math, Sandbox() if domain == "code" else None).check,
                trained_on=trained_on,
            )
            stats = {"policy": gen.stats}
        metadata = stage_metadata(
            out, ["id", "step_index", "chosen_wins", "rejected_wins", "problem", "prefix", "chosen", "rejected"]
        )
        metadata.update(generation_metadata(stats))
        report = out.report
        metadata.update(
            {
                "iteration": i,
                "model": prev,
                "problems": report.problems,
                "pairs": report.pairs,
                "rollbacks": report.rollbacks,
                "steps_per_solution": report.steps_per_solution,
                "chars_per_step": report.chars_per_step,
                "tokens_per_step": report.tokens_per_step,
                "judge_consistency": report.judge_consistency,
                "verifier_agreement": _verifier_agreement(out.kept) if domain == "math" else None,
                "held_out_problems": report.held_out_problems,
                "not_held_out_trained_on": len(trained_on),
                "held_out_pairs": report.held_out_pairs,
                "verified_held_out_pairs": report.verified_held_out_pairs,
                **tables(stops=(report.stops, "stop")),
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
        code_version=code_version(__file__),
        description=f"M{i + 1}: step-DPO of M{i} ({prev}) on step_preferences_{i} but its held-out pairs.\n\n"
        f"- {prev} is also the reference; no EOS after a step\n"
        f"- HF folder at `$THINKFORGE_HOME/models/step_dpo_model_{i}/<domain>/`\n"
        "- `held_out_preference`: its preference accuracy (implicit reward margin > 0) on the held-out pairs whose "
        "chosen step's rollout was right and rejected step's wrong, beside m1_model's (reference: the model it was "
        "trained from)",
    )
    def step_dpo_model(
        context: AssetExecutionContext, config: StepDpoConfig, pairs: pl.DataFrame
    ) -> MaterializeResult:
        settings = StepDpoSettings.from_config(config)
        run = Training(context)
        domain = run.domain
        pairs, verified = split_held_out(pairs)
        if pairs.is_empty():
            return run.skip(f"no step_preferences_{i} rows")
        start = _model_dir(prev, domain)
        if start is None:
            raise FileNotFoundError(f"no {prev} checkpoint for {domain}: materialize {prev} first")
        trainer = step_dpo_trainer(str(start), pairs, settings, run.trainer_dir)
        report = trainer.pair_report
        fit_metadata = {
            **rows_fit_metadata(report),
            "prompts_shortened": report["prompts_shortened"],
            "steps_left_out": report["steps_left_out"],
        }
        if not report["pairs_trained"]:
            return run.skip("every pair is too_long", **fit_metadata)
        _, trained = run.fit(
            trainer,
            start,
            settings,
            "stepwise",
            ("loss", "rewards/margins", "rewards/accuracies"),
            reference_model=str(start),
            iteration=i,
            pairs=pairs.height,
            data_ids=pairs["id"].to_list(),
            **report,
        )
        models = {f"step_dpo_model_{i}": (str(run.final), str(start))}
        m1 = _model_dir("m1_model", domain)
        if m1 is not None and (m1_start := read_card(m1).get("initial_model")):  # the model m1_model was trained from
            models["m1_model"] = (str(m1), m1_start)
        preference = held_out_preference(models, verified, settings.beta, settings.max_length, "m1_model")
        return MaterializeResult(
            metadata={
                **trained,
                "pairs": pairs.height,
                **fit_metadata,
                "held_out_verified_pairs": verified.height,
                "preference_accuracy": preference["models"][f"step_dpo_model_{i}"]["accuracy"],
                "held_out_preference": MetadataValue.json(preference),
            }
        )

    return step_preferences, step_dpo_model


ITERATION_ASSETS = [a for i in range(1, ITERATIONS + 1) for a in iteration(i)]
