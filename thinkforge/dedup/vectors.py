"""Sentence and static vectors for dedup: the store's matrix plus this run's embeddings, looked up by exact key, and
the chunked static pass of the candidates mode."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np

from thinkforge.dedup.semantic import build_index
from thinkforge.dedup.store import DedupStore

Embed = Callable[..., np.ndarray]  # embed(texts, log=...) -> L2-normalized float32 rows


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def extended(
    store: DedupStore | None, texts: dict[str, str], embed: Embed, log
) -> tuple[list[str], np.ndarray | None, int]:
    """The store's keys and matrix plus the texts ({key: text}) whose key it lacks, embedded in one batch (sorted
    by key), and how many were new; the caller writes the store."""
    keys, matrix = store.matrix() if store is not None else ([], None)
    known = set(keys)
    missing = sorted(k for k in texts if k not in known)
    if missing:
        log(f"embedding {len(missing)} new texts ({len(texts) - len(missing)} reused)")
        new = embed([texts[k] for k in missing], log=log).astype(np.float32, copy=False)
        keys, matrix = keys + missing, new if matrix is None else np.concatenate([matrix, new])
    return keys, matrix, len(missing)


class Vectors:
    """Sentence vectors by exact key (the store's and this run's, one matrix), looked up by row through its key."""

    def __init__(self, keys: list[str], matrix: np.ndarray, row_keys: list[str]):
        self.keys, self.matrix = keys, matrix
        position = {k: p for p, k in enumerate(keys)}
        self.row = np.array([position.get(k, -1) for k in row_keys], dtype=np.int64)

    def of(self, rows) -> np.ndarray:
        return self.matrix[self.row[rows]]

    def cosines(self, rows: np.ndarray, neighbours: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Each row's neighbours (-1: none) re-scored by sentence-vector cosine and sorted best first."""
        sims = np.full(neighbours.shape, -1.0, np.float32)
        ids = np.full(neighbours.shape, -1, np.int64)
        for lo in range(0, len(rows), batch):
            part, near = rows[lo : lo + batch], neighbours[rows[lo : lo + batch]]
            scored = np.einsum("nd,nkd->nk", self.of(part), self.of(np.maximum(near, 0)))
            scored = np.where(near >= 0, scored, -np.inf)
            best = np.argsort(-scored, axis=1, kind="stable")
            scored, near = np.take_along_axis(scored, best, axis=1), np.take_along_axis(near, best, axis=1)
            sims[part] = np.where(near >= 0, scored, -1.0)
            ids[part] = near
        return sims, ids


def sentence_vectors(store: DedupStore, embed: Embed, keys, problems, needed_rows, report, log) -> Vectors:
    """The store's vectors plus those of needed rows whose key it lacks."""
    texts: dict[str, str] = {}
    for i in needed_rows.tolist():
        texts.setdefault(keys[i], problems[i])
    all_keys, matrix, report.embedded = extended(store, texts, embed, log)
    report.embeddings_reused = len(texts) - report.embedded
    return Vectors(all_keys, matrix if matrix is not None else np.zeros((0, 1), np.float32), keys)


def static_pass(
    prefilter: Embed, texts: list[str], keep: np.ndarray, eval_texts: list[str], log, chunk: int = 50_000
) -> tuple[np.ndarray, np.ndarray]:
    """Static vectors of `texts`, a chunk at a time: those where `keep` is set (float16, in order), and each text's
    best static cosine to an eval text (-1 without eval texts)."""
    n = len(texts)
    eval_index = build_index(prefilter(eval_texts).astype(np.float32), "flat") if eval_texts else None
    eval_best = np.full(n, -1.0, np.float32)
    kept = None
    filled, started = 0, time.perf_counter()
    for lo in range(0, n, chunk):
        vectors = prefilter(texts[lo : lo + chunk]).astype(np.float32, copy=False)
        if eval_index is not None:
            eval_best[lo : lo + len(vectors)] = eval_index.search(vectors, 1)[0][:, 0]
        if kept is None:
            kept = np.zeros((int(keep.sum()), vectors.shape[1]), np.float16)
        part = vectors[keep[lo : lo + len(vectors)]]
        kept[filled : filled + len(part)] = part
        filled += len(part)
        if n > chunk:
            log(f"static vectors: {lo + len(vectors)}/{n} problems ({time.perf_counter() - started:.0f} s)")
    return (kept if kept is not None else np.zeros((0, 1), np.float16)), eval_best
