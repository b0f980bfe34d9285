"""Each source adapter on data in its real layout (bundled samples and packaged data sets)."""

import json

import pytest

from tests.conftest import SAMPLES, write_jsonl, write_sources
from thinkforge import collect
from thinkforge.collect import FORMATS
from thinkforge.collect.config import SourceSpec


def pool(tmp_path, entry: dict, domain: str):
    specs = collect.load(write_sources(tmp_path / "sources.yaml", [entry]))
    return collect.collect(specs, domain)


def rows(tmp_path, entry, domain):
    out = pool(tmp_path, entry, domain)
    assert out.rejects.is_empty(), out.rejects["detail"].to_list()
    return out.kept.to_dicts()


def test_numinamath_cot_and_1_5(tmp_path):
    cot = rows(
        tmp_path,
        {"name": "n", "format": "numinamath", "path": str(SAMPLES / "numinamath_cot.jsonl"), "domain": "math"},
        "math",
    )
    assert [r["reference_answer"] for r in cot] == ["6", "2", "\\frac{19}{12}", None]  # last \boxed{} of solution
    assert cot[3]["info_type"] == "ground_truth"  # a proof: full solution, no short answer
    assert json.loads(cot[0]["meta"])["source"] == "olympiads"
    v15 = rows(
        tmp_path,
        {"name": "n15", "format": "numinamath", "path": str(SAMPLES / "numinamath_1_5.parquet"), "domain": "math"},
        "math",
    )
    assert [r["reference_answer"] for r in v15] == ["24", "3", None]  # `answer` wins; "proof" is no answer
    assert json.loads(v15[0]["meta"])["problem_type"] == "Number Theory"


def test_openr1_math_keeps_r1_generations_with_verdicts(tmp_path):
    out = rows(tmp_path, {"name": "o", "format": "openr1_math", "path": str(SAMPLES / "openr1_math.parquet")}, "math")
    first = out[0]
    assert first["reference_answer"] == "54" and first["info_type"] == "reference_answer"
    gens = [r for r in first["responses"] if r["model"] == "deepseek-ai/DeepSeek-R1"]
    assert [g["correct"] for g in gens] == [True, False]
    assert gens[0]["text"].startswith("<think>")
    third = [r for r in out[2]["responses"] if r["model"]]
    assert third[1]["finish_reason"] == "length"


def test_orca_and_orca_math(tmp_path):
    chat = rows(
        tmp_path, {"name": "oo", "format": "orca", "path": str(SAMPLES / "openorca.jsonl"), "domain": "auto"}, "chat"
    )
    assert len(chat) == 4 and json.loads(chat[0]["meta"])["orca_id"] == "flan.1204"
    assert chat[0]["responses"][0]["text"].startswith("Hi Sam")
    om = rows(tmp_path, {"name": "om", "format": "orca_math", "path": str(SAMPLES / "orca_math.jsonl")}, "math")
    assert [r["reference_answer"] for r in om] == ["12", "350", "72", "31"]


def test_apps_stdio_call_and_missing_tests(tmp_path):
    out = rows(tmp_path, {"name": "a", "format": "apps", "path": str(SAMPLES / "apps.jsonl")}, "code")
    stdio = json.loads(out[0]["test_cases"])
    assert stdio == {
        "kind": "stdio",
        "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "-5 7\n", "output": "2\n"}],
    }
    call = json.loads(out[1]["test_cases"])
    assert (
        call["kind"] == "call"
        and call["fn_name"] == "longest_run"
        and json.loads(call["cases"][0]["input"]) == [[1, 2, 3, 1, 2]]
    )
    assert "Starter code" in out[1]["problem"]
    assert out[3]["info_type"] == "none" and out[3]["test_cases"] is None  # empty input_output
    assert out[0]["responses"][0]["model"] == "human" and out[0]["responses"][0]["correct"] is True


def test_apps_bad_input_output_json_names_the_field(tmp_path):
    src = write_jsonl(
        tmp_path / "apps.jsonl",
        [
            {
                "problem_id": 1,
                "question": "q",
                "solutions": "[]",
                "input_output": "{not json",
                "difficulty": "x",
                "url": "",
                "starter_code": "",
            }
        ],
    )
    out = pool(tmp_path, {"name": "a", "format": "apps", "path": str(src)}, "code")
    assert out.kept.is_empty()
    assert "field 'input_output'" in out.rejects["detail"][0] and "line 1" in out.rejects["detail"][0]


def test_code_contests_tests_limits_and_solutions(tmp_path):
    out = rows(
        tmp_path, {"name": "cc", "format": "code_contests", "path": str(SAMPLES / "code_contests.jsonl.gz")}, "code"
    )
    spec = json.loads(out[1]["test_cases"])
    assert spec["time_limit_s"] == 2.5 and spec["memory_limit_mb"] == 256 and len(spec["cases"]) == 2
    meta = json.loads(out[0]["meta"])
    assert meta["tests"] == {"public_tests": 1, "private_tests": 2, "generated_tests": 1} and meta["cf_rating"] == 800
    models = [(r["model"], r["correct"]) for r in out[0]["responses"]]
    assert models == [("human:python3", True), ("human:cpp", True), ("human:python3", False)]


def test_codeforces_official_tests_else_examples(tmp_path):
    out = rows(tmp_path, {"name": "cf", "format": "codeforces", "path": str(SAMPLES / "codeforces.parquet")}, "code")
    assert len(json.loads(out[0]["test_cases"])["cases"]) == 3  # official tests
    assert json.loads(out[1]["test_cases"])["cases"] == [
        {"input": "3\n", "output": "3\n"},
        {"input": "5\n", "output": "8\n"},
    ]
    assert out[0]["problem"].startswith("# Reverse Words") and "## Input" in out[0]["problem"]


def test_natural_reasoning_keeps_response_models(tmp_path):
    out = rows(
        tmp_path,
        {
            "name": "nr",
            "format": "natural_reasoning",
            "path": str(SAMPLES / "natural_reasoning.jsonl"),
            "domain": "science",
        },
        "science",
    )
    assert out[0]["reference_answer"] == "4 m/s"
    assert out[0]["responses"][0]["model"] == "Llama-3.3-70B-Instruct"


def test_humaneval_from_package_all_164(tmp_path):
    out = rows(tmp_path, {"name": "he", "format": "humaneval"}, "code")
    assert len(out) == 164
    spec = json.loads(out[0]["test_cases"])
    assert (
        spec["kind"] == "program"
        and spec["entry_point"] == "has_close_elements"
        and "def check(candidate)" in spec["program"]
    )
    assert out[0]["source_row"] == 1 and out[0]["source_file"] == "package:humaneval"


def test_champ_from_package(tmp_path):
    out = rows(tmp_path, {"name": "champ", "format": "champ", "limit": 5}, "math")
    assert len(out) == 5
    assert out[0]["reference_answer"] == "239" and out[0]["info_type"] == "reference_answer"
    human = out[0]["responses"][0]
    assert human["model"] == "human" and "x_n, y_n, z_n" in human["text"]
    assert {r["model"] for r in out[0]["responses"][1:]} >= {"GPT-3.5", "GPT-4"}


def test_generic_csv_parquet_jsonl_with_column_mapping(tmp_path):
    sci = rows(
        tmp_path,
        {
            "name": "s",
            "format": "csv",
            "path": str(SAMPLES / "science_qa.csv"),
            "domain": "science",
            "columns": {"problem": "question", "reference_answer": "answer", "subject": "subject"},
        },
        "science",
    )
    assert sci[0]["reference_answer"] == "coulomb" and json.loads(sci[0]["meta"]) == {"subject": "physics"}
    src = write_jsonl(
        tmp_path / "g.jsonl",
        [
            {
                "q": "Write a function that reverses a string.",
                "tests": [{"input": "abc", "output": "cba"}],
                "dom": "code",
            },
            {"q": "What is 2+2?", "ans": "4", "dom": "math"},
        ],
    )
    entry = {
        "name": "g",
        "format": "jsonl",
        "path": str(src),
        "domain": "auto",
        "columns": {"problem": "q", "test_cases": "tests", "reference_answer": "ans", "domain": "dom"},
    }
    code = rows(tmp_path, entry, "code")
    assert code[0]["info_type"] == "test_cases" and json.loads(code[0]["test_cases"])["cases"][0] == {
        "input": "abc",
        "output": "cba",
    }
    assert rows(tmp_path, entry, "math")[0]["reference_answer"] == "4"


def test_auto_domain_classifier(tmp_path):
    src = write_jsonl(
        tmp_path / "mix.jsonl",
        [
            {"problem": "Solve the equation $x^2 - 5x + 6 = 0$."},
            {"problem": "Implement a Python function that returns the n-th Fibonacci number."},
            {
                "problem": "Explain why the electron in a hydrogen atom does not fall into the nucleus (quantum energy levels)."
            },
            {"problem": "Write a haiku about autumn leaves."},
        ],
    )
    entry = {"name": "mix", "format": "jsonl", "path": str(src), "domain": "auto"}
    assert [len(pool(tmp_path, entry, d).kept) for d in ("math", "code", "science", "chat")] == [1, 1, 1, 1]


def test_every_format_name_has_an_adapter():
    expected = {
        "numinamath",
        "openr1_math",
        "orca",
        "orca_math",
        "apps",
        "natural_reasoning",
        "code_contests",
        "codeforces",
        "humaneval",
        "champ",
        "jsonl",
        "parquet",
        "csv",
    }
    assert set(FORMATS) == expected


@pytest.mark.parametrize("domain", ["math", "code", "science", "chat"])
def test_bundled_sources_cover_every_domain(domain):
    from thinkforge import paths

    specs = collect.load(paths.sources_file())
    assert {s.format for s in specs} == set(FORMATS)
    assert collect.collect(specs, domain).kept.height > 0


def test_spec_domain_filter():
    spec = SourceSpec(name="x", format="orca", files=(SAMPLES / "openorca.jsonl",), domain="auto")
    assert spec.may_yield("math") and spec.may_yield("chat")
