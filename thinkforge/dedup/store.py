"""What dedup keeps between runs, per domain: vectors by text key (sentence vectors, and the static vectors of the
candidates mode), the ids it kept, and its decision on every row (under the fingerprint of the settings they were
made with).

A vector set is a sequence of parts, each a `.npy` matrix (read memory-mapped: a look-up of a few rows reads only
those) and a `.parquet` of its keys, written last, so that a part exists once its keys do. A run appends only the
vectors it computed as a new part, so adding 5 % to a million-row pool never rewrites the whole matrix; past
`MAX_PARTS` parts they are merged into one part marked `compacted`, which supersedes every earlier part (a merge cut
short leaves the earlier parts readable). Stores written by earlier versions (one `vectors.parquet` with a
fixed-size or a `List(Float32)` column) are read as their first part.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

MAX_PARTS = 16
COMPACTED = b"thinkforge.compacted"


class DedupStore:
    """THINKFORGE_HOME/index/dedup/<domain>/: the parts of `vectors` and `static`, kept.parquet and
    decisions-<fingerprint>.parquet (eval-set vectors: index/eval/); atomic writes."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _read(self, name: str) -> pl.DataFrame | None:
        path = self.folder / f"{name}.parquet"
        return pl.read_parquet(path) if path.exists() else None

    def _replace(self, name: str, write) -> None:
        """write(tmp path), then the file takes its name atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        write(tmp)
        os.replace(tmp, self.folder / f"{name}.parquet")

    def _write(self, name: str, df: pl.DataFrame) -> None:
        self._replace(name, df.write_parquet)

    def _parts(self, name: str) -> list[tuple[int, Path]]:
        """(sequence, keys file) of the parts to read, oldest first: from the newest compacted part on."""
        import pyarrow.parquet as pq

        found = [(0, self.folder / f"{name}.parquet")] if (self.folder / f"{name}.parquet").exists() else []
        for path in self.folder.glob(f"{name}-*.parquet"):
            seq = path.stem[len(name) + 1 :]
            if seq.isdigit():
                found.append((int(seq), path))
        found.sort()
        for at in range(len(found) - 1, 0, -1):
            if COMPACTED in (pq.read_schema(found[at][1]).metadata or {}):
                return found[at:]
        return found

    def matrix(self, name: str = "vectors") -> tuple[list[str], np.ndarray | None]:
        """Keys and their vectors as one matrix (row i is keys[i]), in the dtype they were stored in, read-only (a
        single part is memory-mapped); ([], None) when nothing is stored."""
        import pyarrow.parquet as pq

        keys: list[str] = []
        blocks = []
        for seq, path in self._parts(name):
            table = pq.read_table(path)
            if table.num_rows == 0:
                continue
            keys += table["key"].to_pylist()
            if seq == 0:  # an earlier version's single file: the vectors are its second column
                column = table["vector"].combine_chunks()
                width = column.type.list_size if hasattr(column.type, "list_size") else len(column[0])
                blocks.append(column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width))
            else:
                blocks.append(np.load(path.with_suffix(".npy"), mmap_mode="r"))
        if not blocks:
            return [], None
        return keys, blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def add_vectors(self, keys: list[str], matrix: np.ndarray, name: str = "vectors") -> None:
        """Appends vectors as a new part (float32 or float16 as given); merges the parts past MAX_PARTS."""
        if not keys:
            return
        parts = self._parts(name)
        merge = len(parts) >= MAX_PARTS
        if merge:
            old_keys, old = self.matrix(name)
            keys, matrix = old_keys + list(keys), np.concatenate([old.astype(matrix.dtype, copy=False), matrix])
        self._write_part(f"{name}-{(parts[-1][0] if parts else 0) + 1:06d}", keys, matrix, merge)
        if merge:
            for _, path in parts:
                path.unlink(missing_ok=True)
                path.with_suffix(".npy").unlink(missing_ok=True)

    def _write_part(self, part: str, keys: list[str], matrix: np.ndarray, compacted: bool) -> None:
        """The matrix as .npy, then its keys (the part exists from then on), each written atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{part}.{os.getpid()}.npy.tmp"
        with tmp.open("wb") as f:
            np.save(f, np.ascontiguousarray(matrix))
        os.replace(tmp, self.folder / f"{part}.npy")
        table = pa.table({"key": pa.array(keys, pa.string())})
        if compacted:
            table = table.replace_schema_metadata({COMPACTED: b"1"})
        self._replace(part, lambda path: pq.write_table(table, path))

    def kept_ids(self) -> set[str]:
        df = self._read("kept")
        return set(df["id"].to_list()) if df is not None else set()

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
