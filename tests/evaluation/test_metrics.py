"""Evaluation metrics on hand-built rows (each against a hand computation) and the S²R action parser."""

import json

import pytest

from thinkforge.evalsets import eval_problems
from thinkforge.evaluation import RETRY, VERIFY, compare, grade, parse_actions, verification_verdict
from thinkforge.evaluation import metrics as m
from thinkforge.verify import AnswerChecker, MathVerifier, Sandbox, judge_prompt, parse_judgement


def row(problem, correct, first, verdicts=(), truths=(), fmt="fail: no closed <think>…</think> block", tokens=10):
    return {
        "model": "a",
        "problem_id": problem,
        "correct": correct,
        "first_correct": first,
        "self_verifies": bool(verdicts),
        "verification_verdicts": list(verdicts),
        "verified_attempts_correct": list(truths),
        "verdict_format": fmt,
        "completion_tokens": tokens,
    }


# p1: right and confirmed; p1: wrong, caught, corrected; p2: right but talked out of it (both verdicts wrong);
# p2: wrong, no verification; p3: wrong, a verification without a verdict; p4: not checkable.
ROWS = [
    row("p1", True, True, ["correct"], [True], fmt="pass", tokens=10),
    row("p1", True, False, ["incorrect", "correct"], [False, True], fmt="pass", tokens=20),
    row("p2", False, True, ["incorrect", "correct"], [True, False], tokens=30),
    row("p2", False, False, tokens=40),
    row("p3", False, False, ["none"], [False], tokens=50),
    row("p4", None, None, tokens=60),
]


def test_each_metric_matches_a_hand_computation():
    assert m.accuracy(ROWS) == pytest.approx(2 / 5)  # r1, r2 of the five checked rows
    assert m.format_rate(ROWS) == pytest.approx(2 / 6)
    assert m.mean_tokens(ROWS) == pytest.approx(35.0)
    assert m.self_verify_rate(ROWS) == pytest.approx(4 / 6)  # r1, r2, r3, r5 verify at least once
    # verifications with a verdict: (c,T) (i,F) (c,T) (i,T) (c,F) → right: 1st, 2nd, 3rd
    assert m.verification_accuracy(ROWS) == pytest.approx(3 / 5)
    # on wrong attempts: (i,F) caught, (c,F) missed; r5's has no verdict
    assert m.error_recall(ROWS) == pytest.approx(1 / 2)
    # said "correct": (c,T) (c,T) (c,F)
    assert m.correct_precision(ROWS) == pytest.approx(2 / 3)
    assert m.incorrect_to_correct(ROWS) == pytest.approx(1 / 5)  # r2, over the five checked rows
    assert m.correct_to_incorrect(ROWS) == pytest.approx(1 / 5)  # r3
    # pass@2 per problem: p1 2/2 → 1; p2 0/2 → 0; p3 0/1 → 0 (k capped at n); p4 unchecked
    assert m.mean_pass_at_k(ROWS, 2) == pytest.approx(1 / 3)
    assert m.pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 − C(3,2)/C(5,2)
    assert m.pass_at_k(3, 0, 1) == 0.0 and m.pass_at_k(3, 3, 2) == 1.0


def test_rates_without_a_denominator_are_none_not_zero():
    plain = [row("p1", True, True), row("p2", False, False)]
    assert m.verification_accuracy(plain) is None
    assert m.error_recall(plain) is None and m.correct_precision(plain) is None
    assert m.self_verify_rate(plain) == 0.0
    assert m.accuracy([row("p1", None, None)]) is None
    summary = compare(plain + [{**r, "model": "b"} for r in ROWS], order=["b", "a"])
    assert [s["model"] for s in summary] == ["b", "a"]
    assert "| b | 6 | 0.400 (0.118–0.769) |" in m.markdown(summary) and "–" in m.markdown(summary)
    assert summary[1]["intervals"]["verification_accuracy"] is None  # no verification: no interval either


def test_wilson_and_newcombe_paired_intervals_match_published_values():
    low, high = m.wilson(11, 40)  # p = 0.275
    assert (round(low, 4), round(high, 4)) == (0.1611, 0.4283)
    assert m.wilson(0, 10)[0] == 0.0 and m.wilson(0, 0) is None
    # Fagerland, Lydersen & Laake (2017) ch. 8, Newcombe's square-and-add for the paired table [[59, 6], [16, 80]]:
    # estimate −0.0621 (95 % CI −0.1186 to −0.0046)
    pairs = [(True, True)] * 59 + [(True, False)] * 6 + [(False, True)] * 16 + [(False, False)] * 80
    d = m.paired_difference(pairs)
    assert (round(d["difference"], 4), round(d["low"], 4), round(d["high"], 4)) == (-0.0621, -0.1186, -0.0046)
    assert (d["n"], d["only_first"], d["only_second"]) == (161, 6, 16)
    assert m.paired_difference([]) is None


def test_summaries_carry_wilson_intervals_and_paired_differences_pair_the_same_rows():
    summary = m.summarize(ROWS)
    assert summary["intervals"]["accuracy"] == pytest.approx(list(m.wilson(2, 5)))
    assert summary["intervals"]["self_verify_rate"] == pytest.approx(list(m.wilson(4, 6)))
    assert m.summarize(ROWS, behaviour=False)["intervals"].get("self_verify_rate") is None
    base = [{**row(f"p{i}", i < 3, None), "model": "base_model", "sample_index": 0} for i in range(10)]
    sft = [{**row(f"p{i}", i < 8, None), "model": "sft_model", "sample_index": 0} for i in range(10)]
    sft.append({**row("p99", True, None), "model": "sft_model", "sample_index": 0})  # base never saw p99: unpaired
    (d,) = m.paired_differences(base + sft, [("sft_model", "base_model"), ("rl_model", "sft_model")])
    assert (d["model"], d["baseline"], d["n"], d["only_first"], d["only_second"]) == (
        "sft_model",
        "base_model",
        10,
        5,
        0,
    )
    assert d["difference"] == pytest.approx(0.5) and 0 < d["low"] < 0.5 < d["high"]
    assert "| sft_model | base_model | 10 | +0.500 (" in m.differences_markdown([d])


def test_regressions_compare_each_model_with_its_parent():
    summaries = [
        {"model": "base_model", "accuracy": 0.5},
        {"model": "sft_model", "accuracy": 0.25},
        {"model": "rl_model", "accuracy": 0.75},
    ]
    parents = {"sft_model": "base_model", "rl_model": "sft_model", "m1_model": "base_model"}
    pairs = {p["model"]: p for p in m.regressions(summaries, parents)}
    assert set(pairs) == {"sft_model", "rl_model"}  # m1_model was not evaluated
    assert pairs["sft_model"]["below"] and not pairs["rl_model"]["below"]
    assert (pairs["sft_model"]["model_score"], pairs["sft_model"]["parent_score"]) == (0.25, 0.5)


def test_parse_actions_and_verdicts_follow_the_s2r_format():
    text = (
        f"x = \\boxed{{5}}\n\n{VERIFY}\n\n27 + 2·5 = 37 ≠ 39. Therefore, the answer is incorrect.\n\n{RETRY}\n\n"
        f"x = \\boxed{{6}}\n\n{VERIFY}\n\n27 + 12 = 39. Therefore, the answer is correct."
    )
    b = parse_actions(text)
    assert len(b.attempts) == 2 and "boxed{6}" in b.attempts[1]
    assert b.verifications == [(0, "incorrect"), (1, "correct")] and b.self_verifies
    assert parse_actions("just an answer \\boxed{3}").verifications == []
    assert verification_verdict("Therefore, the answer is cannot be verified.") == "incorrect"
    assert verification_verdict("So this is incorrect.") == "incorrect"
    assert verification_verdict("Plugging in, 39 = 39, the answer is indeed right") == "correct"
    assert verification_verdict("Let me look at it again") is None


def _problem(domain, problem, reference=None, tests=None, pid="p"):
    return {
        "id": pid,
        "parent_ids": [pid],
        "problem_id": pid,
        "domain": domain,
        "source": "hand",
        "eval_set": "hand",
        "item": pid,
        "problem": problem,
        "reference_answer": reference,
        "test_cases": tests,
        "model": "m",
        "model_path": "/m",
        "model_id": "m@1",
        "prompt_format": "s2r",
        "prompt_id": "x",
        "sampling": "{}",
        "sample_index": 0,
        "finish_reason": "stop",
        "prompt_tokens": 5,
        "completion_tokens": 9,
        "error": None,
    }


def test_grade_checks_every_attempt_with_math_verify_and_the_sandbox():
    s2r = (
        f"<think>x = \\boxed{{5}}\n\n{VERIFY}\n\nTherefore, the answer is correct.\n\n{RETRY}\n\nx = \\boxed{{6}}\n\n"
        f"{VERIFY}\n\nTherefore, the answer is correct.</think>\n\nThe answer is \\boxed{{6}}."
    )
    he = eval_problems("code").kept.row(0, named=True)  # HumanEval/0: has_close_elements
    good = (
        "<think>compare every pair</think>\n\n```python\n"  # List comes from the prompt's own import
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```"
    )
    bad = good.replace("< threshold", "> threshold")
    rows = [
        {**_problem("math", "Solve 27 + 2x = 39.", "6", pid="m1"), "response": s2r},
        {**_problem("math", "Solve 27 + 2x = 39.", "6", pid="m1"), "response": "x = \\boxed{6}", "sample_index": 1},
        {**_problem("code", he["problem"], None, he["test_cases"], pid="c1"), "response": good},
        {**_problem("code", he["problem"], None, he["test_cases"], pid="c1"), "response": bad, "sample_index": 1},
        {
            **_problem("code", he["problem"], None, he["test_cases"], pid="c1"),
            "response": "no code",
            "sample_index": 2,
        },
        {**_problem("math", "?", "6", pid="m2"), "response": None, "error": "HTTP 500 after 4 retries"},
    ]
    with MathVerifier(workers=1) as math:
        out = grade(rows, AnswerChecker(math=math, sandbox=Sandbox()))
    assert out.rows_in == 6 and out.kept.height == 5
    assert out.rejects["reason"].to_list() == ["generation_failed"] and "HTTP 500" in out.rejects["detail"][0]
    got = {(r["problem_id"], r["sample_index"]): r for r in out.kept.to_dicts()}
    first = got[("m1", 0)]
    assert first["attempts"] == 2 and first["attempts_correct"] == [False, True]
    assert first["correct"] and not first["first_correct"] and first["self_verifies"]
    assert first["verification_verdicts"] == ["correct", "correct"]
    assert first["verified_attempts_correct"] == [False, True] and first["verdict_format"] == "pass"
    assert got[("m1", 1)]["correct"] and got[("m1", 1)]["verdict_format"] == "pass"  # s2r asks for no think block
    assert got[("c1", 0)]["correct"] and got[("c1", 0)]["verdict"] == "correct"
    assert got[("c1", 1)]["verdict"] == "wrong" and "failed" in got[("c1", 1)]["verdict_detail"]
    assert got[("c1", 2)]["verdict"] == "no_program" and got[("c1", 2)]["correct"] is False
    [summary] = compare(out.kept.filter(out.kept["domain"] == "math"))
    assert summary["accuracy"] == 1.0 and summary["incorrect_to_correct"] == 0.5
    assert summary["correct_precision"] == 0.5 and summary["error_recall"] == 0.0  # "correct" said of x = 5
    assert json.loads(rows[2]["test_cases"])["kind"] == "program"


def test_judge_replies_and_truncated_answers_get_their_own_verdicts():
    assert parse_judgement("Correct.") == "correct" and parse_judgement("incorrect, the unit is wrong") == "incorrect"
    assert parse_judgement("I think so") is None and parse_judgement(None) is None
    prompt = judge_prompt({"domain": "science", "problem": "Gas?", "reference_answer": "CO2"}, "<think>x</think> O2")
    assert "Reference answer:\nCO2" in prompt[0]["content"] and "Answer to check:\nO2" in prompt[0]["content"]
    cut = {**_problem("math", "Solve 27 + 2x = 39.", "6"), "response": "First, 27 + 2x", "finish_reason": "length"}
    with MathVerifier(workers=1) as math:
        [graded] = grade([cut], AnswerChecker(math=math)).kept.to_dicts()
    assert graded["verdict"] == "truncated" and graded["correct"] is False and "max_tokens" in graded["verdict_detail"]
    late = {**cut, "response": "x = \\boxed{5}, since 27 + 10 = 37 is"}  # cut off after a wrong final answer
    with MathVerifier(workers=1) as math:
        [graded] = grade([late], AnswerChecker(math=math)).kept.to_dicts()
    assert graded["verdict"] == "wrong"


def test_the_chart_draws_each_rate_with_its_interval():
    from thinkforge.evaluation.plots import bar_chart_png

    summaries = [{"model": "a", "prompt_format": "s2r", **m.summarize(ROWS)}]
    bare = [{**s, "intervals": {}} for s in summaries]
    with_bars = bar_chart_png(summaries)
    assert with_bars.startswith(b"\x89PNG") and with_bars == bar_chart_png(summaries)  # the same chart twice
    assert with_bars != bar_chart_png(bare)  # the error bars are drawn
