"""Solutions as "Step n: " steps (PSRLM's format), the prompts of the step-wise stages, and the step judge's verdict."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "stepwise"
_MARK = re.compile(r"(?:^|\n)\s*\**Step\s*(\d+)\s*[:.]\**\s*", re.I)
_VERDICT = re.compile(r"\[\[([AB])\]\]")
_SAYS_BETTER = re.compile(r"\b(?:step|candidate|option)\s+([AB])\b\s+is\s+(?:better|correct|more|most|the best)", re.I)
_SAYS_WORSE = re.compile(r"\b(?:step|candidate|option)\s+([AB])\b\s+is\s+(?:not|wrong|incorrect|worse)", re.I)


def template(name: str) -> str:
    return (TEMPLATES / name).read_text()


def split_marked(text: str) -> list[str] | None:
    """The steps of a text that already numbers them ("Step 1: ..."), else None."""
    marks = list(_MARK.finditer(text))
    if len(marks) < 2:
        return None
    return [text[m.end() : nxt.start() if nxt else len(text)].strip() for m, nxt in zip(marks, [*marks[1:], None])]


def split_paragraphs(text: str) -> list[str] | None:
    """Blank-line separated paragraphs as steps (at least two), else None."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return parts if len(parts) >= 2 else None


def split_lines(text: str) -> list[str] | None:
    """Non-empty lines as steps (at least two), else None."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines if len(lines) >= 2 else None


def join_steps(steps: list[str]) -> str:
    return "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, start=1))


def reasoning_prompt(problem: str) -> list[dict]:
    return [{"role": "user", "content": template("reasoning.txt").format(problem=problem)}]


def next_step_prompt(problem: str, prefix: list[str]) -> list[dict]:
    previous = f"Previous steps:\n{join_steps(prefix)}\n\n" if prefix else ""
    text = template("next_step.txt").format(problem=problem, previous=previous, n=len(prefix) + 1)
    return [{"role": "user", "content": text}]


def clean_step(text: str, n: int) -> str:
    """The step a model wrote: its own "Step n:" label removed, cut before any following step."""
    text = text.strip()
    marks = list(_MARK.finditer("\n" + text))
    if marks and marks[0].start() == 0:
        text = ("\n" + text)[marks[0].end() :]
        following = _MARK.search("\n" + text)
        if following:
            text = ("\n" + text)[: following.start()]
    return text.strip()


def judge_prompt(problem: str, prefix: list[str], step_a: str, step_b: str) -> list[dict]:
    text = template("judge_pair.txt").format(
        problem=problem, previous=join_steps(prefix) or "(none yet)", step_a=step_a, step_b=step_b
    )
    return [{"role": "user", "content": text}]


def parse_verdict(text: str | None) -> str | None:
    """ "A" | "B": the last [[A]] / [[B]] of the judge's reply; failing that, the first plain statement that a step is
    better ("step A is better") or is not ("step B is not the best" → A); else None."""
    found = _VERDICT.findall(text or "")
    if found:
        return found[-1]
    better, worse = _SAYS_BETTER.search(text or ""), _SAYS_WORSE.search(text or "")
    if better and (not worse or better.start() < worse.start()):
        return better.group(1).upper()
    if worse:
        return "B" if worse.group(1).upper() == "A" else "A"
    return None


def is_final(step: str) -> bool:
    return "\\boxed" in step
