"""Nothing trained is silently cut: too-long SFT rows and trajectories are left out whole and counted (with a blocking
check on the share), step-DPO keeps the chosen / rejected steps whole by shortening the prompt from the left, RL
reports the truncated share per step, and process RL maps tokens to actions in linear time."""

import shutil

import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from transformers import AutoTokenizer

import definitions
from assets import ALL_ASSETS, ALL_CHECKS
from tests.training.test_rl import ByLength
from thinkforge import warehouse
from thinkforge.refinement.sft_dataset import REJECTS_SCHEMA as SFT_REJECTS
from thinkforge.refinement.sft_dataset import SCHEMA as SFT_SCHEMA
from thinkforge.s2r.actions import RETRY_SEP, VERIFY_SEP, conversation, render, segments
from thinkforge.s2r.trajectories import REJECTS_SCHEMA as TRAJ_REJECTS
from thinkforge.s2r.trajectories import SCHEMA as TRAJ_SCHEMA
from thinkforge.stage import StageOutput, frame
from thinkforge.stepwise.dpo import StepDpoSettings, step_dpo_trainer
from thinkforge.stepwise.steps import next_step_prompt
from thinkforge.training.data import IGNORE, encode
from thinkforge.training.rl import RlSettings, rl_trainer, token_actions, truncated_shares
from thinkforge.training.runner import prepare
from thinkforge.training.sft import SftSettings, training_rows

MAX_LENGTH = 128


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(str(tiny_model))


def action(kind: str, text: str, mask: int, correct=None, verdict=None) -> dict:
    return {"kind": kind, "text": text, "correct": correct, "verdict": verdict, "mask": mask, "origin": None}


def long_trajectory(attempts: int = 4) -> dict:
    """An S²R trajectory of `attempts` solves (the last one right) with their verifications: far over MAX_LENGTH."""
    actions = []
    for k in range(attempts):
        last = k == attempts - 1
        actions.append(action("solve", f"Attempt {k}: " + "two plus two, carefully. " * 12, int(last), last))
        verdict = "correct" if last else "incorrect"
        actions.append(action("verify", f"Checking it. Therefore, the answer is {verdict}.", 1, verdict=verdict))
    return {
        "id": "long",
        "parent_ids": ["p"],
        "domain": "math",
        "source": "s",
        "problem": "What is two plus two?",
        "reference_answer": "4",
        "test_cases": None,
        "actions": actions,
        "response": render(actions),
        "attempts": attempts,
        "difficulty": attempts,
        "used_fallback": False,
        "verifications": "[]",
    }


def sft_rows(n: int = 3) -> list[dict]:
    return [
        {
            "id": f"d{i}",
            "parent_ids": ["p"],
            "domain": "math",
            "source": "s",
            "problem": "Say hi",
            "reference_answer": None,
            "test_cases": None,
            "messages": [
                {"role": "user", "content": "Say hi"},
                {"role": "assistant", "content": f"<think>\nhi {i}\n</think>\n\nhi"},
            ],
            "origin": "teacher",
            "model": "m",
        }
        for i in range(n)
    ]


def test_a_trajectory_longer_than_max_length_is_rejected_too_long_with_its_token_count(tokenizer):
    traj = long_trajectory()
    whole = encode(
        tokenizer,
        [*conversation("math", traj["problem"]), {"role": "assistant", "content": traj["response"]}],
        segments(traj["actions"]),
    )
    assert whole["tokens"] > MAX_LENGTH  # encode never cuts: the whole row, its trained end included
    assert whole["labels"][-3:] == whole["input_ids"][-3:] and tokenizer.eos_token_id in whole["labels"][-3:]
    settings = SftSettings(max_length=MAX_LENGTH)
    rows, report = training_rows(frame(sft_rows(), SFT_SCHEMA), frame([traj], TRAJ_SCHEMA), tokenizer, settings)
    assert [r["id"] for r in rows] == ["d0", "d1", "d2"]
    assert all(r["tokens"] <= MAX_LENGTH and r["labels"][-1] == r["input_ids"][-1] != IGNORE for r in rows)
    [reject] = report["rejects"]
    assert reject["id"] == "long" and reject["reason"] == "too_long" and reject["source"] == "s2r_trajectory"
    assert reject["tokens"] == whole["tokens"] and reject["trained_tokens"] == whole["trained_tokens"]
    assert report["rows_in"] == 4 and report["rows_dropped"] == 1 and report["dropped_share"] == 0.25
    assert report["dropped_by_source"] == {
        "s2r_trajectory": {"rows_in": 1, "rows_dropped": 1, "trained_tokens_dropped": whole["trained_tokens"]},
        "sft_dataset": {"rows_in": 3, "rows_dropped": 0, "trained_tokens_dropped": 0},
    }


ROWS_FIT = [c for c in ALL_CHECKS if c.check_key.asset_key.to_user_string() == "sft_model"]


def test_rows_fit_blocks_sft_model_above_the_dropped_share_and_passes_below(home, tiny_model):
    shutil.copytree(tiny_model, home / "models" / "base_model")
    sft = StageOutput(frame(sft_rows(), SFT_SCHEMA), frame([], SFT_REJECTS), 3)
    warehouse.write_partition(home, "sft_dataset", "math", sft, run_id="test")
    trajectories = StageOutput(frame([long_trajectory()], TRAJ_SCHEMA), frame([], TRAJ_REJECTS), 1)
    warehouse.write_partition(home, "s2r_trajectories", "math", trajectories, run_id="test")
    train = {"max_steps": 1, "batch_size": 1, "gradient_accumulation_steps": 1, "max_length": MAX_LENGTH}
    evaluations = {}
    with DagsterInstance.get() as instance:
        for share in (0.05, 0.5):  # 1 of 4 rows is too long: 25 %
            result = materialize(
                [*ALL_ASSETS, *ROWS_FIT],
                selection=["sft_model"],
                partition_key="math",
                instance=instance,
                resources=definitions.defs.resources,
                run_config={"ops": {"sft_model": {"config": {**train, "max_dropped_share": share}}}},
                raise_on_error=False,
            )
            [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "rows_fit"]
            evaluations[share] = (check, result)
    failed, result = evaluations[0.05]
    assert not failed.passed and failed.metadata["rows_dropped"].value == 1 and failed.metadata["rows_in"].value == 4
    assert "above max_dropped_share" in failed.description and not result.success  # blocking: the run fails
    meta = {k: v.value for k, v in result.asset_materializations_for_node("sft_model")[0].metadata.items()}
    assert meta["trained_tokens_dropped"] > 0 and meta["dropped_by_source"]["s2r_trajectory"]["rows_dropped"] == 1
    assert "| long | s2r_trajectory |" in meta["too_long"]
    passed, result = evaluations[0.5]
    assert passed.passed and result.success


def pair(prefix: list[str], chosen: str, rejected: str, pair_id: str = "a") -> dict:
    return {
        "id": pair_id,
        "prefix": prefix,
        "step_index": len(prefix) + 1,
        "prompt": next_step_prompt("What is 2 + 2 + ... + 2 (twenty twos)?", prefix)[0]["content"],
        "chosen": chosen,
        "rejected": rejected,
    }


def test_step_dpo_keeps_chosen_and_rejected_whole_by_shortening_a_long_prefix(tmp_path, tiny_model, tokenizer):
    prefix = [f"Adding the two number {k + 1} to the sum gives {2 * (k + 1)}." for k in range(20)]
    pairs = pl.DataFrame(
        [
            pair(prefix, "The sum of twenty twos is 40, so \\boxed{40}.", "It is 38."),
            pair(prefix[:2], "Is it four? " * 200, "No.", "b"),  # the chosen step alone is over max_length
        ]
    )
    settings = StepDpoSettings(max_steps=1, batch_size=1, gradient_accumulation_steps=1, max_length=512)
    trainer = step_dpo_trainer(str(tiny_model), pairs, settings, str(tmp_path / "dpo"))
    report = trainer.pair_report
    assert report["pairs_trained"] == 1 and report["prompts_shortened"] == 1 and 0 < report["steps_left_out"] < 20
    assert report["rows_dropped"] == 1 and report["rejects"][0]["id"] == "b"
    assert report["rejects"][0]["reason"] == "too_long" and report["rejects"][0]["tokens"] > 512
    batch = trainer.data_collator([trainer.train_dataset[0]])  # what the trainer feeds the model
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    chosen, rejected = ids("Step 21: The sum of twenty twos is 40, so \\boxed{40}."), ids("Step 21: It is 38.")
    trained = [batch["input_ids"][k][batch["completion_mask"][k].bool()].tolist() for k in (0, 1)]
    assert trained == [chosen, rejected]  # the steps are intact
    assert batch["attention_mask"].sum(1).max().item() <= 512
    prompt = tokenizer.decode(trainer.train_dataset[0]["prompt_ids"])
    assert "twenty twos" in prompt and f"Step 20: {prefix[19]}" in prompt and "Step 1: " not in prompt
    assert prompt.endswith(f"Step 20: {prefix[19]}\n")  # step 21 continues the assistant's partial answer


def test_rl_reports_the_truncated_share_per_step(tmp_path, tiny_model):
    prompts = [
        {
            "prompt": [{"role": "user", "content": f"What is {i}?"}],
            "domain": "math",
            "reference_answer": "1",
            "problem": f"What is {i}?",
            "test_cases": "",
            "id": str(i),
        }
        for i in range(2)
    ]
    settings = RlSettings(
        reward_level="process",
        num_generations=2,
        prompts_per_step=2,
        max_steps=2,
        beta=0.0,
        max_completion_length=6,
        min_context_count=1,
    )
    trainer = rl_trainer(str(tiny_model), prompts, settings, ByLength(), str(tmp_path / "run"))
    progress = prepare(trainer, log=lambda _: None)
    trainer.train()
    shares = truncated_shares(progress.history)
    assert [s["step"] for s in shares] == [1, 2]
    # the same share counted from the completions the process reward scored (no EOS within the budget)
    assert [s["truncated_share"] for s in shares] == [
        round(log["truncated"] / log["responses"], 4) for log in trainer.action_log
    ]
    assert any(s["truncated_share"] > 0 for s in shares)  # a random tiny model rarely stops within 6 tokens


class CountingTokenizer:
    """The real tokenizer, counting its decode calls and the tokens they decode."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls, self.tokens = tokenizer, 0, 0

    def decode(self, ids, **kwargs):
        self.calls += 1
        self.tokens += len(ids)
        return self.tokenizer.decode(ids, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def quadratic_actions(tokenizer, ids: list[int], ends: list[int]) -> list[int]:
    """The old mapping: decode ids[:t] for every token t."""
    out = []
    for t in range(len(ids)):
        start = len(tokenizer.decode(ids[:t], skip_special_tokens=True))
        out.append(next((j for j, end in enumerate(ends) if start < end), len(ends) - 1))
    return out


def completion(tokenizer, n_tokens: int) -> tuple[list[int], list[int]]:
    """S²R-style completion ids of about `n_tokens` (multi-byte characters included), with EOS and padding, and the
    end character of each action."""
    from thinkforge.training.rewards import action_spans

    solve = "Sum the terms: ∑ 2·k for k ≤ n, café 🙂 so \\boxed{5}"
    verify = "Therefore, the answer is incorrect."
    text, k = solve, 0
    while len(tokenizer(text, add_special_tokens=False)["input_ids"]) < n_tokens:
        text += f"{VERIFY_SEP}{verify} ({k}){RETRY_SEP}{solve} {k}"
        k += 1
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:n_tokens]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    ids = ids + [tokenizer.eos_token_id] + [tokenizer.pad_token_id] * 3
    return ids, [end for _, _, end in action_spans(text)]


def test_token_map_equals_the_quadratic_reference_with_linear_calls(tokenizer):
    work = {}
    for n in (1000, 4000):
        ids, ends = completion(tokenizer, n)
        counting = CountingTokenizer(tokenizer)
        mapped = token_actions(counting, ids, ends)
        work[n] = (counting.calls, counting.tokens)
        if n == 4000:
            reference = CountingTokenizer(tokenizer)
            assert len(ends) > 50 and mapped == quadratic_actions(reference, ids, ends)
            assert reference.tokens > 4000 * 4000 / 2  # the old way decodes ids[:t] for every t: O(T²) tokens
    calls, tokens = work[4000]
    assert calls <= 2 * 4004 and tokens <= 8 * 4004  # a few short decodes per token
    assert 3.5 < calls / work[1000][0] < 4.5 and 3.5 < tokens / work[1000][1] < 4.5  # linear in the tokens
