"""verified_responses: the rule verdicts, math-verify and sandbox correctness, the judge rubric and reward scores."""

import json

import polars as pl

from thinkforge.distill import SCHEMA
from thinkforge.stage import frame
from thinkforge.verification import VerificationSettings, verify_responses
from thinkforge.verify import MathVerifier, Sandbox
from thinkforge.verify.rules import check_format, check_repetition


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

    def judge(conversations):  # rates the 9 m/s answer wrong, in its check against the reference and its rubric
        calls.append(len(conversations))
        good = reply.replace("Correctness: 1", "Correctness: 5").replace("incorrect", "correct")
        return [reply if "9 m/s" in c[-1]["content"] else good for c in conversations]

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
    assert calls == [2, 1]  # both answers checked against the reference, then the rubric on the right one
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


def test_judge_reads_a_final_answer_stated_in_words_only_when_configured_and_written():
    from thinkforge.judging import parse_extracted_answer

    data = rows(
        "math",
        [
            "Adding the four cases, 1 + 15 + 45 + 15, we get 76 involutions in total. Done.",
            "Counting fixed points case by case and summing: 75 involutions.\n\nThat is all.",
            "We list them and count 76.\nQED",  # the judge will invent 77
            "Let us think about it some more. Nothing else.",
        ],
        origin="source",  # a source's own solution (a teacher's must box its answer: the format rule)
        problem="How many involutions does the set {1, 2, 3, 4, 5, 6} have?",
        reference_answer="76",
    )
    replies = {"Adding": "76", "Counting": "The answer is 75.", "We list": "77", "Let us": "NONE"}
    prompts = []

    def judge(conversations):
        prompts.extend(c[0]["content"] for c in conversations)
        assert all("What final answer does the solution itself state" in c[0]["content"] for c in conversations)
        return [next(v for k, v in replies.items() if k in c[0]["content"]) for c in conversations]

    with MathVerifier(workers=1) as math:
        off = verify_responses(data, math, None, VerificationSettings(), judge=judge)
        assert set(off.rejects["verdict_correct"]) == {"no_answer"} and prompts == []  # off by default: never asked
        on = verify_responses(data, math, None, VerificationSettings(judge_extracts_answers=True), judge=judge)
    assert len(prompts) == 4 and not any("76" in p and "reference" in p.lower() for p in prompts)  # no reference
    verdicts = dict(zip([p[0] for p in on.rejects["parent_ids"]], on.rejects["verdict_correct"]))
    assert on.kept["parent_ids"].to_list() == [["r0"]] and on.kept["verdict_correct"][0] == "correct"
    assert "(answer: judge)" in on.kept["verdict_detail"][0]
    assert verdicts == {"r1": "wrong", "r2": "no_answer", "r3": "no_answer"}  # 77 is not in the response: not believed
    assert (
        "the judge found none the response writes"
        in on.rejects.filter(pl.col("verdict_correct") == "no_answer")["verdict_detail"][0]
    )
    assert on.report.math_answer_basis["judge"] == 2
    assert parse_extracted_answer("6", "There are 76 involutions.") is None  # a digit of 76 is not the answer 6


def test_repetition_counts_unspaced_chinese_per_character():
    looped = "这是一个重复的句子。" * 200
    assert check_repetition(looped, VerificationSettings()).startswith("fail")
    assert check_repetition("这是一个不重复的句子，答案是四。", VerificationSettings()) == "pass"
