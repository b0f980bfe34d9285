"""What a well-formed training row is, per kind of training table; each problem found is named with the row id."""

from __future__ import annotations

from thinkforge.s2r.actions import action_masks, render
from thinkforge.thinking import OPEN, has_closed_thinking

ROLES = ("system", "user", "assistant")


def conversation_problem(messages) -> str | None:
    """TRL conversational format: [system?] then user/assistant alternating, ending with a non-empty assistant turn;
    a `<think>` block, when present, is closed."""
    if not messages:
        return "no messages"
    roles = [m.get("role") for m in messages]
    if any(r not in ROLES for r in roles):
        return f"unknown role in {roles}"
    turns = roles[1:] if roles[0] == "system" else roles
    if (
        not turns
        or turns[-1] != "assistant"
        or any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(turns))
    ):
        return f"roles out of order: {roles}"
    if any(not (m.get("content") or "").strip() for m in messages):
        return "an empty message"
    last = messages[-1]["content"]
    if OPEN in last and not has_closed_thinking(last):
        return "unclosed <think> block"
    return None


def trajectory_problem(row: dict) -> str | None:
    """S²R trajectory: solve/verify alternating, last attempt correct and verified correct, masks by the rule, the
    rendered response equal to the actions."""
    actions = row.get("actions") or []
    if not actions or len(actions) % 2:
        return "actions must be (solve, verify) pairs"
    if any(a["kind"] != ("solve" if i % 2 == 0 else "verify") for i, a in enumerate(actions)):
        return "actions do not alternate solve / verify"
    if any(not (a["text"] or "").strip() for a in actions):
        return "an empty action"
    if not (actions[-2]["correct"] and actions[-1]["verdict"] == "correct"):
        return "the last attempt is not a correct, verified-correct one"
    if [a["mask"] for a in actions] != action_masks(actions):
        return "loss masks do not follow the S²R rule"
    if row.get("response") != render(actions):
        return "response differs from the rendered actions"
    return None


def pair_problem(row: dict) -> str | None:
    """A step preference pair: prompt, chosen and rejected non-empty; chosen and rejected differ."""
    if not all((row.get(k) or "").strip() for k in ("prompt", "chosen", "rejected")):
        return "empty prompt, chosen or rejected"
    if row["chosen"].strip() == row["rejected"].strip():
        return "chosen equals rejected"
    return None


def row_problem(kind: str, row: dict) -> str | None:
    if kind == "messages":
        return conversation_problem(row.get("messages"))
    if kind == "trajectory":
        return trajectory_problem(row)
    return pair_problem(row)
