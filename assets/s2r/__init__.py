"""s2r: policy samples and S²R self-verification trajectories."""

from assets.common.checks import training_data_checks
from assets.s2r import s2r_trajectories

# Checks of this group's assets (every warehouse asset also gets rows_conserved): each row is one trajectory.
CHECKS = training_data_checks(s2r_trajectories.s2r_trajectories, "trajectory")

# `make demo` on CPU: 2 problems per domain, K = 3 short samples, short verifications read with S²R's lenient
# parser (the 135M teacher never ends with the exact closing sentence), kept as written (no rewrite pass), every
# trajectory kept, and the teacher's verified answer as the last attempt when no sample is correct (the 135M policy
# rarely is). Defaults (S²R's): every problem, K = 5, 2048 tokens, verdict_rule exact_ending, the rewrite pass, S²R's
# keep probabilities, no fallback.
DEMO_RUN_CONFIG = {
    "policy_samples": {"max_problems": 2, "samples": 3, "max_tokens": 80},
    "s2r_trajectories": {
        "verify_max_tokens": 96,
        "verdict_rule": "s2r_code",
        "refine_verifications": False,
        "fallback": True,
        "keep_probability": {"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0},
    },
}

# `make proof`: 96 problems, K = 4 samples (the 135M policy answers about 1 in 4 right: a problem it solves only
# sometimes gives a trajectory that corrects a wrong attempt), lenient verdicts, every trajectory kept, the verified
# worked solution as the last attempt where no sample is right.
PROOF_RUN_CONFIG = {
    "policy_samples": {"max_problems": 96, "samples": 4, "max_tokens": 256},
    "s2r_trajectories": DEMO_RUN_CONFIG["s2r_trajectories"],
}
