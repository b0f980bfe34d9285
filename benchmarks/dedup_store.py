"""Saving and loading dedup's embedding store: a part of the vector store (an .npy matrix read memory-mapped, and a
Parquet file of its keys) against a List column of Python floats.

    .venv/bin/python benchmarks/dedup_store.py [--n 100000] [--dim 384]

The baseline is the previous storage (a `List(Float32)` column built from `ndarray.tolist()` and read back with
`to_list()`), measured in the same run on the same vectors.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import polars as pl

from thinkforge.dedup import DedupStore


def list_column_round_trip(vectors: dict[str, np.ndarray], folder: str) -> tuple[float, float]:
    started = time.monotonic()
    keys = sorted(vectors)
    df = pl.DataFrame(
        {"key": keys, "vector": [vectors[k].tolist() for k in keys]},
        schema={"key": pl.String, "vector": pl.List(pl.Float32)},
    )
    df.write_parquet(f"{folder}/baseline.parquet")
    saved = time.monotonic() - started
    started = time.monotonic()
    df = pl.read_parquet(f"{folder}/baseline.parquet")
    dict(zip(df["key"].to_list(), np.asarray(df["vector"].to_list(), dtype=np.float32)))
    return saved, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = {f"key-{i}": v for i, v in enumerate(rng.random((args.n, args.dim), dtype=np.float32))}
    with tempfile.TemporaryDirectory() as folder:
        base_save, base_load = list_column_round_trip(vectors, folder)
        store = DedupStore(folder)
        started = time.monotonic()
        store.add_vectors(list(vectors), np.stack(list(vectors.values())))
        save = time.monotonic() - started
        started = time.monotonic()
        keys, loaded = store.matrix()
        load = time.monotonic() - started
        assert keys[7] == "key-7" and np.array_equal(loaded[7], vectors["key-7"])
    print(
        f"{args.n} x {args.dim} vectors: store save {save:.2f}s + load {load:.2f}s; list-column baseline save "
        f"{base_save:.2f}s + load {base_load:.2f}s ({(base_save + base_load) / (save + load):.1f}x faster)"
    )
    print(
        json.dumps(
            {
                "n": args.n,
                "save_s": round(save, 3),
                "load_s": round(load, 3),
                "baseline_save_s": round(base_save, 3),
                "baseline_load_s": round(base_load, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
