"""What dedup keeps between runs, per domain: embeddings by text key, the ids it kept, and its decision on every row
(under the fingerprint of the settings they were made with).

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
    """THINKFORGE_HOME/index/dedup/<domain>/{vectors,kept,decisions-<fingerprint>}.parquet (eval-set vectors:
    index/eval/); atomic writes."""

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

    def matrix(self) -> tuple[list[str], np.ndarray | None]:
        """Keys and their vectors as one float32 matrix (row i is keys[i]); ([], None) when nothing is stored."""
        df = self._read("vectors")
        if df is None or df.height == 0:
            return [], None
        column = df["vector"]
        if column.dtype == pl.List(pl.Float32):  # written by an earlier version
            column = column.cast(pl.Array(pl.Float32, len(column[0])))
        return df["key"].to_list(), column.to_numpy().astype(np.float32, copy=False)

    def kept_ids(self) -> set[str]:
        df = self._read("kept")
        return set(df["id"].to_list()) if df is not None else set()

    def save_matrix(self, keys: list[str], matrix: np.ndarray) -> None:
        """Writes the vectors without a per-row copy: the matrix's buffer becomes the fixed-size-list column."""
        import pyarrow as pa

        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1] if keys else 1)
        self._write("vectors", pl.from_arrow(pa.table({"key": pa.array(keys, pa.string()), "vector": vectors})))

    def save_kept(self, kept_ids: list[str]) -> None:
        self._write("kept", pl.DataFrame({"id": sorted(kept_ids)}, schema={"id": pl.String}))

    def decisions(self, fingerprint: str) -> pl.DataFrame | None:
        """The last run's per-row decisions if they were made under this fingerprint."""
        return self._read(f"decisions-{fingerprint}")

    def save_decisions(self, fingerprint: str, table: pl.DataFrame) -> None:
        """Replaces the decisions (those of any other fingerprint are dropped: they no longer describe the pool)."""
        self._write(f"decisions-{fingerprint}", table)
        for old in self.folder.glob("decisions-*.parquet"):
            if old.name != f"decisions-{fingerprint}.parquet":
                old.unlink(missing_ok=True)
