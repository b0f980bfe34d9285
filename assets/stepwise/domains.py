"""Where the step-wise stages run: domains whose solutions have a step structure (THINKFORGE_STEPWISE_DOMAINS)."""

import os

STEPWISE_DOMAINS = tuple(d for d in os.environ.get("THINKFORGE_STEPWISE_DOMAINS", "math,code").split(",") if d)
# M1 → M2 → … : one step_preferences_i / step_dpo_model_i pair of assets per iteration (THINKFORGE_STEPWISE_ITERATIONS)
ITERATIONS = int(os.environ.get("THINKFORGE_STEPWISE_ITERATIONS", "2"))


def applies(domain: str) -> bool:
    return domain in STEPWISE_DOMAINS
