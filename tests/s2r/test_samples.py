"""policy_samples: K samples per checkable problem, checked by math-verify; every problem and sample accounted for."""

import polars as pl

from thinkforge.generation import Completion
from thinkforge.s2r.actions import SYSTEM
from thinkforge.s2r.samples import PolicySampleSettings, sample_policy
from thinkforge.verify import AnswerChecker, MathVerifier


def problem(pid, domain, reference, text=None):
    return {
        "id": pid,
        "domain": domain,
        "source": "s",
        "problem": text or f"problem {pid}",
        "reference_answer": reference,
        "test_cases": None,
        "difficulty": 3,
    }


def test_samples_are_checked_and_every_row_is_kept_or_rejected_with_a_reason():
    problems = pl.DataFrame(
        [
            problem("p1", "math", "6", "Solve 27 + 2x = 39."),
            problem("p2", "math", "\\frac{1}{2}", "Half of one?"),
            problem("p3", "math", None),  # no reference: not checkable
            problem("p4", "chat", None),
            problem("p5", "math", "3"),  # over max_problems
        ]
    )
    replies = {
        "Solve 27 + 2x = 39.": ["x = 6, so \\boxed{6}", "x = 5, so \\boxed{5}", None],
        "Half of one?": ["\\boxed{0.5}", "I think it is one half", "\\boxed{2}"],
    }
    seen = []

    def generate(conversations, params, n):
        seen.append((conversations, params, n))
        return [
            [
                Completion(t, finish_reason="stop") if t else Completion(None, error="server said 500")
                for t in replies[c[-1]["content"]]
            ]
            for c in conversations
        ]

    settings = PolicySampleSettings(samples=3, max_problems=2, temperature=0.7, max_tokens=64)
    with MathVerifier(workers=1) as math:
        out = sample_policy(problems, generate, "policy-x", AnswerChecker(math=math), settings, log=lambda _: None)
    conversations, params, n = seen[0]
    assert n == 3 and params.temperature == 0.7 and params.max_tokens == 64 and len(conversations) == 2
    assert conversations[0][0] == {"role": "system", "content": SYSTEM}
    assert out.conserved and out.rows_in == 9 == out.kept.height + out.rejects.height  # 5 samples + 4 rejects
    kept = out.kept.sort(["problem", "sample_index"]).to_dicts()
    assert [(r["answer"], r["correct"], r["sample_index"]) for r in kept] == [
        ("0.5", True, 0),  # math-verify: 0.5 == 1/2
        (None, False, 1),  # no boxed answer: no_answer (math-verify never guesses from the last number)
        ("2", False, 2),
        ("6", True, 0),
        ("5", False, 1),
    ]
    assert kept[1]["verdict"] == "no_answer" and kept[0]["model"] == "policy-x"
    assert [r["parent_ids"] for r in kept] == [["p2"]] * 3 + [["p1"]] * 2
    reasons = {(r["parent_ids"][0], r["reason"]) for r in out.rejects.to_dicts()}
    assert reasons == {
        ("p1", "generation_failed"),
        ("p3", "no_checkable_truth"),
        ("p4", "no_checkable_truth"),
        ("p5", "not_chosen"),
    }
    assert out.report.wrong_per_problem == {1: 1, 2: 1} and out.report.problems_sampled == 2
