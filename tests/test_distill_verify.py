"""Distillation candidates and the rejection-sampling verdicts."""

import json

import polars as pl

from thinkforge.collect import POOL_SCHEMA
from thinkforge.distill import SCHEMA, DistillSettings, conversation, distill, prompt_id
from thinkforge.generation import Completion
from thinkforge.selection.select import EXTRA_COLUMNS
from thinkforge.stage import frame
from thinkforge.verification import VerificationSettings, check_format, check_repetition, verify_responses
from thinkforge.verify import MathVerifier, Sandbox

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


def rows(domain, responses, **problem):
    base = {
        "id": "p1",
        "parent_ids": ["s1"],
        "domain": domain,
        "source": "s",
        "problem": "Solve 27 + 2x = 39 for x.",
        "info_type": "reference_answer",
        "reference_answer": "6",
        "test_cases": None,
        "difficulty": 3,
        "category": "algebra",
        "model": "m",
        "origin": "teacher",
        "prompt_id": "x",
        "sampling": "{}",
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "finish_reason": "stop",
        "source_correct": None,
    }
    return frame(
        [
            {**base, **problem, "id": f"r{i}", "parent_ids": ["p1"], "sample_index": i, "response": text}
            for i, text in enumerate(responses)
        ],
        SCHEMA,
    )


def test_rules_and_math_verification_record_every_verdict():
    data = rows(
        "math",
        [
            "<think>subtract 27</think> So $x = 6$, i.e. \\boxed{6}.",
            "<think>hmm</think> \\boxed{7}",
            "no reasoning block \\boxed{6}",
            "<think>" + "again and again " * 200 + "</think> \\boxed{6}",
        ],
    )
    with MathVerifier(workers=1) as math:
        out = verify_responses(data, math, None, VerificationSettings())
    assert out.kept["parent_ids"].to_list() == [["r0"]]
    reasons = dict(zip([p[0] for p in out.rejects["parent_ids"]], out.rejects["reason"]))
    assert reasons == {"r1": "incorrect", "r2": "format", "r3": "repetition"}
    assert out.kept["verdict_correct"][0] == "correct" and out.kept["pass_rate"][0] == 0.75  # 3 of 4 samples verify
    assert (
        out.rejects.filter(pl.col("reason") == "format")["verdict_correct"][0] == "correct"
    )  # verdicts kept on rejects


def test_code_is_verified_in_the_sandbox():
    tests = json.dumps({"kind": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}]})
    data = rows(
        "code",
        [
            "<think>sum</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```",
            "<think>oops</think>\n```python\nprint(0)\n```",
            "<think>escape</think>\n```python\nprint(open('/etc/shadow').read())\n```",
        ],
        problem="Read two integers and print their sum.",
        info_type="test_cases",
        reference_answer=None,
        test_cases=tests,
    )
    out = verify_responses(data, None, Sandbox(), VerificationSettings())
    assert out.kept["parent_ids"].to_list() == [["r0"]]
    details = dict(zip([p[0] for p in out.rejects["parent_ids"]], out.rejects["detail"]))
    assert "wrong output '0'" in details["r1"] and "Error" in details["r2"]


def test_format_and_repetition_rules():
    row = {"response": "<think>a</think>", "domain": "chat", "origin": "teacher", "finish_reason": "stop"}
    assert check_format(row) == "fail: nothing after the reasoning"
    assert check_format({**row, "finish_reason": "length"}).startswith("fail: truncated")
    assert check_format({**row, "response": "def f():\n    return 1", "domain": "code", "origin": "source"}) == "pass"
    long_loop = " ".join(["the same twenty words repeated over and over in a loop that never ends at all"] * 30)
    assert check_repetition(long_loop, VerificationSettings()).startswith("fail")
    assert check_repetition("a normal answer with different words " * 2, VerificationSettings()) == "pass"


def test_conversation_uses_the_domain_template():
    assert "```python" in conversation("code", "Print 1.", "")[0]["content"]


def test_llm_judge_and_reward_model_scores(tmp_path, tiny_model):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from thinkforge.judging import RewardModel, parse_rubric

    reply = "Correctness: 1\nHelpfulness: 4\nCoherence: 5\nComplexity: 2\nVerbosity: 3\nVerdict: incorrect\nSafe: yes"
    assert parse_rubric(reply)["score_judge_correctness"] == 1 and parse_rubric(reply)["judge_verdict"] == "incorrect"
    data = rows(
        "science",
        ["<think>m v</think> 4 m/s", "<think>m v</think> 9 m/s"],
        reference_answer="4 m/s",
        problem="A 2 kg block at 3 m/s hits a 1 kg block elastically. Speed of the 1 kg block?",
    )
    calls = []

    def judge(conversations):
        calls.append(len(conversations))
        return [reply.replace("Correctness: 1", "Correctness: 5").replace("incorrect", "correct"), reply]

    tok = AutoTokenizer.from_pretrained(tiny_model)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=5,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    out = verify_responses(
        data,
        None,
        None,
        VerificationSettings(reward_percentile=0),
        judge=judge,
        reward=RewardModel(str(tmp_path / "rm")),
    )
    assert calls == [2]
    assert out.kept["parent_ids"].to_list() == [["r0"]] and out.kept["verdict_correct"][0] == "correct"
    assert out.rejects["reason"].to_list() == ["incorrect"]  # the judge's verdict against the reference
    assert out.kept["score_reward_helpfulness"][0] is not None and out.kept["score_reward"][0] is not None
    three = rows(
        "chat",
        ["<think>a</think> Hello there.", "<think>b</think> Hi! How can I help?", "<think>c</think> Good day."],
        reference_answer=None,
        problem="Say hello.",
    )
    ranked = verify_responses(
        three, None, None, VerificationSettings(reward_percentile=50), reward=RewardModel(str(tmp_path / "rm"))
    )
    assert (
        ranked.rejects["reason"].to_list() == ["reward"] and ranked.kept.height == 2
    )  # the bottom of three by reward
    assert ranked.rejects["score_reward"][0] < min(ranked.kept["score_reward"])


def test_repetition_counts_unspaced_chinese_per_character():
    looped = "这是一个重复的句子。" * 200
    assert check_repetition(looped, VerificationSettings()).startswith("fail")
    assert check_repetition("这是一个不重复的句子，答案是四。", VerificationSettings()) == "pass"
