"""Near-duplicate candidates with FAISS: inner product over normalized embeddings = cosine.

Memory is bounded by design: every search returns at most `k` neighbours per row (never every pair above a
threshold: a templated pool has thousands of siblings above it), in query batches; large sets use an IVF index
trained on a sample. Where the template guard is on, a near duplicate must share the row's constants, so the
candidate search runs only inside groups of rows with equal constants (blocking): most templated rows are alone
in their group and cost no search at all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

IVF_FROM = 50_000  # below this many vectors `auto` searches exactly (flat)
TRAIN_SAMPLE = 64  # IVF training points per list


def build_index(vectors: np.ndarray, kind: str = "auto", nprobe: int = 8):
    """IndexFlatIP (exact) or IVF (approximate; `auto` takes it from IVF_FROM vectors). IVF has sqrt(n) lists,
    trained on a seeded sample of TRAIN_SAMPLE points per list."""
    import faiss

    if kind not in ("auto", "flat", "ivf"):
        raise ValueError(f"index {kind!r}: use auto, flat or ivf")
    n, dim = vectors.shape
    nlist = int(np.sqrt(n))
    if kind == "ivf" or (kind == "auto" and n >= IVF_FROM):
        if nlist >= 16 and n >= 40 * nlist:
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = np.random.default_rng(0).choice(n, size=min(n, TRAIN_SAMPLE * nlist), replace=False)
            index.train(vectors[np.sort(sample)])
            index.nprobe = nprobe
            index.add(vectors)
            return index
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    return index


def nearest(
    vectors: np.ndarray,
    k: int,
    kind: str = "auto",
    nprobe: int = 8,
    batch: int = 4096,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, ids), each (n, k): every row's k nearest other rows, best first; id -1 pads a short list."""
    n = len(vectors)
    sims = np.full((n, k), -1.0, np.float32)
    ids = np.full((n, k), -1, np.int64)
    if n < 2 or k < 1:
        return sims, ids
    index = build_index(vectors, kind, nprobe)
    want = min(k + 1, n)
    for start in range(0, n, batch):
        got_sims, got_ids = index.search(vectors[start : start + batch], want)
        for row, (s, j) in enumerate(zip(got_sims, got_ids)):
            keep = (j != start + row) & (j >= 0)
            s, j = s[keep][:k], j[keep][:k]
            sims[start + row, : len(s)], ids[start + row, : len(j)] = s, j
        if n > 50_000 and (start // batch) % 25 == 0:
            log(f"neighbour search: {min(start + batch, n)}/{n} rows")
    return sims, ids


def blocked_nearest(
    vectors: np.ndarray, blocks: list[Hashable], k: int, kind: str = "auto", nprobe: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """`nearest`, searched only among rows whose block key is equal (ids are global rows)."""
    n = len(vectors)
    sims = np.full((n, k), -1.0, np.float32)
    ids = np.full((n, k), -1, np.int64)
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(blocks):
        members.setdefault(key, []).append(i)
    for rows in members.values():
        if len(rows) < 2:
            continue
        rows_arr = np.asarray(rows)
        block = vectors[rows_arr].astype(np.float32, copy=False)  # (the prefilter keeps its vectors in float16)
        block_sims, block_ids = _small_nearest(block, k) if len(rows) <= 4096 else nearest(block, k, kind, nprobe)
        sims[rows_arr] = block_sims
        ids[rows_arr] = np.where(block_ids >= 0, rows_arr[np.maximum(block_ids, 0)], -1)
    return sims, ids


def _small_nearest(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact `nearest` of a small set by one matrix product."""
    n = len(vectors)
    gram = vectors @ vectors.T
    np.fill_diagonal(gram, -np.inf)
    take = min(k, n - 1)
    top = np.argsort(-gram, axis=1, kind="stable")[:, :take]
    sims = np.full((n, k), -1.0, np.float32)
    ids = np.full((n, k), -1, np.int64)
    sims[:, :take] = np.take_along_axis(gram, top, axis=1)
    ids[:, :take] = top
    return sims, ids
