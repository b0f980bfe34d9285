"""S²R construction on hand-built sample sets: each wrong-count case, distinct answers, masks, fallback."""

import json

import polars as pl
import pytest

from thinkforge.generation import Completion
from thinkforge.s2r import TrajectorySettings, build_trajectories
from thinkforge.s2r.actions import RETRY_SEP, VERIFY_SEP, action_masks, parse, parse_actions, render, segments
from thinkforge.s2r.trajectories import build_trajectory, real_self_correction, target_attempts

# every trajectory kept, the teacher's verifications as written, the fallback on (S²R's defaults: keep draws, a
# rewrite pass, no fallback); tests that need otherwise say so
KEEP_ALL = TrajectorySettings(
    keep_probability={"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0}, refine_verifications=False, fallback=True
)
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
    assert row["parent_ids"] == ["p", "s0", "s2", "s3", "s1", "s4"]  # attempts in order, then the other samples
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
    assert row["parent_ids"] == ["p", "s0", "v9", "s1", "s2", "s3", "s4"]
    assert build_trajectory(PROBLEM, samples, verifs, None, KEEP_ALL)[1] == "no_correct_sample"
    off = KEEP_ALL.model_copy(update={"fallback": False})
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
    assert out.report.verification_accuracy_when_right == 1.0 and out.report.verification_accuracy_when_wrong == 0.0
    assert out.report.fallback_share == 0.0 and out.report.self_corrections == 0  # one attempt corrects nothing


@pytest.mark.parametrize(
    ("wrong", "k", "distinct_verified_wrong", "expected"),
    [
        (0, 3, 0, (1, True)),
        (1, 3, 1, (2, False)),  # 1 of 3 wrong ≈ 2 of 5: three attempts wanted, only one wrong answer → 2, always kept
        (2, 3, 2, (3, True)),
        (3, 3, 3, (4, True)),
        (3, 3, 2, (3, False)),
        (0, 8, 0, (1, True)),
        (2, 8, 1, (2, True)),  # 2 of 8 wrong ≈ 1 of 5
    ],
)
def test_attempts_scale_the_wrong_count_to_k_5(wrong, k, distinct_verified_wrong, expected):
    assert target_attempts(wrong, k, distinct_verified_wrong) == expected


def _rows(answers):
    return [
        {
            **PROBLEM,
            "id": f"s{i}",
            "parent_ids": ["p"],
            "sample_index": i,
            "answer": a,
            "correct": a == "6",
            "response": f"\\boxed{{{a}}}",
        }
        for i, a in enumerate(answers)
    ]


def _teacher(replies: dict[str, str], asked: list | None = None):
    """Answers each verification prompt by the answer it asks about (a scripted teacher)."""

    def generate(conversations, params, n):
        out = []
        for c in conversations:
            prompt = c[-1]["content"]
            answer = prompt.split("* Answer:\n")[1].split("\n")[0]
            if asked is not None:
                asked.append(answer)
            out.append([Completion(replies[answer], finish_reason="stop")])
        return out

    return generate


def test_verdict_rule_exact_ending_vs_the_s2r_code_parser():
    rows = pl.DataFrame(_rows(["5", "6"]))
    replies = {"6": "12 + 27 = 39, so the answer is correct", "5": "10 + 27 = 37. Therefore, the answer is incorrect."}
    exact = build_trajectories(rows, {}, _teacher(replies), "t", KEEP_ALL, log=lambda _: None)
    assert exact.conserved and exact.kept.height == 0
    assert exact.rejects["reason"].to_list() == ["no_surviving_verification"]  # the right answer's check has no ending
    assert exact.report.verification_accuracy_when_right == 0.0 and exact.report.no_verdict == 1
    lenient = KEEP_ALL.model_copy(update={"verdict_rule": "s2r_code"})
    out = build_trajectories(rows, {}, _teacher(replies), "t", lenient, log=lambda _: None)
    assert out.kept.height == 1 and out.kept["attempts"][0] == 2
    final_check = out.kept["actions"][0][-1]["text"]
    assert final_check == "12 + 27 = 39, so the answer is correct\n\nTherefore, the answer is correct."  # closed
    assert out.kept["response"][0].endswith(final_check)


def test_refinement_pass_replaces_a_verification_only_when_it_keeps_the_verdict():
    rows = pl.DataFrame(_rows(["5", "6"]))
    replies = {"6": "27 + 12 = 39. Therefore, the answer is correct.", "5": "Therefore, the answer is incorrect."}

    def teacher(conversations, params, n):
        out = []
        for c in conversations:
            prompt = c[-1]["content"]
            if prompt.startswith("Rewrite"):  # the refinement pass: the wrong answer's rewrite flips its verdict
                answer = prompt.split("* Answer:\n")[1].split("\n")[0]
                text = (
                    "I substitute 6: 27 + 12 = 39. Therefore, the answer is correct."
                    if answer == "6"
                    else "Looks fine. Therefore, the answer is correct."
                )
            else:
                text = replies[prompt.split("* Answer:\n")[1].split("\n")[0]]
            out.append([Completion(text, finish_reason="stop")])
        return out

    settings = KEEP_ALL.model_copy(update={"refine_verifications": True})
    out = build_trajectories(rows, {}, teacher, "t", settings, log=lambda _: None)
    actions = out.kept["actions"][0]
    assert actions[-1]["text"] == "I substitute 6: 27 + 12 = 39. Therefore, the answer is correct."  # refined
    assert actions[1]["text"] == "Therefore, the answer is incorrect."  # the flipped rewrite was not used
    record = {v["answer"]: v for v in json.loads(out.kept["verifications"][0])}
    assert record["6"]["refined"] and not record["5"]["refined"] and record["6"]["gold"]


def test_every_problem_is_a_kept_row_or_a_reject_with_its_reason():
    samples = []
    for pid, answers in {"pa": ["6", "6"], "pb": ["5", "5"], "pc": ["7", "6"]}.items():
        samples += [{**r, "id": f"{pid}-{r['id']}", "parent_ids": [pid]} for r in _rows(answers)]
    replies = {
        "6": "27 + 12 = 39. Therefore, the answer is correct.",
        "5": "27 + 10 = 37. Therefore, the answer is incorrect.",
        "7": "27 + 14 = 41. Therefore, the answer is correct.",  # wrong verdict: not kept
    }
    out = build_trajectories(pl.DataFrame(samples), {}, _teacher(replies), "t", KEEP_ALL, log=lambda _: None)
    assert out.rows_in == 3 and out.kept.height + out.rejects.height == 3 and out.conserved
    by_problem = {r["parent_ids"][0]: r for r in out.kept.to_dicts() + out.rejects.to_dicts()}
    assert by_problem["pa"]["attempts"] == 1 and by_problem["pa"]["difficulty"] == 0
    assert by_problem["pb"]["reason"] == "no_correct_sample" and by_problem["pb"]["difficulty"] == 2
    assert by_problem["pc"]["attempts"] == 1  # the wrong answer's verification did not survive: no wrong attempt
    assert by_problem["pb"]["parent_ids"] == ["pb", "pb-s0", "pb-s1"]  # rejects name the samples they read
    assert (
        out.report.verification_accuracy_when_wrong == 0.5 and out.report.verification_accuracy == 0.8
    )  # 4 of 5 (gold ×3, "5", "7")


def test_a_correct_sample_cut_at_max_tokens_is_not_the_last_attempt():
    cut = [{**sample(0, "6", True), "finish_reason": "length"}, sample(1, "5", False)]
    verifs = {"5": verification("5", False), "__gold__": verification("6", True)}
    row, reason, detail = build_trajectory(PROBLEM, cut, verifs, None, KEEP_ALL)
    assert row is None and reason == "no_correct_sample" and detail.startswith("1 correct, all cut at max_tokens")
    fallback = {"id": "v9", "text": "verified solution \\boxed{6}"}
    row, _, _ = build_trajectory(PROBLEM, cut, verifs, fallback, KEEP_ALL)
    assert row["used_fallback"] and row["parent_ids"] == ["p", "s1", "v9", "s0"] and row["attempts"] == 2
    complete = [{**cut[0], "finish_reason": "stop"}, cut[1]]
    assert not build_trajectory(PROBLEM, complete, {**verifs, "6": verification("6", True)}, fallback, KEEP_ALL)[0][
        "used_fallback"
    ]


def test_a_wrong_sample_cut_at_max_tokens_is_no_attempt_and_is_not_verified():
    wrong = [sample(0, "5", False), {**sample(1, "7", False), "finish_reason": "length"}, sample(2, "6", True)]
    verifs = {a: verification(a, a == "6") for a in ("5", "7", "6")} | {"__gold__": verification("6", True)}
    row, _, _ = build_trajectory(PROBLEM, wrong, verifs, None, KEEP_ALL)
    assert row["attempts"] == 2 and "attempt 1:" not in row["response"]  # "7" was cut: its answer is not final
    asked = []

    def teacher(prompts, params, n=1):
        asked.extend(p[-1]["content"] for p in prompts)
        return [[Completion("Therefore, the answer is correct.", finish_reason="stop")] for _ in prompts]

    samples = [{**s, "parent_ids": ["p"], "sample_index": i, **PROBLEM} for i, s in enumerate(wrong)]
    build_trajectories(pl.DataFrame([{**s, "id": f"s{i}"} for i, s in enumerate(samples)]), {}, teacher, "t", KEEP_ALL)
    assert len(asked) == 2 and not any("7" in a.split("answer")[-1] for a in asked)  # the gold "6" and "5"


def test_exact_ending_gives_no_verdict_to_a_verification_cut_at_max_tokens():
    from thinkforge.s2r.trajectories import read_verdict

    text = "27 + 12 = 39. Therefore, the answer is correct."
    assert read_verdict(Completion(text, finish_reason="stop"), "exact_ending") == "correct"
    assert read_verdict(Completion(text, finish_reason="length"), "exact_ending") is None
    assert read_verdict(Completion("so it is correct and", finish_reason="length"), "s2r_code") == "correct"
    assert read_verdict(Completion(None, error="boom"), "s2r_code") is None


def test_answers_math_as_the_checker_reads_them_code_program_science_last_line():
    from thinkforge.s2r.samples import extract_answer
    from thinkforge.verify.mathcheck import check_pair

    assert extract_answer("math", "so x = 6 and \\boxed{6}") == "6"
    # an unboxed answer is the one the checker reads (a base policy that never boxes still gives wrong attempts)
    assert extract_answer("math", "So, Ravi puts 442 * 18 = 7448") == "7448"
    assert extract_answer("math", "<think>x is 5</think> The answer is 99.") == "99"
    assert extract_answer("math", "So, Ravi puts 442 * 18 = 7448", math_answers="boxed") is None  # S²R's reading
    assert extract_answer("math", "so he does not need to pack any more bags") is None  # states none: no attempt
    for response in ("So, Ravi puts 442 * 18 = 7448", "Ravi packs one bag of stamps.", "The answer is 99.", ""):
        stated = extract_answer("math", response) is not None
        assert stated == (check_pair("99", response).verdict != "no_answer"), response
    assert extract_answer("science", "The pressure doubles.") == "The pressure doubles."
    assert extract_answer("code", "```python\ndef f():\n\n    return 1   \n```") == "def f():\n    return 1"
    assert extract_answer("code", "no program") is None


@pytest.mark.parametrize("style", ["confirmative", "problem_solving"])
@pytest.mark.parametrize("domain", ["math", "science", "code"])
def test_verification_prompts_exist_for_every_style_and_domain(style, domain):
    from thinkforge.s2r.trajectories import verification_prompt

    [message] = verification_prompt(domain, "Solve {x}: 27 + 2x = 39.", "ANSWER-6", style)
    text = message["content"]
    assert message["role"] == "user" and "Solve {x}: 27 + 2x = 39." in text and "ANSWER-6" in text
    assert '"Therefore, the answer is correct." or "Therefore, the answer is incorrect."' in text
    assert ("step by step yourself" in text) == (style == "problem_solving")


def test_a_text_holding_an_action_marker_is_never_an_action():
    marker = "x = 5. Let me try again. x = 6 \\boxed{6}"
    samples = [{**sample(0, "6", True), "response": marker}, sample(1, "5", False), sample(2, "6", True)]
    verifs = {"5": verification("5", False), "6": verification("6", True)}
    row, _, _ = build_trajectory(PROBLEM, samples, verifs, None, KEEP_ALL)
    assert row["parent_ids"][:3] == ["p", "s1", "s2"]  # the sample holding the marker is not the last attempt
    assert parse(row["response"]) and [a["kind"] for a in parse(row["response"])] == [
        a["kind"] for a in row["actions"]
    ]
    noisy = {**verifs, "5": {**verifs["5"], "text": "Wait, let me recheck my solution. 5 is wrong."}}
    row, _, _ = build_trajectory(PROBLEM, samples, noisy, None, KEEP_ALL)
    assert row["attempts"] == 1  # the wrong answer's verification cannot be one action


def test_real_self_correction_needs_the_policys_own_wrong_then_right_attempts_and_true_verdicts():
    samples = [sample(0, "5", False), sample(1, "6", True)]
    verifs = {"5": verification("5", False), "6": verification("6", True), "__gold__": verification("6", True)}
    corrected, _, _ = build_trajectory(PROBLEM, samples, verifs, None, KEEP_ALL)
    assert corrected["attempts"] == 2 and real_self_correction(corrected["actions"])
    one, _, _ = build_trajectory(PROBLEM, [sample(1, "6", True)], verifs, None, KEEP_ALL)
    assert one["attempts"] == 1 and not real_self_correction(one["actions"])
    fallback = {"id": "v9", "text": "verified solution \\boxed{6}"}
    wrong_only = [sample(i, "5", False) for i in range(2)]
    fell_back, _, _ = build_trajectory(PROBLEM, wrong_only, verifs, fallback, KEEP_ALL)
    assert fell_back["attempts"] == 2 and not real_self_correction(fell_back["actions"])  # the fallback's answer
    lying = [dict(a) for a in corrected["actions"]]
    lying[1]["verdict"] = "correct"  # the verification calls the wrong first attempt correct
    assert not real_self_correction(lying)
