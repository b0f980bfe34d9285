"""Embedder speed and agreement: today's PyTorch sentence-transformers embedder against ONNX Runtime fp32 and int8.

    .venv/bin/python -m benchmarks.embedder [--n 4000] [--threads 2] [--batch-size 64]

Generates seeded, templated math problems of about 200 characters (about 45 tokens) and embeds them with today's
embedder (sentence-transformers on the CPU: the baseline, as thinkforge.embedding's torch backend) and with
thinkforge.embedding_onnx: fp32; int8 per channel as onnx_model makes it (FFN down-projections of layers 0-2 kept
fp32); int8 per channel everywhere. Models are exported into a temporary folder; export time is printed apart and
not counted. texts/s covers the whole call (tokenization, inference, pooling) after one warm-up batch. Agreement:
cosine to the PyTorch row, and near-duplicate decisions changed: pairs at cosine >= --threshold among each row's
--k nearest neighbours (FAISS IndexFlatIP), PyTorch's set against each variant's (symmetric difference).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.dedup import ITEMS
from thinkforge import embedding_onnx

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam", "Mei"]
SETUPS = [
    "{n} has {a} {i} in a box and buys {b} more {i} at the market on Saturday morning with some friends.",
    "A train leaves the station at {a} km per hour and travels for {b} hours before it stops at a small town.",
    "A rectangular garden is {a} meters long and {b} meters wide, and a path 1 meter wide runs all around it.",
    "{n} saves {a} dollars every week and spends {b} dollars each month on {i} for a school art project.",
    "A factory makes {a} {i} per hour on each of its {b} machines, and it runs for 8 hours every single day.",
    "In a class of {a} students, {b} percent play football and the rest of the students play chess after school.",
]
QUESTIONS = [
    "How many {i} does {n} have after giving {c} of them away to a friend?",
    "What is the total distance, in kilometers, if the same trip is repeated {c} times?",
    "What is the area of the path in square meters, and what fraction of {c} is that area?",
    "After {c} days, how much is left in total, assuming that the prices never change?",
    "If {c} more are added, what is the new total, and what is its remainder when divided by 7?",
]


def make_texts(n: int, seed: int = 0) -> list[str]:
    """n seeded, templated math problems of about 200 characters."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        fill = {
            "n": rng.choice(NAMES),
            "i": rng.choice(ITEMS),
            "a": rng.randint(2, 999),
            "b": rng.randint(2, 99),
            "c": rng.randint(100, 2000),
        }
        texts.append(f"{rng.choice(SETUPS).format(**fill)} {rng.choice(QUESTIONS).format(**fill)}")
    return texts


def pytorch_embedder(folder: Path, threads: int):
    """Today's embedder: sentence-transformers on the CPU with `threads` torch threads, batches of 128."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return lambda texts: model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)


def timed(fn, texts: list[str]) -> tuple[np.ndarray, float, float]:
    """(embeddings, texts/s, CPU seconds per wall second) of fn(texts), after a warm-up call on the first 64 texts."""
    fn(texts[:64])
    start, cpu = time.perf_counter(), time.process_time()
    vectors = fn(texts)
    wall = time.perf_counter() - start
    return vectors, len(texts) / wall, (time.process_time() - cpu) / wall


def close_pairs(vectors: np.ndarray, k: int, threshold: float) -> set[tuple[int, int]]:
    """Pairs (i < j) at cosine >= threshold among every row's k nearest other rows (FAISS IndexFlatIP)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    sims, ids = index.search(vectors, min(k + 1, len(vectors)))
    return {
        (min(i, int(j)), max(i, int(j)))
        for i in range(len(vectors))
        for s, j in zip(sims[i], ids[i])
        if j >= 0 and j != i and s >= threshold
    }


def flipped(pairs: set[tuple[int, int]], base: np.ndarray, other: np.ndarray, threshold: float) -> int:
    """How many pairs are near duplicates (cosine >= threshold) under one embedding and not under the other."""
    if not pairs:
        return 0
    i, j = np.array(sorted(pairs)).T
    return int((((base[i] * base[j]).sum(1) >= threshold) != ((other[i] * other[j]).sum(1) >= threshold)).sum())


def main() -> None:
    """Runs the three embedders on the same texts and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts = make_texts(args.n, args.seed)
    print(f"{len(texts)} texts, {np.mean([len(t) for t in texts]):.0f} characters on average, {args.threads} threads")
    folder = embedding_onnx.default_model_path()
    results = {"pytorch (sentence-transformers)": timed(pytorch_embedder(folder, args.threads), texts)}

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        fp32 = embedding_onnx.export_fp32(folder, Path(tmp) / "model.onnx")
        exported = time.perf_counter()
        int8 = embedding_onnx.quantize_int8(fp32, Path(tmp) / embedding_onnx.INT8_NAME)
        print(f"export fp32 {exported - start:.1f} s, quantize int8 {time.perf_counter() - exported:.1f} s")
        all_int8 = embedding_onnx.quantize_int8(fp32, Path(tmp) / "all_int8.onnx", keep_fp32=None)
        variants = {"onnx fp32": fp32, "onnx int8 per-channel (default)": int8, "onnx int8 per-channel, all": all_int8}
        for name, path in variants.items():
            embedder = embedding_onnx.OnnxEmbedder(path, folder, threads=args.threads, batch_size=args.batch_size)
            results[name] = timed(embedder.embed, texts)

    base_vectors, base_rate, _ = results["pytorch (sentence-transformers)"]
    base_pairs = close_pairs(base_vectors, args.k, args.threshold)
    header = ("embedder", "texts/s", "vs torch", "cpu/wall", "cos mean", "cos min", "pairs", "changed", "flipped")
    print("\n{:<33} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7} {:>7}".format(*header))
    for name, (vectors, rate, load) in results.items():
        cos = (vectors * base_vectors).sum(axis=1)
        pairs = close_pairs(vectors, args.k, args.threshold)
        changed, flips = len(pairs ^ base_pairs), flipped(pairs | base_pairs, base_vectors, vectors, args.threshold)
        print(
            f"{name:<33} {rate:>7.0f} {rate / base_rate:>7.2f}x {load:>8.2f} {cos.mean():>8.4f} {cos.min():>8.4f} "
            f"{len(pairs):>6} {changed:>7} {flips:>7}"
        )
    print(
        f"\npairs: cosine >= {args.threshold} among each row's {args.k} nearest; changed: symmetric difference with "
        f"pytorch's pairs;\nflipped: pairs of either set whose exact cosine is on the other side of {args.threshold} "
        f"than with pytorch;\ncpu/wall: CPU seconds per wall second of the timed call ({args.threads} = no contention)"
    )


if __name__ == "__main__":
    main()
