"""What every training asset does around its trainer: its checkpoint folder, skipping with a reason, fitting and
publishing the checkpoint, and the materialization metadata (where it is, its fingerprint, steps, curves)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from thinkforge import paths
from thinkforge.plots import markdown_image
from thinkforge.training.runner import curve_png, fit, trainer_dir
from thinkforge.training.settings import TrainerSettings


def trained_metadata(out: dict, final: Path, title: str, curves: tuple[str, ...]) -> dict:
    """`out` is `thinkforge.training.runner.fit`'s report; one PNG per logged series in `curves`."""
    history = out["history"]
    losses = [h["loss"] for h in history if "loss" in h]
    metadata = {
        "trained": True,
        "path": MetadataValue.path(str(final)),
        "fingerprint": out["card"]["fingerprint"],
        "steps": out["steps"],
        "final_loss": losses[-1] if losses else None,
        "wall_s": round(out["wall_s"], 1),
        "seconds_per_step": round(out["wall_s"] / max(1, out["steps"]), 1),
        "resumed_from": out["card"].get("resumed_from") or "",
        "resume": out["card"]["resume"],
    }
    for key in curves:
        png = curve_png(history, (key,), f"{title} · {key}")
        if png:
            metadata[f"{key.replace('/', '_')}_curve"] = MetadataValue.md(markdown_image(png, key))
    return metadata


@dataclass
class Training:
    """One training asset materialized for one domain: the checkpoint it writes and how it ends."""

    context: AssetExecutionContext

    @property
    def asset(self) -> str:
        return self.context.asset_key.to_user_string()

    @property
    def domain(self) -> str:
        return self.context.partition_key

    @property
    def final(self) -> Path:
        """The checkpoint folder it publishes (paths.checkpoint_dir)."""
        return paths.checkpoint_dir(self.asset, self.domain)

    @property
    def trainer_dir(self) -> str:
        """Where the trainer keeps its resumable checkpoints."""
        return str(trainer_dir(self.final))

    def skip(self, reason: str, **metadata) -> MaterializeResult:
        """Materialized without training (no checkpoint is written): `trained` false and why."""
        self.context.log.warning(f"{self.domain}: {reason}; no {self.asset} checkpoint")
        return MaterializeResult(metadata={"trained": False, "reason": reason, **metadata})

    def fit(
        self,
        trainer,
        start: str | Path,
        settings: TrainerSettings,
        prompt_format: str,
        curves: tuple[str, ...] = ("loss",),
        **card,
    ) -> tuple[dict, dict]:
        """Train from `start`, publish the checkpoint with its card (asset, domain, initial model, `card`); returns
        the runner's report and the trained metadata."""
        card = {"asset": self.asset, "domain": self.domain, "initial_model": str(start), **card}
        out = fit(trainer, self.final, card, settings, prompt_format=prompt_format, log=self.context.log.info)
        return out, trained_metadata(out, self.final, f"{self.asset} · {self.domain}", curves)
