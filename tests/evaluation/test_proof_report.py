"""The proof report's target lines: met, missed or not measured, from hand-built eval rows and stage figures."""

from thinkforge.evaluation.metrics import compare, paired_difference, paired_differences
from thinkforge.evaluation.proof import proof_report, targets
from thinkforge.stepwise.heldout import preference_accuracy

N = 200


def rows(model: str, right: int, verifies: int = 0, formatted: int = 0) -> list[dict]:
    """N problems asked in s2r: the first `right` answered right, the first `verifies` verify themselves, the first
    `formatted` in format."""
    return [
        {
            "model": model,
            "prompt_format": "s2r",
            "problem_id": f"p{i}",
            "sample_index": 0,
            "correct": i < right,
            "first_correct": i < right,
            "self_verifies": i < verifies,
            "verification_verdicts": [],
            "verified_attempts_correct": [],
            "verdict_format": "pass" if i < formatted else "fail",
            "completion_tokens": 10,
        }
        for i in range(N)
    ]


EVAL = rows("base_model", 60) + rows("sft_model", 120, verifies=180, formatted=170) + rows("rl_model", 118)
COMPARISONS = [("sft_model", "base_model"), ("rl_model", "base_model"), ("rl_model", "sft_model")]
PREFERENCE = {
    "pairs": 50,
    "models": {
        "step_dpo_model_2": preference_accuracy({f"q{i}": 0.1 if i < 40 else -0.1 for i in range(50)}),
        "m1_model": preference_accuracy({f"q{i}": 0.1 if i < 25 else -0.1 for i in range(50)}),
    },
    "differences": {
        "step_dpo_model_2": paired_difference([(True, True)] * 25 + [(True, False)] * 15 + [(False, False)] * 10)
    },
}
FIGURES = {
    "step_dpo_model_1": {"held_out_preference": {"pairs": 0, "models": {}, "differences": {}}},
    "step_dpo_model_2": {"held_out_preference": PREFERENCE},
    "s2r_trajectories": {"self_corrections": 0, "used_fallback": 30, "fallback_share": 1.0, "attempts": "| 2 | 30 |"},
    "rl_model": {"reward_per_step": [0.1, 0.2, 0.4], "mean_reward": 0.233, "reward_curve": "![reward](x.png)"},
}


def statuses(lines: list[dict]) -> list[str]:
    return [t["status"] for t in lines]


def test_each_target_is_met_missed_or_not_measured_with_its_numbers():
    summaries, differences = compare(EVAL), paired_differences(EVAL, COMPARISONS)
    lines = targets(summaries, differences, N, FIGURES)
    assert statuses(lines) == [
        "met",  # 200 problems
        "met",  # sft_model self-verifies in 0.9 of its answers
        "missed",  # format compliance 0.85 < 0.9
        "met",  # sft_model 0.6 vs base_model 0.3 on the same problems
        "met",  # rl_model 0.59 vs sft_model 0.6: 2 discordant problems, the interval holds 0
        "met",  # 40 of 50 pairs: Wilson low 0.67 > 0.5
        "met",  # +0.3 over m1_model, 15 discordant pairs all one way
        "missed",  # every trajectory is the fallback's
    ]
    assert "sft_model 0.900 (0.851–0.934); base_model 0.000 (0.000–0.019)" in lines[1]["figures"]
    assert "sft_model − base_model (s2r prompts): +0.300" in lines[3]["figures"]
    assert "first 0.100, last 0.400" in lines[4]["figures"]
    assert lines[5]["target"].startswith("step_dpo_model_2's preference accuracy")
    report = proof_report("math", summaries, differences, N, 1, FIGURES, chart="![chart](c.png)")
    assert "| sft_model format compliance ≥ 0.9 in s2r | **missed** | sft_model 0.850 (" in report
    assert report.count("**missed**") == 2 and "Missed: sft_model format compliance ≥ 0.9 in s2r; S²R" in report
    assert "![chart](c.png)" in report and "![reward](x.png)" in report and "| 2 | 30 |" in report
    assert "| step_dpo_model_2 | step_dpo_model_2 | 50 | 0.800 (0.670–0.888) | +0.0600 |" in report


def test_without_figures_a_target_is_not_measured_and_too_few_problems_is_missed():
    few = [r for r in EVAL if int(r["problem_id"][1:]) < 50]
    lines = targets(compare(few), paired_differences(few, COMPARISONS), 50, {})
    assert statuses(lines)[0] == "missed"
    assert statuses(lines)[4:] == ["missed", "not measured", "not measured", "not measured"]  # no reward curve
    base_only = [r for r in EVAL if r["model"] == "base_model"]
    assert statuses(targets(compare(base_only), [], N, {}))[1:5] == ["not measured"] * 4
