"""Step-DPO: TRL's DPOTrainer on (prompt + previous steps, chosen step, rejected step), with no EOS after the step.

DPOTrainer appends EOS to plain-text completions; a step is not the end of an answer. `_prepare_dataset` is
overridden to take pre-tokenized rows as they are: the prompt is what the tournament sampled the step from — the
reasoning prompt, the assistant header and the previous steps (`steps.next_step_prompt`, rendered as the generation
backends render it: `generation/backends.py: render_chat`; no loss) — and chosen / rejected are the tokens of
"Step n: <step>" only, the ids the same step has inside an IFT answer. The reference model is the model being trained
at its start (M_i).

Bypassing `_prepare_dataset` also bypasses TRL's filter of prompts that fill `max_length`, and TRL's collator cuts the
end of a sequence: with many previous steps the chosen and rejected steps would be cut away. So every pair is made
to fit here: when prompt + the longer step exceed `max_length`, the earliest previous steps are left out of the
prompt (replaced by "…"; the problem, the latest steps and their numbers stay), and a pair that does not fit even
with one previous step left is rejected `too_long`. The steps themselves are never cut.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from thinkforge.generation.backends import render_chat
from thinkforge.stepwise.steps import partial_answer
from thinkforge.training.data import dropped_report, too_long
from thinkforge.training.settings import TrainerSettings

ELIDED = "…"


class StepDpoSettings(TrainerSettings):
    """DPO on step pairs, reference = M_i."""

    epochs: float = Field(1.0, description="passes over the pairs (PSRLM: 1)")
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: run the epochs)")
    learning_rate: float = Field(5e-7, description="learning rate (PSRLM: 5e-7)")
    beta: float = Field(0.4, description="DPO beta (Step-DPO: 0.4-0.5; PSRLM does not state it)")
    batch_size: int = Field(8, description="pairs per device per micro-step")
    gradient_accumulation_steps: int = Field(4, description="micro-steps per optimizer step (PSRLM: batch 32)")
    max_length: int = Field(
        1024,
        description="prompt + step tokens; a longer pair loses its earliest previous steps from the prompt, never "
        "the chosen / rejected step (too_long when even that does not fit)",
    )
    max_dropped_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="the blocking check `rows_fit` fails the model when more than this share of pairs is too_long",
    )


def shorter_prompts(pair: dict):
    """The pair's prompt (the user turn, then the previous steps as the assistant's partial answer), then the same
    prompt with its earliest previous steps left out one by one (down to the latest step); the kept steps keep their
    numbers."""
    steps = list(pair.get("prefix") or [])
    user = {"role": "user", "content": pair["prompt"]}
    yield [user, {"role": "assistant", "content": partial_answer(steps)}], 0
    for drop in range(1, len(steps)):
        kept = "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps[drop:], start=drop + 1))
        yield [user, {"role": "assistant", "content": f"{ELIDED}\n{kept}\n"}], drop


def tokenize_pairs(pairs: pl.DataFrame, tokenizer, max_length: int) -> tuple[list[dict], dict]:
    """Token ids of the pairs that fit in `max_length` (the prompt shortened from the left where needed) and a
    report: pairs whose prompt was shortened, previous steps left out, pairs rejected too_long."""
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    rows, rejects, candidates, shortened, steps_left_out = [], [], [], 0, 0
    for p in pairs.to_dicts():
        label = f"Step {p['step_index']}: "
        chosen, rejected = ids(label + p["chosen"]), ids(label + p["rejected"])
        room = max_length - max(len(chosen), len(rejected))
        for messages, dropped in shorter_prompts(p):
            prompt_ids = ids(render_chat(tokenizer, messages))
            if dropped == 0:
                candidate = {
                    "id": p.get("id"),
                    "kind": "step_pair",
                    "tokens": len(prompt_ids) + max(len(chosen), len(rejected)),
                    "trained_tokens": len(chosen) + len(rejected),
                }
                candidates.append(candidate)
            if len(prompt_ids) <= room:
                rows.append({"prompt_ids": prompt_ids, "chosen_ids": chosen, "rejected_ids": rejected})
                shortened += dropped > 0
                steps_left_out += dropped
                break
        else:
            rejects.append(too_long(candidate, max_length))
    report = dropped_report(candidates, rejects, ("step_pair",))
    return rows, {
        **report,
        "pairs_trained": len(rows),
        "prompts_shortened": shortened,
        "steps_left_out": steps_left_out,
    }


def step_dpo_trainer(model_path: str, pairs: pl.DataFrame, settings: StepDpoSettings, output_dir: str):
    """The trainer on the pairs that fit (`tokenize_pairs`: TRL's collator cuts nothing); `trainer.pair_report` says
    what was shortened or left out."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    class StepDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset  # already tokenized: no chat template, no EOS after the step

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows, report = tokenize_pairs(pairs, tokenizer, settings.max_length)
    args = DPOConfig(
        **settings.trainer_args(output_dir),
        num_train_epochs=settings.epochs,
        beta=settings.beta,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        max_length=settings.max_length,
    )
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    data = Dataset.from_dict({k: [r[k] for r in rows] for k in ("prompt_ids", "chosen_ids", "rejected_ids")})
    trainer = StepDPOTrainer(model=model, ref_model=ref, args=args, train_dataset=data, processing_class=tokenizer)
    trainer.pair_report = {**report, "max_dropped_share": settings.max_dropped_share}
    return trainer
