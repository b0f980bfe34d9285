"""The S²R action format shared by trajectory construction, SFT masks, the RL rewards and evaluation.

One assistant turn is `s1 [VERIFY_SEP v1] [RETRY_SEP s2 VERIFY_SEP v2] …` (METHODS.md, S²R). Parsing is the
evaluation's parser (`thinkforge.evaluation.behaviour`), so a trajectory and a model's response are read alike.
"""

from __future__ import annotations

from thinkforge.evaluation.behaviour import RETRY, VERIFY, parse_actions, verification_verdict

VERIFY_SEP = f"\n\n{VERIFY}\n\n"
RETRY_SEP = f"\n\n{RETRY}\n\n"
SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
CODE_SYSTEM = "Please reason step by step, and put your final program in one ```python code block."

__all__ = ["RETRY_SEP", "VERIFY_SEP", "action_masks", "parse_actions", "render", "segments", "verification_verdict"]


def action_masks(actions: list[dict]) -> list[int]:
    """S²R Eq. 1: loss on every verification and on the last solve; earlier solves are masked (0)."""
    last_solve = max(i for i, a in enumerate(actions) if a["kind"] == "solve")
    return [1 if a["kind"] == "verify" or i == last_solve else 0 for i, a in enumerate(actions)]


def segments(actions: list[dict]) -> list[tuple[str, int]]:
    """(text, mask) pieces whose concatenation is `render(actions)`; a separator belongs to the action it opens."""
    out = []
    for i, a in enumerate(actions):
        sep = "" if i == 0 else VERIFY_SEP if a["kind"] == "verify" else RETRY_SEP
        out.append((sep + a["text"].strip(), int(a["mask"])))
    return out


def render(actions: list[dict]) -> str:
    return "".join(text for text, _ in segments(actions))
