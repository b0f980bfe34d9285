"""Step-DPO: TRL's DPOTrainer on (prompt + previous steps, chosen step, rejected step), with no EOS after the step.

DPOTrainer appends EOS to plain-text completions; a step is not the end of an answer. `_prepare_dataset` is
overridden to take pre-tokenized rows as they are: the prompt is the chat template of the next-step prompt with the
assistant header (no loss), chosen / rejected are the tokens of "Step n: <step>" only. The reference model is the
model being trained at its start (M_i).
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from thinkforge.training.settings import TrainerSettings


class StepDpoSettings(TrainerSettings):
    """DPO on step pairs, reference = M_i."""

    epochs: float = Field(1.0, description="passes over the pairs (PSRLM: 1)")
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: run the epochs)")
    learning_rate: float = Field(5e-7, description="learning rate (PSRLM: 5e-7)")
    beta: float = Field(0.4, description="DPO beta (Step-DPO: 0.4-0.5; PSRLM does not state it)")
    batch_size: int = Field(8, description="pairs per device per micro-step")
    gradient_accumulation_steps: int = Field(4, description="micro-steps per optimizer step (PSRLM: batch 32)")
    max_length: int = Field(1024, description="prompt + step tokens kept")


def tokenize_pairs(pairs: pl.DataFrame, tokenizer) -> list[dict]:
    rows = []
    for p in pairs.to_dicts():
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": p["prompt"]}], tokenize=False, add_generation_prompt=True
        )
        label = f"Step {p['step_index']}: "
        ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
        rows.append(
            {
                "prompt_ids": ids(prompt),
                "chosen_ids": ids(label + p["chosen"]),
                "rejected_ids": ids(label + p["rejected"]),
            }
        )
    return rows


def step_dpo_trainer(model_path: str, pairs: pl.DataFrame, settings: StepDpoSettings, output_dir: str):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    class StepDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset  # already tokenized: no chat template, no EOS after the step

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows = tokenize_pairs(pairs, tokenizer)
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
    return StepDPOTrainer(
        model=model, ref_model=ref, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
