"""stepwise: step-wise self-rewarding preference data and step-DPO models, iterated."""

from assets.common.automation import after_update_of, on_new_rows
from assets.common.checks import rows_fit_check, training_data_checks
from assets.stepwise import m1_model, step_sft_data
from assets.stepwise.domains import ITERATIONS
from assets.stepwise.iterations import ITERATION_ASSETS, previous_model

# step_sft_data's rows are chat messages and each iteration's preferences are pairs; M1 and the step-DPO models leave
# out rows longer than max_length (never cut): the blocking rows_fit check bounds the share.
CHECKS = [
    *training_data_checks(step_sft_data.step_sft_data, "messages"),
    *(
        c
        for a in ITERATION_ASSETS
        if a.key.path[-1].startswith("step_preferences_")
        for c in training_data_checks(a, "pair")
    ),
    rows_fit_check(m1_model.m1_model),
    *(rows_fit_check(a) for a in ITERATION_ASSETS if a.key.path[-1].startswith("step_dpo_model_")),
]

# Trained on purpose (assets/common/automation.py): the preference pairs are sampled from M_i and exist only to
# train M_{i+1}, so an iteration is one training step. With the training_automation_sensor switched on, m1_model
# retrains on enough new step_sft_data rows and each iteration follows the model it starts from.
TRAINING_AUTOMATION = {
    "m1_model": on_new_rows("m1_model", "step_sft_data"),
    **{f"step_preferences_{i}": after_update_of(previous_model(i)) for i in range(1, ITERATIONS + 1)},
    **{f"step_dpo_model_{i}": after_update_of(f"step_preferences_{i}") for i in range(1, ITERATIONS + 1)},
}

# `make demo` on CPU: few problems and candidates, short steps, a couple of optimizer steps (defaults: PSRLM's sizes).
# The 135M demo model never states [[A]]/[[B]] zero-shot and, greedy, picks the same position whatever the steps (a
# tie → roll-back every time): the demo shows it two worked judgments and samples its verdicts (temperature 1), so
# pairs are made and step-DPO trains — on preferences no better than chance. One problem per iteration keeps the demo
# short (two problems in iteration 2 took 159 s); two candidates were too few (every verdict unparsed → no pair).
# Most of its 40-token steps are cut: the one chosen ends the solution (`step_cut`), since continued mid-sentence the
# model opened step 2 with a blank line, every candidate came back empty and the roll-back dropped the only pair.
DEMO_RUN_CONFIG = {
    "step_sft_data": {
        "max_rows": 4,
        "eft_problems": 2,
        "eft_candidates": 2,
        "step_max_tokens": 48,
        "judge_max_tokens": 24,
    },
    "m1_model": {
        "max_steps": 2,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 512,  # a demo IFT row fits whole: rows are never cut
        "learning_rate": 2e-5,
    },
    **{
        f"step_preferences_{i}": {
            "problems": [1, 1],
            "candidates": 3,
            "step_max_tokens": 40,
            "judge_max_tokens": 24,
            "judge_shots": 2,
            "judge_temperature": 1.0,
            "max_steps": 3,
            "max_rollbacks": 1,
        }
        for i in range(1, ITERATIONS + 1)
    },
    **{
        f"step_dpo_model_{i}": {
            "max_steps": 1,
            "batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_length": 512,  # the reasoning prompt + a code problem + 2 earlier steps + a step: pairs fit whole
            "learning_rate": 1e-6,
        }
        for i in range(1, ITERATIONS + 1)
    },
}

# `make proof`: IFT from the refined rows, EFT judgments on 8 of them, then two iterations on 16 problems each (half held out) (three
# short steps per worked solution), step-DPO over 2 epochs of the pairs.
PROOF_RUN_CONFIG = {
    "step_sft_data": {
        "eft_problems": 8,
        "eft_candidates": 2,
        "step_max_tokens": 48,
        "judge_max_tokens": 32,
    },
    "m1_model": {
        "epochs": 2.0,
        "batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_length": 1024,
        "learning_rate": 5e-5,
    },
    **{
        f"step_preferences_{i}": {
            "problems": [16, 16],
            "held_out_share": 0.5,  # half of each round's fresh problems measure step_dpo_model_i's preference accuracy
            "rollout_max_tokens": 192,
            "candidates": 3,
            "step_max_tokens": 48,
            "judge_max_tokens": 32,
            "judge_shots": 2,
            "judge_temperature": 1.0,
            "max_steps": 5,
            "max_rollbacks": 1,
        }
        for i in range(1, ITERATIONS + 1)
    },
    **{
        f"step_dpo_model_{i}": {
            "epochs": 2.0,
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "max_length": 1024,
            "learning_rate": 5e-6,
        }
        for i in range(1, ITERATIONS + 1)
    },
}

__all__ = ["CHECKS", "ITERATION_ASSETS", "DEMO_RUN_CONFIG", "PROOF_RUN_CONFIG", "TRAINING_AUTOMATION"]
