"""S²R construction on hand-built sample sets: each wrong-count case, distinct answers, masks, fallback."""

import polars as pl
import pytest

from thinkforge.generation import Completion
from thinkforge.s2r import TrajectorySettings, build_trajectories
from thinkforge.s2r.actions import RETRY_SEP, VERIFY_SEP, action_masks, parse_actions, render, segments
from thinkforge.s2r.trajectories import build_trajectory, target_attempts

KEEP_ALL = TrajectorySettings(keep_probability={"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0})
PROBLEM = {"id": "p", "domain": "math", "source": "s", "problem": "x?", "reference_answer": "6", "test_cases": None}


def sample(i, answer, correct):
    return {"id": f"s{i}", "answer": answer, "correct": correct, "response": f"attempt {i}: \\boxed{{{answer}}}"}


def verification(answer, truth, kept=True):
    verdict = ("correct" if truth else "incorrect") if kept else ("incorrect" if truth else "correct")
    return {"answer": answer, "correct": truth, "verdict": verdict, "kept": kept, "text": f"check {answer}"}


@pytest.mark.parametrize(
    ("wrong", "distinct_verified_wrong", "expected"),
    [
        (0, 0, (1, True)),
        (1, 1, (2, True)),
        (1, 0, (1, False)),
        (2, 2, (3, True)),
        (3, 1, (2, False)),
        (4, 3, (4, True)),
        (5, 2, (3, False)),
        (4, 1, (2, False)),
    ],
)
def test_attempts_by_wrong_count(wrong, distinct_verified_wrong, expected):
    assert target_attempts(wrong, 5, distinct_verified_wrong) == expected


def test_three_attempts_distinct_wrong_answers_last_correct_and_mask():
    samples = [
        sample(0, "5", False),
        sample(1, "5", False),
        sample(2, "7", False),
        sample(3, "6", True),
        sample(4, "6", True),
    ]
    verifs = {"5": verification("5", False), "7": verification("7", False), "6": verification("6", True)}
    row, reason, _ = build_trajectory(PROBLEM, samples, verifs, None, KEEP_ALL)
    assert reason == "" and row["attempts"] == 3 and row["difficulty"] == 3 and not row["used_fallback"]
    kinds = [(a["kind"], a["correct"], a["verdict"]) for a in row["actions"]]
    assert kinds == [
        ("solve", False, None),
        ("verify", None, "incorrect"),
        ("solve", False, None),
        ("verify", None, "incorrect"),
        ("solve", True, None),
        ("verify", None, "correct"),
    ]
    assert [a["mask"] for a in row["actions"]] == [0, 1, 0, 1, 1, 1]
    assert row["actions"][0]["text"].endswith("{5}") and row["actions"][2]["text"].endswith("{7}")  # distinct answers
    assert row["actions"][1]["text"].endswith("Therefore, the answer is incorrect.")
    assert row["parent_ids"] == ["p", "s0", "s2", "s3"]
    assert (
        row["response"] == render(row["actions"])
        and row["response"].count(VERIFY_SEP) == 3
        and row["response"].count(RETRY_SEP) == 2
    )


def test_parse_reads_back_a_rendered_trajectory():
    actions = [
        {"kind": "solve", "text": "a \\boxed{5}", "mask": 0},
        {"kind": "verify", "text": "no. Therefore, the answer is incorrect.", "mask": 1},
        {"kind": "solve", "text": "b \\boxed{6}", "mask": 1},
        {"kind": "verify", "text": "yes. Therefore, the answer is correct.", "mask": 1},
    ]
    parsed = parse_actions(render(actions))
    assert [a.strip() for a in parsed.attempts] == ["a \\boxed{5}", "b \\boxed{6}"]
    assert parsed.verifications == [(0, "incorrect"), (1, "correct")]
    assert "".join(t for t, _ in segments(actions)) == render(actions) and action_masks(actions) == [0, 1, 1, 1]


def test_single_attempt_trains_on_everything_and_keep_probability_is_seeded():
    samples = [sample(i, "6", True) for i in range(5)]
    verifs = {"6": verification("6", True)}
    row, _, _ = build_trajectory(PROBLEM, samples, verifs, None, KEEP_ALL)
    assert row["attempts"] == 1 and [a["mask"] for a in row["actions"]] == [1, 1]
    never = TrajectorySettings(keep_probability={"1": 0.0})
    assert build_trajectory(PROBLEM, samples, verifs, None, never)[1] == "not_sampled"
    draws = [
        build_trajectory({**PROBLEM, "id": f"p{i}"}, samples, verifs, None, TrajectorySettings())[1]
        for i in range(200)
    ]
    assert draws == [
        build_trajectory({**PROBLEM, "id": f"p{i}"}, samples, verifs, None, TrajectorySettings())[1]
        for i in range(200)
    ]
    assert 0.1 < draws.count("") / 200 < 0.4  # S²R keeps ~24% of one-attempt trajectories


def test_fallback_and_rejections():
    samples = [sample(i, "5", False) for i in range(5)]
    verifs = {"5": verification("5", False), "__gold__": verification("6", True)}
    fallback = {"id": "v9", "text": "verified solution \\boxed{6}"}
    row, _, _ = build_trajectory(PROBLEM, samples, verifs, fallback, KEEP_ALL)
    assert row["used_fallback"] and row["attempts"] == 2 and row["actions"][2]["origin"] == "verified_response"
    assert row["parent_ids"][-1] == "v9"
    assert build_trajectory(PROBLEM, samples, verifs, None, KEEP_ALL)[1] == "no_correct_sample"
    off = TrajectorySettings(fallback=False, keep_probability=KEEP_ALL.keep_probability)
    assert build_trajectory(PROBLEM, samples, verifs, fallback, off)[1] == "no_correct_sample"
    right = [sample(0, "6", True)]
    assert (
        build_trajectory(PROBLEM, right, {"6": verification("6", True, kept=False)}, None, KEEP_ALL)[1]
        == "no_surviving_verification"
    )


def test_build_trajectories_verifies_each_distinct_answer_gold_first_and_reports_accuracy():
    rows = [
        {
            **PROBLEM,
            "id": f"s{i}",
            "parent_ids": ["p"],
            "sample_index": i,
            "answer": a,
            "correct": a == "6",
            "response": f"\\boxed{{{a}}}",
        }
        for i, a in enumerate(["5", "6", "5"])
    ]
    asked = []

    def teacher(conversations, params, n):
        asked.extend(c[-1]["content"].split("* Answer:\n")[1].split("\n")[0] for c in conversations)
        return [
            [Completion("It checks out. Therefore, the answer is correct.", finish_reason="stop")]
            for _ in conversations
        ]

    out = build_trajectories(pl.DataFrame(rows), {}, teacher, "t", KEEP_ALL, log=lambda _: None)
    assert asked == ["6", "5"]  # the gold answer first; the sample answer equal to gold is not asked twice
    assert out.conserved and out.kept.height == 1 and out.kept["attempts"][0] == 1  # "5" was called correct: not kept
    assert (
        out.report["verification_accuracy_when_right"] == 1.0 and out.report["verification_accuracy_when_wrong"] == 0.0
    )
