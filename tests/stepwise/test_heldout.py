"""Held-out step pairs: which problems are held out, their rollouts, and the implicit reward margin of a real model."""

import polars as pl
import pytest

from tests.stepwise.test_stepwise import PROBLEM, judge_by_score, sampler
from thinkforge.evaluation.metrics import wilson
from thinkforge.generation import Completion
from thinkforge.stepwise import PreferenceSettings, StepDpoSettings, run_tournament, step_dpo_trainer
from thinkforge.stepwise.heldout import (
    held_out_preference,
    held_out_problems,
    is_verified,
    preference_accuracy,
    split_held_out,
    step_margins,
)
from thinkforge.stepwise.steps import reasoning_prompt
from thinkforge.verify import AnswerChecker, MathVerifier


def test_held_out_problems_are_a_seeded_share_rounded_down():
    ids = [f"p{i}" for i in range(10)]
    held = held_out_problems(ids, 0.2, seed=1)
    assert len(held) == 2 and held == held_out_problems(list(reversed(ids)), 0.2, seed=1)  # order does not matter
    assert held_out_problems(["p0"], 0.5, seed=1) == set()  # one problem is never held out
    assert held_out_problems(ids, 0.0, seed=1) == set()
    trained = set(ids[:9]) - held  # a checkpoint of the chain trained on these: never held out
    assert held_out_problems(ids, 0.2, seed=1, trained_on=trained) == held
    assert held_out_problems(ids, 0.5, seed=1, trained_on=set(ids[1:])) == {"p0"}  # fewer when too few remain


def rollouts(base):
    """The tournament's scripted steps; a rollout (no stop) finishes the answer: right when 3 * 4 = 12 was worked out
    (2 + 12 = 14), wrong otherwise; an answer that already states one is left as it is."""

    def generate(conversations, params, n):
        if params.stop:
            return base(conversations, params, n)
        out = []
        for c in conversations:
            so_far = c[-1]["content"]
            end = (
                " "
                if "\\boxed" in so_far
                else "Step 9: 2 + 12 = 14, so \\boxed{14}."
                if "12" in so_far
                else "\\boxed{25}"
            )
            out.append([Completion(end, finish_reason="stop")])
        return out

    return generate


def test_held_out_pairs_are_rolled_out_and_verified_only_when_the_chosen_step_leads_right_and_the_rejected_wrong():
    steps = {
        1: ["3 * 4 = 12.", "2 + 3 = 5.", "I like numbers."],
        2: ["2 + 12 = 14, so \\boxed{14}.", "12 + 2 = 15.", "hm"],
    }
    quality = {"3 * 4 = 12.": 3, "2 + 3 = 5.": 1, "I like numbers.": 0, "2 + 12 = 14, so \\boxed{14}.": 3}
    problems = [PROBLEM, {**PROBLEM, "id": "p2"}]
    settings = PreferenceSettings(candidates=3, held_out_share=0.5)
    with MathVerifier(workers=1) as math:
        out = run_tournament(
            problems,
            rollouts(sampler(steps)),
            judge_by_score(lambda x: quality.get(x, 0)),
            settings,
            1,
            "m",
            log=lambda _: None,
            check=AnswerChecker(math).check,
        )
    pairs = out.kept.to_dicts()
    held = [p for p in pairs if p["held_out"]]
    assert len(pairs) == 4 and len(held) == 2 and len({p["parent_ids"][0] for p in held}) == 1
    assert all(p["chosen_rollout"] is None for p in pairs if not p["held_out"])
    first, last = sorted(held, key=lambda p: p["step_index"])
    # step 1: 3 * 4 = 12 goes on to 14, "I like numbers." to 25; step 2: the rejected "hm" still follows 12 → 14
    assert (first["chosen_rollout"], first["rejected_rollout"]) == ("correct", "wrong") and is_verified(first)
    assert (last["chosen_rollout"], last["rejected_rollout"]) == ("correct", "correct") and not is_verified(last)
    assert out.report.held_out_pairs == 2 and out.report.verified_held_out_pairs == 1 and out.conserved


def test_a_dpo_step_on_a_pair_gives_it_a_positive_margin_and_the_swapped_pair_a_negative_one(tmp_path, tiny_model):
    pair = {
        "id": "a",
        "prompt": reasoning_prompt("What is 2 + 3 * 4?")[0]["content"],
        "prefix": [],
        "step_index": 1,
        "chosen": "3 * 4 = 12.",
        "rejected": "2 + 3 = 5.",
    }
    pairs = pl.DataFrame([pair, {**pair, "id": "b", "chosen": pair["rejected"], "rejected": pair["chosen"]}])
    settings = StepDpoSettings(max_steps=3, batch_size=1, gradient_accumulation_steps=1, learning_rate=1e-2)
    trainer = step_dpo_trainer(str(tiny_model), pairs.head(1), settings, str(tmp_path / "run"))
    trainer.train()
    trained = tmp_path / "trained"
    trainer.save_model(str(trained))
    margins = step_margins(str(trained), str(tiny_model), pairs, beta=settings.beta, max_length=400)
    assert margins["a"] > 0 and margins["b"] == pytest.approx(-margins["a"])
    assert step_margins(str(tiny_model), str(tiny_model), pairs, beta=0.4, max_length=400) == {"a": 0.0, "b": 0.0}
    accuracy = preference_accuracy(margins)
    assert (accuracy["pairs"], accuracy["preferred"], accuracy["accuracy"]) == (2, 1, 0.5)
    assert accuracy["interval"] == pytest.approx(list(wilson(1, 2))) and accuracy["mean_margin"] == pytest.approx(0)
    assert preference_accuracy({})["accuracy"] is None
    both = held_out_preference(
        {"start": (str(tiny_model), str(tiny_model)), "trained": (str(trained), str(tiny_model))},
        pairs,
        0.4,
        400,
        "start",
    )
    assert (
        both["models"]["start"]["accuracy"] == 0.0 and both["models"]["trained"]["accuracy"] == 0.5
    )  # 0 is no preference
    assert (both["differences"]["trained"]["difference"], both["differences"]["trained"]["n"]) == (0.5, 2)


def test_step_dpo_trains_on_the_pairs_not_held_out_and_is_measured_on_the_verified_held_out_ones():
    pairs = pl.DataFrame(
        {
            "id": ["t", "v", "u"],
            "held_out": [False, True, True],
            "chosen_rollout": [None, "correct", "correct"],
            "rejected_rollout": [None, "wrong", "correct"],
        }
    )
    train, verified = split_held_out(pairs)
    assert train["id"].to_list() == ["t"] and verified["id"].to_list() == ["v"]
    old = pl.DataFrame({"id": ["t"]})  # pairs made before held-out pairs existed
    assert split_held_out(old)[0].height == 1 and split_held_out(old)[1].is_empty()
