"""raw_problems + deduped_problems at growing pool sizes: wall time per stage, peak memory, and dedup quality.

    .venv/bin/python -m benchmarks.scale [--sizes 10000,100000,1000000] [--embed candidates] [--backend auto]

Each size runs in its own process (so peak RSS is that size's own), on a generated templated math pool with ~9%
planted duplicates (benchmarks/dedup.py's generator: exact and paraphrased copies, and thousands of template
siblings that must not be merged), written as a JSONL source and read through the real reader. Up to 100,000 rows
the same pool is also deduplicated with `embed: all` (every row through the sentence embedder): the baseline of
the speed ratio and of the decisions. Then 5 % new rows are appended and both stages re-run (the incremental
cost): raw_problems parses only the appended lines (its parse cache), dedup decides only the new rows against the
store's decisions (static and sentence vectors of rows seen before come from the store); up to 100,000 rows the
grown pool is also deduplicated from scratch, and the rows it decides otherwise (other representatives of the
same duplicates count) and the rows grouped otherwise are counted.
Last, both stages re-run on the unchanged pool: the fixed cost of any re-run (reading, aligning and writing every
row), which the issue calls start-up; `+5%/full` is the whole +5 % run over the full run, `past rerun` its cost
beyond an unchanged re-run.
Everything runs in a temporary THINKFORGE_HOME. Prints the progress lines with resident memory, one JSON line per
size, then a table with seconds per 1,000 rows (linear growth keeps it flat) and the time of `thinkforge lineage`
on a deduped row once its id indexes exist.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dedup import make_set, score, traps

BASELINE_UP_TO = 100_000  # sizes at which `embed: all` runs beside for comparison


def decisions(out) -> set[tuple[str, str, str | None]]:
    """(raw id, kept | reason, raw id of the row it was merged into) for every input row."""
    kept = dict(zip(out.kept["id"], [p[0] for p in out.kept["parent_ids"]]))
    merged = {(r["parent_ids"][0], r["reason"], kept.get(r["duplicate_of"])) for r in out.rejects.to_dicts()}
    return merged | {(parent, "kept", None) for parent in kept.values()}


def clusters(out) -> dict[str, frozenset[str]]:
    """Each input row's cluster: the raw ids of its kept row and of every duplicate merged into it."""
    kept = dict(zip(out.kept["id"], [p[0] for p in out.kept["parent_ids"]]))
    rep = {raw: raw for raw in kept.values()}
    for parent, of in zip(out.rejects["parent_ids"].list.first(), out.rejects["duplicate_of"]):
        rep[parent] = kept.get(of, parent)  # contaminated: a cluster of its own
    members: dict[str, set[str]] = {}
    for row, r in rep.items():
        members.setdefault(r, set()).add(row)
    return {row: frozenset(members[r]) for row, r in rep.items()}


def quality(out, raw_ids: list[str], raw_groups: list[int]) -> dict:
    """Precision / recall of the merged pairs (duplicate, the row it joined) against the planted groups, template
    siblings merged, and cluster recall: planted pairs that ended in one cluster (whichever row represents it)."""
    group = dict(zip(raw_ids, raw_groups))
    kept_raw = dict(zip(out.kept["id"], [p[0] for p in out.kept["parent_ids"]]))
    rep = {raw: raw for raw in kept_raw.values()}
    pairs = set()
    for parent, of in zip(out.rejects["parent_ids"].list.first(), out.rejects["duplicate_of"]):
        if of in kept_raw:
            pairs.add(frozenset((parent, kept_raw[of])))
            rep[parent] = kept_raw[of]
    ids_of: dict[int, list[str]] = {}
    for rid, g in group.items():
        ids_of.setdefault(g, []).append(rid)
    truth = {frozenset((a, b)) for ids in ids_of.values() for a in ids for b in ids if a < b}
    precision, recall = score(pairs, truth)
    together = sum(1 for a, b in map(tuple, truth) if rep.get(a, a) == rep.get(b, b))
    return {
        "planted_pairs": len(truth),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "cluster_recall": round(together / len(truth), 4) if truth else 1.0,
        "traps_merged": traps(pairs, group),
    }


def rss_gb() -> float:
    """Resident memory now (for the progress lines: where a peak comes from)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**30


def peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def run_one(n: int, backend: str, mode: str) -> dict:
    """Generate n rows, collect them from a JSONL source, dedup them with a fresh store (times, peak RSS, quality);
    then append 5 % new rows and re-run both stages against the store the first run left."""
    from thinkforge import lineage, warehouse
    from thinkforge.collect.adapters import FORMATS
    from thinkforge.collect.config import load_sources
    from thinkforge.collect.pool import collect
    from thinkforge.dedup import DedupSettings, DedupStore, dedup
    from thinkforge.embedding import embed, static_embed

    static_embed(["warm-up"])  # the one-time distillation of the static table is not the pool's cost
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["THINKFORGE_HOME"] = str(tmp / "home")  # the parse cache starts empty
        rows, _ = make_set(n, n * 9 // 100, seed=n)
        group_of = {r["problem"]: r["group"] for r in rows if r["test_cases"] is None}  # the math pool: no tests
        with (tmp / "pool.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                if r["test_cases"] is None:
                    f.write(json.dumps({"question": r["problem"]}) + "\n")
        del rows
        (tmp / "sources.yaml").write_text(
            "sources:\n  - {name: gen, format: orca_math, path: pool.jsonl, domain: math}\n", encoding="utf-8"
        )
        specs = load_sources(tmp / "sources.yaml", set(FORMATS))
        root = tmp / "warehouse"
        lines: list[str] = []

        def run_dedup(pool, mode=mode, store="store"):
            started = time.monotonic()
            out = dedup(
                pool,
                lambda texts, log=None: embed(texts, backend=backend, log=log),
                DedupStore(tmp / store),
                DedupSettings(embed=mode),
                log=lambda line: lines.append(f"{time.monotonic() - started:7.1f} s  {rss_gb():5.2f} GB  {line}"),
                prefilter=static_embed,
            )
            lines.append(f"{time.monotonic() - started:7.1f} s  {rss_gb():5.2f} GB  dedup returned")
            warehouse.write_partition(root, "deduped_problems", "math", out, "bench")
            lines.append(f"{time.monotonic() - started:7.1f} s  {rss_gb():5.2f} GB  written")
            return out, time.monotonic() - started

        started = time.monotonic()
        collected = collect(specs, "math")
        warehouse.write_partition(root, "raw_problems", "math", collected, "bench")
        raw = collected.kept
        del collected
        collect_s = time.monotonic() - started
        out, dedup_s = run_dedup(raw)
        result = {
            "rows": raw.height,
            "collect_s": round(collect_s, 1),
            "dedup_s": round(dedup_s, 1),
            "texts_per_s": round(raw.height / (collect_s + dedup_s), 1),
            "peak_rss_gb": peak_gb(),  # of generating the pool + both stages (the +5 % run comes after)
            **quality(out, raw["id"].to_list(), [group_of[p] for p in raw["problem"]]),
            "exact_duplicates": out.report.exact_duplicates,
            "near_duplicates": out.report.near_duplicates,
            "mode": out.report.mode,
            "rows_embedded": out.report.embedded,
        }
        lineage_s = []
        for _ in range(2):  # the first look-up builds the id indexes, the second uses them
            started = time.monotonic()
            chain = lineage.trace(root, out.kept["id"][out.kept.height // 2])
            lineage_s.append(round(time.monotonic() - started, 2))
        assert len(chain) == 2, chain
        kept_before = set(out.kept["id"])
        if raw.height <= BASELINE_UP_TO:  # every row embedded (embed: all), same pool, fresh store: the reference
            every, every_s = run_dedup(raw, mode="all", store="store-all")
            result.update(
                {
                    "all_dedup_s": round(every_s, 1),
                    "speedup_vs_all": round(every_s / dedup_s, 2),
                    "rows_decided_otherwise_than_all": len(decisions(every) ^ decisions(out))
                    // 2,  # one tuple per row
                }
            )
            del every
        del out, raw
        gc.collect()

        # +5 %: new rows appended to the source, both stages re-run against the store the full run left
        extra, _ = make_set(n // 20, n // 20 * 9 // 100, seed=n + 1)
        with (tmp / "pool.jsonl").open("a", encoding="utf-8") as f:
            for r in extra:
                if r["test_cases"] is None:
                    f.write(json.dumps({"question": r["problem"]}) + "\n")
        started = time.monotonic()
        grown = collect(specs, "math")
        warehouse.write_partition(root, "raw_problems", "math", grown, "bench")
        incremental_out, _ = run_dedup(grown.kept)
        incremental_s = time.monotonic() - started
        if grown.kept.height <= BASELINE_UP_TO * 1.05:  # the grown pool from scratch: what the re-run stands for
            scratch, _ = run_dedup(grown.kept, store="store-scratch")
            result["incremental_decided_otherwise_than_scratch"] = (
                len(decisions(scratch) ^ decisions(incremental_out)) // 2
            )
            # the same duplicates grouped together, whichever row represents them
            ours, theirs = clusters(incremental_out), clusters(scratch)
            result["incremental_rows_clustered_otherwise_than_scratch"] = sum(ours[r] != theirs[r] for r in ours)
        # an unchanged re-run: what every re-run costs before its first new row (the "start-up")
        started = time.monotonic()
        again = collect(specs, "math")
        warehouse.write_partition(root, "raw_problems", "math", again, "bench")
        unchanged_out, _ = run_dedup(again.kept)
        unchanged_s = time.monotonic() - started
        assert unchanged_out.report.embedded == 0 and unchanged_out.report.static_computed == 0
        for line in lines:
            print(line, file=sys.stderr)
    return {
        **result,
        "incremental_rows": grown.kept.height - result["rows"],
        "incremental_s": round(incremental_s, 1),
        "incremental_ratio": round(incremental_s / (collect_s + dedup_s), 3),
        "incremental_embedded": incremental_out.report.embedded,
        "incremental_static_computed": incremental_out.report.static_computed,
        "unchanged_rerun_s": round(unchanged_s, 1),
        "incremental_ratio_past_rerun": round((incremental_s - unchanged_s) / (collect_s + dedup_s), 3),
        "incremental_decided": incremental_out.rows_in - incremental_out.report.decisions_reused,
        "incremental_kept_same": kept_before <= set(incremental_out.kept["id"]),
        "progress_lines": len(lines),
        "lineage_first_s": lineage_s[0],
        "lineage_s": lineage_s[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated pool sizes")
    parser.add_argument("--backend", default="auto", help="embedder backend: auto | onnx-int8 | torch")
    parser.add_argument("--embed", default="auto", help="dedup embed mode: auto | all | candidates")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.backend, args.embed)), flush=True)
        return
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, "-m", "benchmarks.scale", "--one", str(n), "--backend", args.backend]
        cmd += ["--embed", args.embed]
        line = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(line))
        print(line, flush=True)
    print(
        f"\n{'rows':>9} {'collect s':>10} {'dedup s':>9} {'s/1k rows':>10} {'peak GB':>8} {'P':>6} {'R':>6} {'R clu':>6} "
        f"{'traps':>6} {'lineage s':>10} {'embedded':>9} {'+5% s':>7} {'+5%/full':>9} {'rerun s':>8} {'past rerun':>11}"
    )
    for r in results:
        per_k = (r["collect_s"] + r["dedup_s"]) / r["rows"] * 1000
        print(
            f"{r['rows']:>9} {r['collect_s']:>10} {r['dedup_s']:>9} {per_k:>10.2f} {r['peak_rss_gb']:>8} "
            f"{r['precision']:>6} {r['recall']:>6} {r['cluster_recall']:>6} {r['traps_merged']:>6} {r['lineage_s']:>10} "
            f"{r['rows_embedded']:>9} {r['incremental_s']:>7} {r['incremental_ratio']:>9} {r['unchanged_rerun_s']:>8} "
            f"{r['incremental_ratio_past_rerun']:>11}"
        )


if __name__ == "__main__":
    main()
