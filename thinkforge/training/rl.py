"""rl_model: online RL from the SFT model with rule rewards, outcome- or process-level (S²R §2.3).

Outcome: TRL's GRPOTrainer as it is, with the outcome reward and `scale_rewards="none"` (advantage = reward − the
group mean: RLOO's baseline up to the factor M/(M−1)). Process: the same trainer with `_generate_and_score_completions`
overridden at its end: every token's advantage is its action's reward minus the context baseline — a (B, T) tensor
that TRL's loss accepts as it is. A token belongs to the action where its text starts; each token is decoded once in
a short window (incremental detokenization), so mapping a completion of T tokens costs O(T) tokenizer calls.

A completion cut at `max_completion_length` (no EOS) gets −1 on its last action; the share of such completions per
step is logged by TRL as `completions/clipped_ratio` and reported by `truncated_shares`, so a too-small budget shows.

Loss weighting: TRL's `dapo` loss sums every token's term over the batch and divides by the batch's tokens, so a
long action weighs more than a short one. `loss_weighting: action_mean` is S²R's objective: each action's token
terms are averaged and the actions averaged (process level: every token's advantage is scaled by
tokens / (actions · its action's tokens), which turns dapo's token sum into that mean; outcome level: the whole
response is the one action, TRL's `grpo` loss). A step sees `prompts_per_step` × `num_generations` completions,
generated together and trained in micro-batches of `micro_batch_size` (gradient accumulation).

Prompts: S²R drops the problems its SFT policy always or never solves before RL (no gradient from a group whose
rewards are all equal). `rl_prompts` drops a problem whose scored `policy_samples` are all correct or all wrong —
the samples of the initial policy, the graph's measurement of each problem's difficulty before RL.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from thinkforge.s2r.actions import checkable, conversation, parse_actions
from thinkforge.training.rewards import ContextBaseline, OutcomeReward, action_rewards, action_spans
from thinkforge.training.settings import TrainerSettings
from thinkforge.verify import AnswerChecker


class RlSettings(TrainerSettings):
    """Online RL (GRPO loop) from the SFT model with rule-based rewards."""

    reward_level: Literal["outcome", "process"] = Field(
        "outcome", description="outcome: ±1 on the final answer; process: a reward per action"
    )
    num_generations: int = Field(4, description="M samples per prompt (S²R: 4)")
    prompts_per_step: int = Field(
        64, description="prompts per optimizer step and device (S²R: 64 prompts × 4 samples = 256 completions)"
    )
    micro_batch_size: int = Field(
        16,
        description="completions per forward / backward pass; a step accumulates prompts_per_step × num_generations "
        "of them (that total must be a multiple of this, or smaller: then one pass)",
    )
    loss_weighting: Literal["token", "action_mean"] = Field(
        "token",
        description="token: TRL's dapo loss, every token of the batch weighs the same (a long action weighs more); "
        "action_mean: S²R's objective, each action's token terms averaged, then the actions (outcome level: the "
        "response is the action, TRL's grpo loss)",
    )
    drop_always_or_never_solved: bool = Field(
        True,
        description="leave out the problems whose scored policy_samples are all correct or all wrong (S²R drops "
        "what π_SFT always / never solves: such groups give no gradient); counted in the metadata",
    )
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

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations

    @property
    def micro_batch(self) -> int:
        """Completions per forward / backward pass: `micro_batch_size`, or the whole step when that is fewer."""
        return min(self.micro_batch_size, self.completions_per_step)

    @model_validator(mode="after")
    def _whole_micro_batches(self):
        if self.completions_per_step % self.micro_batch:
            raise ValueError(
                f"prompts_per_step × num_generations = {self.completions_per_step} is not a multiple of "
                f"micro_batch_size = {self.micro_batch_size}"
            )
        return self


def solve_counts(samples: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """Problem id → (correct, scored) over its policy samples (a sample without a verdict is not scored)."""
    scored = samples.filter(pl.col("correct").is_not_null()).with_columns(problem=pl.col("parent_ids").list.first())
    counts = scored.group_by("problem").agg(pl.col("correct").sum().alias("right"), pl.len().alias("scored"))
    return {r["problem"]: (r["right"], r["scored"]) for r in counts.to_dicts()}


def rl_prompts(problems: pl.DataFrame, samples: pl.DataFrame, settings: RlSettings) -> tuple[list[dict], dict]:
    """The RL prompts (checkable problems, by id) and a report: with `drop_always_or_never_solved`, a problem whose
    scored policy samples are all correct (`always_solved`) or all wrong (`never_solved`) is left out; a problem
    without scored samples is kept and counted `unmeasured`. `max_problems` caps what is left."""
    rows = [p for p in problems.sort("id").to_dicts() if checkable(p) is None]
    report = {"checkable": len(rows), "always_solved": 0, "never_solved": 0, "unmeasured": 0}
    if settings.drop_always_or_never_solved:
        counts, kept = solve_counts(samples), []
        for p in rows:
            right, scored = counts.get(p["id"], (0, 0))
            solved = "unmeasured" if not scored else {0: "never_solved", scored: "always_solved"}.get(right)
            if solved:
                report[solved] += 1
            if solved in (None, "unmeasured"):
                kept.append(p)
        rows = kept
    if settings.max_problems:
        rows = rows[: settings.max_problems]
    report["prompts"] = len(rows)
    prompts = [
        {
            "prompt": conversation(p["domain"], p["problem"]),
            "domain": p["domain"],
            "problem": p["problem"],
            "reference_answer": p["reference_answer"] or "",
            "test_cases": p["test_cases"] or "",
            "id": p["id"],
        }
        for p in rows
    ]
    return prompts, report


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
    tokenizer, completion_ids, rows: list[dict], checker: AnswerChecker, baseline: ContextBaseline, eos_ids: set[int]
):
    """(B, T) advantages (each token gets its action's reward minus the baseline of the action's reward context), the
    (B, T) index of each token's action, the actions' rewards and counts."""
    import torch

    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in completion_ids.tolist()]
    attempts = [parse_actions(t).attempts for t in texts]
    flat_rows = [r for r, a in zip(rows, attempts) for _ in a]
    verdicts = [v.correct for v in checker.check(flat_rows, [x for a in attempts for x in a])]
    truths = iter(verdicts)
    advantages = torch.zeros(completion_ids.shape, dtype=torch.float32)
    action_ids = torch.zeros(completion_ids.shape, dtype=torch.long)
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
        action_ids[b] = torch.tensor(actions, dtype=torch.long)
    stats = {
        "responses": len(texts),
        "actions": sum(len(s[1]) for s in scored),
        "truncated": sum(not any(i in eos_ids for i in ids) for ids in completion_ids.tolist()),
        "unscorable_attempts": verdicts.count(None),
    }
    return advantages, action_ids, [s[2] for s in scored], stats


def action_mean_advantages(advantages, action_ids, mask, total=lambda n: n):
    """`advantages` (B, T) reweighted so that TRL's dapo loss (the sum of token terms over the batch's tokens) is S²R's
    process objective, the mean over actions of each action's mean token term: a token of action a gets
    A · tokens / (actions · |a|), |a| the tokens of a under `mask` (0 off the mask). `total` sums a count over the
    training processes (dapo's token count spans all of them)."""
    import torch

    mask = mask.to(torch.float32)
    lengths = torch.zeros(action_ids.shape[0], int(action_ids.max()) + 1).scatter_add_(1, action_ids, mask)
    inverse = torch.where(mask > 0, 1.0 / lengths.gather(1, action_ids).clamp(min=1.0), torch.zeros_like(mask))
    tokens, actions = total(mask.sum()), total((lengths > 0).sum().to(torch.float32))
    return advantages * inverse * (tokens / actions.clamp(min=1.0))


def rl_trainer(model_path: str, prompts: list[dict], settings: RlSettings, checker: AnswerChecker, output_dir: str):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    class ProcessGRPOTrainer(GRPOTrainer):
        """GRPO whose advantages are per token: the reward of the action the token belongs to, minus its baseline."""

        def __init__(self, *args, checker: AnswerChecker, min_context_count: int, loss_weighting: str, **kwargs):
            super().__init__(*args, **kwargs)
            self.checker, self.baseline = checker, ContextBaseline(min_context_count)
            self.loss_weighting = loss_weighting
            self.action_log: list[dict] = []

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            eos = set(self.eos_token_ids) if hasattr(self, "eos_token_ids") else {self.processing_class.eos_token_id}
            adv, action_ids, rewards, stats = token_advantages(
                self.processing_class, out["completion_ids"].cpu(), inputs, self.checker, self.baseline, eos
            )
            mask = out["completion_mask"].cpu()
            if self.loss_weighting == "action_mean":
                adv = action_mean_advantages(adv, action_ids, mask, self._total)
            out["advantages"] = (adv * mask).to(out["completion_ids"].device)
            self.action_log.append({"step": self.state.global_step, **stats, "rewards": rewards})
            return out

        def _total(self, count):
            """A count summed over the training processes."""
            return self.accelerator.gather(count.reshape(1).to(self.accelerator.device)).sum().cpu()

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    args = GRPOConfig(
        **settings.trainer_args(output_dir),
        per_device_train_batch_size=settings.micro_batch,
        gradient_accumulation_steps=settings.completions_per_step // settings.micro_batch,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        scale_rewards="none",
        loss_type="grpo"
        if settings.loss_weighting == "action_mean" and settings.reward_level == "outcome"
        else "dapo",
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
        return ProcessGRPOTrainer(
            **common,
            checker=checker,
            min_context_count=settings.min_context_count,
            loss_weighting=settings.loss_weighting,
        )
    return GRPOTrainer(**common)
