"""distilled_responses: the sources' own responses kept, K teacher samples asked per problem (only where the source
gives no reasoning chain, unless distill_existing is `also`); the judge rubric on verified responses when asked."""

import json
from collections import Counter

import polars as pl

from thinkforge.collect import POOL_SCHEMA
from thinkforge.distill import SCHEMA as RESPONSE_SCHEMA
from thinkforge.distill import DistillReport, DistillSettings, conversation, distill, prompt_id
from thinkforge.generation import Completion
from thinkforge.selection.select import EXTRA_COLUMNS
from thinkforge.stage import frame
from thinkforge.verification import VerificationSettings, verify_responses
from thinkforge.verify import MathVerifier

PROBLEM_SCHEMA = {**POOL_SCHEMA, "cluster_size": pl.Int64, **EXTRA_COLUMNS}


def problems(domain="math", **extra):
    row = {
        "id": "p1",
        "parent_ids": ["d1"],
        "domain": domain,
        "source": "s",
        "source_file": "f",
        "source_row": 1,
        "problem": "Solve 27 + 2x = 39.",
        "info_type": "reference_answer",
        "reference_answer": "6",
        "test_cases": None,
        "responses": [{"model": "human", "text": "2x = 12 so \\boxed{6}", "correct": True, "finish_reason": None}],
        "meta": "{}",
        "cluster_size": 1,
        "difficulty": 3,
        "category": "algebra",
    }
    row.update(extra)
    return frame([row], PROBLEM_SCHEMA)


def test_distill_keeps_existing_responses_and_asks_k_samples():
    seen = {}

    def generate(conversations, params, n):
        seen.update(conversations=conversations, n=n, params=params)
        return [
            [
                Completion(
                    text=f"<think>t{s}</think> \\boxed{{6}}",
                    prompt_tokens=10,
                    completion_tokens=5,
                    finish_reason="stop",
                )
                if s
                else Completion(text=None, error="HTTP 503")
                for s in range(n)
            ]
            for _ in conversations
        ]

    out = distill(problems(), "math", generate, "teacher@1", DistillSettings(samples=3, system_prompt="Be careful."))
    assert seen["n"] == 3 and seen["conversations"][0][0] == {"role": "system", "content": "Be careful."}
    assert (
        "\\boxed{}" in seen["conversations"][0][1]["content"] and "<think>" in seen["conversations"][0][1]["content"]
    )
    assert out.kept["origin"].to_list() == ["source", "teacher", "teacher"] and out.kept["prompt_id"][1] == prompt_id(
        "math", "Be careful."
    )
    assert out.rejects["reason"].to_list() == ["generation_failed"] and out.rejects["detail"][0] == "HTTP 503"
    assert out.conserved and json.loads(out.kept["sampling"][1])["temperature"] == 0.7


def test_conversation_uses_the_domain_template():
    assert "```python" in conversation("code", "Print 1.", "")[0]["content"]


R1_CHAIN = {
    "model": "deepseek-ai/DeepSeek-R1",
    "text": "<think>27+2x=39</think> \\boxed{6}",
    "correct": True,
    "finish_reason": "stop",
}


def chained_problems():
    """p1: a human solution only; p2: an R1 chain the source verified; p3: a Natural-Reasoning-style model answer
    (no <think> block: no chain); p4: an R1 chain the source marks wrong; p5: a chain the source does not grade."""
    rows = [
        problems().to_dicts()[0],
        {**problems().to_dicts()[0], "id": "p2", "responses": [R1_CHAIN]},
        {
            **problems().to_dicts()[0],
            "id": "p3",
            "responses": [
                {
                    "model": "Llama-3.3-70B-Instruct",
                    "text": "2x = 12, so x = 6.",
                    "correct": None,
                    "finish_reason": None,
                }
            ],
        },
        {**problems().to_dicts()[0], "id": "p4", "responses": [{**R1_CHAIN, "correct": False}]},
        {**problems().to_dicts()[0], "id": "p5", "responses": [{**R1_CHAIN, "correct": None}]},
    ]
    return frame(rows, PROBLEM_SCHEMA)


def counting_teacher():
    def generate(conversations, params, n):
        generate.asked += len(conversations)
        return [[Completion(f"<think>t{s}</think> \\boxed{{6}}", finish_reason="stop") for s in range(n)]] * len(
            conversations
        )

    generate.asked = 0
    return generate


def test_distill_existing_skip_samples_only_problems_without_a_chain():
    teacher = counting_teacher()
    out = distill(chained_problems(), "math", teacher, "teacher@1", DistillSettings(samples=2))
    assert teacher.asked == 3
    origins = Counter((p[0], o) for p, o in zip(out.kept["parent_ids"].to_list(), out.kept["origin"].to_list()))
    assert origins == {
        ("p1", "source"): 1,
        ("p1", "teacher"): 2,
        ("p2", "source"): 1,
        ("p3", "source"): 1,
        ("p3", "teacher"): 2,
        ("p4", "source"): 1,
        ("p4", "teacher"): 2,
        ("p5", "source"): 1,
    }
    assert out.report == DistillReport(problems_with_chain=2, problems_skipped_with_chain=2, problems_distilled=3)
    assert out.conserved


def test_distill_existing_also_samples_every_problem():
    teacher = counting_teacher()
    out = distill(
        chained_problems(), "math", teacher, "teacher@1", DistillSettings(samples=2, distill_existing="also")
    )
    assert teacher.asked == 5 and out.kept.filter(pl.col("origin") == "teacher").height == 10
    assert out.report == DistillReport(problems_with_chain=2, problems_skipped_with_chain=0, problems_distilled=5)
    # without the sources' own responses as candidates nothing is skipped
    teacher = counting_teacher()
    out = distill(chained_problems(), "math", teacher, "teacher@1", DistillSettings(samples=2, keep_existing=False))
    assert teacher.asked == 5 and out.report.problems_skipped_with_chain == 0


def test_the_judge_scores_verified_responses_only_when_judge_verified_is_on():
    data = frame(
        [
            {
                **{k: None for k in RESPONSE_SCHEMA},
                "id": f"r{i}",
                "parent_ids": ["p1"],
                "domain": "math",
                "source": "s",
                "problem": "Solve 27 + 2x = 39.",
                "reference_answer": "6",
                "model": "teacher@1",
                "origin": "teacher",
                "finish_reason": "stop",
                "sample_index": i,
                "response": text,
            }
            for i, text in enumerate(["<think>2x = 12</think> \\boxed{6}", "<think>x is 6</think> so \\boxed{6}"])
        ],
        RESPONSE_SCHEMA,
    )
    asked = []

    def judge(conversations):
        asked.extend(conversations)
        rating = (
            "Correctness: {}\nHelpfulness: 3\nCoherence: 4\nComplexity: 2\nVerbosity: 3\nVerdict: correct\nSafe: yes"
        )
        return [rating.format(1 if "so \\boxed" in c[0]["content"] else 5) for c in conversations]

    with MathVerifier(workers=1) as math:
        default = verify_responses(data, math, None, VerificationSettings(), judge=judge)
        assert asked == [] and default.kept.height == 2 and default.report.judged == {}
        on = verify_responses(data, math, None, VerificationSettings(judge_verified=True), judge=judge)
    assert len(asked) == 2 and on.report.judged == {"verified": 2}
    assert on.kept["score_judge_correctness"].to_list() == [5] and on.kept["verdict_correct"][0] == "correct"
    assert on.rejects["reason"].to_list() == ["judge"]  # verified correct, rated 1 by the judge (AM scores all)
