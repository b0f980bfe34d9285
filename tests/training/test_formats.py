"""The training-data checks: well-formed rows pass, each kind of malformed row is caught with its reason."""

from thinkforge.s2r.actions import render
from thinkforge.training.formats import row_problem

OK_MESSAGES = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\nx\n</think>\n\na"}]


def test_conversations():
    assert row_problem("messages", {"messages": OK_MESSAGES}) is None
    assert row_problem("messages", {"messages": [{"role": "system", "content": "s"}, *OK_MESSAGES]}) is None
    assert row_problem("messages", {"messages": []}) == "no messages"
    assert row_problem("messages", {"messages": OK_MESSAGES[::-1]}).startswith("roles out of order")
    assert (
        row_problem("messages", {"messages": [OK_MESSAGES[0], {"role": "assistant", "content": " "}]})
        == "an empty message"
    )
    assert (
        row_problem("messages", {"messages": [OK_MESSAGES[0], {"role": "assistant", "content": "<think> x"}]})
        == "unclosed <think> block"
    )


def trajectory(last_correct=True, masks=(0, 1, 1, 1)):
    actions = [
        {"kind": "solve", "text": "5", "correct": False, "verdict": None},
        {"kind": "verify", "text": "no", "correct": None, "verdict": "incorrect"},
        {"kind": "solve", "text": "4", "correct": last_correct, "verdict": None},
        {"kind": "verify", "text": "yes", "correct": None, "verdict": "correct"},
    ]
    for a, m in zip(actions, masks):
        a["mask"] = m
    return {"actions": actions, "response": render(actions)}


def test_trajectories_and_pairs():
    assert row_problem("trajectory", trajectory()) is None
    assert row_problem("trajectory", trajectory(last_correct=False)).startswith("the last attempt")
    assert row_problem("trajectory", trajectory(masks=(1, 1, 1, 1))) == "loss masks do not follow the S²R rule"
    assert (
        row_problem("trajectory", {**trajectory(), "response": "edited"})
        == "response differs from the rendered actions"
    )
    assert row_problem("pair", {"prompt": "p", "chosen": "a", "rejected": "b"}) is None
    assert row_problem("pair", {"prompt": "p", "chosen": "a", "rejected": "a "}) == "chosen equals rejected"
    assert row_problem("pair", {"prompt": "", "chosen": "a", "rejected": "b"}).startswith("empty")
