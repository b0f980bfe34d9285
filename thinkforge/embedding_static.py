"""Static token embeddings distilled from the sentence embedder: the cheap first pass of dedup at scale.

Each vocabulary token is run once through the sentence embedder on its own ([CLS] token [SEP], mean-pooled): the
table (vocab × dim) is cached beside the ONNX model. A text's static vector is the mean of its tokens' rows minus
the table's mean row (the component every text shares), L2-normalized: one sparse matrix product per chunk of
texts, tens of thousands of texts per second on a CPU. It only proposes candidate pairs; the sentence embedder
decides. benchmarks/scale.py measures how many of the sentence embedder's duplicate pairs the prefilter keeps.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

TABLE_NAME = "static_table.npy"


def distill(embedder, batch: int = 1024) -> np.ndarray:
    """(vocab, dim) float32: the embedder's mean-pooled output for every token alone between [CLS] and [SEP]."""
    tokenizer = embedder.tokenizer
    vocab = tokenizer.get_vocab_size()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls is None or sep is None:
        raise NotImplementedError("static distillation needs a BERT-style tokenizer with [CLS] and [SEP]")
    table = np.zeros((vocab, embedder.dim), np.float32)
    for lo in range(0, vocab, batch):
        ids = np.arange(lo, min(lo + batch, vocab), dtype=np.int64)
        inputs = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        hidden = embedder.session.run(None, {"input_ids": inputs, "attention_mask": np.ones_like(inputs)})[0]
        table[ids] = hidden.mean(axis=1)
    return table


def static_table(onnx_file: Path, embedder) -> np.ndarray:
    """The distilled table of the ONNX model at onnx_file, computed once and stored beside it (atomic)."""
    path = onnx_file.parent / TABLE_NAME
    if not path.exists():
        fd, tmp = tempfile.mkstemp(prefix=".static-", suffix=".npy", dir=onnx_file.parent)
        os.close(fd)
        try:
            np.save(tmp, distill(embedder))
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return np.load(path)


class StaticEmbedder:
    """Mean of distilled token vectors, centred and L2-normalized; same tokenizer as the sentence embedder."""

    def __init__(self, table: np.ndarray, tokenizer):
        self.table = table - table.mean(axis=0)  # centring: sum(w) * mean is then removed from every text
        self.tokenizer = tokenizer
        self.dim = table.shape[1]

    def embed(self, texts: list[str]) -> np.ndarray:
        """One pass over `texts` (the caller chunks a large pool: dedup's static pass takes 50,000 at a time)."""
        import scipy.sparse as sp

        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        ids = np.concatenate([np.asarray(e.ids, np.int64) for e in encodings] + [np.zeros(0, np.int64)])
        weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32)
        counts = sp.csr_matrix(
            (weights, ids, np.concatenate([[0], np.cumsum(lengths)])), shape=(len(texts), len(self.table))
        )
        out = np.asarray(counts @ self.table, dtype=np.float32)
        return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
