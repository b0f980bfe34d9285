"""Code verification: the extracted program against the problem's tests, in the sandbox."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from thinkforge.thinking import after_thinking
from thinkforge.verify.sandbox import Sandbox

_FENCE = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.S)
_PYTHON_TAGS = {"python", "py", "python3"}
SANDBOX_LANGUAGES = {"python3", "python"}
CHECK_HARNESS = (Path(__file__).with_name("check_harness.py")).read_text(encoding="utf-8")

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
    """The last fenced block tagged Python of a response (after any </think>); with no tagged block, the last
    untagged one. A block tagged otherwise (an ```output or ```text block after the program) is never the program."""
    answer = after_thinking(response)
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(answer)]
    tagged = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    untagged = [body for tag, body in blocks if not tag]
    return (tagged or untagged or [None])[-1]


def program_of(text: str, language: str | None = None) -> tuple[str | None, str, str]:
    """(program, verdict, detail) of a response: verdict "" when there is a Python program to run, else
    `no_program` or `unsupported_language` (the sandbox runs Python 3 only: nothing else is run or called wrong).
    `language` is the declared language of a bare source solution ("python3", "cpp"; CodeContests' `human:cpp`);
    None for a model response, whose language is its fenced blocks' tag."""
    if language is not None and "```" not in text:
        if language in SANDBOX_LANGUAGES:
            return text, "", ""
        return None, "unsupported_language", f"a {language} solution: the sandbox runs Python 3 only"
    program = extract_program(text)
    if program is not None:
        return program, "", ""
    tags = sorted({tag.lower() for tag, _ in _FENCE.findall(after_thinking(text)) if tag})
    if tags:
        return None, "unsupported_language", f"a ```{tags[-1]} block: the sandbox runs Python 3 only"
    return None, "no_program", "no ```python block to run"


def source_language(origin: str, model: str | None) -> str | None:
    """Declared language of a source's own solution: CodeContests' `human:<language>`, plain `human` is Python 3
    (APPS, HumanEval); None for model responses."""
    if origin != "source":
        return None
    model = model or ""
    return model.split(":", 1)[1] if model.startswith("human:") else "python3"


def check_code(
    jobs: list[tuple[str, dict, str | None]],
    sandbox: Sandbox,
    workers: int = 0,
    prepare: Callable[[int, str], str] | None = None,
) -> list[tuple[str, str]]:
    """(verdict, detail) per (response text, tests, declared language) job: correct / wrong from the sandbox, run
    `workers` at a time; no_program / unsupported_language without a run. `prepare(n, program)` edits job n's program
    before it runs."""
    out: list[tuple[str, str]] = [("", "")] * len(jobs)
    runs = []
    for n, (text, tests, language) in enumerate(jobs):
        program, verdict, detail = program_of(text, language)
        if program is None:
            out[n] = (verdict, detail)
        else:
            runs.append((n, prepare(n, program) if prepare else program, tests))
    for (n, _, _), verdict in zip(runs, verify_programs([(p, t) for _, p, t in runs], sandbox, workers)):
        out[n] = ("correct" if verdict.passed else "wrong", verdict.detail)
    return out


def _same_output(got: str, expected: str) -> bool:
    norm = lambda s: [line.rstrip() for line in s.strip().splitlines()]  # noqa: E731
    return norm(got) == norm(expected)


def verify_program(program: str, tests: dict, sandbox: Sandbox, stop_at_first_failure: bool = True) -> CodeVerdict:
    """Run `program` against normalized test cases ({"kind": "stdio"|"call"|"program", ...})."""
    kind = tests["kind"]
    timeout = float(tests.get("time_limit_s") or sandbox.limits.timeout_s)
    if kind == "program":
        return _check_program(program, tests, sandbox, timeout)
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


def _check_program(program: str, tests: dict, sandbox: Sandbox, timeout: float) -> CodeVerdict:
    """HumanEval-style `check(candidate)`: decided by the harness (check_harness.py), never by the candidate's exit
    status: a pass is the harness's verdict line, behind a nonce the candidate never sees, printed after check()
    returned on values rebuilt as plain data."""
    nonce = secrets.token_hex(16)
    spec = {"nonce": nonce, "tests": tests["program"], "entry_point": tests["entry_point"]}
    result = sandbox.run_python(CHECK_HARNESS, json.dumps(spec), timeout, files={"solution.py": program})
    line = next((x for x in reversed(result.stdout.splitlines()) if x.startswith(nonce + " ")), None)
    if line is None:
        why = result.describe() if not result.ok else "the harness printed no verdict"
        return CodeVerdict(False, 1, 0, f"check() did not complete: {why}")
    verdict = json.loads(line[len(nonce) + 1 :])
    passed = verdict["passed"] is True
    return CodeVerdict(passed, 1, int(passed), "check() passed" if passed else f"check() failed: {verdict['detail']}")


def verify_programs(jobs: list[tuple[str, dict]], sandbox: Sandbox, workers: int = 0) -> list[CodeVerdict]:
    """`verify_program` on many (program, tests) pairs, `workers` sandboxes at a time (0: one per core)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 2:
        return [verify_program(p, t, sandbox) for p, t in jobs]
    with ThreadPoolExecutor(workers) as pool:  # each run waits on its own processes: threads overlap them
        return list(pool.map(lambda job: verify_program(job[0], job[1], sandbox), jobs))


def _json_equal(got: str, expected: str) -> bool:
    try:
        return json.loads(got) == json.loads(expected)
    except json.JSONDecodeError:
        return False
