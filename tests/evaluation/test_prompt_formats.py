"""Every checkpoint is evaluated in the prompt format it was trained in (issue 26 §2): the card names it, model_eval
asks each model in it (base_model in every format beside it), and no_regression compares within one format."""

import json
import shutil

import polars as pl
import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, DagsterInstance, Definitions, materialize
from transformers import AutoTokenizer

import definitions
from assets import ALL_ASSETS
from assets.evaluate import CHECKS as EVAL_CHECKS
from resources.generation import role_resources
from thinkforge import distill, warehouse
from thinkforge.checkpoints import MODEL_CARD, publish, read_card, staging_dir
from thinkforge.evaluation.evaluate import REJECTS_SCHEMA
from thinkforge.refinement import sft_dataset
from thinkforge.s2r import trajectories
from thinkforge.s2r.actions import SYSTEM, render
from thinkforge.s2r.actions import conversation as s2r_conversation
from thinkforge.stage import StageOutput, frame
from thinkforge.stepwise import data as step_data
from thinkforge.stepwise.data import reasoning_prompt
from thinkforge.stepwise.steps import join_steps
from thinkforge.training.runner import fit
from thinkforge.training.sft import SftSettings

TRAIN = {"max_steps": 1, "batch_size": 1, "gradient_accumulation_steps": 1, "max_length": 512}


def _write(home, asset: str, rows: list[dict], stage) -> None:
    out = StageOutput(frame(rows, stage.SCHEMA), frame([], stage.REJECTS_SCHEMA), len(rows))
    warehouse.write_partition(home, asset, "math", out, run_id="test")


def _training_data(home, problem: dict) -> None:
    """sft_model's and m1_model's rows, on the first eval problem (so the prompts can be compared one to one)."""
    carry = {"domain": "math", "source": "s", "problem": problem["problem"], "reference_answer": "20"}
    action = {"correct": True, "verdict": "correct", "mask": 1, "origin": "policy"}
    actions = [
        {**action, "kind": "solve", "text": "17 + 8 - 5 = 20, so \\boxed{20}."},
        {**action, "kind": "verify", "text": "17 + 8 = 25, 25 - 5 = 20. Therefore, the answer is correct."},
    ]
    trajectory = {**carry, "id": "t1", "parent_ids": ["p"], "actions": actions, "response": render(actions)}
    _write(home, "s2r_trajectories", [{**trajectory, "attempts": 1}], trajectories)
    answer = {"role": "assistant", "content": "<think>\n17 + 8 - 5 = 20\n</think>\n\n\\boxed{20}"}
    sft = {**carry, "id": "d1", "parent_ids": ["p"], "origin": "teacher"}
    _write(
        home,
        "sft_dataset",
        [{**sft, "messages": [{"role": "user", "content": problem["problem"]}, answer]}],
        sft_dataset,
    )
    steps = ["17 + 8 = 25 sheep.", "25 - 5 = 20, so \\boxed{20}."]
    ift = {**carry, "id": "i1", "parent_ids": ["d1"], "kind": "ift", "split_by": "marker", "steps": steps}
    ift["messages"] = [
        *reasoning_prompt(problem["problem"], "math"),
        {"role": "assistant", "content": join_steps(steps)},
    ]
    _write(home, "step_sft_data", [ift], step_data)


def test_each_checkpoint_is_asked_in_the_prompt_format_it_was_trained_in(home, tiny_model):
    shutil.copytree(tiny_model, home / "models" / "base_model")
    resources = {**definitions.defs.resources, **role_resources(str(tiny_model))}
    with DagsterInstance.get() as instance:
        run = lambda selection, config: materialize(  # noqa: E731
            ALL_ASSETS,
            selection=selection,
            partition_key="math",
            instance=instance,
            resources=resources,
            run_config={"ops": config},
        )
        assert run(["eval_problems"], {}).success
        problem = warehouse.read_partition(home, "eval_problems", "math").sort("source_row").row(0, named=True)
        _training_data(home, problem)
        assert run(["sft_model", "m1_model"], {"sft_model": {"config": TRAIN}, "m1_model": {"config": TRAIN}}).success
        # the training assets' cards name the format their rows were built in
        assert read_card(home / "models/sft_model/math")["prompt_format"] == "s2r"
        assert read_card(home / "models/m1_model/math")["prompt_format"] == "stepwise"
        # a checkpoint whose card names no format (trained before cards recorded it) is not asked in a guessed one
        rl = home / "models/rl_model/math"
        staging = staging_dir(rl)
        shutil.copytree(tiny_model, staging, dirs_exist_ok=True)
        publish(staging, rl, {"asset": "rl_model"})
        config = {
            "max_problems": 1,
            "max_tokens": 8,
            "extra_models": {"tiny-s2r": str(tiny_model)},
            "extra_model_formats": {"tiny-s2r": "s2r"},
        }
        result = materialize(
            [a for a in ALL_ASSETS if a.key.to_user_string() in ("eval_problems", "model_eval")] + EVAL_CHECKS,
            partition_key="math",
            instance=instance,
            resources=resources,
            run_config={"ops": {"model_eval": {"config": config}}},
        )
    assert result.success
    rows = warehouse.read_partition(home, "model_eval", "math")
    asked = rows.group_by("model").agg(pl.col("prompt_format").unique().sort()).sort("model").rows()
    assert dict(asked) == {
        "base_model": ["distill", "s2r", "stepwise"],  # a like-for-like baseline for sft_model and m1_model
        "sft_model": ["s2r"],
        "m1_model": ["stepwise"],
        "tiny-s2r": ["s2r"],
    }
    assert rows.height == 6 and set(rows["item"]) == {problem["item"]}
    assert rows["id"].n_unique() == rows.height  # base_model's three answers are three rows
    # the prompt each model received is the one its trainer built: S²R's system prompt for sft_model, the IFT rows'
    # reasoning prompt for m1_model, the distillation prompt for base_model's distill rows
    trained = {
        "s2r": s2r_conversation("math", problem["problem"]),
        "stepwise": warehouse.read_partition(home, "step_sft_data", "math")["messages"][0].to_list()[:-1],
        "distill": distill.conversation("math", problem["problem"], distill.DEFAULT_SYSTEM),
    }
    assert trained["s2r"][0] == {"role": "system", "content": SYSTEM}
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    for r in rows.iter_rows(named=True):
        messages = json.loads(r["prompt"])
        assert messages == trained[r["prompt_format"]], (r["model"], r["prompt_format"])
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert r["prompt_tokens"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])  # what it was fed
        assert r["prompt_id"].startswith(
            "distill_math@" if r["prompt_format"] == "distill" else f"{r['prompt_format']}_"
        )
    meta = {k: v.value for k, v in result.asset_materializations_for_node("model_eval")[0].metadata.items()}
    assert "its card" in meta["models_missing"] and "names no prompt_format" in meta["models_missing"]
    assert "| base_model | distill, s2r, stepwise |" in meta["prompt_formats"]
    # the table is per (model, prompt format); S²R's behaviour metrics only on s2r rows
    head, _, *lines = meta["comparison"].splitlines()
    columns = [c.strip() for c in head.strip("|").split("|")]
    cells = {tuple(c.strip() for c in line.strip("|").split("|"))[:2]: line.strip("|").split("|") for line in lines}
    assert list(cells) == [
        ("base_model", "distill"),
        ("base_model", "s2r"),
        ("base_model", "stepwise"),
        ("sft_model", "s2r"),
        ("m1_model", "stepwise"),
        ("tiny-s2r", "s2r"),
    ]
    verify = columns.index("self-verify")
    assert cells[("base_model", "distill")][verify].strip() == cells[("m1_model", "stepwise")][verify].strip() == "–"
    assert cells[("base_model", "s2r")][verify].strip() != "–"
    assert {f"accuracy_{m}_{f}" for m, f in cells} <= set(meta)
    # no_regression pairs each trained model with base_model asked in the same format
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "no_regression"]
    assert check.metadata["pairs_compared"].value == 2
    table = check.metadata["comparisons"].value
    assert "| s2r | sft_model | base_model |" in table and "| stepwise | m1_model | base_model |" in table


def _row(model: str, prompt_format: str, i: int, correct: bool) -> dict:
    return {
        "id": f"{model}-{prompt_format}-{i}",
        "parent_ids": [f"h{i}"],
        "domain": "math",
        "eval_set": "heldout",
        "item": f"h{i}",
        "problem_id": f"h{i}",
        "model": model,
        "prompt_format": prompt_format,
        "correct": correct,
        "first_correct": correct,
        "verdict": "correct" if correct else "wrong",
        "verdict_format": "pass",
        "self_verifies": False,
        "completion_tokens": 10,
        "verification_verdicts": [],
        "verified_attempts_correct": [],
    }


def test_no_regression_compares_a_model_with_its_parent_in_the_same_prompt_format(home):
    scores = {
        ("base_model", "distill"): [True, True, True, True],
        ("base_model", "s2r"): [False, False, False, False],
        ("base_model", "stepwise"): [True, True, True, False],
        ("sft_model", "s2r"): [True, False, False, False],  # above base_model in s2r, below it pooled over formats
        ("rl_model", "s2r"): [False, False, False, False],
        ("m1_model", "stepwise"): [True, True, False, False],
    }
    rows = [_row(m, f, i, ok) for (m, f), oks in scores.items() for i, ok in enumerate(oks)]
    warehouse.write_partition(
        home, "model_eval", "math", StageOutput(pl.DataFrame(rows), frame([], REJECTS_SCHEMA), len(rows)), "r0"
    )
    evaluate = [a for a in ALL_ASSETS if a.key.to_user_string() in ("eval_problems", "model_eval")]
    defs = Definitions(assets=evaluate, asset_checks=EVAL_CHECKS, resources=definitions.defs.resources)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection={AssetCheckKey(evaluate[1].key, "no_regression")}
    )
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key="math", instance=instance)
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["pairs_compared"].value == 3 and check.metadata["regressions"].value == 2
    assert "rl_model 0.000 < sft_model 0.250 (s2r prompts)" in check.description
    assert "m1_model 0.500 < base_model 0.750 (stepwise prompts)" in check.description
    assert "sft_model 0.250 <" not in check.description
    table = check.metadata["comparisons"].value
    assert "| s2r | sft_model | base_model | 0.250 | 0.000 | +0.250 | ok |" in table
    assert "| s2r | rl_model | sft_model | 0.000 | 0.250 | -0.250 | **below** |" in table
    assert "| stepwise | m1_model | base_model | 0.500 | 0.750 | -0.250 | **below** |" in table


def test_fit_refuses_a_prompt_format_model_eval_cannot_ask_in(tmp_path):
    with pytest.raises(ValueError, match="unknown prompt format 'chat'"):
        fit(None, tmp_path / "m", {}, SftSettings(), prompt_format="chat")
    assert not (tmp_path / "m" / MODEL_CARD).exists()


def test_format_compliance_is_that_of_the_prompt_format():
    from thinkforge.evaluation import grade
    from thinkforge.verify import AnswerChecker, MathVerifier

    base = {
        "parent_ids": ["p"],
        "problem_id": "p",
        "domain": "math",
        "problem": "Solve 27 + 2x = 39.",
        "reference_answer": "6",
        "test_cases": None,
        "model": "m",
        "model_id": "m@1",
        "sample_index": 0,
        "response": "x = \\boxed{6}",
        "finish_reason": "stop",
        "error": None,
    }
    rows = [{**base, "prompt_format": f} for f in ("distill", "s2r", "stepwise")]
    with MathVerifier(workers=1) as math:
        kept = grade(rows, AnswerChecker(math=math)).kept
    verdicts = dict(zip(kept["prompt_format"], kept["verdict_format"]))
    # the distillation prompt asks for the thinking format; S²R's and PSRLM's prompts were trained without it
    assert verdicts == {"distill": "fail: no closed <think>…</think> block", "s2r": "pass", "stepwise": "pass"}
    assert kept["correct"].all() and kept["id"].n_unique() == 3
