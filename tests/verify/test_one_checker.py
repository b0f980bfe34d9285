"""One definition of correct: the same (problem, answer) pairs get the same verdict from every stage that needs one
(verified_responses, policy_samples, s2r_trajectories, refined_solutions, the RL reward, model_eval).

The pairs: math with a numeric reference (math-verify), math with a text reference and science with a reference
(the judge role against the reference), code with tests (the sandbox), and a problem with no reference
(unscorable). The judge is a rule that reads the judge prompt (the reference's words in the answer: correct;
"maybe" in the answer: a reply with no judgement, so unscorable), the same judge every stage is given."""

import json

import polars as pl
import pytest

from thinkforge.distill import SCHEMA as RESPONSE_SCHEMA
from thinkforge.evaluation import grade
from thinkforge.generation import Completion
from thinkforge.refinement import RefineSettings, refine
from thinkforge.refinement.checklist import generic_criteria
from thinkforge.s2r import PolicySampleSettings, sample_policy
from thinkforge.s2r.trajectories import TrajectorySettings, build_trajectories
from thinkforge.stage import frame
from thinkforge.training.rewards import OutcomeReward
from thinkforge.verification import VerificationSettings, best_answers, verify_responses
from thinkforge.verify import AnswerChecker, Limits, MathVerifier, Sandbox, Verdict

TESTS = json.dumps({"kind": "stdio", "cases": [{"input": "3\n", "output": "6\n"}, {"input": "5\n", "output": "10\n"}]})
PROBLEMS = {
    "math_numeric": ("math", "What is 2 + 2?", "4", None),
    "math_text": ("math", "Is there a largest prime number?", "No, there is no largest prime", None),
    "code": ("code", "Read n from stdin and print 2n.", None, TESTS),
    "science": ("science", "Which gas do plants take in for photosynthesis?", "carbon dioxide", None),
    "no_reference": ("science", "Why is the sky blue?", None, None),
}
# (problem, answer, the verdict every stage must reach: True / False / None = unscorable)
PAIRS = [
    ("math_numeric", "<think>2 + 2 = 4</think> The answer is \\boxed{4}.", True),
    ("math_numeric", "<think>2 + 2 = 5</think> The answer is \\boxed{5}.", False),
    ("math_text", "<think>Euclid</think> \\boxed{\\text{No, there is no largest prime}}", True),
    ("math_text", "<think>primes stop</think> \\boxed{\\text{Yes, it is 97}}", False),
    ("code", "<think>double it</think>\n```python\nn = int(input())\nprint(2 * n)\n```", True),
    ("code", "<think>add two</think>\n```python\nn = int(input())\nprint(n + 2)\n```", False),
    ("science", "<think>photosynthesis</think> Plants take in carbon dioxide.", True),
    ("science", "<think>breathing</think> Plants take in oxygen.", False),
    ("science", "<think>unsure</think> maybe nitrogen", None),
    ("no_reference", "<think>light</think> Rayleigh scattering.", None),
]


def rule_judge(conversations):
    """The judge role: on a judge_answer prompt, `correct` when the answer holds the reference's words, no judgement
    when it says "maybe", else `incorrect`; no reply to anything else (the verification rubric)."""
    replies = []
    for c in conversations:
        text = c[-1]["content"]
        if "Reference answer:\n" not in text:
            replies.append("")
            continue
        reference = text.split("Reference answer:\n", 1)[1].split("\n\nAnswer to check:", 1)[0]
        answer = text.split("Answer to check:\n", 1)[1].split("\n\nDoes the answer", 1)[0]
        replies.append("I cannot tell" if "maybe" in answer else "correct" if reference in answer else "incorrect")
    return replies


def problem(k: int) -> dict:
    name, _, _ = PAIRS[k]
    domain, text, reference, tests = PROBLEMS[name]
    return {
        "id": f"p{k}",
        "domain": domain,
        "source": "s",
        "problem": f"{text} (pair {k})",
        "reference_answer": reference,
        "test_cases": tests,
        "difficulty": 3,
    }


@pytest.fixture(scope="module")
def checker():
    with MathVerifier(workers=1) as math:
        yield AnswerChecker(math, Sandbox(limits=Limits(timeout_s=5, memory_mb=256)), rule_judge)


EXPECTED = [truth for _, _, truth in PAIRS]


def test_the_checker_itself(checker):
    verdicts = checker.check([problem(k) for k in range(len(PAIRS))], [a for _, a, _ in PAIRS])
    assert [v.correct for v in verdicts] == EXPECTED, [(v.verdict, v.detail) for v in verdicts]
    assert [v.by for v in verdicts] == [
        "math-verify",
        "math-verify",
        "judge",  # math-verify cannot decide a text reference: the judge reads it
        "judge",
        "sandbox",
        "sandbox",
        "judge",
        "judge",
        "judge",
        None,
    ]
    assert verdicts[8].verdict == "unparsed" and verdicts[9].verdict == "unchecked"
    # without a judge role a text reference or a science answer is unscorable, never wrong
    alone = AnswerChecker(checker.math).check([problem(2), problem(7)], [PAIRS[2][1], PAIRS[7][1]])
    assert [(v.verdict, v.correct) for v in alone] == [("text_reference", None), ("unchecked", None)]


def test_every_stage_reaches_the_checkers_verdict(checker):
    n = len(PAIRS)
    problems = [problem(k) for k in range(n)]
    answers = [a for _, a, _ in PAIRS]

    # verified_responses: verdict_correct (its `skip` is the checker's unchecked)
    responses = frame(
        [
            {
                **p,
                "id": f"r{k}",
                "parent_ids": [p["id"]],
                "info_type": "reference_answer",
                "category": "x",
                "model": "teacher",
                "origin": "teacher",
                "prompt_id": "x",
                "sampling": "{}",
                "sample_index": 0,
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "finish_reason": "stop",
                "source_correct": None,
                "response": answers[k],
            }
            for k, p in enumerate(problems)
        ],
        RESPONSE_SCHEMA,
    )
    out = verify_responses(
        responses, checker.math, checker.sandbox, VerificationSettings(judge_min_correctness=0), judge=rule_judge
    )
    verdicts = {
        r["parent_ids"][0]: r["verdict_correct"] for r in pl.concat([out.kept, out.rejects], how="diagonal").to_dicts()
    }
    truth = [{"skip": None}.get(v, Verdict(v, "").correct) for v in (verdicts[f"r{k}"] for k in range(n))]
    assert truth == EXPECTED, ("verified_responses", verdicts)

    # policy_samples: `correct` of each sample (a problem with no reference is not sampled: no checkable truth)
    def policy(conversations, params, k):
        by_text = {p["problem"]: a for p, a in zip(problems, answers)}
        return [[Completion(by_text[c[-1]["content"]], finish_reason="stop")] for c in conversations]

    samples = sample_policy(
        pl.DataFrame(problems), policy, "policy", checker, PolicySampleSettings(samples=1), log=lambda _: None
    )
    correct = {r["parent_ids"][0]: r["correct"] for r in samples.kept.to_dicts()}
    assert samples.rejects.filter(pl.col("reason") == "no_checkable_truth")["parent_ids"].to_list() == [["p9"]]
    assert [correct.get(f"p{k}") for k in range(n)] == EXPECTED, ("policy_samples", correct)
    assert samples.report.unscorable == 1  # the judge's reply without a judgement

    # s2r_trajectories: the truth each verification must match is the sample's; an unscorable one is not verified
    def teacher(conversations, params, k):
        return [
            [Completion("Checked. Therefore, the answer is correct.", finish_reason="stop")] for _ in conversations
        ]

    settings = TrajectorySettings(refine_verifications=False)
    trajectories = build_trajectories(samples.kept, {}, teacher, "teacher", settings, log=lambda _: None)
    records = {
        r["parent_ids"][0]: json.loads(r["verifications"])
        for r in pl.concat([trajectories.kept, trajectories.rejects], how="diagonal").to_dicts()
    }
    sample_of = {r["parent_ids"][0]: r for r in samples.kept.to_dicts()}
    got = []
    for k in range(n - 1):
        answer = sample_of[f"p{k}"]["answer"]
        got.append(next((v["correct"] for v in records[f"p{k}"] if v["answer"] == answer), None))
    assert got == EXPECTED[:-1], ("s2r_trajectories", records)

    # refined_solutions: each problem's candidate (its verified response's answer) and the verdict it gets
    checklists = [
        {**p, "id": f"cl{k}", "parent_ids": [p["id"]], "criteria": generic_criteria(p["domain"])}
        for k, p in enumerate(problems)
    ]
    accepted = [
        {
            "id": f"v{k}",
            "parent_ids": [p["id"]],
            "problem": p["problem"],
            "domain": p["domain"],
            "response": answers[k],
            "origin": "teacher",
        }
        | {"verdict_correct": "correct", "score_reward": None, "score_judge_correctness": 4}
        for k, p in enumerate(problems)
    ]

    def evaluator(conversations, params, k):
        items = "\n".join(f"{i}. PASS - fine" for i in range(1, 8))
        return [[Completion(f"{items}\nSCORE: 10", finish_reason="stop")] for _ in conversations]

    refined = refine(
        pl.DataFrame(checklists),
        best_answers(pl.DataFrame(accepted)),
        [("e", evaluator)],
        None,
        None,
        checker,
        RefineSettings(),
        log=lambda _: None,
    )
    rounds = {
        r["problem"]: r["rounds"][0]["verified"]
        for r in pl.concat([refined.kept, refined.rejects], how="diagonal").to_dicts()
    }
    assert [rounds[p["problem"]] for p in problems] == EXPECTED, ("refined_solutions", rounds)

    # rl_model: the outcome reward of each answer (±1; None for an unscorable completion, never −1)
    reward = OutcomeReward(checker)
    rewards = reward(
        None,
        [[{"role": "assistant", "content": a}] for a in answers],
        [p["domain"] for p in problems],
        [p["problem"] for p in problems],
        [p["reference_answer"] or "" for p in problems],
        [p["test_cases"] or "" for p in problems],
    )
    assert [None if r is None else r > 0 for r in rewards] == EXPECTED, ("rl reward", rewards)
    assert reward.unscorable == 2

    # model_eval: `correct` of each graded answer
    rows = [
        {
            **p,
            "parent_ids": [p["id"]],
            "problem_id": p["id"],
            "eval_set": "set",
            "item": p["id"],
            "model": "m",
            "model_path": "m",
            "model_id": "m",
            "prompt_format": "distill",
            "prompt_id": "x",
            "prompt": "[]",
            "sampling": "{}",
            "sample_index": 0,
            "response": answers[k],
            "finish_reason": "stop",
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "error": None,
        }
        for k, p in enumerate(problems)
    ]
    graded = {r["problem_id"]: r["correct"] for r in grade(rows, checker).kept.to_dicts()}
    assert [graded[f"p{k}"] for k in range(n)] == EXPECTED, ("model_eval", graded)
