"""evaluate: the held-out eval problems and every checkpoint evaluated on them."""

from dagster import AutomationCondition

from assets.evaluate.checks import no_regression

# Checks the lead adds to Definitions (not loaded by load_assets_from_package_module).
EVAL_CHECKS = [no_regression]

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

# `make proof`: every held-out problem (300 arithmetic problems), greedy, room for a worked answer, its
# verifications and a \boxed{} (an S²R trajectory of the trained models runs longest).
PROOF_RUN_CONFIG = {"model_eval": {"max_problems": 0, "max_tokens": 320}}
