"""rl_model: online RL from the SFT model with rule rewards, outcome- or process-level (S²R §2.3).

Outcome: TRL's GRPOTrainer as it is, with the outcome reward and `scale_rewards="none"` (advantage = reward − the
group mean: RLOO's baseline up to the factor M/(M−1)). Process: the same trainer with `_generate_and_score_completions`
overridden at its end: every token's advantage is its action's reward minus the context baseline — a (B, T) tensor
that TRL's loss accepts as it is. A token belongs to the action where its text starts; each token is decoded once in
a short window (incremental detokenization), so mapping a completion of T tokens costs O(T) tokenizer calls.

A completion cut at `max_completion_length` (no EOS) gets −1 on its last action; the share of such completions per
step is logged by TRL as `completions/clipped_ratio` and reported by `truncated_shares`, so a too-small budget shows.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

import polars as pl
from pydantic import Field

from thinkforge.s2r.actions import parse_actions
from thinkforge.s2r.samples import checkable, conversation
from thinkforge.training.rewards import Checker, ContextBaseline, OutcomeReward, action_rewards, action_spans
from thinkforge.training.settings import TrainerSettings


class RlSettings(TrainerSettings):
    """Online RL (GRPO loop) from the SFT model with rule-based rewards."""

    reward_level: Literal["outcome", "process"] = Field(
        "outcome", description="outcome: ±1 on the final answer; process: a reward per action"
    )
    num_generations: int = Field(4, description="M samples per prompt (S²R: 4)")
    prompts_per_step: int = Field(2, description="prompts per optimizer step")
    max_steps: int = Field(500, description="optimizer steps (S²R: 500)")
    learning_rate: float = Field(5e-7, description="learning rate (S²R: 5e-7)")
    beta: float = Field(
        0.05, description="KL coefficient to the reference (the SFT model); 0 loads no reference model"
    )
    temperature: float = Field(0.7, description="sampling temperature (S²R: 0.7)")
    max_prompt_length: int = Field(512, description="prompt tokens kept (longer prompts are cut from the left)")
    max_completion_length: int = Field(
        1024,
        description="maximum tokens per sampled response; a cut one gets −1 on its last action (metadata: truncated "
        "share per step)",
    )
    max_problems: int = Field(0, description="problems used (0: all checkable problems of the partition)")
    min_context_count: int = Field(
        10, description="process level: samples a reward context needs before its baseline is used (S²R: 10)"
    )


def rl_prompts(problems: pl.DataFrame, settings: RlSettings) -> list[dict]:
    rows = [p for p in problems.sort("id").to_dicts() if checkable(p) is None]
    if settings.max_problems:
        rows = rows[: settings.max_problems]
    return [
        {
            "prompt": conversation(p["domain"], p["problem"]),
            "domain": p["domain"],
            "reference_answer": p["reference_answer"] or "",
            "test_cases": p["test_cases"] or "",
            "id": p["id"],
        }
        for p in rows
    ]


def token_char_starts(tokenizer, ids: list[int]) -> list[int]:
    """For each token t, where its text starts in `decode(ids, skip_special_tokens=True)`: len(decode(ids[:t])).

    Incremental detokenization (as inference servers stream text): a token is decoded together with the few tokens
    before it (so byte-level merges and leading spaces come out right), text is emitted once it ends in a whole
    character, and a pending partial character counts as the replacement characters `decode` shows for it. At most
    two decodes of a short window per token: O(T) calls, not the O(T) decodes of O(T) tokens of `ids[:t]`.
    """
    special = set(tokenizer.all_special_ids)
    visible = [i for i in ids if i not in special]  # what skip_special_tokens keeps
    starts_visible, emitted, pending = [], 0, 0
    prefix, read, prefix_len = 0, 0, 0  # visible[prefix:read] is emitted context; prefix_len: its decoded length
    for k in range(len(visible)):
        starts_visible.append(emitted + pending)
        window = tokenizer.decode(visible[prefix : k + 1])
        if len(window) > prefix_len and not window.endswith("\ufffd"):
            emitted += len(window) - prefix_len
            prefix, read = read, k + 1
            prefix_len, pending = len(tokenizer.decode(visible[prefix:read])), 0
        else:
            pending = max(0, len(window) - prefix_len)
    starts, k = [], 0
    for i in ids:  # a special token starts where the visible text so far ends
        starts.append(starts_visible[k] if k < len(starts_visible) else emitted + pending)
        k += i not in special
    return starts


def token_actions(tokenizer, ids: list[int], ends: list[int]) -> list[int]:
    """The action of every token: the first action whose text (ending at `ends[j]`) goes past the token's start."""
    return [min(bisect_right(ends, start), len(ends) - 1) for start in token_char_starts(tokenizer, ids)]


def truncated_shares(history: list[dict]) -> list[dict]:
    """Per logged step, the share of completions cut at max_completion_length (TRL's `completions/clipped_ratio`)."""
    key = "completions/clipped_ratio"
    return [{"step": h["step"], "truncated_share": round(h[key], 4)} for h in history if key in h]


def token_advantages(
    tokenizer, completion_ids, rows: list[dict], checker: Checker, baseline: ContextBaseline, eos_ids: set[int]
):
    """(B, T) advantages: each token gets its action's reward minus the baseline of the action's reward context."""
    import torch

    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in completion_ids.tolist()]
    attempts = [parse_actions(t).attempts for t in texts]
    flat_rows = [r for r, a in zip(rows, attempts) for _ in a]
    truths = iter(checker.check(flat_rows, [x for a in attempts for x in a]))
    advantages = torch.zeros(completion_ids.shape, dtype=torch.float32)
    scored = []  # the whole batch enters the baseline before any advantage is taken from it
    for ids, text, atts in zip(completion_ids.tolist(), texts, attempts):
        truth = [next(truths) for _ in atts]
        spans = action_spans(text)
        rewards = action_rewards(text, truth, truncated=not any(i in eos_ids for i in ids))
        contexts = ContextBaseline.contexts([k for k, _, _ in spans], rewards)
        baseline.update(contexts, rewards)
        scored.append((ids, spans, rewards, contexts))
    for b, (ids, spans, rewards, contexts) in enumerate(scored):
        values = [0.0 if r is None else r - baseline.value(c) for r, c in zip(rewards, contexts)]
        actions = token_actions(tokenizer, ids, [end for _, _, end in spans])
        advantages[b] = torch.tensor([values[j] for j in actions], dtype=torch.float32)
    stats = {
        "responses": len(texts),
        "actions": sum(len(s[1]) for s in scored),
        "truncated": sum(not any(i in eos_ids for i in ids) for ids in completion_ids.tolist()),
    }
    return advantages, [s[2] for s in scored], stats


def rl_trainer(model_path: str, prompts: list[dict], settings: RlSettings, checker: Checker, output_dir: str):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    class ProcessGRPOTrainer(GRPOTrainer):
        """GRPO whose advantages are per token: the reward of the action the token belongs to, minus its baseline."""

        def __init__(self, *args, checker: Checker, min_context_count: int, **kwargs):
            super().__init__(*args, **kwargs)
            self.checker, self.baseline = checker, ContextBaseline(min_context_count)
            self.action_log: list[dict] = []

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            eos = set(self.eos_token_ids) if hasattr(self, "eos_token_ids") else {self.processing_class.eos_token_id}
            adv, rewards, stats = token_advantages(
                self.processing_class, out["completion_ids"].cpu(), inputs, self.checker, self.baseline, eos
            )
            out["advantages"] = adv.to(out["completion_ids"].device) * out["completion_mask"]
            self.action_log.append({"step": self.state.global_step, **stats, "rewards": rewards})
            return out

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    args = GRPOConfig(
        **settings.trainer_args(output_dir),
        per_device_train_batch_size=settings.num_generations * settings.prompts_per_step,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        scale_rewards="none",
        use_vllm=False,
    )
    common = dict(
        model=AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32),
        reward_funcs=[OutcomeReward(checker)],
        args=args,
        train_dataset=Dataset.from_list(prompts),
        processing_class=tokenizer,
    )
    if settings.reward_level == "process":
        return ProcessGRPOTrainer(**common, checker=checker, min_context_count=settings.min_context_count)
    return GRPOTrainer(**common)
