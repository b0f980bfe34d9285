"""`make proof`'s learnable source: the bundled files are the seeded generator's output, read through the real
readers their worked solutions verify (math-verify, the sandbox), and the held-out split shares nothing with training
that decontamination would catch."""

import json
import re

import pytest

from scripts.make_proof_data import OUT, files
from thinkforge.collect import collect, load
from thinkforge.collect.synthetic import MATH_TEMPLATES, math_problems, proof_splits
from thinkforge.dedup.normalize import ngrams
from thinkforge.evalsets import load_specs
from thinkforge.verify import Limits, Sandbox, check_code, check_pair


def test_bundled_files_are_the_generators_output():
    for path, rows in files().items():
        assert path.read_text(encoding="utf-8") == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), (
            path
        )
    assert {p.name for p in OUT.glob("*.jsonl")} == {p.name for p in files()}


def test_same_seed_same_rows_other_seed_other_rows():
    assert proof_splits(20, 10, 5) == proof_splits(20, 10, 5)
    assert proof_splits(20, 10, 5, seed=1)["train"] != proof_splits(20, 10, 5)["train"]


def test_every_template_and_one_to_three_operations_appear():
    problems = [p for p, _ in zip(math_problems(0), range(600))]
    operations = {len(re.findall(r" [+\-×÷] ", p.solution)) for p in problems}
    assert operations == {1, 2, 3}
    assert len({" ".join(p.problem.split()[1:3]) for p in problems}) > 2 * len(MATH_TEMPLATES)  # the wordings
    assert all(p.solution.endswith(f"\\boxed{{{p.answer}}}.") for p in problems)
    apply = {"+": int.__add__, "-": int.__sub__, "×": int.__mul__, "÷": int.__floordiv__}
    for p in problems:  # each worked step's equation holds, and the last one gives the answer
        steps = re.findall(r"(\d+) ([+\-×÷]) (\d+) = (\d+)", p.solution)
        assert all(apply[op](int(a), int(b)) == int(c) for a, op, b, c in steps), p.solution
        assert int(steps[-1][3]) == p.answer


def test_heldout_shares_no_8gram_and_no_numbers_with_training():
    splits = proof_splits(1500, 300, 0)
    held = splits["heldout"]
    assert len(held) == 300
    grams = {g for r in held for g in ngrams(r["problem"], 8)}
    assert not any(ngrams(r["problem"], 8) & grams for r in splits["train"])
    numbers = lambda r: (r["answer"], tuple(sorted(re.findall(r"\d+", r["problem"]))))  # noqa: E731
    assert not {numbers(r) for r in held} & {numbers(r) for r in splits["train"]}


def test_worked_solutions_verify_as_read_by_the_proof_sources(home):
    specs = load(OUT / "sources.yaml")
    math = collect(specs, "math").kept.to_dicts()
    assert len(math) == 1500 and not collect(specs, "math").rejects.height
    for row in math[:200]:
        (response,) = row["responses"]
        assert check_pair(row["reference_answer"], response["text"]).passed, row["problem"]
    code = collect(specs, "code").kept.to_dicts()
    assert len(code) == 200
    jobs = [(r["responses"][0]["text"], json.loads(r["test_cases"]), None) for r in code[:40]]
    verdicts = check_code(jobs, Sandbox(limits=Limits(timeout_s=10, memory_mb=512)))
    assert [d for v, d in verdicts if v != "correct"] == []
    # a wrong program fails the same tests
    wrong = jobs[0][0].replace("return ", "return 1 + ")
    assert (
        check_code([(wrong, jobs[0][1], None)], Sandbox(limits=Limits(timeout_s=10, memory_mb=512)))[0][0] == "wrong"
    )


@pytest.mark.parametrize("name", ["arithmetic-heldout"])
def test_the_proof_eval_set_is_declared_like_any_other(name):
    (spec,) = load_specs(OUT / "eval_sets.yaml")
    assert spec.name == name and spec.domain == "math" and spec.files == (OUT / "math_heldout.jsonl",)
