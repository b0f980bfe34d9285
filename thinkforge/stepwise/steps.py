"""Solutions as "Step n: " steps (PSRLM's format), the prompts of the step-wise stages, and the step judge's verdict.

Prompts are files under `templates/stepwise/`; a domain may have its own (`<name>_<domain>.txt`, e.g. the code
domain's reasoning prompt asks for a final ```python block instead of PSRLM's \\boxed answer). Fenced code blocks
are never cut: splitting by paragraphs or lines keeps a block whole inside one step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache

import yaml

from thinkforge.answers import last_boxed
from thinkforge.generation import Completion, SamplingParams
from thinkforge.rows import TEMPLATES

PROMPTS = TEMPLATES / "stepwise"
_MARK = re.compile(r"(?:^|\n)\s*\**Step\s*(\d+)\s*[:.]\**\s*", re.I)
_FENCE = re.compile(r"```[^\n]*\n.*?\n\s*```", re.S)
_PYTHON_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n.*?\n\s*```", re.S)
_VERDICT = re.compile(r"\[\[([AB])\]\]")
_SAYS_BETTER = re.compile(r"\b(?:step|candidate|option)\s+([AB])\b\s+is\s+(?:better|correct|more|most|the best)", re.I)
_SAYS_WORSE = re.compile(r"\b(?:step|candidate|option)\s+([AB])\b\s+is\s+(?:not|wrong|incorrect|worse)", re.I)
TASK = {"math": "math problem", "code": "programming problem"}
VERDICT_CUE = "\n\nFinal verdict: [["


def template(name: str, domain: str | None = None) -> str:
    """`templates/stepwise/<stem>_<domain>.txt` when the domain has its own version, else `<name>`."""
    if domain:
        own = PROMPTS / name.replace(".txt", f"_{domain}.txt")
        if own.exists():
            return own.read_text()
    return (PROMPTS / name).read_text()


@cache
def judge_examples() -> dict[str, list[dict]]:
    return yaml.safe_load((PROMPTS / "judge_examples.yaml").read_text())


def split_marked(text: str) -> list[str] | None:
    """The steps of a text that already numbers them ("Step 1: ..."), else None."""
    marks = list(_MARK.finditer(text))
    if len(marks) < 2:
        return None
    return [text[m.end() : nxt.start() if nxt else len(text)].strip() for m, nxt in zip(marks, [*marks[1:], None])]


def _units(text: str, separator: str) -> list[str]:
    """`text` cut at `separator` (a regex) outside fenced code blocks; each block stays whole with its own unit."""
    parts, at = [], 0
    for block in _FENCE.finditer(text):
        parts.append(("text", text[at : block.start()]))
        parts.append(("code", block.group(0)))
        at = block.end()
    parts.append(("text", text[at:]))
    units, current = [], ""
    for kind, chunk in parts:
        if kind == "code":
            current += chunk
            continue
        pieces = re.split(separator, chunk)
        current += pieces[0]
        for piece in pieces[1:]:
            units.append(current)
            current = piece
    units.append(current)
    return [u.strip() for u in units if u.strip()]


def split_paragraphs(text: str) -> list[str] | None:
    """Blank-line separated paragraphs as steps (at least two), else None."""
    parts = _units(text.strip(), r"\n\s*\n")
    return parts if len(parts) >= 2 else None


def split_lines(text: str) -> list[str] | None:
    """Non-empty lines as steps (at least two), else None."""
    lines = _units(text.strip(), r"\n")
    return lines if len(lines) >= 2 else None


def join_steps(steps: list[str]) -> str:
    return "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, start=1))


def reasoning_prompt(problem: str, domain: str = "math") -> list[dict]:
    return [{"role": "user", "content": template("reasoning.txt", domain).format(problem=problem)}]


def partial_answer(prefix: list[str]) -> str:
    """The assistant turn so far: the steps taken, each on its own line, the next "Step n: " still to write. These are
    the first characters of an IFT answer (`join_steps`) that goes on with more steps."""
    return join_steps(prefix) + "\n" if prefix else ""


def next_step_prompt(problem: str, prefix: list[str], domain: str = "math") -> list[dict]:
    """The reasoning prompt and the model's own partial answer as the last (assistant) message: generation continues
    that message (`generation/backends.py: render_chat`), so the next step is sampled exactly where an M1 answer
    would write it, and step-DPO trains on the same prompt."""
    return [*reasoning_prompt(problem, domain), {"role": "assistant", "content": partial_answer(prefix)}]


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


def _judge_turn(problem: str, prefix: list[str], step_a: str, step_b: str, domain: str) -> dict:
    text = template("judge_pair.txt").format(
        task=TASK.get(domain, "problem"),
        problem=problem,
        previous=join_steps(prefix) or "(none yet)",
        step_a=step_a,
        step_b=step_b,
    )
    return {"role": "user", "content": text}


def judge_prompt(
    problem: str, prefix: list[str], step_a: str, step_b: str, domain: str = "math", shots: int = 0
) -> list[dict]:
    """The MT-Bench style pair prompt, after `shots` worked judgments (templates/stepwise/judge_examples.yaml) given
    as earlier user / assistant turns."""
    examples = judge_examples().get(domain, judge_examples()["math"])[:shots]
    turns = []
    for e in examples:
        turns += [
            _judge_turn(e["problem"], e["previous"], e["step_a"], e["step_b"], domain),
            {"role": "assistant", "content": e["judgment"]},
        ]
    return [*turns, _judge_turn(problem, prefix, step_a, step_b, domain)]


def parse_verdict(text: str | None) -> str | None:
    """ "A" | "B": the judge reasons first and ends with its verdict, so the last [[A]] / [[B]] of the reply; failing
    that, the last plain statement that a step is better ("step A is better") or is not ("step B is not the best" →
    A), the conclusion rather than a remark on the way; else None."""
    found = _VERDICT.findall(text or "")
    if found:
        return found[-1]
    said = [(m.start(), m.group(1).upper()) for m in _SAYS_BETTER.finditer(text or "")]
    said += [(m.start(), "B" if m.group(1).upper() == "A" else "A") for m in _SAYS_WORSE.finditer(text or "")]
    return max(said)[1] if said else None


def judge_replies(
    judge: Callable[[list[list[dict]], SamplingParams, int], list[list[Completion]]],
    prompts: list[list[dict]],
    params: SamplingParams,
    cue: bool = True,
) -> list[Completion]:
    """One reply per judge prompt. The judge reasons first, so a reply may end without a verdict (cut at
    `max_tokens`, or never stated): with `cue`, such a reply is continued, its own text followed by
    "Final verdict: [[", for two tokens, and the verdict it then writes ends the reply. The reasoning stays the
    judge's and comes first."""
    replies = [c[0] for c in judge(prompts, params, 1)] if prompts else []
    missing = [i for i, c in enumerate(replies) if c.ok and parse_verdict(c.text) is None]
    if not missing or not cue:
        return replies
    cued = [[*prompts[i], {"role": "assistant", "content": replies[i].text.rstrip() + VERDICT_CUE}] for i in missing]
    for i, out in zip(missing, judge(cued, replace(params, max_tokens=2, stop=("]",)), 1)):
        letter = (out[0].text or "").strip()[:1].upper() if out[0].ok else ""
        if letter in ("A", "B"):
            text = f"{replies[i].text.rstrip()}{VERDICT_CUE}{letter}]]"
            tokens = replies[i].completion_tokens + out[0].completion_tokens
            replies[i] = replace(replies[i], text=text, completion_tokens=tokens)
    return replies


def is_final(step: str, domain: str = "math") -> bool:
    """A step that ends the solution: it states the \\boxed answer (math) or holds the program's fenced block (code)."""
    if domain == "code":
        return bool(_PYTHON_BLOCK.search(step))
    return last_boxed(step) is not None
