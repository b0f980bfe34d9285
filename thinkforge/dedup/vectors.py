"""Sentence and static vectors for dedup: the store's matrix plus this run's embeddings, looked up by exact key, and
the static vectors of the candidates mode (stored too, by exact key)."""

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
    by key) and appended to the store as soon as they are, and how many were new."""
    keys, matrix = store.matrix() if store is not None else ([], None)
    known = set(keys)
    missing = sorted(k for k in texts if k not in known)
    if missing:
        log(f"embedding {len(missing)} new texts ({len(texts) - len(missing)} reused)")
        new = embed([texts[k] for k in missing], log=log).astype(np.float32, copy=False)
        if store is not None:
            store.add_vectors(missing, new)
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


def static_vectors(
    store: DedupStore, prefilter: Embed, keys: list[str], problems: list[str], rows: np.ndarray, log, chunk=50_000
) -> tuple[np.ndarray, int]:
    """Static vectors (float16) of `rows`, in order, by exact key: the store's, and those it lacks computed a chunk
    at a time (one text per key) and appended to it; and how many were computed."""
    stored_keys, stored = store.matrix("static")
    position = {k: p for p, k in enumerate(stored_keys)}
    at = np.array([position.get(keys[i], -1) for i in rows.tolist()], dtype=np.int64)
    del position
    first: dict[str, int] = {}  # missing key -> the first row that has it
    for i in rows[at < 0].tolist():
        first.setdefault(keys[i], i)
    missing = list(first)
    parts, started = [], time.perf_counter()
    for lo in range(0, len(missing), chunk):
        parts.append(prefilter([problems[first[k]] for k in missing[lo : lo + chunk]]).astype(np.float16))
        if len(missing) > chunk:
            log(
                f"static vectors: {lo + len(parts[-1])}/{len(missing)} problems ({time.perf_counter() - started:.0f} s)"
            )
    new = np.concatenate(parts) if parts else None
    if new is not None:
        store.add_vectors(missing, new, "static")
    stored_rows = len(rows) - int((at < 0).sum())
    log(f"static vectors of {len(rows)} rows: {stored_rows} from the store, {len(missing)} new texts computed")
    if new is not None and len(missing) == len(rows):
        return new, len(missing)  # every row new, one key each: already in row order
    if not len(rows):
        return np.zeros((0, 1), np.float16), 0
    out = np.zeros((len(rows), (stored if stored is not None else new).shape[1]), np.float16)
    if stored is not None:
        out[at >= 0] = stored[at[at >= 0]]
    if new is not None:
        slot = {k: p for p, k in enumerate(missing)}
        out[at < 0] = new[[slot[keys[i]] for i in rows[at < 0].tolist()]]
    return out, len(missing)


def eval_similarity(prefilter: Embed, eval_texts: list[str], vectors: np.ndarray, batch: int = 50_000) -> np.ndarray:
    """Each row's best static cosine to an eval text (-1 without eval texts)."""
    best = np.full(len(vectors), -1.0, np.float32)
    if not eval_texts or not len(vectors):
        return best
    index = build_index(prefilter(eval_texts).astype(np.float32), "flat")
    for lo in range(0, len(vectors), batch):
        best[lo : lo + batch] = index.search(vectors[lo : lo + batch].astype(np.float32), 1)[0][:, 0]
    return best
