"""Rule-based rewards for RL on S²R-style responses: outcome (+1/−1 for the final answer) and process (per action).

A response is read with the same parser as trajectories and evaluation (`thinkforge.s2r.actions`). Correctness
comes from the project's one checker (`thinkforge.verify.AnswerChecker`: math-verify, the sandbox, the judge role
against the reference). An answer it cannot decide is unscorable: reward None, which TRL leaves out of the group's
baseline with advantage 0 (counted in `unscorable`), never −1.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from thinkforge.s2r.actions import RETRY_SEP, VERIFY_SEP, parse_actions
from thinkforge.verify import AnswerChecker

_SPLIT = re.compile(f"({re.escape(VERIFY_SEP.strip())}|{re.escape(RETRY_SEP.strip())})")


def completion_text(completion) -> str:
    """TRL passes chat completions as [{"role": "assistant", "content": ...}]."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


class OutcomeReward:
    """+1 when the last attempt of the response is correct, −1 otherwise (None: not checkable). A TRL reward function."""

    __name__ = "outcome_reward"

    def __init__(self, checker: AnswerChecker):
        self.checker = checker
        self.actions_per_response: list[int] = []  # how many actions (solves + verifications) each response had
        self.unscorable = 0  # completions whose final answer the checker could not decide (left out of their group)

    def __call__(self, prompts, completions, domain, problem, reference_answer, test_cases, **_) -> list[float | None]:
        rows = [
            {"domain": d, "problem": p, "reference_answer": r, "test_cases": t}
            for d, p, r, t in zip(domain, problem, reference_answer, test_cases)
        ]
        texts = [completion_text(c) for c in completions]
        self.actions_per_response += [len(action_spans(t)) for t in texts]
        finals = [parse_actions(t).attempts[-1] for t in texts]
        truth = [v.correct for v in self.checker.check(rows, finals)]
        self.unscorable += truth.count(None)
        return [None if ok is None else (1.0 if ok else -1.0) for ok in truth]


def action_spans(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) character spans of the actions; a separator belongs to the action it opens."""
    parts = _SPLIT.split(text)
    spans, pos, kind = [], 0, "solve"
    start = 0
    for i, part in enumerate(parts):
        if i % 2 == 1:  # a separator: closes the current action, opens the next
            spans.append((kind, start, pos))
            start, kind = pos, "verify" if part == VERIFY_SEP.strip() else "solve"
        pos += len(part)
    spans.append((kind, start, pos))
    return spans


def action_rewards(text: str, truth_of_attempts: list[bool | None], truncated: bool) -> list[float | None]:
    """R(solve) = ±1 by its correctness; R(verify) = +1 when its verdict matches the truth of the attempt it checks,
    else −1; a truncated response gets −1 on its last action (S²R §2.3.2). An unscorable attempt (truth None) and the
    verifications of it get no reward (None: no advantage, not in the baseline)."""
    behaviour = parse_actions(text)
    verdicts = iter(behaviour.verifications)
    rewards, attempt = [], -1
    for kind, _, _ in action_spans(text):
        if kind == "solve":
            attempt += 1
            truth = truth_of_attempts[attempt]
            rewards.append(None if truth is None else (1.0 if truth else -1.0))
        else:
            checked, verdict = next(verdicts)
            truth = truth_of_attempts[checked]
            rewards.append(None if truth is None else (1.0 if (verdict == "correct") == truth and verdict else -1.0))
    if truncated and rewards:
        rewards[-1] = -1.0
    return rewards


@dataclass
class ContextBaseline:
    """Mean reward of the actions sharing a reward context (the sequence of earlier action rewards), pooled across
    problems and samples and kept across steps; used once a context has `min_count` samples (S²R code: 10), else 0."""

    min_count: int = 10
    sums: dict = field(default_factory=lambda: defaultdict(float))
    counts: dict = field(default_factory=lambda: defaultdict(int))

    @staticmethod
    def contexts(kinds: list[str], rewards: list[float | None]) -> list[str]:
        out, prefix = [], []
        for kind, r in zip(kinds, rewards):
            out.append(" ".join(prefix) or "<start>")
            prefix.append(f"{'S' if kind == 'solve' else 'V'}{'?' if r is None else '+1' if r > 0 else '-1'}")
        return out

    def update(self, contexts: list[str], rewards: list[float | None]) -> None:
        for c, r in zip(contexts, rewards):
            if r is not None:
                self.sums[c] += r
                self.counts[c] += 1

    def value(self, context: str) -> float:
        n = self.counts[context]
        return self.sums[context] / n if n >= self.min_count else 0.0
