"""The settings every trainer shares (SFT, GRPO, step-DPO), declared once, like TRL's `trainer/base_config.py`.

Each trainer's settings class inherits these and sets its own defaults for `max_steps` and `learning_rate`;
`trainer_args` gives the TRL keyword arguments built from them, the same for every trainer.
"""

from __future__ import annotations

from pydantic import Field

from thinkforge.stage import StageSettings

# Fields that say how often and how many trainer checkpoints are written: they do not change what is trained, so a
# run may resume under other values.
CHECKPOINT_FIELDS = frozenset({"save_steps", "save_total_limit"})


class TrainerSettings(StageSettings):
    """Fields of every training stage; subclasses declare `max_steps` and `learning_rate` with their defaults."""

    max_steps: int = Field(description="optimizer steps")
    learning_rate: float = Field(description="peak learning rate")
    save_steps: int = Field(50, description="save a resumable trainer checkpoint every this many steps")
    save_total_limit: int = Field(
        2,
        ge=0,
        description="trainer checkpoints kept, the newest (older ones are deleted as new ones are saved; 0: all)",
    )
    seed: int = Field(0, description="data order and initialisation seed")

    def trained_config(self) -> dict:
        """The settings that decide what is trained: a killed run resumes only under the same ones."""
        return self.model_dump(exclude=set(CHECKPOINT_FIELDS))

    def trainer_args(self, output_dir: str) -> dict:
        """Keyword arguments of every TRL config (SFTConfig, GRPOConfig, DPOConfig) that come from these fields."""
        import torch

        return dict(
            output_dir=output_dir,
            max_steps=self.max_steps,
            learning_rate=self.learning_rate,
            save_strategy="steps",
            save_steps=self.save_steps,
            save_total_limit=self.save_total_limit,
            logging_steps=1,
            report_to=[],
            seed=self.seed,
            bf16=False,
            gradient_checkpointing=False,
            use_cpu=not torch.cuda.is_available(),
        )
