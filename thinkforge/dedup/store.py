"""What dedup keeps between runs, per domain: embeddings by text key, and the ids it kept.

Vectors are one fixed-size `Array(Float32, dim)` column, written from and read into one numpy matrix: no Python
float is built per component (at 100,000 × 384 that path took seconds and gigabytes). Stores written by earlier
versions (a `List(Float32)` column) are read as well.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl


class DedupStore:
    """THINKFORGE_HOME/index/dedup/<domain>/{vectors,kept}.parquet (eval-set vectors: index/eval/); atomic writes."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _read(self, name: str) -> pl.DataFrame | None:
        path = self.folder / f"{name}.parquet"
        return pl.read_parquet(path) if path.exists() else None

    def _write(self, name: str, df: pl.DataFrame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        df.write_parquet(tmp)
        os.replace(tmp, self.folder / f"{name}.parquet")

    def vectors(self) -> dict[str, np.ndarray]:
        """Key → vector (rows of one matrix)."""
        df = self._read("vectors")
        if df is None or df.height == 0:
            return {}
        column = df["vector"]
        if column.dtype == pl.List(pl.Float32):  # written by an earlier version
            column = column.cast(pl.Array(pl.Float32, len(column[0])))
        matrix = column.to_numpy().astype(np.float32, copy=False)
        return dict(zip(df["key"].to_list(), matrix))

    def kept_ids(self) -> set[str]:
        df = self._read("kept")
        return set(df["id"].to_list()) if df is not None else set()

    def save_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        keys = sorted(vectors)
        matrix = np.stack([vectors[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, 1), np.float32)
        df = pl.DataFrame({"key": pl.Series(keys, dtype=pl.String), "vector": pl.Series(matrix)})
        self._write("vectors", df)

    def save(self, vectors: dict[str, np.ndarray], kept_ids: list[str]) -> None:
        self.save_vectors(vectors)
        self._write("kept", pl.DataFrame({"id": sorted(kept_ids)}, schema={"id": pl.String}))
