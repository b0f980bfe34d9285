"""The S²R action format: exact joins, parse as the inverse of render, the verdict regex, the action-level mask."""

import pytest

from thinkforge.s2r.actions import (
    RETRY_SEP,
    VERIFY_SEP,
    action_masks,
    parse,
    parse_verdict,
    render,
    segments,
    verification_verdict,
)


def act(kind, text, mask=0, correct=None, verdict=None, origin=None):
    return {"kind": kind, "text": text, "correct": correct, "verdict": verdict, "mask": mask, "origin": origin}


THREE = [
    act("solve", "x = 5, so \\boxed{5}", correct=False),
    act("verify", "27 + 10 = 37, not 39. Therefore, the answer is incorrect.", verdict="incorrect"),
    act("solve", "x = 7, so \\boxed{7}", correct=False),
    act("verify", "27 + 14 = 41, not 39. Therefore, the answer is incorrect.", verdict="incorrect"),
    act("solve", "x = 6, so \\boxed{6}", correct=True),
    act("verify", "27 + 12 = 39. Therefore, the answer is correct.", verdict="correct"),
]


def test_separators_and_render_use_the_exact_joins():
    assert VERIFY_SEP == "\n\nWait, let me recheck my solution.\n\n"
    assert RETRY_SEP == "\n\nLet me try again.\n\n"
    expected = (
        THREE[0]["text"]
        + VERIFY_SEP
        + THREE[1]["text"]
        + RETRY_SEP
        + THREE[2]["text"]
        + VERIFY_SEP
        + THREE[3]["text"]
        + RETRY_SEP
        + THREE[4]["text"]
        + VERIFY_SEP
        + THREE[5]["text"]
    )
    assert render(THREE) == expected
    assert render([{**a, "text": f"  {a['text']}\n"} for a in THREE]) == expected  # action texts are stripped
    masks = action_masks(THREE)
    assert "".join(t for t, _ in segments([{**a, "mask": m} for a, m in zip(THREE, masks)])) == expected


def test_mask_of_three_attempts_is_0_1_0_1_1_1_and_one_attempt_trains_everything():
    assert action_masks(THREE) == [0, 1, 0, 1, 1, 1]
    assert action_masks(THREE[:4]) == [0, 1, 1, 1]
    assert action_masks(THREE[4:]) == [1, 1]
    assert action_masks([act("solve", "just an answer")]) == [1]


def test_parse_is_the_inverse_of_render():
    parsed = parse(render(THREE))
    assert [(a["kind"], a["text"], a["verdict"]) for a in parsed] == [
        (a["kind"], a["text"], a["verdict"]) for a in THREE
    ]
    assert [a["mask"] for a in parsed] == [0, 1, 0, 1, 1, 1]
    assert all(a["correct"] is None and a["origin"] is None for a in parsed)  # unknown for a parsed text
    assert render(parsed) == render(THREE)


def test_parse_of_free_model_output():
    assert [(a["kind"], a["text"]) for a in parse("only one attempt \\boxed{3}")] == [
        ("solve", "only one attempt \\boxed{3}")
    ]
    text = "a \\boxed{2} Wait, let me recheck my solution. Hmm, 2 is wrong.Let me try again. b \\boxed{4}"
    parsed = parse(text)
    assert [a["kind"] for a in parsed] == ["solve", "verify", "solve"]
    assert parsed[1]["text"] == "Hmm, 2 is wrong." and parsed[1]["verdict"] is None  # no closing sentence
    assert parse(text, verdict=verification_verdict)[1]["verdict"] == "incorrect"  # the S²R code's lenient reading
    assert [a["mask"] for a in parsed] == [0, 1, 1]
    assert parse("")[0] == act("solve", "", mask=1)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("27 + 12 = 39. Therefore, the answer is correct.", "correct"),
        ("27 + 10 = 37. Therefore, the answer is incorrect.", "incorrect"),
        ("Therefore, the answer is correct.  \n", "correct"),  # trailing whitespace allowed
        ("Therefore, the answer is incorrect. Therefore, the answer is correct.", "correct"),  # the last one decides
        ("Therefore, the answer is correct. But maybe not", None),  # not at the end
        ("Therefore, the answer is correct", None),  # no full stop
        ("Therefore, the answer is cannot be verified.", None),  # dropped in construction
        ("Therefore, the answer is wrong.", None),
        ("therefore, the answer is correct.", None),  # exact sentence
        ("The answer is correct.", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_verdict_reads_only_the_exact_closing_sentence(text, verdict):
    assert parse_verdict(text) == verdict
