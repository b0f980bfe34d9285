"""train: the SFT model (action-masked) and the RL model (outcome / process rewards)."""

from assets.common.automation import after_update_of, on_new_rows
from assets.common.checks import rows_fit_check
from assets.train import sft_model

# sft_model leaves out rows longer than max_length (never cut): the blocking rows_fit check bounds the share.
CHECKS = [rows_fit_check(sft_model.sft_model)]

# Trained on purpose (assets/common/automation.py); with the training_automation_sensor switched on, sft_model
# retrains on enough new rows and rl_model follows each new sft_model.
TRAINING_AUTOMATION = {
    "sft_model": on_new_rows("sft_model", "sft_dataset", "s2r_trajectories"),
    "rl_model": after_update_of("sft_model"),
}

# `make demo` on CPU: a few optimizer steps on short rows, no KL term (no second model), RL on the demo's two
# problems whatever the initial policy solved (the 135M policy solves almost none: the filter would leave nothing).
# Defaults: S²R's 3 epochs with KL 0.1, 500 RL steps of 64 prompts × 4 samples on the problems neither always nor
# never solved, 1024 tokens.
DEMO_RUN_CONFIG = {
    "sft_model": {
        "max_steps": 2,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 1024,  # a demo trajectory (4 × (80 + 96) tokens) fits whole: rows are never cut
        "learning_rate": 2e-5,
        "kl_coef": 0.0,
    },
    "rl_model": {
        "max_steps": 1,
        "num_generations": 2,
        "prompts_per_step": 2,
        "max_completion_length": 48,
        "max_problems": 2,
        "drop_always_or_never_solved": False,
        "beta": 0.0,
        "learning_rate": 1e-6,
    },
}

# `make proof`: SFT on the S²R trajectories alone (S²R-BI: the behaviour the proof measures), 3 epochs at a CPU
# learning rate; GRPO with process rewards, 8 steps of 4 prompts × 4 samples, on the problems the policy neither
# always nor never solved.
PROOF_RUN_CONFIG = {
    "sft_model": {
        "training_sets": "s2r_trajectories",
        "epochs": 3.0,
        "batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_length": 1024,
        "learning_rate": 5e-5,
        "kl_coef": 0.0,
    },
    "rl_model": {
        "reward_level": "process",
        "max_steps": 8,
        "num_generations": 4,
        "prompts_per_step": 4,
        "micro_batch_size": 16,
        "max_completion_length": 384,
        "beta": 0.0,
        "learning_rate": 1e-6,
    },
}
