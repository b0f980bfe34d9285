"""Automatic verification of a candidate answer: math-verify against the reference, the sandbox against the tests.

Used by the refinement loop (a revision that no longer verifies is never chosen) and by CoT reconstruction.
"""

from __future__ import annotations

import json

from thinkforge.verify import MathVerifier, Sandbox, check_code


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
        code = [i for i, r in enumerate(rows) if r["domain"] == "code" and self.applies(r)]
        jobs = [(texts[i], json.loads(rows[i]["test_cases"]), None) for i in code]
        for i, (verdict, detail) in zip(code, check_code(jobs, self.sandbox) if code else []):
            out[i] = (verdict == "correct", f"sandbox: {detail}" if verdict in ("correct", "wrong") else detail)
        return out
