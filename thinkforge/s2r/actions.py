"""The S²R action format shared by trajectory construction, SFT masks, the RL rewards and evaluation.

One assistant turn is `s1 [VERIFY_SEP v1] [RETRY_SEP s2 VERIFY_SEP v2] …` (METHODS.md, S²R): `render` joins actions,
`parse` splits any text back into actions, `action_masks` is the S²R loss mask (paper Eq. 1).

Two verdict readers, both documented:
- `parse_verdict` (construction; `verdict_rule: exact_ending`): the verification must END with exactly
  "Therefore, the answer is correct." or "Therefore, the answer is incorrect." — regex `VERDICT_AT_END`
  (trailing whitespace allowed, nothing else after the sentence); anything else, "cannot be verified" included,
  is no verdict (None), so the verification is not kept.
- `verification_verdict` (the lenient parser of S²R's code, NineAbyss/S2R): the last
  "Therefore, the answer is X." else phrases like "is incorrect" / "is correct". The RL reward and model_eval read
  model outputs with it (`parse_actions`), so a model is not punished for wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, TypedDict

VERIFY = "Wait, let me recheck my solution."
RETRY = "Let me try again."
_SPLIT = re.compile(f"({re.escape(VERIFY)}|{re.escape(RETRY)})")
_THEREFORE = re.compile(r"Therefore, the answer is (.+?)\.", re.I | re.S)
_SAYS_INCORRECT = re.compile(r"\bis (?:incorrect|wrong|not correct)\b|\bcannot (?:be )?verif", re.I)
_SAYS_CORRECT = re.compile(r"\bis correct\b|\bis indeed\b|\bverified\b.{0,40}\bcorrect\b", re.I | re.S)
VERIFY_SEP = f"\n\n{VERIFY}\n\n"
RETRY_SEP = f"\n\n{RETRY}\n\n"
SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
CODE_SYSTEM = "Please reason step by step, and put your final program in one ```python code block."
VERDICT_AT_END = re.compile(r"Therefore, the answer is (correct|incorrect)\.\s*\Z")
_MARKERS = re.compile(rf"\s*({re.escape(VERIFY)}|{re.escape(RETRY)})\s*")

__all__ = [
    "CODE_SYSTEM",
    "RETRY",
    "RETRY_SEP",
    "SYSTEM",
    "VERDICT_AT_END",
    "VERIFY",
    "VERIFY_SEP",
    "Action",
    "Behaviour",
    "action_masks",
    "checkable",
    "closing_sentence",
    "conversation",
    "has_marker",
    "parse",
    "parse_actions",
    "parse_verdict",
    "render",
    "segments",
    "verification_verdict",
]


def verification_verdict(text: str) -> str | None:
    """ "correct" | "incorrect" | None (no verdict found), with the S²R code's parser.

    The last "Therefore, the answer is X." decides (X containing "incorrect", "wrong" or "cannot" → incorrect,
    "correct" → correct); without it, "is incorrect" / "cannot verify" → incorrect, then "is correct" / "is
    indeed" / "verified … correct" → correct.
    """
    found = _THEREFORE.findall(text)
    if found:
        said = found[-1].lower()
        if any(w in said for w in ("incorrect", "wrong", "not correct", "cannot", "not be verified")):
            return "incorrect"
        if "correct" in said:
            return "correct"
    if _SAYS_INCORRECT.search(text):
        return "incorrect"
    if _SAYS_CORRECT.search(text):
        return "correct"
    return None


@dataclass
class Behaviour:
    """The attempts of a response and its verifications: (index of the attempt checked, verdict or None)."""

    attempts: list[str]
    verifications: list[tuple[int, str | None]] = field(default_factory=list)

    @property
    def self_verifies(self) -> bool:
        return bool(self.verifications)


def parse_actions(text: str) -> Behaviour:
    """Split a response into solve attempts and verifications (each verification checks the latest attempt)."""
    parts = _SPLIT.split(text or "")
    attempts = [parts[0]]
    verifications: list[tuple[int, str | None]] = []
    for marker, body in zip(parts[1::2], parts[2::2]):
        if marker == VERIFY:
            verifications.append((len(attempts) - 1, verification_verdict(body)))
        else:
            attempts.append(body)
    return Behaviour(attempts, verifications)


def conversation(domain: str, problem: str) -> list[dict]:
    """A problem as an S²R-trained model is asked it: S²R's system prompt (the code one for code), the problem."""
    return [
        {"role": "system", "content": CODE_SYSTEM if domain == "code" else SYSTEM},
        {"role": "user", "content": problem},
    ]


def checkable(problem: dict) -> str | None:
    """Why a problem cannot yield S²R data, or None."""
    if problem["domain"] == "chat":
        return "chat has no checkable truth"
    if problem["domain"] == "code" and not problem.get("test_cases"):
        return "no test cases"
    if problem["domain"] != "code" and not problem.get("reference_answer"):
        return "no reference answer"
    return None


class Action(TypedDict):
    """One action of a trajectory (the `actions` column's struct)."""

    kind: Literal["solve", "verify"]
    text: str
    correct: bool | None  # solves: whether the attempt's answer is right (None: unknown, e.g. parsed model output)
    verdict: Literal["correct", "incorrect"] | None  # verifications: what it concludes
    mask: int  # 1: the action's tokens get loss in SFT (S²R Eq. 1)
    origin: str | None  # where the text came from: policy_sample | verified_response | teacher | None (parsed)


def parse_verdict(text: str | None) -> Literal["correct", "incorrect"] | None:
    """The verdict of a verification that ends with exactly S²R's closing sentence (`VERDICT_AT_END`), else None."""
    found = VERDICT_AT_END.search(text or "")
    return found.group(1) if found else None  # type: ignore[return-value]


def has_marker(text: str | None) -> bool:
    """The text contains an action marker itself, so it cannot be one action (`parse` would split it)."""
    return bool(_MARKERS.search(text or ""))


def closing_sentence(verdict: str) -> str:
    return f"Therefore, the answer is {verdict}."


def action_masks(actions: list[dict]) -> list[int]:
    """S²R Eq. 1: loss on every verification and on the last solve; earlier solves are masked (0).
    s1 v1 s2 v2 s3 v3 → 0 1 0 1 1 1; a single attempt trains on everything."""
    solves = [i for i, a in enumerate(actions) if a["kind"] == "solve"]
    last_solve = solves[-1] if solves else -1
    return [1 if a["kind"] == "verify" or i == last_solve else 0 for i, a in enumerate(actions)]


def segments(actions: list[dict]) -> list[tuple[str, int]]:
    """(text, mask) pieces whose concatenation is `render(actions)`; a separator belongs to the action it opens."""
    out = []
    for i, a in enumerate(actions):
        sep = "" if i == 0 else VERIFY_SEP if a["kind"] == "verify" else RETRY_SEP
        out.append((sep + a["text"].strip(), int(a["mask"])))
    return out


def render(actions: list[dict]) -> str:
    """The assistant text: s1 + VERIFY_SEP + v1 + RETRY_SEP + s2 + VERIFY_SEP + v2 … (each action's text stripped)."""
    return "".join(text for text, _ in segments(actions))


def parse(text: str | None, verdict=parse_verdict) -> list[Action]:
    """Any assistant text → its actions (the inverse of `render` on rendered trajectories).

    The text before the first marker is a solve; "Wait, let me recheck my solution." opens a verify action,
    "Let me try again." a solve. Texts are stripped; a verify action's verdict is `verdict(text)` (default
    `parse_verdict`; pass `verification_verdict` for the S²R code's lenient reading); `correct` and `origin` are
    unknown (None); masks follow `action_masks`.
    """
    parts = _MARKERS.split(text or "")
    actions: list[Action] = [
        {"kind": "solve", "text": parts[0].strip(), "correct": None, "verdict": None, "mask": 0, "origin": None}
    ]
    for marker, body in zip(parts[1::2], parts[2::2]):
        kind = "verify" if marker == VERIFY else "solve"
        actions.append(
            {
                "kind": kind,
                "text": body.strip(),
                "correct": None,
                "verdict": verdict(body.strip()) if kind == "verify" else None,
                "mask": 0,
                "origin": None,
            }
        )
    for a, m in zip(actions, action_masks(actions)):
        a["mask"] = m
    return actions
