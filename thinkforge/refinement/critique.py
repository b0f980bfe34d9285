"""Multi-model critique: every evaluator judges every checklist item of a candidate; verdicts are aggregated."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from thinkforge.rows import TEMPLATES

PROMPTS = TEMPLATES / "refine"
_VERDICT = re.compile(r"^\s*\**\s*(\d{1,2})\s*[.):\-]?\s*\**\s*(PASS|FAIL|YES|NO)\b\**[\s:.\-–—]*(.*)$", re.I)
_SCORE = re.compile(r"SCORE\s*\**\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.I)


@dataclass
class Evaluation:
    """One evaluator's verdicts on one candidate: item i → True (pass) / False (fail) / None (not given)."""

    evaluator: str
    verdicts: list[bool | None]
    critiques: list[str]
    overall: float | None  # 0-10
    parsed: bool
    error: str = ""

    def score(self) -> float | None:
        """0-1: the overall score when given, else the share of items given a verdict that pass."""
        if self.overall is not None:
            return self.overall / 10
        given = [v for v in self.verdicts if v is not None]
        return sum(given) / len(given) if given else None


@dataclass
class Aggregate:
    """All evaluators on one candidate."""

    score: float | None  # mean of the evaluators' scores (0-1)
    agreement: float | None  # share of items every evaluator with a verdict agrees on (needs 2+ verdicts)
    items_passed: list[bool]  # majority of given verdicts is pass (no verdict: not passed)
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def all_pass(self) -> bool:
        return bool(self.items_passed) and all(self.items_passed)

    def as_dicts(self) -> list[dict]:
        return [asdict(e) for e in self.evaluations]


def numbered(criteria: list[str]) -> str:
    return "\n".join(f"{i}. {c}" for i, c in enumerate(criteria, start=1))


def evaluation_prompt(problem: str, candidate: str, criteria: list[str]) -> list[dict]:
    text = (PROMPTS / "evaluate.txt").read_text()
    return [
        {"role": "user", "content": text.format(problem=problem, candidate=candidate, criteria=numbered(criteria))}
    ]


def parse_evaluation(evaluator: str, text: str | None, n_items: int, error: str = "") -> Evaluation:
    """Lines "<n>. PASS|FAIL - critique" and a "SCORE: x" line; anything missing stays None."""
    verdicts: list[bool | None] = [None] * n_items
    critiques = [""] * n_items
    overall = None
    for line in (text or "").splitlines():
        match = _VERDICT.match(line)
        if match:
            i = int(match.group(1)) - 1
            if 0 <= i < n_items and verdicts[i] is None:
                verdicts[i] = match.group(2).upper() in ("PASS", "YES")
                critiques[i] = match.group(3).strip()[:300]
            continue
        score = _SCORE.search(line)
        if score and overall is None:
            overall = min(10.0, float(score.group(1)))
    parsed = overall is not None or any(v is not None for v in verdicts)
    return Evaluation(evaluator, verdicts, critiques, overall, parsed, error)


def aggregate(evaluations: list[Evaluation], n_items: int) -> Aggregate:
    scores = [s for s in (e.score() for e in evaluations) if s is not None]
    items_passed, agreed, comparable = [], 0, 0
    for i in range(n_items):
        given = [e.verdicts[i] for e in evaluations if e.verdicts[i] is not None]
        items_passed.append(bool(given) and sum(given) * 2 > len(given))
        if len(given) >= 2:
            comparable += 1
            agreed += len(set(given)) == 1
    return Aggregate(
        score=sum(scores) / len(scores) if scores else None,
        agreement=agreed / comparable if comparable else None,
        items_passed=items_passed,
        evaluations=evaluations,
    )


def review_text(criteria: list[str], agg: Aggregate) -> str:
    """The structured critique the reviser gets: failed items first, each with every evaluator's one-liner."""
    lines = []
    order = [i for i, ok in enumerate(agg.items_passed) if not ok] + [i for i, ok in enumerate(agg.items_passed) if ok]
    for i in order:
        notes = "; ".join(e.critiques[i] for e in agg.evaluations if e.critiques[i])
        lines.append(
            f"- [{'PASS' if agg.items_passed[i] else 'FAIL'}] {criteria[i]}" + (f" — {notes}" if notes else "")
        )
    return "\n".join(lines)
