"""Around any TRL trainer: resume from the last trainer checkpoint, progress in the logs, atomic publish.

Trainer checkpoints go to `<final>.trainer/` so a killed run resumes where it stopped; the finished model is saved
into a staging folder and swapped into `<final>` with its card and fingerprint (`thinkforge.checkpoints.publish`),
so the asset's folder is never half-written. The trainer folder is removed once the checkpoint is published.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from transformers import TrainerCallback

from thinkforge.checkpoints import publish, staging_dir
from thinkforge.plots import line_png


def trainer_dir(final: Path) -> Path:
    return Path(final).with_name(Path(final).name + ".trainer")


def last_checkpoint(folder: Path) -> str | None:
    found = sorted(Path(folder).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


class Progress(TrainerCallback):
    """Every logged step to `log` (e.g. Dagster's context.log.info) with elapsed time; keeps the log history."""

    def __init__(self, log, every: int = 1):
        self.log, self.every, self.history, self.started = log, every, [], time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        self.history.append({"step": state.global_step, **logs})
        if state.global_step % self.every == 0:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())
            self.log(f"step {state.global_step}/{state.max_steps} ({time.monotonic() - self.started:.0f}s): {shown}")


class NoFinalCheckpoint(TrainerCallback):
    """The Trainer saves a full checkpoint (weights + optimizer) at the last step; `fit` saves the model itself right
    after, so that checkpoint would only cost time (a 135M model: seconds of writing per run)."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = False


def prepare(trainer, log=print) -> Progress:
    """Attach the runner's callbacks (progress, no redundant last checkpoint); returns the progress recorder."""
    progress = Progress(log)
    trainer.add_callback(progress)
    trainer.add_callback(NoFinalCheckpoint())
    return progress


def fit(trainer, final: Path, card: dict, log=print) -> dict:
    """Train (resuming from `<final>.trainer/` when a previous run was cut off), save, publish; return a report."""
    progress = prepare(trainer, log)
    resume = last_checkpoint(trainer.args.output_dir)
    if resume:
        log(f"resuming from {resume}")
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.monotonic() - started
    staging = staging_dir(Path(final))
    trainer.save_model(str(staging))
    losses = [h["loss"] for h in progress.history if "loss" in h]
    card = {
        **card,
        "steps": result.global_step,
        "final_loss": losses[-1] if losses else None,
        "train_loss": result.training_loss,
        "wall_s": round(wall, 1),
        "resumed_from": resume,
    }
    card = publish(staging, Path(final), card)
    shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
    return {"card": card, "history": progress.history, "wall_s": wall, "steps": result.global_step}


def curve_png(history: list[dict], keys: tuple[str, ...], title: str) -> bytes | None:
    series = {k: [(h["step"], h[k]) for h in history if isinstance(h.get(k), (int, float))] for k in keys}
    series = {k: v for k, v in series.items() if v}
    return line_png(series, title=title) if series else None
