"""Code verification: the extracted program against the problem's tests, in the sandbox."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from thinkforge.verify.sandbox import Sandbox

_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)

CALL_HARNESS = """
import json, sys
{program}

_args = json.loads(sys.stdin.read())
_fn = getattr(Solution(), {fn!r}) if "Solution" in globals() and hasattr(Solution, {fn!r}) else globals()[{fn!r}]
print(json.dumps(_fn(*_args)))
"""


@dataclass
class CodeVerdict:
    passed: bool
    tests_run: int
    tests_passed: int
    detail: str


def extract_program(response: str) -> str | None:
    """The last fenced Python block of a response (after any </think>)."""
    answer = response.split("</think>")[-1]
    blocks = _FENCE.findall(answer)
    return blocks[-1] if blocks else None


def _same_output(got: str, expected: str) -> bool:
    norm = lambda s: [line.rstrip() for line in s.strip().splitlines()]  # noqa: E731
    return norm(got) == norm(expected)


def verify_program(program: str, tests: dict, sandbox: Sandbox, stop_at_first_failure: bool = True) -> CodeVerdict:
    """Run `program` against normalized test cases ({"kind": "stdio"|"call"|"program", ...})."""
    kind = tests["kind"]
    timeout = float(tests.get("time_limit_s") or sandbox.limits.timeout_s)
    if kind == "program":
        code = f"{program}\n\n{tests['program']}\n\ncheck({tests['entry_point']})\n"
        result = sandbox.run_python(code, timeout_s=timeout)
        return CodeVerdict(
            result.ok, 1, int(result.ok), "check() passed" if result.ok else f"check() failed: {result.describe()}"
        )
    passed = run = 0
    for n, case in enumerate(tests["cases"], start=1):
        run += 1
        if kind == "call":
            result = sandbox.run_python(
                CALL_HARNESS.format(program=program, fn=tests["fn_name"]), stdin=case["input"], timeout_s=timeout
            )
            good = result.ok and _json_equal(result.stdout, case["output"])
        else:
            result = sandbox.run_python(program, stdin=case["input"], timeout_s=timeout)
            good = result.ok and _same_output(result.stdout, case["output"])
        passed += good
        if not good:
            why = (
                result.describe()
                if not result.ok
                else f"wrong output {result.stdout.strip()[:80]!r}, expected {case['output'].strip()[:80]!r}"
            )
            if stop_at_first_failure:
                return CodeVerdict(False, run, passed, f"test {n} failed: {why}")
    return CodeVerdict(passed == run and run > 0, run, passed, f"{passed}/{run} tests passed")


def _json_equal(got: str, expected: str) -> bool:
    try:
        return json.loads(got) == json.loads(expected)
    except json.JSONDecodeError:
        return False
