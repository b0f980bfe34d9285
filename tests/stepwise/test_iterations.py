"""Iterations as assets: step_dpo_model_2 starts from step_dpo_model_1 (also its reference), M1 from m1_model; the
held-out step pairs."""

import json
import shutil

import polars as pl
from dagster import DagsterInstance, materialize

import definitions
from assets import ALL_ASSETS
from assets.stepwise.iterations import previous_model
from resources.generation import role_resources
from thinkforge import warehouse
from thinkforge.checkpoints import MODEL_CARD, publish, staging_dir, weights_fingerprint
from thinkforge.stage import StageOutput
from thinkforge.stepwise.tournament import REJECTS_SCHEMA, SCHEMA

DPO = {"max_steps": 1, "batch_size": 2, "gradient_accumulation_steps": 1, "max_length": 96, "learning_rate": 1e-2}


def pairs(iteration: int) -> StageOutput:
    rows = [
        {
            "id": f"{iteration}{k}",
            "parent_ids": ["p"],
            "domain": "math",
            "source": "s",
            "problem": "2+2?",
            "reference_answer": "4",
            "iteration": iteration,
            "step_index": 1,
            "prefix": [],
            "prompt": f"2+2? ({k})",
            "chosen": "2 + 2 = 4, so \\boxed{4}.",
            "rejected": "2 + 2 = 5.",
            "chosen_wins": 2,
            "rejected_wins": 0,
            "candidates": [],
            "wins": [2, 0],
            "consistency": 1.0,
            "judgments": "[]",
            "model": "m",
        }
        for k in range(3)
    ]
    # the third pair's problem is held out: its chosen step's rollout was right, its rejected step's wrong
    rows[2].update(held_out=True, chosen_rollout="correct", rejected_rollout="wrong")
    return StageOutput(pl.DataFrame(rows, schema=SCHEMA), pl.DataFrame(schema=REJECTS_SCHEMA), 3)


def test_iteration_two_starts_from_iteration_one(home, tiny_model):
    assert [previous_model(i) for i in (1, 2, 3)] == ["m1_model", "step_dpo_model_1", "step_dpo_model_2"]
    m1 = home / "models" / "m1_model" / "math"
    staging = staging_dir(m1)
    shutil.copytree(tiny_model, staging, dirs_exist_ok=True)
    publish(staging, m1, {"asset": "m1_model"})
    for i in (1, 2):
        warehouse.write_partition(home, f"step_preferences_{i}", "math", pairs(i), run_id="test")
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["step_dpo_model_1", "step_dpo_model_2"],
            partition_key="math",
            instance=instance,
            resources=definitions.defs.resources,
            run_config={"ops": {f"step_dpo_model_{i}": {"config": DPO} for i in (1, 2)}},
        )
    assert result.success
    cards = {
        i: json.loads((home / "models" / f"step_dpo_model_{i}" / "math" / MODEL_CARD).read_text()) for i in (1, 2)
    }
    assert cards[1]["initial_model"] == cards[1]["reference_model"] == str(m1)
    m2 = home / "models" / "step_dpo_model_1" / "math"
    assert cards[2]["initial_model"] == cards[2]["reference_model"] == str(m2)
    fingerprints = {weights_fingerprint(m1), cards[1]["fingerprint"], cards[2]["fingerprint"]}
    assert len(fingerprints) == 3  # each iteration's weights (and so its cache key) differ
    assert cards[1]["data_ids"] == ["10", "11"]  # the held-out pair is not trained on
    metadata = result.asset_materializations_for_node("step_dpo_model_1")[0].metadata
    assert metadata["held_out_verified_pairs"].value == 1
    preference = metadata["held_out_preference"].value
    assert preference["pairs"] == 1 and preference["models"]["step_dpo_model_1"]["pairs"] == 1
    assert metadata["preference_accuracy"].value in (0.0, 1.0)  # one pair: preferred or not


def test_step_preferences_never_holds_out_a_problem_m1_learned_from(home, tiny_model):
    m1 = home / "models" / "m1_model" / "math"
    staging = staging_dir(m1)
    shutil.copytree(tiny_model, staging, dirs_exist_ok=True)
    publish(staging, m1, {"asset": "m1_model"})
    problems = pl.DataFrame(
        [
            {
                "id": f"p{i}",
                "domain": "math",
                "source": "s",
                "problem": f"What is {i} + {i}?",
                "reference_answer": str(2 * i),
            }
            for i in range(4)
        ]
    )
    warehouse.write_partition(home, "selected_problems", "math", StageOutput(problems, problems.head(0), 4), "test")
    learned = problems.head(3).select("id", "problem")  # M1's step_sft_data holds p0, p1, p2
    warehouse.write_partition(home, "step_sft_data", "math", StageOutput(learned, learned.head(0), 3), "test")
    config = {
        "problems": [4],
        "candidates": 2,
        "step_max_tokens": 8,
        "judge_max_tokens": 8,
        "max_steps": 1,
        "max_rollbacks": 0,
        "held_out_share": 0.5,
        "rollout_max_tokens": 8,
    }
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["step_preferences_1"],
            partition_key="math",
            instance=instance,
            resources={**definitions.defs.resources, **role_resources(str(tiny_model))},
            run_config={"ops": {"step_preferences_1": {"config": config}}},
        )
    assert result.success
    metadata = result.asset_materializations_for_node("step_preferences_1")[0].metadata
    # floor(0.5 · 4) = 2 wanted, but only p3 is new to the chain
    assert metadata["held_out_problems"].value == 1 and metadata["not_held_out_trained_on"].value == 3
    pairs = warehouse.read_partition(home, "step_preferences_1", "math")
    assert all(p["parent_ids"][0] == "p3" for p in pairs.filter(pl.col("held_out")).to_dicts())
