"""The refinement loop's stopping and choosing rules, with scripted evaluators and reviser."""

import polars as pl
import pytest

from thinkforge.generation import Completion
from thinkforge.refinement import RefineSettings, refine
from thinkforge.refinement.checklist import generic_criteria
from thinkforge.verification import best_answers
from thinkforge.verify import AnswerChecker, MathVerifier

CRITERIA = ["Does it state the final answer?", "Is the arithmetic right?"]


def checklist_row(pid: str, domain: str = "math", reference: str | None = "4") -> dict:
    criteria = [{"text": c, "origin": "model"} for c in CRITERIA] + generic_criteria(domain)
    return {
        "id": f"cl-{pid}",
        "parent_ids": [pid],
        "domain": domain,
        "source": "s",
        "problem": f"problem {pid}: what is 2 + 2?",
        "reference_answer": reference,
        "test_cases": None,
        "criteria": criteria,
    }


def verified_row(problem: str, response: str) -> dict:
    return {
        "id": "v-" + problem[:9],
        "parent_ids": ["d1"],
        "domain": "math",
        "problem": problem,
        "response": response,
        "origin": "teacher",
        "verdict_correct": "correct",
        "score_reward": None,
        "score_judge_correctness": 4,
    }


def scripted(reply_for):
    """A generate callable whose reply depends on the candidate in the prompt; counts calls."""

    def generate(conversations, params, n):
        generate.calls += len(conversations)
        return [[Completion(reply_for(c[-1]["content"]), finish_reason="stop")] for c in conversations]

    generate.calls = 0
    return generate


def evaluation(n_items: int, passed: int, score: float) -> str:
    lines = [f"{i}. {'PASS' if i <= passed else 'FAIL'} - note {i}" for i in range(1, n_items + 1)]
    return "\n".join(lines) + f"\nSCORE: {score}"


N = len(CRITERIA) + 4  # math: 4 generic criteria


def candidate_of(prompt: str) -> str:
    return prompt.split("Candidate answer:\n", 1)[1].split("\n\nCriteria:", 1)[0]


def run(checklists, verified, evaluators, revise, settings, check=None):
    return refine(
        pl.DataFrame(checklists),
        best_answers(pl.DataFrame(verified)) if verified else {},
        evaluators,
        revise,
        None,
        check or AnswerChecker(),
        settings,
        log=lambda _: None,
    )


def test_all_items_pass_stops_at_round_one():
    row = checklist_row("p1")
    judge = scripted(lambda p: evaluation(N, N, 10))
    reviser = scripted(lambda p: "never used")
    out = run(
        [row], [verified_row(row["problem"], "<think>x</think>\\boxed{4}")], [("e", judge)], reviser, RefineSettings()
    )
    kept = out.kept.to_dicts()[0]
    assert (kept["n_rounds"], kept["stop_reason"], kept["solution_origin"]) == (1, "all_pass", "verified_response")
    assert kept["solution"] == "\\boxed{4}" and reviser.calls == 0 and out.conserved


def test_no_improvement_stops_and_keeps_the_best():
    row = checklist_row("p2")
    judge = scripted(lambda p: evaluation(N, 3, 8 if "first" in candidate_of(p) else 5))
    reviser = scripted(lambda p: "second draft \\boxed{4}")
    out = run(
        [row],
        [verified_row(row["problem"], "<think>t</think>first \\boxed{4}")],
        [("e", judge)],
        reviser,
        RefineSettings(max_rounds=5),
    )
    kept = out.kept.to_dicts()[0]
    assert (kept["n_rounds"], kept["stop_reason"], kept["best_round"]) == (2, "no_improvement", 1)
    assert kept["solution"].startswith("first") and kept["score_after"] == pytest.approx(0.8)
    assert [r["origin"] for r in kept["rounds"]] == ["verified_response", "revision"]


def test_max_rounds_with_steady_improvement():
    row = checklist_row("p3")
    scores = {"a": 2, "b": 4, "c": 6, "d": 9}
    judge = scripted(lambda p: evaluation(N, 1, scores[candidate_of(p)[0]]))
    nxt = {"a": "b", "b": "c", "c": "d"}
    reviser = scripted(lambda p: nxt[p.split("Current answer:\n", 1)[1][0]] + " \\boxed{4}")
    out = run(
        [row],
        [verified_row(row["problem"], "a \\boxed{4}")],
        [("e", judge)],
        reviser,
        RefineSettings(max_rounds=3, threshold=0.95),
    )
    kept = out.kept.to_dicts()[0]
    assert (kept["n_rounds"], kept["stop_reason"], kept["best_round"]) == (3, "max_rounds", 3)
    assert kept["solution"].startswith("c") and kept["score_before"] == pytest.approx(0.2)


def test_a_revision_that_breaks_verification_is_never_chosen():
    row = checklist_row("p4", reference="4")
    # the evaluators prefer the revision (10 vs 6) but its answer no longer verifies
    judge = scripted(lambda p: evaluation(N, 2, 10 if "revised" in candidate_of(p) else 6))
    reviser = scripted(lambda p: "revised: the answer is \\boxed{5}")
    with MathVerifier(workers=1) as math:
        out = run(
            [row],
            [verified_row(row["problem"], "<think>2+2</think>So \\boxed{4}")],
            [("e", judge)],
            reviser,
            RefineSettings(max_rounds=2, min_score=0.5),
            AnswerChecker(math),
        )
    kept = out.kept.to_dicts()[0]
    assert kept["solution"] == "So \\boxed{4}" and kept["verified"] is True and kept["best_round"] == 1
    assert "round 2: does not verify" in kept["not_chosen"] and out.report.not_verifying_revisions == 1
    assert [r["verified"] for r in kept["rounds"]] == [True, False]


def test_two_evaluators_are_aggregated_with_agreement():
    row = checklist_row("p5")
    strict = scripted(lambda p: evaluation(N, 0, 4))
    lenient = scripted(lambda p: evaluation(N, N, 8))
    out = run(
        [row],
        [verified_row(row["problem"], "x \\boxed{4}")],
        [("strict", strict), ("lenient", lenient)],
        None,
        RefineSettings(max_rounds=1),
    )
    kept = out.kept.to_dicts()[0]
    assert strict.calls == lenient.calls == 1
    assert kept["score_after"] == pytest.approx(0.6) and kept["agreement"] == 0.0
    assert kept["items_passed"] == [False] * N  # a tie is not a pass


def test_unparseable_replies_and_min_score_go_to_rejects_with_reasons():
    rows = [checklist_row("p6"), checklist_row("p7")]
    judge = scripted(lambda p: "I like it." if "p6" in p else evaluation(N, 0, 1))
    out = run(
        rows,
        [verified_row(r["problem"], "x \\boxed{4}") for r in rows],
        [("e", judge)],
        None,
        RefineSettings(max_rounds=1),
    )
    assert out.kept.is_empty() and out.conserved
    reasons = dict(zip(out.rejects["id"].to_list(), out.rejects["reason"].to_list()))
    assert sorted(reasons.values()) == ["below_min_score", "unscored"]


def test_teacher_draft_when_no_verified_response():
    row = checklist_row("p8", domain="chat", reference=None)
    drafts = scripted(lambda p: "<think>hm</think>A draft answer.")
    judge = scripted(lambda p: evaluation(len(CRITERIA) + 4, 6, 9))
    out = refine(
        pl.DataFrame([row]),
        {},
        [("e", judge)],
        None,
        drafts,
        AnswerChecker(),
        RefineSettings(),
        log=lambda _: None,
    )
    kept = out.kept.to_dicts()[0]
    assert kept["solution"] == "A draft answer." and kept["solution_origin"] == "teacher_draft" and drafts.calls == 1


def test_min_score_zero_keeps_an_unscored_candidate():
    row = checklist_row("p9")
    judge = scripted(lambda p: "I like it.")
    out = run(
        [row],
        [verified_row(row["problem"], "x \\boxed{4}")],
        [("e", judge)],
        None,
        RefineSettings(max_rounds=1, min_score=0.0),
    )
    kept = out.kept.to_dicts()[0]
    assert kept["score_after"] is None and kept["solution"] == "x \\boxed{4}"


def test_one_evaluator_is_reported_as_not_multi_model():
    row = checklist_row("p10")
    verified = [verified_row(row["problem"], "x \\boxed{4}")]
    judge = scripted(lambda p: evaluation(N, N, 10))
    one = run([row], verified, [("0:solo", judge)], None, RefineSettings(max_rounds=1))
    assert one.report.evaluators == ["0:solo"]
    assert "one evaluator (0:solo)" in one.report.warning and "THINKFORGE_EVALUATORS_MODEL" in one.report.warning
    two = run([row], verified, [("0:a", judge), ("1:b", judge)], None, RefineSettings(max_rounds=1))
    assert two.report.evaluators == ["0:a", "1:b"] and two.report.warning is None
