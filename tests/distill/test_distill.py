"""distilled_responses: the sources' own responses kept, K teacher samples asked per problem."""

import json

import polars as pl

from thinkforge.collect import POOL_SCHEMA
from thinkforge.distill import DistillSettings, conversation, distill, prompt_id
from thinkforge.generation import Completion
from thinkforge.selection.select import EXTRA_COLUMNS
from thinkforge.stage import frame

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
