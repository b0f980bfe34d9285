"""The eval-sets YAML: the default sets, the THINKFORGE_EVAL_SETS override, errors, and one list for dedup too."""

import pytest

from tests.conftest import REPO, write_jsonl, write_sources
from thinkforge import DOMAINS, evalsets
from thinkforge.collect import ConfigError, collect, load


def test_default_file_holds_the_heldout_split_and_humaneval(monkeypatch):
    monkeypatch.delenv("THINKFORGE_EVAL_SETS", raising=False)
    assert evalsets.eval_sets_file() == REPO / "data" / "eval" / "eval_sets.yaml"
    assert [s.name for s in evalsets.load_specs()] == ["heldout", "humaneval"]
    by_domain = {d: evalsets.eval_problems(d).kept for d in DOMAINS}
    assert sum(df.height for df in by_domain.values()) == 10 + 164
    code = by_domain["code"]
    assert code["eval_set"].unique().to_list() == ["humaneval"] and code["item"][0] == "HumanEval/0"
    assert code["test_cases"].str.contains('"kind": "program"').all()
    math = by_domain["math"]
    assert set(math["eval_set"]) == {"heldout"} and "h1" in math["item"].to_list()
    assert math.filter(math["item"] == "h2")["reference_answer"].to_list() == ["56"]
    # eval rows never share an id with training rows read from the same source (HumanEval also feeds raw_problems)
    raw = collect([s for s in load(REPO / "data" / "sources.yaml") if s.name == "humaneval"], "code").kept
    assert not set(raw["id"]) & set(code["id"])


def test_dedup_items_are_exactly_the_sets_of_the_yaml(monkeypatch):
    monkeypatch.delenv("THINKFORGE_EVAL_SETS", raising=False)
    items = evalsets.load_eval_items()
    assert len(items) == 174 and "heldout/h1" in items and "humaneval/HumanEval/0" in items
    by_name = {}
    for name in evalsets.DEFAULT_EVAL_SETS:
        by_name.update(evalsets.load_eval_set(name))
    assert by_name == items
    assert items["humaneval/HumanEval/0"].startswith("from typing import List")  # the task's own prompt
    assert evalsets.load_eval_set(str(REPO / "data" / "eval" / "heldout.jsonl")).keys() == {
        k for k in items if k.startswith("heldout/")
    }


def test_env_override_points_every_reader_at_another_yaml(tmp_path, monkeypatch):
    write_jsonl(
        tmp_path / "quiz.jsonl",
        [
            {"qid": "q1", "question": "What is 6 * 7?", "gold": "42"},
            {"qid": "q2", "question": "Name the largest planet.", "gold": "Jupiter", "dom": "science"},
        ],
    )
    yaml_path = write_sources(
        tmp_path / "evals.yaml",
        [
            {
                "name": "quiz",
                "format": "jsonl",
                "path": "quiz.jsonl",
                "domain": "auto",
                "columns": {"problem": "question", "reference_answer": "gold", "id": "qid", "domain": "dom"},
            }
        ],
    )
    monkeypatch.setenv("THINKFORGE_EVAL_SETS", str(yaml_path))
    assert evalsets.eval_sets_file() == yaml_path
    assert evalsets.load_eval_items() == {"quiz/q1": "What is 6 * 7?", "quiz/q2": "Name the largest planet."}
    science = evalsets.eval_problems("science").kept
    assert science["item"].to_list() == ["q2"] and science["reference_answer"].to_list() == ["Jupiter"]
    assert evalsets.eval_problems("code").kept.is_empty()  # HumanEval is not in this file
    assert evalsets.load_eval_set("quiz") == evalsets.load_eval_items()
    assert len(evalsets.load_eval_set("humaneval")) == 164  # packaged, still reachable by name


def test_a_wrong_eval_sets_file_says_what_to_fix(tmp_path, monkeypatch):
    bad = write_sources(tmp_path / "bad.yaml", [{"name": "x", "format": "jsonl", "path": "missing.jsonl"}])
    monkeypatch.setenv("THINKFORGE_EVAL_SETS", str(bad))
    with pytest.raises(ConfigError, match="eval-sets file .*missing.jsonl"):
        evalsets.load_eval_items()
    monkeypatch.setenv("THINKFORGE_EVAL_SETS", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="eval-sets file .* does not exist; set THINKFORGE_EVAL_SETS"):
        evalsets.eval_problems("math")
    monkeypatch.delenv("THINKFORGE_EVAL_SETS")
    with pytest.raises(FileNotFoundError, match="not a set of"):
        evalsets.load_eval_set("gsm8k")
