"""Dedup and decontamination with the real embedder (all-MiniLM-L6-v2 from its package) and FAISS."""

import json

import polars as pl
import pytest

from thinkforge.collect import POOL_SCHEMA
from thinkforge.dedup import DedupSettings, DedupStore, dedup
from thinkforge.dedup.normalize import constants, exact_key, normalize
from thinkforge.embedding import embed, static_embed
from thinkforge.evalsets import DEFAULT_EVAL_SETS, load_eval_set
from thinkforge.stage import frame


def pool(problems, overrides=None) -> pl.DataFrame:
    overrides = overrides or {}
    rows = []
    for i, p in enumerate(problems):
        row = {
            "id": f"raw{i:03d}",
            "parent_ids": [],
            "domain": "math",
            "source": "s",
            "source_file": "f",
            "source_row": i + 1,
            "problem": p,
            "info_type": "none",
            "reference_answer": None,
            "test_cases": None,
            "responses": [],
            "meta": "{}",
        }
        row.update(overrides.get(i, {}))
        rows.append(row)
    return frame(rows, POOL_SCHEMA)


def run(rows, tmp_path, eval_items=None, **settings):
    store = DedupStore(tmp_path / "store")
    return dedup(rows, embed, store, DedupSettings(**settings), eval_items, prefilter=static_embed)


def templated(n: int, seed: int = 0) -> list[str]:
    """Word problems of a few templates with random numbers (siblings that embed close), every 10th one repeated
    in other words right after it (a planted near duplicate)."""
    import random

    rng = random.Random(seed)
    templates = [
        "{a} apples are shared equally among {b} children. How many apples does each child get?",
        "A train travels {a} km in {b} hours. What is its average speed?",
        "Find the remainder when {a} is divided by {b}.",
        "A rectangle is {a} cm long and {b} cm wide. What is its area?",
    ]
    problems = []
    for k in range(n):
        text = rng.choice(templates).format(a=rng.randint(10, 99), b=rng.choice([2, 3, 4, 5]))
        problems.append(text)
        if k % 10 == 0:
            problems.append(
                "Please answer: " + text.replace("What is", "Determine").replace("How many", "What number of")
            )
    return problems


def decisions(out) -> set[tuple]:
    kept = dict(zip(out.kept["id"], [p[0] for p in out.kept["parent_ids"]]))
    return {(r["parent_ids"][0], r["reason"], kept.get(r["duplicate_of"])) for r in out.rejects.to_dicts()} | {
        (parent, "kept", None) for parent in kept.values()
    }


def test_normalization_ignores_case_spacing_latex_spacing_and_punctuation():
    assert normalize("Find  $x$ if \\; 2x = 4 .") == normalize("find x if 2x = 4")
    assert normalize("\\dfrac{1}{2}") == normalize("\\frac{1}{2}")
    assert exact_key("What is 2+3?") != exact_key("What is 2-3?")  # operators stay
    assert constants("Compute 2^{10} mod 7, then \\pi r^2 for r = 3.50") == constants(
        "For r=3.5: \\pi r^2 and 2^{10} mod 7"
    )


def test_exact_duplicates_keep_the_best_representative(tmp_path):
    rows = pool(
        ["Find x if 2x = 4.", "find  X if 2x = 4", "FIND x IF 2x=4 !"],
        {1: {"info_type": "reference_answer", "reference_answer": "2"}},
    )
    out = run(rows, tmp_path)
    assert out.kept["parent_ids"].to_list() == [["raw001"]]  # the one with a reference answer
    assert out.report.exact_duplicates == 2 and out.kept["cluster_size"].to_list() == [3]
    assert set(out.rejects["duplicate_of"]) == {out.kept["id"][0]} and out.conserved


def test_paraphrases_merge_but_same_template_with_other_numbers_does_not(tmp_path):
    rows = pool(
        [
            "A train travels 120 km in 2 hours. What is its average speed?",
            "What is the average speed of a train that travels 120 km in 2 hours?",  # paraphrase: merged
            "Sarah has 12 apples and gives 5 to Tom. How many apples does Sarah have left?",
            "Sarah has 15 apples and gives 6 to Tom. How many apples does Sarah have left?",  # trap: kept
            "Find the remainder when 2^10 is divided by 7.",
            "Find the remainder when 2^11 is divided by 7.",  # trap: kept
        ]
    )
    out = run(rows, tmp_path, threshold=0.9)
    assert sorted(r[0] for r in out.kept["parent_ids"]) == ["raw000", "raw002", "raw003", "raw004", "raw005"]
    assert out.report.near_duplicates == 1 and out.report.guard_blocked >= 2
    [rej] = out.rejects.to_dicts()
    assert rej["reason"] == "near_duplicate" and rej["similarity"] > 0.9 and rej["parent_ids"] == ["raw001"]
    unguarded = run(rows, tmp_path / "b", threshold=0.9, template_guard=False)
    assert unguarded.kept.height == 3  # without the guard the traps would be merged


def test_code_with_same_statement_but_other_tests_is_kept(tmp_path):
    tests_a = json.dumps({"kind": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}]})
    tests_b = json.dumps({"kind": "stdio", "cases": [{"input": "5 5\n", "output": "10\n"}]})
    rows = pool(
        ["Read two integers and print their sum."] * 3,
        {
            0: {"test_cases": tests_a, "info_type": "test_cases"},
            1: {"test_cases": tests_b, "info_type": "test_cases"},
            2: {"test_cases": tests_a, "info_type": "test_cases"},
        },
    )
    out = run(rows, tmp_path)
    assert sorted(r[0] for r in out.kept["parent_ids"]) == ["raw000", "raw001"] and out.report.exact_duplicates == 1


def test_incremental_batches_are_deduplicated_against_what_was_kept_before(tmp_path):
    first = pool(["Solve for x: 3x + 5 = 20.", "How many primes are there below 30?"])
    out1 = run(first, tmp_path)
    assert out1.kept.height == 2 and out1.report.embedded == 2
    # a later batch repeats a kept problem in other words, with a reference answer (a "better" row)
    second = pl.concat(
        [
            first,
            pool(
                ["Find x when 3x + 5 = 20. Solve for x.", "Name the largest planet."],
                {0: {"id": "new000", "info_type": "reference_answer", "reference_answer": "5"}, 1: {"id": "new001"}},
            ),
        ]
    )
    out2 = run(second, tmp_path)
    assert out2.report.decisions_reused == 2 and out2.report.embedded == 2  # the new rows only
    assert out2.report.embeddings_reused == 1  # the stored vector of the one earlier row sharing their constants
    kept_parents = sorted(r[0] for r in out2.kept["parent_ids"])
    assert kept_parents == ["new001", "raw000", "raw001"]  # the earlier kept row stays the representative
    assert out2.rejects["parent_ids"].to_list() == [["new000"]]
    assert set(out1.kept["id"]) <= set(out2.kept["id"])  # ids of kept rows are stable downstream


def test_decontamination_against_humaneval_and_the_heldout_split(tmp_path):
    items = {}
    for name in DEFAULT_EVAL_SETS:
        items.update(load_eval_set(name))
    he = load_eval_set("humaneval")["humaneval/HumanEval/0"]
    rows = pool(
        [
            f"Complete the following Python function.\n\n```python\n{he}```",
            "A farmer owns 17 sheep, then buys 8 more and sells 5 of them. How many sheep does he own now?",
            "What is the capital of Australia?",
        ]
    )
    out = run(rows, tmp_path, eval_items=items)
    assert out.kept["problem"].to_list() == ["What is the capital of Australia?"]
    details = dict(zip([p[0] for p in out.rejects["parent_ids"]], out.rejects["detail"]))
    assert "8-gram overlap with humaneval/HumanEval/0" in details["raw000"]
    assert "heldout/h1" in details["raw001"] and out.report.contaminated == 2


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_index_kinds_find_the_same_duplicates(tmp_path, kind):
    problems = [f"Compute the value of {i} times {i + 3} and explain each step." for i in range(60)]
    rows = pool(problems + [problems[7].replace("Compute", "Please compute")])
    out = run(rows, tmp_path, index=kind)
    assert out.report.near_duplicates == 1 and out.kept.height == 60


def test_candidates_mode_decides_as_embedding_every_row_with_fewer_rows_embedded(tmp_path):
    items = {}
    for name in DEFAULT_EVAL_SETS:
        items.update(load_eval_set(name))
    problems = templated(200) + [
        "A farmer owns 17 sheep, then buys 8 more and sells 5 of them. How many sheep does he own now?",  # heldout
        "Why is the sky blue?",
        "Explain why the sky appears blue.",
    ]
    rows = pool(problems)
    every = run(rows, tmp_path / "all", eval_items=items, embed="all")
    candidates = run(rows, tmp_path / "candidates", eval_items=items, embed="candidates")
    assert every.report.mode == "all" and candidates.report.mode == "candidates"
    assert decisions(candidates) == decisions(every)
    assert every.report.near_duplicates >= 20 and candidates.report.contaminated == 1
    # only rows static vectors pair with another row of equal constants (or an eval item) were embedded
    assert candidates.report.embedded <= candidates.report.prefilter_candidates < every.report.embedded / 2
    assert candidates.report.guard_blocked is None and len(candidates.report.max_similarity) < rows.height


def test_auto_mode_switches_to_candidates_on_large_pools(monkeypatch, tmp_path):
    import importlib

    from resources.embedding import EmbedderResource

    monkeypatch.setattr(importlib.import_module("thinkforge.dedup.dedup"), "EMBED_ALL_BELOW", 100)
    embedder = EmbedderResource()  # what the asset passes: its embed and static_embed
    out = dedup(
        pool(templated(150)),
        embedder.embed,
        DedupStore(tmp_path / "r"),
        DedupSettings(),
        prefilter=embedder.static_embed,
    )
    assert out.report.mode == "candidates" and out.report.near_duplicates >= 15
    with pytest.raises(ValueError, match="embed 'some'"):
        run(pool(["a"]), tmp_path / "b", embed="some")


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("id")


@pytest.mark.parametrize("mode", ["all", "candidates"])
def test_a_rerun_decides_only_new_rows_and_equals_a_full_run(tmp_path, mode):
    items = {}
    for name in DEFAULT_EVAL_SETS:
        items.update(load_eval_set(name))
    problems = templated(160, seed=3)
    heldout = "A farmer owns 17 sheep, then buys 8 more and sells 5 of them. How many sheep does he own now?"
    rows = pool(problems + [heldout, problems[5], "Explain why the sky appears blue."])
    old, new = rows.head(120), rows  # the pool grows by the rows after the first 120
    first = run(old, tmp_path / "grown", eval_items=items, embed=mode)
    again = run(new, tmp_path / "grown", eval_items=items, embed=mode)
    fresh = run(new, tmp_path / "fresh", eval_items=items, embed=mode)
    assert again.report.decisions_reused == 120 and fresh.report.decisions_reused == 0
    assert again.report.embedded < fresh.report.embedded / 2  # rows embedded before are not embedded again
    if mode == "candidates":  # nor are the static vectors of rows seen before computed again
        assert 0 < again.report.static_computed <= new.height - 120 < fresh.report.static_computed
    # earlier decisions stand, and here (new rows come after the old ones in visit order) they are a full run's
    assert decisions(again) == decisions(fresh)
    assert _sorted(again.kept).equals(_sorted(fresh.kept))
    # (cosines differ in the third decimal: int8 activations are quantized per batch, and the batches differ)
    columns = ["parent_ids", "domain", "source", "reason", "problem", "duplicate_of"]
    by_row = [out.rejects.sort(pl.col("parent_ids").list.first()) for out in (again, fresh)]
    assert by_row[0].select(columns).equals(by_row[1].select(columns))
    assert (by_row[0]["similarity"] - by_row[1]["similarity"]).abs().max() < 0.01
    assert set(first.kept["id"]) <= set(again.kept["id"])
    reasons = dict(zip(again.rejects["parent_ids"].list.first(), again.rejects["reason"]))
    assert reasons[rows["id"][-3]] == "contaminated" and reasons[rows["id"][-2]] == "exact_duplicate"
    counts = (again.report.exact_duplicates, again.report.near_duplicates, again.report.contaminated)
    assert counts == (fresh.report.exact_duplicates, fresh.report.near_duplicates, fresh.report.contaminated)
    unchanged = run(new, tmp_path / "grown", eval_items=items, embed=mode)  # nothing new: nothing to decide
    assert unchanged.report.decisions_reused == new.height and unchanged.report.embedded == 0
    assert unchanged.report.static_computed == 0
    assert unchanged.kept.equals(again.kept) and _sorted(unchanged.rejects).equals(_sorted(again.rejects))


def test_removed_rows_or_other_settings_decide_every_row_again(tmp_path):
    rows = pool(templated(60, seed=4))
    run(rows, tmp_path)
    lines = []
    store = DedupStore(tmp_path / "store")
    shrunk = rows.filter(pl.col("id") != rows["id"][0])
    out = dedup(shrunk, embed, store, DedupSettings(), log=lines.append, prefilter=static_embed)
    assert out.report.decisions_reused == 0 and any("left the pool" in line for line in lines)
    assert out.report.embedded == 0  # the vectors still carry over
    stricter = run(shrunk, tmp_path, threshold=0.97)
    assert stricter.report.decisions_reused == 0 and stricter.report.near_duplicates < out.report.near_duplicates
    assert len(list((tmp_path / "store").glob("decisions-*.parquet"))) == 1


def test_vector_store_appends_parts_and_merges_them_past_the_limit(tmp_path, monkeypatch):
    import numpy as np

    import thinkforge.dedup.store as store_module

    monkeypatch.setattr(store_module, "MAX_PARTS", 3)
    store = DedupStore(tmp_path)
    rng = np.random.default_rng(0)
    legacy = rng.random((2, 4), dtype=np.float32)  # one vectors.parquet with a List column: an earlier version
    pl.DataFrame(
        {"key": ["a", "b"], "vector": legacy.tolist()}, schema={"key": pl.String, "vector": pl.List(pl.Float32)}
    ).write_parquet(tmp_path / "vectors.parquet")
    batches = [(["a", "b"], legacy)]
    for n in range(4):
        keys, matrix = [f"k{n}-{i}" for i in range(3)], rng.random((3, 4), dtype=np.float32)
        store.add_vectors(keys, matrix)
        batches.append((keys, matrix))
        written = sorted(p.name for p in tmp_path.glob("vectors*.parquet"))  # a part: its keys
        assert len(written) == [2, 3, 1, 2][n]  # each run one new part; the third merge leaves one part
        keys_read, matrix_read = store.matrix()
        assert keys_read == [k for ks, _ in batches for k in ks]
        assert np.array_equal(matrix_read, np.concatenate([m for _, m in batches]))
    static = rng.random((5, 4)).astype(np.float16)  # static vectors keep their half precision
    store.add_vectors(list("vwxyz"), static, "static")
    keys_read, static_read = store.matrix("static")
    assert keys_read == list("vwxyz") and static_read.dtype == np.float16 and np.array_equal(static_read, static)
    assert store.matrix("other") == ([], None)


def test_an_interrupted_merge_leaves_the_parts_readable(tmp_path, monkeypatch):
    import numpy as np

    import thinkforge.dedup.store as store_module

    monkeypatch.setattr(store_module, "MAX_PARTS", 2)
    store = DedupStore(tmp_path)
    store.add_vectors(["a"], np.ones((1, 2), np.float32))
    store.add_vectors(["b"], np.full((1, 2), 2, np.float32))
    before = store.matrix()

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(store_module.os, "replace", fail)  # the merged part never takes its name
    with pytest.raises(OSError):
        store.add_vectors(["c"], np.full((1, 2), 3, np.float32))
    monkeypatch.undo()
    keys, matrix = store.matrix()
    assert keys == before[0] and np.array_equal(matrix, before[1])


def test_a_contaminated_problem_names_its_first_shared_ngram_whatever_the_hash_seed():
    """The reject's detail is the same on every run: the first shared 8-gram in the problem's word order (a set's
    order changes with each process's PYTHONHASHSEED)."""
    import numpy as np

    from thinkforge.dedup.dedup import Contamination

    words = [f"w{i}" for i in range(40)]
    item = " ".join(words)
    problem = "Solve: " + " ".join(words[3:]) + " please"  # shares the 8-grams from w3 on, the first (w3 … w10)
    check = Contamination({"heldout/1": item}, np.ones((1, 4), dtype="float32"), n=8, threshold=0.99)
    hits = check.check([problem], np.array([0]), np.array([], dtype=int), np.empty((0, 4), dtype="float32"))
    assert hits == {0: f"8-gram overlap with heldout/1: {' '.join(words[3:11])!r}"}
