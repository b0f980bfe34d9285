"""evaluate: the held-out eval problems and every checkpoint evaluated on them."""

from assets.evaluate.checks import no_regression

# Checks the lead adds to Definitions (not loaded by load_assets_from_package_module).
EVAL_CHECKS = [no_regression]

# `make demo` on CPU: 3 problems per eval set and domain, greedy, 64 tokens (defaults: every problem, 1024 tokens).
DEMO_RUN_CONFIG = {"model_eval": {"max_problems": 2, "max_tokens": 64}}
