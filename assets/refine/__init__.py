"""refine: dynamic checklists, multi-model critique and revision, CoT reconstruction, the SFT dataset."""

from assets.common.checks import training_data_checks
from assets.refine import sft_dataset

# Checks of this group's assets (every warehouse asset also gets rows_conserved): the SFT rows are chat messages.
CHECKS = training_data_checks(sft_dataset.sft_dataset, "messages")

# `make demo` on CPU: 2 problems per domain, 2 rounds, short replies (defaults: every problem, 3 rounds).
DEMO_RUN_CONFIG = {
    "checklists": {"max_problems": 2, "max_tokens": 96},
    "refined_solutions": {
        "max_rounds": 2,
        "min_score": 0.0,  # the 135M evaluators rarely write a parsable score: keep candidates to show the CoT stage
        "eval_max_tokens": 64,
        "revise_max_tokens": 112,
        "draft_max_tokens": 112,
    },
    "cot_sft_data": {"summary_max_tokens": 48, "cot_max_tokens": 112, "judge_max_tokens": 64},
}

# `make proof`: the refinement chain on 32 problems (its rows feed sft_dataset and the step-wise IFT data); short
# replies, the worked solutions are three lines.
PROOF_RUN_CONFIG = {
    "checklists": {"max_problems": 32, "max_tokens": 96},
    "refined_solutions": {
        "max_rounds": 2,
        "min_score": 0.0,  # the 135M evaluators rarely write a parsable score: keep the (verified) starting candidate
        "eval_max_tokens": 64,
        "revise_max_tokens": 128,
        "draft_max_tokens": 128,
    },
    "cot_sft_data": {"summary_max_tokens": 48, "cot_max_tokens": 128, "judge_max_tokens": 64},
}
