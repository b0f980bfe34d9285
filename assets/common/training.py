"""Materialization metadata of a training asset: where the checkpoint is, its fingerprint, steps, curves."""

from __future__ import annotations

from pathlib import Path

from dagster import MetadataValue

from thinkforge.plots import markdown_image
from thinkforge.training.runner import curve_png


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
