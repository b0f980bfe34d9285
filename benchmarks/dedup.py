"""Dedup quality and speed on a generated set with planted duplicates and planted traps.

    .venv/bin/python benchmarks/dedup.py [--n 10000] [--dups 1000]

Base problems come from templates filled with random numbers (so many rows share a template:
those are the traps, different problems that embed close together), plus code statements
repeated with different tests. Planted duplicates are paraphrase-style edits of base rows:
whitespace, punctuation, wording and clause order. Compares thinkforge's dedup (embed + FAISS +
template guard) with a brute-force numpy baseline (same embeddings, no guard) and MinHash LSH.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from thinkforge.collect import POOL_SCHEMA
from thinkforge.dedup import DedupSettings, DedupStore, dedup
from thinkforge.embedding import embed as embed_texts
from thinkforge.stage import frame

NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Mei",
    "Noah",
]
ITEMS = ["apples", "pencils", "stickers", "marbles", "books", "cookies", "stamps", "coins", "shells", "cards"]
TEMPLATES = [
    "{n} has {a} {i}. {n} buys {b} more {i}. How many {i} does {n} have in total?",
    "{n} had {a} {i} and gave {b} of them to a friend. How many {i} are left?",
    "A box holds {a} {i}. How many {i} are in {b} boxes?",
    "{n} shares {a} {i} equally among {b} friends. How many {i} does each friend get?",
    "A train travels {a} km in {b} hours. What is its average speed in km per hour?",
    "A rectangle has length {a} cm and width {b} cm. What is its area?",
    "A rectangle has length {a} cm and width {b} cm. What is its perimeter?",
    "What is the remainder when {a} is divided by {b}?",
    "Find the greatest common divisor of {a} and {b}.",
    "Find the least common multiple of {a} and {b}.",
    "Solve for x: {a}x + {b} = {c}.",
    "What is {a} percent of {b}?",
    "The sum of two numbers is {a} and their difference is {b}. What is the larger number?",
    "A shop sells {i} at {a} dollars each. How much do {b} {i} cost?",
    "{n} reads {a} pages a day. How many pages does {n} read in {b} days?",
    "A tank holds {a} liters and is filled at {b} liters per minute. How many minutes does it take to fill?",
    "What is the sum of the first {a} positive integers?",
    "How many positive divisors does {a} have?",
    "A triangle has sides {a}, {b} and {c}. What is its perimeter?",
    "Compute {a} squared minus {b} squared.",
    "A car uses {a} liters of fuel per 100 km. How much fuel does it need for {b} km?",
    "{n} saves {a} dollars every week. How many weeks until {n} has {b} dollars?",
    "The average of {a} numbers is {b}. What is their sum?",
    "A recipe needs {a} eggs for {b} cakes. How many eggs are needed for {c} cakes?",
    "What is the probability of drawing one of {a} red balls from a bag of {b} balls?",
]
CODE = [
    "Read an integer n and print the sum of the digits of n.",
    "Read a line of words and print them in reverse order.",
    "Read n integers and print the maximum.",
    "Read a string and print YES if it is a palindrome, otherwise NO.",
    "Read two integers a and b and print a to the power b modulo 1000000007.",
]
SYNONYMS = [
    ("How many", "What number of"),
    ("buys", "purchases"),
    ("in total", "altogether"),
    ("What is", "Determine"),
    ("Find", "Determine"),
    ("average", "mean"),
    ("each", "every"),
    ("equally", "evenly"),
]


def base_rows(n: int, rng: random.Random) -> list[dict]:
    rows, seen = [], set()
    n_code = n // 20
    while len(rows) < n - n_code:
        text = rng.choice(TEMPLATES).format(
            n=rng.choice(NAMES),
            i=rng.choice(ITEMS),
            a=rng.randint(2, 999),
            b=rng.randint(2, 99),
            c=rng.randint(100, 2000),
        )
        if text not in seen:
            seen.add(text)
            rows.append({"problem": text, "test_cases": None, "group": len(rows)})
    for k in range(n_code):  # same statement, different tests: different problems
        statement = CODE[k % len(CODE)]
        tests = json.dumps({"kind": "stdio", "cases": [{"input": f"{k}\n", "output": f"{k * 7 % 13}\n"}]})
        rows.append({"problem": statement, "test_cases": tests, "group": len(rows)})
    return rows


def paraphrase(text: str, rng: random.Random) -> str:
    edits = rng.sample(["space", "punct", "words", "reorder"], k=rng.randint(1, 3))
    if "words" in edits:
        for a, b in rng.sample(SYNONYMS, k=3):
            text = text.replace(a, b)
    if "reorder" in edits:
        parts = [p for p in re.split(r"(?<=\.) ", text) if p]
        if len(parts) > 1:
            text = parts[-1].rstrip("?") + ": " + " ".join(parts[:-1])
    if "punct" in edits:
        text = text.rstrip("?.") + rng.choice(["", " ?", "!", "."])
    if "space" in edits:
        text = "  ".join(text.split(" ")) if rng.random() < 0.5 else text.replace(". ", ".\n")
    return text


def make_set(n: int, dups: int, seed: int = 0) -> tuple[list[dict], set[frozenset]]:
    rng = random.Random(seed)
    rows = base_rows(n - dups, rng)
    math_rows = [r for r in rows if r["test_cases"] is None]
    for r in rng.sample(math_rows, dups):
        rows.append({"problem": paraphrase(r["problem"], rng), "test_cases": None, "group": r["group"]})
    rng.shuffle(rows)
    for i, r in enumerate(rows):
        r["id"] = f"r{i:06d}"
    groups: dict[int, list[str]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r["id"])
    truth = {frozenset((a, b)) for ids in groups.values() for a in ids for b in ids if a < b}
    return rows, truth


def score(pairs: set[frozenset], truth: set[frozenset]) -> tuple[float, float]:
    hit = len(pairs & truth)
    return (hit / len(pairs) if pairs else 1.0), (hit / len(truth) if truth else 1.0)


def traps(pairs: set[frozenset], group: dict[str, int]) -> int:
    return sum(1 for p in pairs if len({group[i] for i in p}) > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dups", type=int, default=1_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the embedder")
    args = parser.parse_args()
    embed = partial(embed_texts, threads=args.threads, batch_size=256)
    rows, truth = make_set(args.n, args.dups)
    group = {r["id"]: r["group"] for r in rows}
    texts = [r["problem"] for r in rows]
    embed(["warm-up"])
    pool = frame(
        [
            {
                "id": r["id"],
                "parent_ids": [],
                "domain": "math",
                "source": "bench",
                "source_file": "gen",
                "source_row": i,
                "problem": r["problem"],
                "info_type": "test_cases" if r["test_cases"] else "none",
                "reference_answer": None,
                "test_cases": r["test_cases"],
                "responses": [],
                "meta": "{}",
            }
            for i, r in enumerate(rows)
        ],
        POOL_SCHEMA,
    )
    print(f"{len(rows)} problems, {len(truth)} planted duplicate pairs", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        out = dedup(pool, embed, DedupStore(Path(tmp)), DedupSettings(threshold=args.threshold))
        ours_s = time.monotonic() - started
    parent = dict(zip(out.kept["id"], [p[0] for p in out.kept["parent_ids"]]))
    ours = {frozenset((rej["parent_ids"][0], parent[rej["duplicate_of"]])) for rej in out.rejects.to_dicts()}
    precision, recall = score(ours, truth)

    started = time.monotonic()  # brute-force numpy baseline: same embedder, all pairs, no guard
    vectors = embed(texts)
    sims_pairs = set()
    for start in range(0, len(vectors), 1024):
        block = vectors[start : start + 1024] @ vectors.T
        for a, b in zip(*np.nonzero(block >= args.threshold)):
            if start + a < b:
                sims_pairs.add(frozenset((rows[start + a]["id"], rows[b]["id"])))
    numpy_s = time.monotonic() - started
    numpy_p, numpy_r = score(sims_pairs, truth)

    from datasketch import MinHash, MinHashLSH

    started = time.monotonic()
    lsh, hashes = MinHashLSH(threshold=0.5, num_perm=128), {}
    for r in rows:
        words = r["problem"].lower().split()
        m = MinHash(num_perm=128)
        for shingle in {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}:
            m.update(shingle.encode())
        hashes[r["id"]] = m
        lsh.insert(r["id"], m)
    minhash_pairs = {frozenset((i, j)) for i, m in hashes.items() for j in lsh.query(m) if i < j}
    minhash_s = time.monotonic() - started
    minhash_p, minhash_r = score(minhash_pairs, truth)

    result = {
        "texts_per_s": round(len(rows) / ours_s, 1),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "traps_merged": traps(ours, group),
        "numpy_texts_per_s": round(len(rows) / numpy_s, 1),
        "numpy_precision": round(numpy_p, 4),
        "numpy_recall": round(numpy_r, 4),
        "numpy_traps_merged": traps(sims_pairs, group),
        "minhash_texts_per_s": round(len(rows) / minhash_s, 1),
        "minhash_precision": round(minhash_p, 4),
        "minhash_recall": round(minhash_r, 4),
        "guard_blocked": out.report.guard_blocked,
        "kept": out.kept.height,
    }
    print(
        f"thinkforge: {result['texts_per_s']} texts/s, precision {precision:.3f}, recall {recall:.3f}, traps merged {result['traps_merged']}"
    )
    print(
        f"numpy brute force (no guard): {result['numpy_texts_per_s']} texts/s, precision {numpy_p:.3f}, "
        f"recall {numpy_r:.3f}, traps merged {result['numpy_traps_merged']}"
    )
    print(
        f"MinHash LSH (3-word shingles, J≥0.5): {result['minhash_texts_per_s']} texts/s, precision {minhash_p:.3f}, recall {minhash_r:.3f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
