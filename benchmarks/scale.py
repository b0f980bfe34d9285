"""raw_problems + deduped_problems at growing pool sizes: wall time per stage, peak memory, and dedup quality.

    .venv/bin/python -m benchmarks.scale [--sizes 10000,100000] [--backend auto]

Each size runs in its own process (so peak RSS is that size's own), on a generated templated math pool with ~9%
planted duplicates (benchmarks/dedup.py's generator: exact and paraphrased copies, and thousands of template
siblings that must not be merged), written as a JSONL source and read through the real reader. Prints one JSON
line per size, then a table with seconds per 1,000 rows (linear growth keeps it flat) and the time of
`thinkforge lineage` on a deduped row once its id indexes exist.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dedup import make_set, score, traps


def run_one(n: int, backend: str) -> dict:
    """Generate n rows, collect them from a JSONL source, dedup them with a fresh store; times and peak RSS."""
    from thinkforge import lineage, warehouse
    from thinkforge.collect.adapters import FORMATS
    from thinkforge.collect.config import load_sources
    from thinkforge.collect.pool import collect
    from thinkforge.dedup import DedupSettings, DedupStore, dedup
    from thinkforge.embedding import embed

    rows, _ = make_set(n, n * 9 // 100, seed=n)
    rows = [r for r in rows if r["test_cases"] is None]  # the math pool (a JSONL math source carries no tests)
    n = len(rows)
    group = {r["problem"]: r["group"] for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with (tmp / "pool.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"question": r["problem"]}) + "\n")
        (tmp / "sources.yaml").write_text(
            "sources:\n  - {name: gen, format: orca_math, path: pool.jsonl, domain: math}\n", encoding="utf-8"
        )
        specs = load_sources(tmp / "sources.yaml", set(FORMATS))
        root = tmp / "warehouse"
        started = time.monotonic()
        collected = collect(specs, "math")
        warehouse.write_partition(root, "raw_problems", "math", collected, "bench")
        raw = collected.kept
        collect_s = time.monotonic() - started

        lines: list[str] = []
        started = time.monotonic()
        out = dedup(
            raw,
            lambda texts, log=None: embed(texts, backend=backend, log=log),
            DedupStore(tmp / "store"),
            DedupSettings(),
            log=lines.append,
        )
        warehouse.write_partition(root, "deduped_problems", "math", out, "bench")
        dedup_s = time.monotonic() - started
        lineage_s = []
        for _ in range(2):  # the first look-up builds the id indexes, the second uses them
            started = time.monotonic()
            chain = lineage.trace(root, out.kept["id"][out.kept.height // 2])
            lineage_s.append(round(time.monotonic() - started, 2))
        assert len(chain) == 2, chain
    problem = dict(zip(raw["id"], raw["problem"]))
    kept_raw = dict(zip(out.kept["id"], [p[0] for p in out.kept["parent_ids"]]))
    pairs = {
        frozenset((rej["parent_ids"][0], kept_raw[rej["duplicate_of"]]))
        for rej in out.rejects.to_dicts()
        if rej["duplicate_of"] in kept_raw
    }
    ids_of: dict[str, list[str]] = {}
    for rid, text in problem.items():
        ids_of.setdefault(group[text], []).append(rid)
    truth_ids = {frozenset((a, b)) for ids in ids_of.values() for a in ids for b in ids if a < b}
    precision, recall = score(pairs, truth_ids)
    return {
        "rows": n,
        "planted_pairs": len(truth_ids),
        "collect_s": round(collect_s, 1),
        "dedup_s": round(dedup_s, 1),
        "texts_per_s": round(n / dedup_s, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "traps_merged": traps(pairs, {rid: group[text] for rid, text in problem.items()}),
        "exact_duplicates": out.report.exact_duplicates,
        "near_duplicates": out.report.near_duplicates,
        "guard_blocked": out.report.guard_blocked,
        "progress_lines": len(lines),
        "lineage_first_s": lineage_s[0],
        "lineage_s": lineage_s[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated pool sizes")
    parser.add_argument("--backend", default="auto", help="embedder backend: auto | onnx-int8 | torch")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.backend)), flush=True)
        return
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, "-m", "benchmarks.scale", "--one", str(n), "--backend", args.backend]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(line))
        print(line, flush=True)
    print(
        f"\n{'rows':>9} {'collect s':>10} {'dedup s':>9} {'s/1k rows':>10} {'peak GB':>8} {'P':>6} {'R':>6} "
        f"{'traps':>6} {'lineage s':>10}"
    )
    for r in results:
        per_k = (r["collect_s"] + r["dedup_s"]) / r["rows"] * 1000
        print(
            f"{r['rows']:>9} {r['collect_s']:>10} {r['dedup_s']:>9} {per_k:>10.2f} {r['peak_rss_gb']:>8} "
            f"{r['precision']:>6} {r['recall']:>6} {r['traps_merged']:>6} {r['lineage_s']:>10}"
        )


if __name__ == "__main__":
    main()
