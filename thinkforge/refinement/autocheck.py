"""Automatic verification of a candidate answer: math-verify against the reference, the sandbox against the tests.

Used by the refinement loop (a revision that no longer verifies is never chosen) and by CoT reconstruction.
"""

from __future__ import annotations

import json

from thinkforge.verify import MathVerifier, Sandbox, extract_program, verify_program


class AutoCheck:
    """`check(rows, texts)` → (True/False, detail) where an automatic check exists for the row, else (None, why)."""

    def __init__(self, math: MathVerifier | None = None, sandbox: Sandbox | None = None):
        self.math, self.sandbox = math, sandbox

    def applies(self, row: dict) -> bool:
        if row["domain"] == "math":
            return self.math is not None and bool(row.get("reference_answer"))
        if row["domain"] == "code":
            return self.sandbox is not None and bool(row.get("test_cases"))
        return False

    def check(self, rows: list[dict], texts: list[str]) -> list[tuple[bool | None, str]]:
        out: list[tuple[bool | None, str]] = [(None, "no automatic check for this row")] * len(rows)
        math_idx = [i for i, r in enumerate(rows) if r["domain"] == "math" and self.applies(r)]
        if math_idx:
            pairs = [(rows[i]["reference_answer"], texts[i]) for i in math_idx]
            for i, verdict in zip(math_idx, self.math.verify(pairs)):
                out[i] = (verdict.passed, f"math-verify {verdict.verdict}: {verdict.detail}")
        for i, row in enumerate(rows):
            if row["domain"] == "code" and self.applies(row):
                program = extract_program(texts[i])
                if program is None:
                    out[i] = (False, "no ```python block")
                    continue
                verdict = verify_program(program, json.loads(row["test_cases"]), self.sandbox)
                out[i] = (verdict.passed, f"sandbox: {verdict.detail}")
        return out
