"""rl_model: online RL from sft_model on the domain's checkable problems with rule rewards (outcome or process)."""

from contextlib import ExitStack
from statistics import fmean

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.partitions import domain_partitions
from assets.common.training import Training
from assets.common.versions import code_version
from resources.generation import ModelResource
from thinkforge import paths
from thinkforge.checkpoints import read_card
from thinkforge.judging import LazyJudge
from thinkforge.training.rl import RlSettings, rl_prompts, rl_trainer, truncated_shares
from thinkforge.verify import AnswerChecker, MathVerifier, Sandbox

RlConfig = run_config(RlSettings)


@asset(
    partitions_def=domain_partitions,
    kinds={"pytorch", "huggingface"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["sft_model"],
    code_version=code_version(__file__),
    description="GRPO-loop RL from sft_model rewarded by the project's answer checker.\n\n"
    "- the checker: math-verify, the sandbox, the judge role against the reference for science; chat has no rule "
    "reward\n"
    "- `reward_level: outcome`: ±1 on the final answer, group baseline; an unscorable completion is left out of its "
    "group, counted in `unscorable_completions`\n"
    "- `reward_level: process`: a reward per solve / verify action, baseline per reward context, per-token "
    "advantages; `loss_weighting: action_mean` for S²R's per-action mean\n"
    "- problems whose policy_samples are all right or all wrong are left out (counted)\n"
    "- HF folder at `$THINKFORGE_HOME/models/rl_model/<domain>/`",
)
def rl_model(
    context: AssetExecutionContext,
    config: RlConfig,
    judge: ModelResource,
    selected_problems: pl.DataFrame,
    policy_samples: pl.DataFrame,
) -> MaterializeResult:
    settings = RlSettings.from_config(config)
    run = Training(context)
    domain, start = run.domain, paths.checkpoint_dir("sft_model", run.domain)
    prompts, chosen = rl_prompts(selected_problems, policy_samples, settings)
    filtered = {f"problems_{k}": v for k, v in chosen.items() if k != "prompts"}
    context.log.info(f"{domain}: {len(prompts)} RL prompts; {filtered}")
    if not prompts:
        reason = "no rule-checkable problems" if not chosen["checkable"] else "every problem always or never solved"
        return run.skip(f"{domain}: {reason}", **filtered)
    if read_card(start) is None:  # sft_model had no rows for this domain (its materialization says so)
        return run.skip(f"no sft_model checkpoint for {domain}")
    with ExitStack() as stack:
        math = stack.enter_context(MathVerifier(workers=1)) if domain == "math" else None
        rater = LazyJudge(lambda: judge.generator(log=context.log.info), stack, 16)
        checker = AnswerChecker(math, Sandbox() if domain == "code" else None, rater)
        trainer = rl_trainer(str(start), prompts, settings, checker, run.trainer_dir)
        curves = ("reward", "frac_reward_zero_std", "completions/clipped_ratio", "loss")
        out, trained = run.fit(
            trainer, start, settings, "s2r", curves, problems=[p["id"] for p in prompts], **filtered
        )
    history = out["history"]
    rewards = [h["reward"] for h in history if "reward" in h]
    zero_std = [h["frac_reward_zero_std"] for h in history if "frac_reward_zero_std" in h]
    actions = trainer.reward_funcs[0].actions_per_response
    truncated = truncated_shares(history)
    metadata = {
        **trained,
        "truncated_share": round(fmean(t["truncated_share"] for t in truncated), 3) if truncated else None,
        "truncated_share_per_step": MetadataValue.json(truncated),
        "reward_level": settings.reward_level,
        "problems": len(prompts),
        **filtered,
        "loss_weighting": settings.loss_weighting,
        "mean_reward": round(fmean(rewards), 3) if rewards else None,
        "reward_per_step": MetadataValue.json([round(r, 4) for r in rewards]),
        "zero_variance_groups": round(fmean(zero_std), 3) if zero_std else None,
        "actions_per_response": round(fmean(actions), 2) if actions else None,
        "unscorable_completions": trainer.reward_funcs[0].unscorable,
        "judge_calls": rater.stats.calls,
    }
    return MaterializeResult(metadata=metadata)
