"""The runner's Trainer callbacks (a module of their own: importing transformers costs seconds, which every process
that loads the Dagster definitions would otherwise pay)."""

from __future__ import annotations

import time

from transformers import TrainerCallback


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
