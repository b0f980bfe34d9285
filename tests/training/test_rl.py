"""RL rewards: outcome and process levels, the context baseline by hand, and GRPO updates on a tiny model."""

import pytest
import torch
from transformers import AutoTokenizer

from thinkforge.s2r.actions import RETRY_SEP, VERIFY_SEP
from thinkforge.training.rewards import ContextBaseline, OutcomeReward, action_rewards, action_spans
from thinkforge.training.rl import RlSettings, rl_trainer, token_advantages
from thinkforge.verify import AnswerChecker, MathVerifier, Verdict

A = f"so \\boxed{{5}}{VERIFY_SEP}Therefore, the answer is incorrect.{RETRY_SEP}so \\boxed{{4}}{VERIFY_SEP}Therefore, the answer is correct."
B = f"so \\boxed{{4}}{VERIFY_SEP}Therefore, the answer is correct."
ROW = {"domain": "math", "problem": "2 + 2?", "reference_answer": "4", "test_cases": ""}


@pytest.fixture(scope="module")
def math():
    with MathVerifier(workers=1) as verifier:
        yield verifier


def test_action_spans_and_rewards():
    assert [k for k, _, _ in action_spans(A)] == ["solve", "verify", "solve", "verify"]
    assert "".join(A[s:e] for _, s, e in action_spans(A)) == A
    assert action_rewards(A, [False, True], truncated=False) == [-1.0, 1.0, 1.0, 1.0]
    assert action_rewards(A, [True, True], truncated=False) == [1.0, -1.0, 1.0, 1.0]  # "incorrect" on a right answer
    assert action_rewards(B, [True], truncated=True) == [1.0, -1.0]  # cut off without EOS: −1 on the last action


def test_outcome_reward_uses_math_verify(math):
    reward = OutcomeReward(AnswerChecker(math=math))
    completions = [[{"role": "assistant", "content": t}] for t in (A, B, "so \\boxed{7}")]
    assert reward(None, completions, ["math"] * 3, ["2 + 2?"] * 3, ["4"] * 3, [""] * 3) == [1.0, 1.0, -1.0]
    assert reward(None, completions[:1], ["chat"], ["Hi"], [""], [""]) == [None]


def test_process_advantages_of_a_hand_built_batch(tiny_model, math):
    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in (A, B)]
    width = max(map(len, ids))
    batch = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i in ids])
    adv, _, rewards, stats = token_advantages(
        tok, batch, [ROW, ROW], AnswerChecker(math=math), ContextBaseline(min_count=1), {tok.eos_token_id}
    )
    assert rewards == [[-1.0, 1.0, 1.0, 1.0], [1.0, 1.0]] and stats == {
        "responses": 2,
        "actions": 6,
        "truncated": 0,
        "unscorable_attempts": 0,
    }
    # contexts: A = <start>, S-1, S-1 V+1, S-1 V+1 S+1; B = <start>, S+1. Baselines (min_count 1): <start> → mean(−1, +1)
    # = 0; every other context was seen once, so its baseline is its own reward and the advantage 0.
    expected = {0: [-1.0, 0.0, 0.0, 0.0], 1: [1.0, 0.0]}
    for b, text in enumerate((A, B)):
        for (kind, start, _), value in zip(action_spans(text), expected[b]):
            first = len(tok(text[:start], add_special_tokens=False)["input_ids"])
            assert adv[b, first + 1].item() == value, (b, kind)
    assert ContextBaseline.contexts(["solve", "verify", "solve"], [-1.0, 1.0, 1.0]) == ["<start>", "S-1", "S-1 V+1"]
    cold = ContextBaseline(min_count=10)
    cold.update(["<start>"], [1.0])
    assert cold.value("<start>") == 0.0  # too few samples: no baseline yet


class ByLength(AnswerChecker):
    """A verifier double whose verdict varies inside a group (random tiny models are never right)."""

    def check(self, rows, answers):
        return [Verdict("correct" if len(a) % 2 == 0 else "wrong", "by length") for a in answers]


# the last case trains its 8 completions in two micro-batches of 4 (gradient accumulation over one generation batch)
@pytest.mark.parametrize(
    ("level", "weighting", "micro"),
    [("outcome", "token", 16), ("process", "token", 16), ("process", "action_mean", 4)],
)
def test_rl_changes_parameters_when_rewards_vary_in_a_group(tmp_path, tiny_model, level, weighting, micro):
    prompts = [
        {
            "prompt": [{"role": "user", "content": f"What is {i}?"}],
            "domain": "math",
            "problem": f"What is {i}?",
            "reference_answer": "1",
            "test_cases": "",
            "id": str(i),
        }
        for i in range(2)
    ]
    settings = RlSettings(
        reward_level=level,
        loss_weighting=weighting,
        num_generations=4,
        prompts_per_step=2,
        micro_batch_size=micro,
        max_steps=1,
        learning_rate=1e-2,
        beta=0.0,
        max_completion_length=12,
        min_context_count=1,
    )
    trainer = rl_trainer(str(tiny_model), prompts, settings, ByLength(), str(tmp_path / "run"))
    assert trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps == 8
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = [n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert changed
    if level == "process":
        assert trainer.action_log and trainer.action_log[0]["responses"] == 8
