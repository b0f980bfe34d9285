"""What dedup keeps between runs, per domain: embeddings by text key, and the ids it kept."""

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
        df = self._read("vectors")
        if df is None:
            return {}
        matrix = np.asarray(df["vector"].to_list(), dtype=np.float32)
        return dict(zip(df["key"].to_list(), matrix))

    def kept_ids(self) -> set[str]:
        df = self._read("kept")
        return set(df["id"].to_list()) if df is not None else set()

    def save_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        keys = sorted(vectors)
        self._write(
            "vectors",
            pl.DataFrame(
                {"key": keys, "vector": [vectors[k].tolist() for k in keys]},
                schema={"key": pl.String, "vector": pl.List(pl.Float32)},
            ),
        )

    def save(self, vectors: dict[str, np.ndarray], kept_ids: list[str]) -> None:
        self.save_vectors(vectors)
        self._write("kept", pl.DataFrame({"id": sorted(kept_ids)}, schema={"id": pl.String}))
