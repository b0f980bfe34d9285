"""S²R behaviour of one response: its solve attempts and self-verifications (arXiv 2502.12853, code NineAbyss/S2R).

A response is a sequence of actions `s1, v1, s2, v2, …`: a solve attempt, then optionally a verification of it
introduced by "Wait, let me recheck my solution.", and a new attempt introduced by "Let me try again.". A
verification ends with "Therefore, the answer is correct." / "… incorrect." / "… cannot be verified." (read as
incorrect). A response without these phrases is one attempt and no verification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

VERIFY = "Wait, let me recheck my solution."
RETRY = "Let me try again."
_SPLIT = re.compile(f"({re.escape(VERIFY)}|{re.escape(RETRY)})")
_THEREFORE = re.compile(r"Therefore, the answer is (.+?)\.", re.I | re.S)
_SAYS_INCORRECT = re.compile(r"\bis (?:incorrect|wrong|not correct)\b|\bcannot (?:be )?verif", re.I)
_SAYS_CORRECT = re.compile(r"\bis correct\b|\bis indeed\b|\bverified\b.{0,40}\bcorrect\b", re.I | re.S)


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
