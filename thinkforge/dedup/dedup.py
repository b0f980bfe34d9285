"""deduped_problems: decontamination, exact and template-aware semantic dedup, incremental across runs.

Rows are visited best-first (rows kept by earlier runs first, then info type, existing solution
length, preferred source); a row is kept unless it is contaminated, repeats a kept row's
normalized text, or is within `threshold` cosine of a kept row *and* has the same constants
(and tests) — problems of one template with other numbers are different problems.

Which rows get a sentence vector: all of them (`embed: all`), or at scale only those a static-vector prefilter
pairs with another row of equal constants or with an eval item (`embed: candidates`); the sentence vectors decide.

A re-run decides only the rows it has not seen: earlier decisions stand (prior.py), and the search covers only the
blocks of equal constants that new rows fall into, so adding 5 % to a pool costs about 5 % of its first run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from pydantic import Field

from thinkforge.dedup.normalize import constants_key, exact_key, ngrams, ordered_ngrams, tests_signature
from thinkforge.dedup.prior import DECISIONS_SCHEMA, Prior, fingerprint, load_prior
from thinkforge.dedup.semantic import blocked_nearest, build_index, nearest
from thinkforge.dedup.store import DedupStore
from thinkforge.dedup.vectors import (
    Embed,
    Vectors,
    eval_similarity,
    extended,
    sentence_vectors,
    static_vectors,
    text_key,
)
from thinkforge.ids import row_id
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageReport, StageSettings, frame

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
class DedupReport(StageReport):
    exact_duplicates: int = 0
    near_duplicates: int = 0
    contaminated: int = 0
    guard_blocked: int | None = 0  # neighbour pairs above the threshold kept apart by the guard (None: not searched)
    mode: str = "all"  # which rows got a sentence vector: all | candidates
    prefilter_candidates: int | None = None  # rows the static prefilter sent to the sentence embedder
    clusters: int = 0  # kept rows that absorbed at least one duplicate
    embedded: int = 0
    embeddings_reused: int = 0
    static_computed: int = 0  # static vectors computed this run (the others came from the store)
    decisions_reused: int = 0  # rows decided by an earlier run whose decision stands
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

    def check(
        self, problems: list[str], rows: np.ndarray, embedded: np.ndarray, vectors: np.ndarray
    ) -> dict[int, str]:
        """{row: why} for the contaminated ones among `rows`: the n-gram test on each, the embedding test on those
        `embedded` (their vectors in that order)."""
        hits: dict[int, str] = {}
        for i in rows.tolist():
            gram = next((g for g in ordered_ngrams(problems[i], self.n) if g in self.grams), None)  # the first
            if gram:
                hits[i] = f"{self.n}-gram overlap with {self.grams[gram]}: {' '.join(gram)!r}"
        if self.index is not None and len(embedded):
            sims, ids = self.index.search(vectors, 1)
            for i, sim, j in zip(embedded.tolist(), sims[:, 0], ids[:, 0]):
                if i not in hits and j >= 0 and sim >= self.threshold:
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
    the mode is `candidates`. Rows decided by the last run keep their decision (see prior.py): only new rows are
    decided, against the rows of their blocks. Five phases: plan (which rows are open, their features, the eval
    items), prefilter (which rows need a sentence vector), search (contamination and neighbours), decide (visit the
    open rows best-first), write (frames and the store)."""
    plan = _plan(rows, embed, store, settings, eval_items, eval_store, log, prefilter)
    needed_rows, deciding, pre_ids = _prefilter(plan, store, prefilter, eval_items, log)
    vectors, contaminated, cand_sims, cand_ids = _search(plan, store, embed, needed_rows, deciding, pre_ids, log)
    del pre_ids
    new_kept, rejects = _decide(plan, store, vectors, contaminated, cand_sims, cand_ids, log)
    return _write(plan, store, new_kept, rejects, log)


@dataclass
class _Plan:
    """What one run decides (the open rows) and what it decides with."""

    rows: pl.DataFrame
    settings: DedupSettings
    report: DedupReport
    fp: str  # the fingerprint earlier decisions are stored under
    prior: Prior | None
    seen: np.ndarray  # rows decided by an earlier run
    open_rows: np.ndarray  # the rows this run decides
    keys: list  # exact key per row
    block_keys: np.ndarray  # constants key per row
    tests: list  # tests signature per row
    block: np.ndarray  # equal constants -> one small int
    searched: np.ndarray  # rows whose neighbours are searched
    contamination: Contamination | None

    ids: list[str]
    problems: list[str]

    @property
    def n(self) -> int:
        return self.rows.height

    def same_instance(self, i: int, j: int) -> bool:
        """Template guard: same numbers/constants, and the same tests when both have tests."""
        block, tests = self.block, self.tests
        return block[i] == block[j] and (tests[i] is None or tests[j] is None or tests[i] == tests[j])

    def neighbours(self, vectors: np.ndarray, rows: np.ndarray, log) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) nearest of `rows` (their vectors given) among themselves; with the template guard only among rows
        of equal constants (blocking)."""
        s, k = self.settings, self.settings.max_neighbors
        if s.template_guard:
            sub = blocked_nearest(vectors, self.block[rows].tolist(), k, s.index, s.nprobe)
        else:
            sub = nearest(vectors.astype(np.float32), k, s.index, s.nprobe, log=log)
        return _spread(self.n, k, rows, *sub)


def _plan(rows, embed, store, settings, eval_items, eval_store, log, prefilter) -> _Plan:
    """The mode, the earlier decisions that stand, the open rows' features, the eval items and the searched rows."""
    report = DedupReport()
    n = rows.height
    report.mode = embed_mode(settings, n, prefilter)
    eval_keys = [text_key(t) for t in (eval_items or {}).values()]
    fp = fingerprint(settings, report.mode, eval_keys)
    prior = load_prior(store, fp, rows["id"], log)
    seen = prior.seen if prior is not None else np.zeros(n, bool)
    open_rows = np.flatnonzero(~seen)
    report.decisions_reused = n - len(open_rows)
    ids, problems = rows["id"].to_list(), rows["problem"].to_list()
    keys, block_keys, tests = _features(problems, rows["test_cases"].to_list(), open_rows, prior)
    block = np.unique(block_keys, return_inverse=True)[1].reshape(-1)
    contamination = None
    if eval_items and len(open_rows):
        stored_keys, matrix, _ = extended(eval_store, dict(zip(eval_keys, eval_items.values())), embed, log)
        eval_vectors = Vectors(stored_keys, matrix, eval_keys).of(np.arange(len(eval_keys)))
        contamination = Contamination(eval_items, eval_vectors, settings.ngram, settings.contamination_threshold)
    searched = _searched(block, open_rows, settings.template_guard, prior is not None)
    return _Plan(
        rows=rows,
        settings=settings,
        report=report,
        fp=fp,
        prior=prior,
        seen=seen,
        open_rows=open_rows,
        keys=keys,
        block_keys=block_keys,
        tests=tests,
        block=block,
        searched=searched,
        contamination=contamination,
        ids=ids,
        problems=problems,
    )


def _prefilter(plan: _Plan, store: DedupStore, prefilter: Embed | None, eval_items, log):
    """The rows that need a sentence vector; in `candidates` mode also the open rows the static vectors paired with a
    row of their block (`deciding`) and those pairs (`pre_ids`, -1 below the prefilter threshold)."""
    settings, report, open_rows, searched = plan.settings, plan.report, plan.open_rows, plan.searched
    if report.mode == "all":
        return np.union1d(open_rows, searched), None, None
    # static vectors propose candidate pairs (and eval look-alikes); only their rows get sentence vectors
    pass_rows = np.union1d(searched, open_rows) if plan.contamination is not None else searched
    static, report.static_computed = static_vectors(store, prefilter, plan.keys, plan.problems, pass_rows, log)
    if plan.contamination is not None:  # open rows that look like an eval item get a sentence vector
        is_open = ~plan.seen[pass_rows]
        eval_best = eval_similarity(prefilter, list(eval_items.values()), static[is_open])
        eval_like = pass_rows[is_open][eval_best >= settings.prefilter_threshold]
        static = static[np.isin(pass_rows, searched)]
    pre_sims, pre_ids = plan.neighbours(static, searched, log)
    del static
    pre_ids[pre_sims < settings.prefilter_threshold] = -1
    del pre_sims
    deciding = np.zeros(plan.n, bool)  # open rows the prefilter paired with a row of their block
    deciding[open_rows] = (pre_ids[open_rows] >= 0).any(axis=1)
    needed = deciding.copy()
    partners = pre_ids[deciding]
    needed[partners[partners >= 0]] = True
    if plan.contamination is not None:
        needed[eval_like] = True
    needed_rows = np.flatnonzero(needed)
    report.prefilter_candidates = len(needed_rows)
    log(f"prefilter: {len(needed_rows)} of {plan.n} rows need a sentence vector")
    return needed_rows, deciding, pre_ids


def _search(plan: _Plan, store: DedupStore, embed: Embed, needed_rows, deciding, pre_ids, log):
    """Sentence vectors of the needed rows, the contaminated open rows ({row: why}), and each row's candidates
    ((n, k) cosines and rows, best first)."""
    settings, report, problems, n, k = plan.settings, plan.report, plan.problems, plan.n, plan.settings.max_neighbors
    vectors = sentence_vectors(store, embed, plan.keys, problems, needed_rows, report, log)
    contaminated: dict[int, str] = {}
    if plan.contamination is not None:
        embedded_open = np.intersect1d(needed_rows, plan.open_rows)
        contaminated = plan.contamination.check(problems, plan.open_rows, embedded_open, vectors.of(embedded_open))
    log(f"neighbour search over {len(needed_rows)} rows ({k} per row)")
    if report.mode == "all":
        row_vectors = vectors.of(needed_rows)
        cand_sims, cand_ids = plan.neighbours(row_vectors, needed_rows, log)
        near_sims, near_ids = _spread(
            n, k, needed_rows, *nearest(row_vectors, k, settings.index, settings.nprobe, log=log)
        )
        _neighbour_report(report, problems, near_sims, near_ids, needed_rows, settings, plan.same_instance)
    else:
        cand_sims, cand_ids = vectors.cosines(np.flatnonzero(deciding), pre_ids)
        _candidate_report(report, problems, cand_sims, cand_ids, settings)
    return vectors, contaminated, cand_sims, cand_ids


def _decide(plan: _Plan, store: DedupStore, vectors: Vectors, contaminated, cand_sims, cand_ids, log):
    """Visit the open rows best-first: a row is kept unless contaminated, an exact duplicate of a row met before, or
    within the threshold of a kept row of the same instance. Returns the newly kept rows and the rejects, (row,
    reason, detail, merged into, cosine)."""
    settings, report, prior, open_rows = plan.settings, plan.report, plan.prior, plan.open_rows
    ids, problems, keys = plan.ids, plan.problems, plan.keys
    kept_set: set[int] = set()
    first_of_key: dict[str, int] = {}
    merged_into: dict[int, int] = {}  # rejected duplicate -> the kept row it joined
    if prior is not None:
        _apply_prior(prior, keys, plan.searched, open_rows, kept_set, first_of_key, merged_into)
    rejects: list[tuple[int, str, str, int | None, float | None]] = []

    def reject(i: int, reason: str, detail: str, of: int | None = None, sim: float | None = None) -> None:
        rejects.append((i, reason, detail, of, sim))
        if of is not None:
            merged_into[i] = of

    kept_before = store.kept_ids() if prior is None else set()  # (open rows of a reused run were never kept)
    rows = plan.rows
    order = visit_order(rows if prior is None else rows[open_rows], kept_before, settings.source_preference)
    new_kept: list[int] = []
    for i in order if prior is None else open_rows[order].tolist():
        if i in contaminated:
            report.contaminated += 1
            reject(i, "contaminated", contaminated[i])
            continue
        if keys[i] in first_of_key:
            report.exact_duplicates += 1
            first = merged_into.get(first_of_key[keys[i]], first_of_key[keys[i]])  # a merged row: its kept row
            reject(i, "exact_duplicate", f"same normalized text as {ids[first_of_key[keys[i]]]}", first, 1.0)
            continue
        first_of_key[keys[i]] = i
        match = None
        for j, sim in zip(cand_ids[i].tolist(), cand_sims[i].tolist()):
            if j < 0 or sim < settings.threshold:
                break
            if j not in kept_set and j in merged_into:  # a neighbour already merged: its cluster's kept row
                j = merged_into[j]
                sim = float(vectors.of(i) @ vectors.of(j))
            if (
                j in kept_set
                and sim >= settings.threshold
                and (not settings.template_guard or plan.same_instance(i, j))
            ):
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
        new_kept.append(i)
    log(
        f"decided {len(open_rows)} rows: {len(new_kept)} kept, {report.exact_duplicates} exact and "
        f"{report.near_duplicates} near duplicates, {report.contaminated} contaminated"
    )
    return new_kept, rejects


def _write(plan: _Plan, store: DedupStore, new_kept: list[int], rejects: list[tuple], log) -> StageOutput:
    """Ids of the kept rows, this run's decisions added to the earlier ones, the kept and rejects frames, and the
    store's kept ids and decisions."""
    rows, prior, seen, report, ids, problems = plan.rows, plan.prior, plan.seen, plan.report, plan.ids, plan.problems
    new_id = {i: row_id(STAGE, [ids[i]], {"problem": problems[i]}) for i in new_kept}
    if prior is not None:  # duplicates of rows kept earlier point at those rows' ids
        earlier = sorted({r[3] for r in rejects if r[3] is not None and seen[r[3]]})
        new_id.update(zip(earlier, prior.table["out_id"].gather(earlier).to_list()))
    new_rejects = _rejects_frame(rows, rejects, ids, new_id)
    table = _decisions(ids, plan.keys, plan.block_keys, plan.tests, new_kept, new_id, rejects, new_rejects["id"])
    earlier_table = None
    if prior is not None:  # the partition is every row: earlier decisions and this run's
        earlier_table = prior.table.filter(pl.Series(seen))
        table = pl.concat([earlier_table, table])
        _count_prior(report, prior)
    kept_frame, rejects_frame = _frames(rows, table, earlier_table, new_rejects, report)
    log(f"saving {kept_frame.height} kept ids and {table.height} decisions")
    store.save_kept(kept_frame["parent_ids"].list.first().to_list())
    store.save_decisions(plan.fp, table)
    return StageOutput(kept=kept_frame, rejects=rejects_frame, rows_in=plan.n, report=report)


def _features(problems, test_cases, open_rows: np.ndarray, prior: Prior | None) -> tuple[list, np.ndarray, list]:
    """Exact key, constants key and tests signature per row: from the earlier decisions where a row was decided,
    computed for the open rows."""
    if prior is None:
        keys = [None] * len(problems)
        block_keys = np.zeros(len(problems), np.int64)
        tests = [None] * len(problems)
    else:
        keys, tests = prior.table["key"].to_list(), prior.table["tests"].to_list()
        block_keys = prior.table["block"].fill_null(0).to_numpy().astype(np.int64, copy=True)
    for i in open_rows.tolist():
        keys[i] = exact_key(problems[i], test_cases[i])
        block_keys[i] = constants_key(problems[i])
        tests[i] = tests_signature(test_cases[i])
    return keys, block_keys, tests


def _searched(block: np.ndarray, open_rows: np.ndarray, guard: bool, incremental: bool) -> np.ndarray:
    """Rows whose neighbours are searched: with the guard, rows sharing their block with another row (alone in a
    block, a row has no possible duplicate) and, when only new rows are decided, only blocks holding one of them."""
    if not guard:
        return np.arange(len(block))
    multi = np.bincount(block)[block] >= 2
    if incremental:
        touched = np.zeros(int(block.max()) + 1 if len(block) else 0, bool)
        touched[block[open_rows]] = True
        multi &= touched[block]
    return np.flatnonzero(multi)


def _spread(n: int, k: int, rows: np.ndarray, sub_sims: np.ndarray, sub_ids: np.ndarray):
    """A search over `rows` (local ids) as (n, k) arrays of global rows (-1 where a row was not searched)."""
    sims, ids = np.full((n, k), -1.0, np.float32), np.full((n, k), -1, np.int64)
    sims[rows], ids[rows] = sub_sims, np.where(sub_ids >= 0, rows[np.maximum(sub_ids, 0)], -1)
    return sims, ids


def _apply_prior(prior: Prior, keys, searched, open_rows, kept_set, first_of_key, merged_into) -> None:
    """Earlier decisions of the rows the open rows can meet: those of their blocks (candidates) and of their exact
    keys. Kept rows first, so that an exact key points at its kept row."""
    open_keys = {keys[i] for i in open_rows.tolist()}
    seen_rows = np.flatnonzero(prior.seen)
    relevant = np.zeros(len(keys), bool)
    relevant[searched] = True
    relevant[seen_rows[[keys[i] in open_keys for i in seen_rows.tolist()]]] = True
    relevant &= prior.seen
    status = prior.table["status"]
    is_kept = (status == "kept").fill_null(False).to_numpy()
    for i in np.flatnonzero(relevant & is_kept).tolist():
        kept_set.add(i)
        first_of_key.setdefault(keys[i], i)
    is_near = (status == "near_duplicate").fill_null(False).to_numpy()
    for i in np.flatnonzero(relevant & ~is_kept).tolist():
        if prior.of_row[i] >= 0:
            merged_into[i] = int(prior.of_row[i])
        if is_near[i]:
            first_of_key.setdefault(keys[i], i)


def _count_prior(report: DedupReport, prior: Prior) -> None:
    counts = prior.status_counts()
    report.exact_duplicates += counts.get("exact_duplicate", 0)
    report.near_duplicates += counts.get("near_duplicate", 0)
    report.contaminated += counts.get("contaminated", 0)


def _decisions(ids, keys, block_keys, tests, kept, new_id, rejects, reject_ids) -> pl.DataFrame:
    """This run's decisions, one row per decided row (DECISIONS_SCHEMA)."""
    at = kept + [r[0] for r in rejects]
    return pl.DataFrame(
        {
            "raw_id": [ids[i] for i in at],
            "key": [keys[i] for i in at],
            "block": block_keys[at] if at else np.zeros(0, np.int64),
            "tests": [tests[i] for i in at],
            "status": ["kept"] * len(kept) + [r[1] for r in rejects],
            "out_id": [new_id[i] for i in kept] + reject_ids.to_list(),
            "detail": [None] * len(kept) + [r[2] for r in rejects],
            "of_raw": [None] * len(kept) + [ids[r[3]] if r[3] is not None else None for r in rejects],
            "similarity": [None] * len(kept) + [r[4] for r in rejects],
        },
        schema=DECISIONS_SCHEMA,
    )


def _frames(rows: pl.DataFrame, table: pl.DataFrame, earlier: pl.DataFrame | None, new_rejects, report):
    """The kept frame (every kept row, in pool order, with its cluster size) and the rejects (earlier ones rebuilt
    from their decisions, then this run's)."""
    indexed = rows.with_row_index("_row")
    ids = indexed.select("_row", "id")
    kept = ids.join(table.filter(pl.col("status") == "kept"), left_on="id", right_on="raw_id", maintain_order="left")
    absorbed = table.filter(pl.col("of_raw").is_not_null()).group_by("of_raw").len("absorbed")
    kept = kept.join(absorbed, left_on="id", right_on="of_raw", how="left", maintain_order="left")
    report.clusters = int(kept["absorbed"].is_not_null().sum())
    kept_frame = (
        indexed.join(kept.select("_row", "out_id", "absorbed"), on="_row", maintain_order="left")
        .with_columns(pl.concat_list("id").alias("parent_ids"))  # (a Series of 1-item Python lists is slow and big)
        .with_columns(
            pl.col("out_id").alias("id"), (1 + pl.col("absorbed").fill_null(0)).cast(pl.Int64).alias("cluster_size")
        )
        .select([*rows.columns, "cluster_size"])
    )
    if earlier is None:
        return kept_frame, new_rejects
    out_id_of = table.filter(pl.col("status") == "kept").select(pl.col("raw_id").alias("of_raw"), "out_id")
    earlier = (
        ids.join(earlier.filter(pl.col("status") != "kept"), left_on="id", right_on="raw_id", maintain_order="left")
        .join(out_id_of.rename({"out_id": "duplicate_of"}), on="of_raw", how="left", maintain_order="left")
        .join(indexed.select("_row", "domain", "source", "problem"), on="_row", maintain_order="left")
        .select(
            pl.col("out_id").alias("id"),
            pl.concat_list("id").alias("parent_ids"),
            "domain",
            "source",
            pl.col("status").alias("reason"),
            "detail",
            "problem",
            "duplicate_of",
            "similarity",
        )
    )
    return kept_frame, pl.concat([earlier.select(list(REJECTS_SCHEMA)).cast(REJECTS_SCHEMA), new_rejects])


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


def _neighbour_report(report: DedupReport, problems: list[str], sims, ids, rows, settings, same_instance) -> None:
    """Nearest-neighbour cosines of `rows` (histogram), near misses below the threshold, and pairs above it that the
    template guard keeps apart (counted once per pair, among each row's nearest rows)."""
    if not len(rows):
        return
    report.max_similarity = [float(x) if j >= 0 else 0.0 for x, j in zip(sims[rows, 0], ids[rows, 0])]
    low = settings.threshold - settings.near_miss_margin
    for i, j, d in zip(rows.tolist(), ids[rows, 0].tolist(), report.max_similarity):
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
