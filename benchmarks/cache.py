"""Request-cache throughput: the SQLite cache (one file, WAL; the local default) against the PostgreSQL cache (the
Celery and Kubernetes profiles), measured in the same run on the same entries.

    .venv/bin/python -m benchmarks.cache [--entries 50000] [--batch 1000] [--text-chars 1500]

Fills each cache with `entries` completions (`put_many` in batches of `batch`, as the runtime flushes), then looks
every key up again in `get_many` calls of `batch` keys (a re-run whose samples are all cached): keys/s for both, best
of `repeats`, and PostgreSQL's share of SQLite's lookup rate. The PostgreSQL server is a throwaway one on 127.0.0.1
(scripts/postgres.py): the figure has no network round trip in it (one per `batch` keys on a real deployment).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from pathlib import Path

from thinkforge.generation import Completion, PostgresRequestCache, RequestCache


def entries(n: int, chars: int) -> list[tuple[str, Completion]]:
    rng = random.Random(0)
    words = ["the", "answer", "is", "therefore", "<think>", "</think>", "step", "sum", "of", "7", "42", "x"]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(chars // 5))[:chars]
        out.append(
            (hashlib.sha256(f"request {i}".encode()).hexdigest(), Completion(text, 120, len(text) // 4, "stop"))
        )
    return out


def measure(cache, items: list[tuple[str, Completion]], batch: int, repeats: int) -> dict:
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        cache.put_many("bench@1", items[start : start + batch])
    put_s = time.perf_counter() - started
    keys = [k for k, _ in items]
    random.Random(1).shuffle(keys)
    best = float("inf")
    for _ in range(repeats):
        started, found = time.perf_counter(), 0
        for start in range(0, len(keys), batch):
            found += len(cache.get_many(keys[start : start + batch]))
        best = min(best, time.perf_counter() - started)
        assert found == len(keys), f"{found} of {len(keys)} keys found"
    return {"put_keys_per_s": round(len(items) / put_s), "get_keys_per_s": round(len(keys) / best)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=50_000, help="completions in the cache")
    parser.add_argument("--batch", type=int, default=1000, help="keys per get_many / put_many call")
    parser.add_argument("--text-chars", type=int, default=1500, help="characters per completion")
    parser.add_argument("--repeats", type=int, default=3, help="lookup passes (the best counts)")
    args = parser.parse_args()
    items = entries(args.entries, args.text_chars)

    from scripts.postgres import temporary_postgres

    with tempfile.TemporaryDirectory() as folder:
        sqlite = RequestCache(Path(folder) / "requests.sqlite")
        lite = measure(sqlite, items, args.batch, args.repeats)
        sqlite.close()
    with temporary_postgres("cachebench") as url:
        pg = PostgresRequestCache(url)
        post = measure(pg, items, args.batch, args.repeats)
        pg.close()
    ratio = post["get_keys_per_s"] / lite["get_keys_per_s"]
    print(
        f"{args.entries} cached entries of {args.text_chars} chars, batches of {args.batch}: cached lookups "
        f"SQLite {lite['get_keys_per_s']:,} keys/s, PostgreSQL {post['get_keys_per_s']:,} keys/s "
        f"(PostgreSQL/SQLite {ratio:.2f}); inserts SQLite {lite['put_keys_per_s']:,} keys/s, "
        f"PostgreSQL {post['put_keys_per_s']:,} keys/s"
    )
    print(json.dumps({"entries": args.entries, "batch": args.batch, "sqlite": lite, "postgres": post, "ratio": ratio}))


if __name__ == "__main__":
    main()
