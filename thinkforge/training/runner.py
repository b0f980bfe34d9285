"""Around any TRL trainer: resume from the last trainer checkpoint, progress in the logs, atomic publish.

Trainer checkpoints go to `<final>.trainer/` (the newest `save_total_limit` of them) so a killed run resumes where it
stopped. Beside them `run.json` records what the run trains: a fingerprint of the training rows, the trained settings
and the initial model's weights fingerprint. A later run resumes only when all three match; otherwise the stale
folder is removed and training starts fresh, and the log and the card's `resume` field say why. The finished model
is saved into a staging folder and swapped into `<final>` with its card and fingerprint
(`thinkforge.checkpoints.publish`), so the asset's folder is never half-written. The trainer folder is removed once
the checkpoint is published.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from thinkforge.checkpoints import publish, staging_dir, weights_fingerprint
from thinkforge.evaluation.prompts import known_format
from thinkforge.plots import line_png
from thinkforge.training.settings import TrainerSettings

if TYPE_CHECKING:
    from thinkforge.training.callbacks import Progress

RUN_RECORD = "run.json"


def trainer_dir(final: Path) -> Path:
    return Path(final).with_name(Path(final).name + ".trainer")


def last_checkpoint(folder: Path) -> str | None:
    found = sorted(Path(folder).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


def data_fingerprint(dataset) -> str:
    """sha256 over the rows the trainer reads (a `datasets.Dataset`, in order): every column and every value."""
    import pyarrow as pa

    table = dataset.with_format("arrow")[:]
    digest = hashlib.sha256(table.schema.remove_metadata().serialize().to_pybytes())
    for batch in table.combine_chunks().to_batches():
        digest.update(pa.py_buffer(batch.serialize()))
    return digest.hexdigest()[:16]


def run_record(trainer, settings: TrainerSettings) -> dict:
    """What a run trains: its rows, its trained settings, its initial weights (a fingerprint, else the model name)."""
    model = str(getattr(trainer.model, "name_or_path", ""))
    return {
        "data": data_fingerprint(trainer.train_dataset),
        "config": settings.trained_config(),
        "initial_model": weights_fingerprint(Path(model)) if Path(model).is_dir() else model,
    }


def resume_or_start(trainer, settings: TrainerSettings, log=print) -> tuple[str | None, str]:
    """The checkpoint to resume from (or None) and why: resume only a run of the same data, settings and model.

    A trainer folder whose `run.json` differs (or is missing) is removed, and the new run's record written.
    """
    folder = Path(trainer.args.output_dir)
    record = json.loads(json.dumps(run_record(trainer, settings), default=str))
    checkpoint = last_checkpoint(folder)
    status = "fresh"
    if checkpoint:
        stored_file = folder / RUN_RECORD
        stored = json.loads(stored_file.read_text()) if stored_file.is_file() else None
        if stored == record:
            log(f"resuming from {checkpoint} (same data, config and initial model)")
            return checkpoint, f"resumed from {Path(checkpoint).name}"
        if stored is None:
            why = f"no {RUN_RECORD} beside the checkpoints"
        else:
            changed = [name for name in ("data", "config", "initial_model") if stored.get(name) != record[name]]
            why = " and ".join(name.replace("_", " ") for name in changed) + " changed"
            fields = [k for k in record["config"] if stored.get("config", {}).get(k) != record["config"][k]]
            if fields:
                why += f" ({', '.join(fields)})"
        status = f"fresh: {why}"
        log(f"not resuming {checkpoint}: {why}; removed {folder}, training from the start")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_RECORD).write_text(json.dumps(record, indent=2))
    return None, status


def prepare(trainer, log=print) -> Progress:
    """Attach the runner's callbacks (progress, no redundant last checkpoint); returns the progress recorder."""
    from thinkforge.training.callbacks import NoFinalCheckpoint, Progress  # transformers: only when training

    progress = Progress(log)
    trainer.add_callback(progress)
    trainer.add_callback(NoFinalCheckpoint())
    return progress


def fit(
    trainer, final: Path, card: dict, settings: TrainerSettings, prompt_format: str | None = None, log=print
) -> dict:
    """Train (resuming from `<final>.trainer/` when a run of the same data and settings was cut off), save, publish;
    return a report. The card gets the settings, `resumed_from` and `resume` (what was resumed, or why not), and
    `prompt_format`: the prompt format the training rows were built in (`thinkforge.evaluation.prompts`: distill,
    s2r, stepwise), which model_eval asks the model in (None: unknown, and model_eval does not evaluate it)."""
    if prompt_format is not None:
        known_format(prompt_format)
    progress = prepare(trainer, log)
    resume, status = resume_or_start(trainer, settings, log)
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
        "resume": status,
        "prompt_format": prompt_format,
        "config": settings.model_dump(),
    }
    card = publish(staging, Path(final), card)
    shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
    return {"card": card, "history": progress.history, "wall_s": wall, "steps": result.global_step}


def curve_png(history: list[dict], keys: tuple[str, ...], title: str) -> bytes | None:
    series = {k: [(h["step"], h[k]) for h in history if isinstance(h.get(k), (int, float))] for k in keys}
    series = {k: v for k, v in series.items() if v}
    return line_png(series, title=title) if series else None
