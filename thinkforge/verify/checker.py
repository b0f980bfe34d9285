"""The one definition of a correct answer, used by every stage that needs a verdict (verification, policy samples
and trajectories, refinement, RL rewards, evaluation).

An answer is checked against its problem: the sandbox runs it against the tests (problems with tests),
math-verify compares it with the reference (math), and the judge role compares it with the reference otherwise
(science, chat, and math whose reference is text math-verify cannot decide). `Verdict.correct` is True / False
where a verdict was made, None where none can be (no reference or tests, no judge for a text reference, a judge
reply with no judgement, a timeout, …): an unscorable answer is never a wrong one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from thinkforge.rows import TEMPLATES
from thinkforge.thinking import after_thinking
from thinkforge.verify.code import check_code, extract_program
from thinkforge.verify.mathcheck import MathVerifier
from thinkforge.verify.sandbox import Sandbox

JUDGE_TEMPLATE = (TEMPLATES / "evaluate" / "judge_answer.txt").read_text()
Judge = Callable[[list[list[dict]]], list[str | None]]
# verdicts that decide correctness; every other one (text_reference, unparsed, timeout, unsupported_language,
# unchecked) is unscorable. An answer that states none (no_answer, no_program) is not a correct one.
TRUTH = {"correct": True, "wrong": False, "no_answer": False, "no_program": False}


@dataclass(frozen=True)
class Verdict:
    """verdict: correct | wrong | no_answer | no_program | text_reference | unparsed | timeout |
    unsupported_language | unchecked; `by`: the check that made it (math-verify | sandbox | judge), None when none
    ran."""

    verdict: str
    detail: str
    by: str | None = None

    @property
    def correct(self) -> bool | None:
        return TRUTH.get(self.verdict)


@dataclass
class AnswerChecker:
    """Verdicts of answers to problems (rows with `domain`, `problem`, `reference_answer`, `test_cases`). A check
    whose component is not given (no math verifier, sandbox or judge) leaves the answer `unchecked`."""

    math: MathVerifier | None = None
    sandbox: Sandbox | None = None
    judge: Judge | None = None
    sandbox_workers: int = 0

    def check(
        self,
        rows: Sequence[dict],
        answers: Sequence[str],
        languages: Sequence[str | None] | None = None,
        log: Callable[[str], None] = lambda _: None,
    ) -> list[Verdict]:
        """One verdict per (row, answer). `languages`: the declared language of a bare source solution per row
        (`source_language`), None for a model's answer."""
        out = [Verdict("unchecked", "no reference answer or tests")] * len(rows)
        math, code, judged = [], [], []
        for i, r in enumerate(rows):
            if r.get("test_cases"):
                code.append(i)
            elif r.get("reference_answer"):
                (math if r["domain"] == "math" else judged).append(i)
        if math and self.math is None:
            for i in math:
                out[i] = Verdict("unchecked", "no math verifier")
        elif math:
            log(f"math-verify on {len(math)} answers")
            for i, v in zip(math, self.math.verify([(rows[i]["reference_answer"], answers[i]) for i in math])):
                out[i] = Verdict(v.verdict, v.detail, "math-verify")
                if v.verdict == "text_reference":  # math-verify cannot decide: the judge reads it against the text
                    judged.append(i)
        if code and self.sandbox is None:
            for i in code:
                out[i] = Verdict("unchecked", "no sandbox to run the tests")
        elif code:
            log(f"sandbox tests on {len(code)} answers")
            jobs = [(answers[i], json.loads(rows[i]["test_cases"]), languages[i] if languages else None) for i in code]
            imports = lambda n, program: with_problem_imports(program, rows[code[n]]["problem"])  # noqa: E731
            for i, (verdict, detail) in zip(code, check_code(jobs, self.sandbox, self.sandbox_workers, imports)):
                out[i] = Verdict(verdict, detail, "sandbox" if verdict in ("correct", "wrong") else None)
        if judged and self.judge is None:
            why = "no judge role to read the answer against the reference"
            for i in judged:
                out[i] = (
                    Verdict(out[i].verdict, f"{out[i].detail}; {why}", out[i].by)
                    if out[i].by
                    else Verdict("unchecked", why)
                )
        elif judged:
            log(f"LLM judge on {len(judged)} answers")
            for i, reply in zip(judged, self.judge([judge_prompt(rows[i], answers[i]) for i in judged])):
                said = parse_judgement(reply)
                shown = " ".join((reply or "").split())[:80]
                out[i] = Verdict(
                    {"correct": "correct", "incorrect": "wrong"}.get(said, "unparsed"),
                    f"LLM judge against the reference said {said or 'nothing parsable'}: {shown!r}",
                    "judge",
                )
        return out


def judge_prompt(problem: dict, answer: str) -> list[dict]:
    """The judge role's check of an answer against the reference (templates/evaluate/judge_answer.txt)."""
    text = JUDGE_TEMPLATE.format(
        domain=problem["domain"],
        problem=problem["problem"][:4000],
        reference=problem["reference_answer"],
        answer=after_thinking(answer).strip()[:6000],
    )
    return [{"role": "user", "content": text}]


def parse_judgement(reply: str | None) -> str | None:
    """ "correct" | "incorrect" from the judge's reply (the first of the two words it says), else None."""
    m = re.search(r"\b(incorrect|correct)\b", reply or "", re.I)
    return m.group(1).lower() if m else None


def with_problem_imports(program: str, problem: str) -> str:
    """The program, preceded by the import lines of the code the problem gives (HumanEval prompts import
    `typing.List` for the signature; a completion that repeats only the function must still run)."""
    given = extract_program(problem) or ""
    imports = [line for line in given.splitlines() if re.match(r"\s*(import|from)\s+\w", line) and line not in program]
    return "\n".join([*imports, program]) if imports else program
