"""The select rules: reference/tests, language, quality, judge (real tiny model), rebalancing."""

import json

import polars as pl

from thinkforge.collect import POOL_SCHEMA
from thinkforge.generation import Generator, RequestCache, SamplingParams, TransformersBackend
from thinkforge.selection import SelectSettings, parse_judgement, select
from thinkforge.selection.language import detect
from thinkforge.stage import frame

SCHEMA = {**POOL_SCHEMA, "cluster_size": pl.Int64}


def rows(specs: list[dict], domain="math") -> pl.DataFrame:
    base = {
        "parent_ids": [],
        "domain": domain,
        "source": "s",
        "source_file": "f",
        "source_row": 1,
        "info_type": "reference_answer",
        "reference_answer": "1",
        "test_cases": None,
        "responses": [],
        "meta": "{}",
        "cluster_size": 1,
    }
    return frame([{**base, "id": f"d{i:03d}", **spec} for i, spec in enumerate(specs)], SCHEMA)


def canned(reply: str):
    calls = []

    def judge(conversations):
        calls.append(len(conversations))
        return [reply] * len(conversations)

    return judge, calls


def test_each_rule_rejects_with_its_reason():
    data = rows(
        [
            {
                "problem": "Find all real x with x^2 - 5x + 6 = 0 and explain the steps.",
                "meta": json.dumps({"source": "olympiads", "problem_type": "Algebra"}),
            },
            {
                "problem": "Prove that there are infinitely many primes.",
                "info_type": "ground_truth",
                "reference_answer": None,
            },
            {
                "problem": "Trouvez tous les nombres réels x tels que le carré de x soit égal à quatre, puis expliquez la méthode utilisée."
            },
            {"problem": "x?", "meta": json.dumps({"source": "olympiads", "problem_type": "Algebra"})},
        ]
    )
    judge, calls = canned("Difficulty: 5\nQuality: 8\nCategory: algebra")
    out = select(data, "math", judge, SelectSettings())
    reasons = {r["parent_ids"][0]: r["reason"] for r in out.rejects.to_dicts()}
    assert reasons == {"d001": "no_reference", "d002": "language", "d003": "low_quality"}
    kept = out.kept.to_dicts()[0]
    assert kept["difficulty"] == 7 and kept["difficulty_source"] == "metadata" and kept["category"] == "algebra"
    assert kept["parent_ids"] == ["d000"] and kept["pass_rate_difficulty"] is None
    assert calls == [] and out.report.judged == 0  # metadata told difficulty and category: no judge call
    assert out.conserved


def test_the_judge_sees_only_rows_metadata_leaves_unrated():
    data = rows(
        [
            {"problem": "What is the sum of the interior angles of a hexagon?"},
            {
                "problem": "How many ways can 4 people sit in a row?",
                "meta": json.dumps({"source": "amc_aime", "problem_type": "Combinatorics"}),
            },
        ]
    )
    judge, calls = canned("Difficulty: 4\nQuality: 9\nCategory: geometry")
    out = select(data, "math", judge, SelectSettings(easy_max_fraction=1.0))
    assert calls == [1] and out.report.judged == 1 and out.report.judge_parsed == 1
    first = out.kept.filter(pl.col("parent_ids").list.first() == "d000").to_dicts()[0]
    assert (first["difficulty"], first["difficulty_source"], first["quality"], first["category"]) == (
        4,
        "judge",
        9,
        "geometry",
    )


def test_unparseable_judge_output_is_recorded_not_fatal():
    judge, _ = canned("I think this is a nice problem!")
    out = select(rows([{"problem": "What is the area of a circle of radius 3?"}]), "math", judge, SelectSettings())
    kept = out.kept.to_dicts()[0]
    assert kept["judge_status"] == "unparsed" and kept["difficulty"] is None and kept["quality_source"] == "heuristic"
    assert parse_judgement("math", "difficulty = 11\nQuality: 3\nCategory: Number Theory.") == {
        "difficulty": None,
        "quality": 3,
        "category": "number theory",
    }


def test_easy_problems_are_downsampled_to_the_configured_share():
    specs = [
        {
            "problem": f"Compute {i} plus {i + 1} and show your work.",
            "meta": json.dumps({"source": "gsm8k", "problem_type": "Algebra"}),
        }
        for i in range(8)
    ]
    specs += [
        {
            "problem": f"Find all integer solutions of x^{i + 2} + y^2 = z^3 and justify.",
            "meta": json.dumps({"source": "olympiads", "problem_type": "Number Theory"}),
        }
        for i in range(2)
    ]
    out = select(rows(specs), "math", None, SelectSettings(easy_max=3, easy_max_fraction=0.5))
    assert out.kept.height == 4 and (out.kept["difficulty"] <= 3).sum() == 2
    assert out.rejects["reason"].to_list() == ["rebalanced"] * 6
    again = select(rows(specs), "math", None, SelectSettings(easy_max=3, easy_max_fraction=0.5))
    assert again.kept["id"].to_list() == out.kept["id"].to_list()  # deterministic


def test_code_needs_tests_and_chat_needs_nothing():
    code = rows(
        [
            {
                "problem": "Write a program that prints the sum of two integers read from input.",
                "info_type": "none",
                "reference_answer": None,
            }
        ],
        "code",
    )
    out = select(code, "code", None, SelectSettings())
    assert out.rejects["reason"].to_list() == ["no_reference"] and "test_cases" in out.rejects["detail"][0]
    chat = rows(
        [
            {
                "problem": "Write a short poem about the sea and the wind at night.",
                "info_type": "none",
                "reference_answer": None,
            }
        ],
        "chat",
    )
    assert select(chat, "chat", None, SelectSettings()).kept.height == 1


def test_language_detection_ignores_math_and_code():
    assert detect("Compute $\\frac{3}{4} + \\dfrac{5}{6}$.") == ("und", 0.0)
    assert detect("What is the capital city of France and why?")[0] == "en"
    assert detect("Quelle est la capitale de la France et pourquoi ?")[0] == "fr"


def test_judge_through_the_generation_runtime(tiny_model, tmp_path):
    gen = Generator(TransformersBackend(str(tiny_model)), RequestCache(tmp_path / "c.sqlite"))

    def judge(conversations):
        return [r[0].text for r in gen.generate(conversations, SamplingParams(temperature=0.0, max_tokens=8))]

    data = rows([{"problem": f"What is the value of {i} times {i}? Explain it."} for i in range(3)])
    out = select(data, "math", judge, SelectSettings(easy_max_fraction=1.0))
    assert out.report.judged == 3 and gen.stats.calls == 3
    assert set(out.kept["judge_status"]) <= {
        "parsed",
        "partial",
        "unparsed",
    }  # a random model rarely follows the format
    select(data, "math", judge, SelectSettings(easy_max_fraction=1.0))
    assert gen.stats.calls == 3 and gen.stats.cache_hits == 3  # re-running asks the model nothing new
