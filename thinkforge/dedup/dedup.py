"""deduped_problems: decontamination, exact and template-aware semantic dedup, incremental across runs.

Rows are visited best-first (rows kept by earlier runs first, then info type, existing solution
length, preferred source); a row is kept unless it is contaminated, repeats a kept row's
normalized text, or is within `threshold` cosine of a kept row *and* has the same constants
(and tests) — problems of one template with other numbers are different problems.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from pydantic import Field

from thinkforge.dedup.normalize import constants, exact_key, ngrams, tests_signature
from thinkforge.dedup.semantic import blocked_nearest, build_index, nearest
from thinkforge.dedup.store import DedupStore
from thinkforge.ids import row_id
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageSettings, frame

STAGE = "deduped_problems"
INFO_RANK = {"test_cases": 2, "reference_answer": 2, "ground_truth": 1, "none": 0}
REJECTS_SCHEMA = {**REJECT_SCHEMA, "problem": pl.String, "duplicate_of": pl.String, "similarity": pl.Float64}

Embed = Callable[..., np.ndarray]  # embed(texts, log=...) -> L2-normalized float32 rows


class DedupSettings(StageSettings):
    """Decontamination, exact dedup and template-aware embedding dedup."""

    threshold: float = Field(
        0.9, description="cosine at or above which a pair is a near duplicate (the AM team used > 0.9)"
    )
    index: str = Field(
        "auto", description="FAISS index: auto (flat below 50,000 rows, else IVF) | flat (exact) | ivf (approximate)"
    )
    nprobe: int = Field(8, description="IVF lists searched per query (ivf only)")
    max_neighbors: int = Field(
        16, description="candidates per row: its nearest rows (with the template guard: of equal constants) searched"
    )
    template_guard: bool = Field(
        True, description="same template with other numbers/constants/tests is not a duplicate"
    )
    source_preference: list[str] = Field(
        default_factory=list, description="source names, earlier wins ties between duplicates"
    )
    near_miss_margin: float = Field(
        0.1, description="pairs this far below the threshold are shown in metadata as kept apart"
    )
    ngram: int = Field(8, description="word n-gram length of the decontamination overlap test (as open-r1)")
    contamination_threshold: float = Field(
        0.95, description="cosine to an eval item at or above which a problem is contaminated"
    )


@dataclass
class DedupReport:
    exact_duplicates: int = 0
    near_duplicates: int = 0
    contaminated: int = 0
    guard_blocked: int = 0  # neighbour pairs above the threshold kept apart by the template guard
    clusters: int = 0  # kept rows that absorbed at least one duplicate
    embedded: int = 0
    embeddings_reused: int = 0
    max_similarity: list[float] = field(default_factory=list)  # per visited row, to its nearest other row
    pairs_merged: list[tuple[str, str, float]] = field(default_factory=list)
    pairs_kept_apart: list[tuple[str, str, float, str]] = field(default_factory=list)


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def embed_cached(texts: dict[str, str], cache: dict[str, np.ndarray], embed: Embed, log=lambda _: None) -> int:
    """Embed the texts ({key: text}) missing from the cache, in one batch; return how many were embedded."""
    missing = sorted(k for k in texts if k not in cache)
    if missing:
        log(f"embedding {len(missing)} new texts ({len(texts) - len(missing)} reused)")
        for key, vector in zip(missing, embed([texts[k] for k in missing], log=log)):
            cache[key] = vector
    return len(missing)


class Contamination:
    """Flags problems sharing a word n-gram with, or embedding-close to, an evaluation item."""

    def __init__(self, eval_items: dict[str, str], vectors: np.ndarray, n: int, threshold: float):
        self.n, self.threshold = n, threshold
        self.names = list(eval_items)
        self.grams: dict[tuple[str, ...], str] = {}
        for name, text in eval_items.items():
            for gram in ngrams(text, n):
                self.grams.setdefault(gram, name)
        self.index = build_index(vectors, "flat") if eval_items else None

    def check(self, problems: list[str], vectors: np.ndarray) -> list[str | None]:
        hits: list[str | None] = [None] * len(problems)
        for i, text in enumerate(problems):
            gram = next((g for g in ngrams(text, self.n) if g in self.grams), None)
            if gram:
                hits[i] = f"{self.n}-gram overlap with {self.grams[gram]}: {' '.join(gram)!r}"
        if self.index is not None and len(problems):
            sims, ids = self.index.search(vectors, 1)
            for i, (sim, j) in enumerate(zip(sims[:, 0], ids[:, 0])):
                if hits[i] is None and j >= 0 and sim >= self.threshold:
                    hits[i] = f"embedding cosine {sim:.3f} with {self.names[j]}"
        return hits


def _score(row: dict, preference: list[str]) -> tuple:
    longest = max((len(r["text"] or "") for r in row["responses"] or []), default=0)
    rank = preference.index(row["source"]) if row["source"] in preference else len(preference)
    return (-INFO_RANK.get(row["info_type"], 0), -longest, rank, row["id"])


def dedup(
    rows: pl.DataFrame,
    embed: Embed,
    store: DedupStore,
    settings: DedupSettings,
    eval_items: dict[str, str] | None = None,
    eval_store: DedupStore | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[StageOutput, DedupReport]:
    report = DedupReport()
    records = rows.to_dicts()
    previously_kept = store.kept_ids()
    order = sorted(
        range(len(records)),
        key=lambda i: (records[i]["id"] not in previously_kept, _score(records[i], settings.source_preference)),
    )
    keys = [exact_key(r["problem"], r["test_cases"]) for r in records]
    consts = [constants(r["problem"]) for r in records]
    tests = [tests_signature(r["test_cases"]) for r in records]

    def same_instance(i: int, j: int) -> bool:
        """Template guard: same numbers/constants, and the same tests when both have tests."""
        return consts[i] == consts[j] and (tests[i] is None or tests[j] is None or tests[i] == tests[j])

    cached = store.vectors()
    report.embedded = embed_cached({k: records[i]["problem"] for i, k in enumerate(keys)}, cached, embed, log)
    report.embeddings_reused = len(set(keys)) - report.embedded
    vectors = np.stack([cached[k] for k in keys]) if records else np.zeros((0, 384), np.float32)

    rejects: list[dict] = []
    contaminated: list[str | None] = [None] * len(records)
    if eval_items and records:
        eval_cache = eval_store.vectors() if eval_store else {}
        if embed_cached({text_key(t): t for t in eval_items.values()}, eval_cache, embed, log) and eval_store:
            eval_store.save_vectors(eval_cache)
        eval_vectors = np.stack([eval_cache[text_key(t)] for t in eval_items.values()])
        contaminated = Contamination(eval_items, eval_vectors, settings.ngram, settings.contamination_threshold).check(
            [r["problem"] for r in records], vectors
        )

    k = settings.max_neighbors
    log(f"neighbour search over {len(records)} rows ({k} per row)")
    near_sims, near_ids = nearest(vectors, k, settings.index, settings.nprobe, log=log)
    if settings.template_guard:  # a near duplicate shares the constants: search only within equal constants
        blocks = [frozenset(c.items()) for c in consts]
        cand_sims, cand_ids = blocked_nearest(vectors, blocks, k, settings.index, settings.nprobe)
    else:
        cand_sims, cand_ids = near_sims, near_ids
    _neighbour_report(report, records, near_sims, near_ids, settings, same_instance)
    kept: list[int] = []
    kept_set: set[int] = set()
    first_of_key: dict[str, int] = {}
    merged_into: dict[int, int] = {}  # rejected duplicate -> the kept row it joined

    def reject(i: int, reason: str, detail: str, of: int | None = None, sim: float | None = None) -> None:
        r = records[i]
        rejects.append(
            {
                "parent_ids": [r["id"]],
                "domain": r["domain"],
                "source": r["source"],
                "reason": reason,
                "detail": detail,
                "problem": r["problem"],
                "duplicate_of": of,
                "similarity": sim,
            }
        )
        if of is not None:
            merged_into[i] = of

    for i in order:
        r = records[i]
        if contaminated[i]:
            report.contaminated += 1
            reject(i, "contaminated", contaminated[i])
            continue
        if keys[i] in first_of_key:
            report.exact_duplicates += 1
            reject(
                i,
                "exact_duplicate",
                f"same normalized text as {records[first_of_key[keys[i]]]['id']}",
                first_of_key[keys[i]],
                1.0,
            )
            continue
        first_of_key[keys[i]] = i
        match = None
        for j, sim in zip(cand_ids[i].tolist(), cand_sims[i].tolist()):
            if j < 0 or sim < settings.threshold:
                break
            if j not in kept_set and j in merged_into:  # a neighbour already merged: its cluster's kept row
                j = merged_into[j]
                sim = float(vectors[i] @ vectors[j])
            if j in kept_set and sim >= settings.threshold and (not settings.template_guard or same_instance(i, j)):
                match = (j, sim)
                break
        if match:
            report.near_duplicates += 1
            if len(report.pairs_merged) < 10:
                report.pairs_merged.append((r["problem"], records[match[0]]["problem"], match[1]))
            reject(
                i,
                "near_duplicate",
                f"cosine {match[1]:.3f} with {records[match[0]]['id']}, same constants",
                match[0],
                match[1],
            )
            continue
        kept.append(i)
        kept_set.add(i)

    absorbed = Counter(merged_into.values())  # duplicates each row took in
    new_id = {i: row_id(STAGE, [records[i]["id"]], {"problem": records[i]["problem"]}) for i in kept}
    out_rows = [
        {**records[i], "id": new_id[i], "parent_ids": [records[i]["id"]], "cluster_size": 1 + absorbed.get(i, 0)}
        for i in sorted(kept)
    ]
    for rej in rejects:
        of = rej["duplicate_of"]
        rej["duplicate_of"] = new_id.get(of) if of is not None else None
        rej["id"] = row_id(f"{STAGE}_rejects", rej["parent_ids"], [rej["reason"], rej["detail"]])
    report.clusters = sum(1 for i in kept if absorbed.get(i))
    store.save(cached, [records[i]["id"] for i in kept])
    schema = {**rows.schema, "cluster_size": pl.Int64}
    return StageOutput(
        kept=frame(out_rows, schema), rejects=frame(rejects, REJECTS_SCHEMA), rows_in=len(records), report=report
    )


def _neighbour_report(report: DedupReport, records, sims, ids, settings: DedupSettings, same_instance) -> None:
    """Nearest-neighbour cosines (histogram), near misses below the threshold, and pairs above it that the template
    guard keeps apart (counted once per pair, among each row's nearest rows)."""
    if not len(records):
        return
    report.max_similarity = [float(x) if j >= 0 else 0.0 for x, j in zip(sims[:, 0], ids[:, 0])]
    low = settings.threshold - settings.near_miss_margin
    for i, (j, d) in enumerate(zip(ids[:, 0].tolist(), report.max_similarity)):
        if j >= 0 and low <= d < settings.threshold and len(report.pairs_kept_apart) < 5:
            report.pairs_kept_apart.append((records[i]["problem"], records[j]["problem"], d, "below threshold"))
    if not settings.template_guard:
        return
    above = np.argwhere((sims >= settings.threshold) & (ids >= 0))
    pairs = {(min(i, int(ids[i, c])), max(i, int(ids[i, c]))) for i, c in above.tolist()}
    for i, j in sorted(pairs):
        if not same_instance(i, j):
            report.guard_blocked += 1
            if len(report.pairs_kept_apart) < 10:
                sim = float(sims[i][ids[i] == j][0]) if (ids[i] == j).any() else float(sims[j][ids[j] == i][0])
                report.pairs_kept_apart.append(
                    (records[i]["problem"], records[j]["problem"], sim, "different constants or tests")
                )
