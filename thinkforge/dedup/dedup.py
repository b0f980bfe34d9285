"""deduped_problems: decontamination, exact and template-aware semantic dedup, incremental across runs.

Rows are visited best-first (rows kept by earlier runs first, then info type, existing solution
length, preferred source); a row is kept unless it is contaminated, repeats a kept row's
normalized text, or is within `threshold` cosine of a kept row *and* has the same constants
(and tests) — problems of one template with other numbers are different problems.

Which rows get a sentence vector: all of them (`embed: all`), or at scale only those a static-vector prefilter
pairs with another row of equal constants or with an eval item (`embed: candidates`); the sentence vectors decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from pydantic import Field

from thinkforge.dedup.normalize import constants, exact_key, ngrams, tests_signature
from thinkforge.dedup.semantic import blocked_nearest, build_index, nearest
from thinkforge.dedup.store import DedupStore
from thinkforge.dedup.vectors import Embed, Vectors, extended, sentence_vectors, static_pass, text_key
from thinkforge.ids import row_id
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageSettings, frame

STAGE = "deduped_problems"
INFO_RANK = {"test_cases": 2, "reference_answer": 2, "ground_truth": 1, "none": 0}
REJECTS_SCHEMA = {**REJECT_SCHEMA, "problem": pl.String, "duplicate_of": pl.String, "similarity": pl.Float64}

EMBED_ALL_BELOW = 50_000  # `embed: auto` gives every row a sentence vector below this many rows


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
    embed: str = Field(
        "auto",
        description="rows given a sentence vector: all | candidates (only rows that static vectors pair with another "
        "row of equal constants or with an eval item: the sentence vectors still decide) | auto (all below 50,000 rows)",
    )
    prefilter_threshold: float = Field(
        0.75, description="static-vector cosine at or above which a pair is a candidate (embed: candidates)"
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
    guard_blocked: int | None = 0  # neighbour pairs above the threshold kept apart by the guard (None: not searched)
    mode: str = "all"  # which rows got a sentence vector: all | candidates
    prefilter_candidates: int | None = None  # rows the static prefilter sent to the sentence embedder
    clusters: int = 0  # kept rows that absorbed at least one duplicate
    embedded: int = 0
    embeddings_reused: int = 0
    max_similarity: list[float] = field(default_factory=list)  # per visited row, to its nearest other row
    pairs_merged: list[tuple[str, str, float]] = field(default_factory=list)
    pairs_kept_apart: list[tuple[str, str, float, str]] = field(default_factory=list)


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

    def check(self, problems: list[str], vectors: np.ndarray, rows: np.ndarray) -> list[str | None]:
        """The n-gram test on every problem, the embedding test on `rows` (their vectors in that order)."""
        hits: list[str | None] = [None] * len(problems)
        for i, text in enumerate(problems):
            gram = next((g for g in ngrams(text, self.n) if g in self.grams), None)
            if gram:
                hits[i] = f"{self.n}-gram overlap with {self.grams[gram]}: {' '.join(gram)!r}"
        if self.index is not None and len(rows):
            sims, ids = self.index.search(vectors, 1)
            for i, sim, j in zip(rows.tolist(), sims[:, 0], ids[:, 0]):
                if hits[i] is None and j >= 0 and sim >= self.threshold:
                    hits[i] = f"embedding cosine {sim:.3f} with {self.names[j]}"
        return hits


def visit_order(rows: pl.DataFrame, previously_kept: set[str], preference: list[str]) -> list[int]:
    """Row positions best first: rows kept by earlier runs, richer info type, longer existing solution, preferred
    source, then id."""
    rank = {source: k for k, source in enumerate(preference)}
    longest = pl.col("responses").list.eval(pl.element().struct.field("text").str.len_chars()).list.max()
    return (
        rows.select(
            pl.int_range(pl.len()).alias("position"),
            ~pl.col("id").is_in(list(previously_kept)),
            -pl.col("info_type").replace_strict(INFO_RANK, default=0, return_dtype=pl.Int64).fill_null(0),
            -longest.fill_null(0).cast(pl.Int64),
            pl.col("source").replace_strict(rank, default=len(preference), return_dtype=pl.Int64),
            pl.col("id").alias("tie"),
        )
        .sort(pl.all().exclude("position"), maintain_order=True)["position"]
        .to_list()
    )


def embed_mode(settings: DedupSettings, n: int, prefilter: Embed | None) -> str:
    if settings.embed not in ("auto", "all", "candidates"):
        raise ValueError(f"embed {settings.embed!r}: use auto, all or candidates")
    if settings.embed == "candidates" and prefilter is None:
        raise ValueError("embed: candidates needs a static prefilter embedder")
    if settings.embed == "auto":
        return "candidates" if n >= EMBED_ALL_BELOW and prefilter is not None else "all"
    return settings.embed


def dedup(
    rows: pl.DataFrame,
    embed: Embed,
    store: DedupStore,
    settings: DedupSettings,
    eval_items: dict[str, str] | None = None,
    eval_store: DedupStore | None = None,
    log: Callable[[str], None] = lambda _: None,
    prefilter: Embed | None = None,
) -> StageOutput:
    """`embed` gives the sentence vectors that decide; `prefilter` (static vectors) picks which rows need one when
    the mode is `candidates`."""
    report = DedupReport()
    n = rows.height
    ids, problems, test_cases = rows["id"].to_list(), rows["problem"].to_list(), rows["test_cases"].to_list()
    order = visit_order(rows, store.kept_ids(), settings.source_preference)
    keys = [exact_key(p, t) for p, t in zip(problems, test_cases)]
    block_of: dict[frozenset, int] = {}  # equal constants -> one small int (a million Counters would be GBs)
    block = np.array([block_of.setdefault(frozenset(constants(p).items()), len(block_of)) for p in problems], np.int64)
    del block_of
    tests = [tests_signature(t) for t in test_cases]
    report.mode = embed_mode(settings, n, prefilter)
    k = settings.max_neighbors

    def same_instance(i: int, j: int) -> bool:
        """Template guard: same numbers/constants, and the same tests when both have tests."""
        return block[i] == block[j] and (tests[i] is None or tests[j] is None or tests[i] == tests[j])

    def neighbours(vectors: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) nearest of `rows` (their vectors given) among themselves; with the template guard only among rows
        of equal constants (blocking)."""
        if settings.template_guard:
            sub_sims, sub_ids = blocked_nearest(vectors, block[rows].tolist(), k, settings.index, settings.nprobe)
        else:
            sub_sims, sub_ids = nearest(vectors.astype(np.float32), k, settings.index, settings.nprobe, log=log)
        sims, ids_ = np.full((n, k), -1.0, np.float32), np.full((n, k), -1, np.int64)
        sims[rows], ids_[rows] = sub_sims, np.where(sub_ids >= 0, rows[np.maximum(sub_ids, 0)], -1)
        return sims, ids_

    contamination = None
    if eval_items and n:
        eval_keys = [text_key(t) for t in eval_items.values()]
        stored_keys, matrix, new = extended(eval_store, dict(zip(eval_keys, eval_items.values())), embed, log)
        if new and eval_store:
            eval_store.save_matrix(stored_keys, matrix)
        eval_vectors = Vectors(stored_keys, matrix, eval_keys).of(np.arange(len(eval_keys)))
        contamination = Contamination(eval_items, eval_vectors, settings.ngram, settings.contamination_threshold)

    if report.mode == "all":
        needed_rows = np.arange(n)
    else:  # static vectors propose candidate pairs (and eval look-alikes); only their rows get sentence vectors
        # with the guard a row alone with its constants has no candidate: it needs no static vector kept either
        searched = np.flatnonzero(np.bincount(block)[block] >= 2) if settings.template_guard else np.arange(n)
        eval_texts = list(eval_items.values()) if contamination is not None else []
        static, eval_best = static_pass(prefilter, problems, searched, eval_texts, log)
        pre_sims, pre_ids = neighbours(static, searched)
        del static
        pre_ids[pre_sims < settings.prefilter_threshold] = -1
        has_candidates = (pre_ids >= 0).any(axis=1)
        needed = has_candidates | (eval_best >= settings.prefilter_threshold)
        needed[pre_ids[pre_ids >= 0]] = True
        needed_rows = np.flatnonzero(needed)
        report.prefilter_candidates = len(needed_rows)
        log(f"prefilter: {len(needed_rows)} of {n} rows need a sentence vector")

    vectors = sentence_vectors(store, embed, keys, problems, needed_rows, report, log)

    contaminated: list[str | None] = [None] * n
    if contamination is not None:
        contaminated = contamination.check(problems, vectors.of(needed_rows), needed_rows)

    log(f"neighbour search over {len(needed_rows)} rows ({k} per row)")
    if report.mode == "all":
        row_vectors = vectors.of(needed_rows)
        cand_sims, cand_ids = neighbours(row_vectors, needed_rows)
        near_sims, near_ids = nearest(row_vectors, k, settings.index, settings.nprobe, log=log)
        _neighbour_report(report, problems, near_sims, near_ids, settings, same_instance)
    else:
        cand_sims, cand_ids = vectors.cosines(np.flatnonzero(has_candidates), pre_ids)
        del pre_sims, pre_ids
        _candidate_report(report, problems, cand_sims, cand_ids, settings)

    rejects: list[tuple[int, str, str, int | None, float | None]] = []  # (row, reason, detail, merged into, cosine)
    kept_set: set[int] = set()
    first_of_key: dict[str, int] = {}
    merged_into: dict[int, int] = {}  # rejected duplicate -> the kept row it joined

    def reject(i: int, reason: str, detail: str, of: int | None = None, sim: float | None = None) -> None:
        rejects.append((i, reason, detail, of, sim))
        if of is not None:
            merged_into[i] = of

    for i in order:
        if contaminated[i]:
            report.contaminated += 1
            reject(i, "contaminated", contaminated[i])
            continue
        if keys[i] in first_of_key:
            report.exact_duplicates += 1
            first = first_of_key[keys[i]]
            reject(i, "exact_duplicate", f"same normalized text as {ids[first]}", first, 1.0)
            continue
        first_of_key[keys[i]] = i
        match = None
        for j, sim in zip(cand_ids[i].tolist(), cand_sims[i].tolist()):
            if j < 0 or sim < settings.threshold:
                break
            if j not in kept_set and j in merged_into:  # a neighbour already merged: its cluster's kept row
                j = merged_into[j]
                sim = float(vectors.of(i) @ vectors.of(j))
            if j in kept_set and sim >= settings.threshold and (not settings.template_guard or same_instance(i, j)):
                match = (j, sim)
                break
        if match:
            report.near_duplicates += 1
            if len(report.pairs_merged) < 10:
                report.pairs_merged.append((problems[i], problems[match[0]], match[1]))
            reject(
                i, "near_duplicate", f"cosine {match[1]:.3f} with {ids[match[0]]}, same constants", match[0], match[1]
            )
            continue
        kept_set.add(i)

    kept = sorted(kept_set)
    log(
        f"decided: {len(kept)} kept, {report.exact_duplicates} exact and {report.near_duplicates} near duplicates, "
        f"{report.contaminated} contaminated"
    )
    absorbed = Counter(merged_into.values())  # duplicates each row took in
    new_id = {i: row_id(STAGE, [ids[i]], {"problem": problems[i]}) for i in kept}
    kept_frame = (
        rows[kept]
        .with_columns(pl.concat_list("id").alias("parent_ids"))  # (a Series of 1-item Python lists is slow and big)
        .with_columns(
            pl.Series("id", [new_id[i] for i in kept], pl.String),
            pl.Series("cluster_size", [1 + absorbed.get(i, 0) for i in kept], pl.Int64),
        )
    )
    report.clusters = sum(1 for i in kept if absorbed.get(i))
    log(f"saving {len(vectors.keys)} sentence vectors and {len(kept)} kept ids")
    store.save_matrix(vectors.keys, vectors.matrix)
    store.save_kept([ids[i] for i in kept])
    return StageOutput(kept=kept_frame, rejects=_rejects_frame(rows, rejects, ids, new_id), rows_in=n, report=report)


def _rejects_frame(rows: pl.DataFrame, rejects: list[tuple], ids: list[str], new_id: dict[int, str]) -> pl.DataFrame:
    """Rejected rows, built column by column (no dict per row)."""
    if not rejects:
        return frame([], REJECTS_SCHEMA)
    at = [r[0] for r in rejects]
    picked = rows[at].select(pl.concat_list("id").alias("parent_ids"), "domain", "source", "problem")
    columns = {
        "id": [row_id(f"{STAGE}_rejects", [ids[i]], [reason, detail]) for i, reason, detail, _, _ in rejects],
        "parent_ids": picked["parent_ids"],
        "domain": picked["domain"],
        "source": picked["source"],
        "reason": [r[1] for r in rejects],
        "detail": [r[2] for r in rejects],
        "problem": picked["problem"],
        "duplicate_of": [new_id.get(r[3]) if r[3] is not None else None for r in rejects],
        "similarity": [r[4] for r in rejects],
    }
    return pl.DataFrame(columns, schema=REJECTS_SCHEMA)


def _candidate_report(report: DedupReport, problems: list[str], sims, ids, settings: DedupSettings) -> None:
    """Candidates mode: each candidate row's best sentence-vector cosine and the near misses among candidates (rows
    the prefilter paired with nobody are not in the histogram; pairs kept apart by the guard are not counted)."""
    report.guard_blocked = None
    low = settings.threshold - settings.near_miss_margin
    for i in np.flatnonzero(ids[:, 0] >= 0).tolist():
        best, j = float(sims[i, 0]), int(ids[i, 0])
        report.max_similarity.append(best)
        if low <= best < settings.threshold and len(report.pairs_kept_apart) < 5:
            report.pairs_kept_apart.append((problems[i], problems[j], best, "below threshold"))


def _neighbour_report(report: DedupReport, problems: list[str], sims, ids, settings, same_instance) -> None:
    """Nearest-neighbour cosines (histogram), near misses below the threshold, and pairs above it that the template
    guard keeps apart (counted once per pair, among each row's nearest rows)."""
    if not len(problems):
        return
    report.max_similarity = [float(x) if j >= 0 else 0.0 for x, j in zip(sims[:, 0], ids[:, 0])]
    low = settings.threshold - settings.near_miss_margin
    for i, (j, d) in enumerate(zip(ids[:, 0].tolist(), report.max_similarity)):
        if j >= 0 and low <= d < settings.threshold and len(report.pairs_kept_apart) < 5:
            report.pairs_kept_apart.append((problems[i], problems[j], d, "below threshold"))
    if not settings.template_guard:
        return
    above = np.argwhere((sims >= settings.threshold) & (ids >= 0))
    pairs = {(min(i, int(ids[i, c])), max(i, int(ids[i, c]))) for i, c in above.tolist()}
    for i, j in sorted(pairs):
        if not same_instance(i, j):
            report.guard_blocked += 1
            if len(report.pairs_kept_apart) < 10:
                sim = float(sims[i][ids[i] == j][0]) if (ids[i] == j).any() else float(sims[j][ids[j] == i][0])
                report.pairs_kept_apart.append((problems[i], problems[j], sim, "different constants or tests"))
