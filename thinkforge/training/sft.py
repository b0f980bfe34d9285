"""sft_model: TRL's SFTTrainer on the SFT dataset and / or S²R trajectories, with a per-token loss mask and KL.

`S2rSftSettings.training_sets` picks the rows of sft_model: `both` (the default: the domain's one thinking model
learns the distilled / refined answers and S²R's self-verification), `s2r_trajectories` alone (S²R's
behaviour-initialization model, S²R-BI) or `sft_dataset` alone; `SftSettings` (m1_model) trains every row it is
given. Rows are pre-tokenized (`data.encode`): prompt tokens and masked S²R actions get label −100. `kl_coef` > 0 adds
kl_coef · KL(π_θ ‖ π_ref) over the trained tokens (π_ref = the initial model, frozen), normalised like TRL's loss
(a sum divided by `num_items_in_batch`) — S²R's `lm_kl_coeff` (sft_model's default: S²R's 0.1).
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from thinkforge.s2r.actions import conversation, segments
from thinkforge.training.data import IGNORE, dropped_report, encode, split_too_long
from thinkforge.training.settings import TrainerSettings


class SftSettings(TrainerSettings):
    """Supervised fine-tuning of the initial policy."""

    epochs: float = Field(3.0, description="passes over the data (S²R: 3)")
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: run the epochs)")
    learning_rate: float = Field(5e-6, description="peak learning rate (S²R: 5e-6)")
    batch_size: int = Field(8, description="rows per device per optimizer micro-step")
    gradient_accumulation_steps: int = Field(4, description="micro-steps per optimizer step (S²R: batch 32 in all)")
    max_length: int = Field(
        2048, description="tokens per row; a longer row is never cut: it is left out whole (reason too_long)"
    )
    max_dropped_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="the blocking check `rows_fit` fails the model when more than this share of rows is too_long",
    )
    kl_coef: float = Field(
        0.0, description="weight of KL(policy ‖ initial model) on trained tokens (S²R lm_kl_coeff); 0: off"
    )
    max_rows: int = Field(0, description="training rows used, trajectories first (0: all)")

    def sources(self) -> tuple[str, ...]:
        """The row kinds trained: every row given."""
        return SOURCES


SOURCES = ("s2r_trajectory", "sft_dataset")
TRAINING_SETS = {"both": SOURCES, "s2r_trajectories": ("s2r_trajectory",), "sft_dataset": ("sft_dataset",)}


class S2rSftSettings(SftSettings):
    """Supervised fine-tuning of the initial policy on S²R trajectories and / or the SFT dataset (sft_model)."""

    kl_coef: float = Field(
        0.1,
        description="weight of KL(policy ‖ initial model) on trained tokens (S²R lm_kl_coeff: 0.1, 0.01 for "
        "Qwen2.5-Math); 0: off (no reference model loaded)",
    )
    training_sets: Literal["both", "sft_dataset", "s2r_trajectories"] = Field(
        "both",
        description="the rows trained: both = sft_dataset ∪ s2r_trajectories (the domain's one thinking model); "
        "s2r_trajectories = S²R's behaviour-initialization data alone (S²R-BI); sft_dataset = without S²R",
    )

    def sources(self) -> tuple[str, ...]:
        """The row kinds of `training_sets`."""
        return TRAINING_SETS[self.training_sets]


def training_rows(
    sft_dataset: pl.DataFrame, trajectories: pl.DataFrame, tokenizer, settings: SftSettings
) -> tuple[list[dict], dict]:
    """Pre-tokenized rows of `settings.sources()` (trajectories with their action masks first, then the SFT dataset)
    and token counts; `report["sources"]` names the kinds trained.

    A row longer than `max_length` is left out whole (never cut): `report["rejects"]` names it with reason
    `too_long` and its token counts, `report["dropped_by_source"]` counts rows and trained tokens dropped per source.
    """
    sources = settings.sources()
    rows = []
    for t in trajectories.to_dicts() if "s2r_trajectory" in sources else []:
        messages = [*conversation(t["domain"], t["problem"]), {"role": "assistant", "content": t["response"]}]
        rows.append({"id": t["id"], "kind": "s2r_trajectory", **encode(tokenizer, messages, segments(t["actions"]))})
    for r in sft_dataset.to_dicts() if "sft_dataset" in sources else []:
        rows.append({"id": r["id"], "kind": "sft_dataset", **encode(tokenizer, r["messages"])})
    fit, rejects = split_too_long(rows, settings.max_length)
    dropped = dropped_report(rows, rejects, sources)
    if settings.max_rows:
        fit = fit[: settings.max_rows]
    report = {
        "sources": list(sources),
        "rows": len(fit),
        "rows_by_kind": {k: sum(r["kind"] == k for r in fit) for k in sources},
        "tokens": sum(r["tokens"] for r in fit),
        "trained_tokens": sum(r["trained_tokens"] for r in fit),
    }
    report["masked_tokens"] = report["tokens"] - report["trained_tokens"]
    return fit, {**report, **dropped, "max_dropped_share": settings.max_dropped_share}


def sft_config(settings: SftSettings, output_dir: str):
    from trl import SFTConfig

    return SFTConfig(
        **settings.trainer_args(output_dir),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        max_length=settings.max_length,
        dataset_num_proc=None,
    )


def masked_sft_trainer(model_path: str, rows: list[dict], settings: SftSettings, output_dir: str):
    """An SFTTrainer subclass on pre-tokenized rows (labels as given), with the KL term when kl_coef > 0."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    class MaskedSFTTrainer(SFTTrainer):
        def __init__(self, *args, ref_model=None, kl_coef: float = 0.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.ref_model, self.kl_coef = ref_model, kl_coef

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # the caller's return_outputs passes through: asking for outputs makes TRL's fused LM head recompute
            # the logits in an extra forward pass (the KL term runs its own forward)
            result = super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
            loss, outputs = result if return_outputs else (result, None)
            if self.kl_coef and self.ref_model is not None and model.training:
                loss = loss + self.kl_coef * self._kl(model, inputs, num_items_in_batch)
            return (loss, outputs) if return_outputs else loss

        def _kl(self, model, inputs, num_items_in_batch):
            forward = {k: inputs[k] for k in ("input_ids", "attention_mask", "position_ids") if k in inputs}
            logits = model(**forward).logits[:, :-1]
            with torch.no_grad():
                ref_logits = self.ref_model(**forward).logits[:, :-1]
            mask = inputs["labels"][:, 1:] != IGNORE
            logp, ref_logp = logits.log_softmax(-1), ref_logits.log_softmax(-1)
            kl = (logp.exp() * (logp - ref_logp)).sum(-1)
            n = num_items_in_batch if num_items_in_batch is not None else mask.sum()
            return (kl * mask).sum() / torch.as_tensor(n).clamp(min=1)

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    ref = None
    if settings.kl_coef:
        ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
        ref.requires_grad_(False)
    data = Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    return MaskedSFTTrainer(
        model=model,
        args=sft_config(settings, output_dir),
        train_dataset=data,
        processing_class=tokenizer,
        ref_model=ref,
        kl_coef=settings.kl_coef,
    )
