"""evaluate: the held-out eval problems and every checkpoint evaluated on them."""

from dagster import AutomationCondition

from assets.evaluate.checks import no_regression

# Checks of this group's assets (every warehouse asset also gets rows_conserved).
CHECKS = [no_regression]

# eval_problems is read from the eval-set files when a person asks. model_eval scores every new checkpoint (they
# appear only on purpose) and whichever checkpoints exist: a missing one must not hold it back.
AUTOMATION = {
    "eval_problems": None,
    "model_eval": AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())
    & AutomationCondition.all_deps_blocking_checks_passed(),
}

# `make demo` on CPU: 2 problems per eval set and domain, greedy, 64 tokens (defaults: every problem, 1024 tokens);
# base_model is asked in up to 3 prompt formats, so keep these small.
DEMO_RUN_CONFIG = {"model_eval": {"max_problems": 2, "max_tokens": 64}}

# `make proof`: 200 of the 300 held-out arithmetic problems, greedy, room for a worked answer with its verification
# and a \boxed{}; base_model (asked in the distill and S²R formats), sft_model and rl_model. The step-wise
# checkpoints are left out: they would add four passes over the problems (m1 and the two step-DPO models, and
# base_model in their format) to what is already the proof's longest asset on CPU.
PROOF_RUN_CONFIG = {
    "model_eval": {
        "max_problems": 200,
        "max_tokens": 384,  # sft_model's trained trajectories run past 256 tokens (the last proof run cut 0.8 of them)
        "checkpoints": ["base_model", "sft_model", "rl_model"],
        "report": "proof.md",
    }
}
