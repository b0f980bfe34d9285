"""Row ids are stable across runs and distinct across rows."""

from tests.conftest import write_jsonl, write_sources
from thinkforge import collect, paths
from thinkforge.ids import row_id


def test_row_id_is_order_insensitive_in_parents_and_content_sensitive():
    assert row_id("s", ["b", "a"], {"x": 1, "y": 2}) == row_id("s", ["a", "b"], {"y": 2, "x": 1})
    assert row_id("s", [], {"x": 1}) != row_id("s", [], {"x": 2})
    assert row_id("s", [], {"x": 1}) != row_id("t", [], {"x": 1})


def test_ids_are_stable_across_runs_and_unique():
    specs = collect.load(paths.sources_file())
    for domain in ("math", "code", "science", "chat"):
        first, second = collect.collect(specs, domain), collect.collect(specs, domain)
        assert first.kept["id"].to_list() == second.kept["id"].to_list()
        assert first.rejects["id"].to_list() == second.rejects["id"].to_list()
        ids = first.kept["id"].to_list() + first.rejects["id"].to_list()
        assert len(ids) == len(set(ids))


def test_exact_duplicate_rows_get_distinct_ids_and_reordering_keeps_ids(tmp_path):
    rows = [
        {"question": "What is 1+1?", "answer": "2"},
        {"question": "What is 2+3?", "answer": "5"},
        {"question": "What is 1+1?", "answer": "2"},
    ]
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    spec = collect.load(write_sources(tmp_path / "s.yaml", [{"name": "om", "format": "orca_math", "path": str(src)}]))
    ids = collect.collect(spec, "math").kept["id"].to_list()
    assert len(set(ids)) == 3
    write_jsonl(src, [rows[1], rows[0], rows[2]])
    assert set(collect.collect(spec, "math").kept["id"].to_list()) == set(ids)
