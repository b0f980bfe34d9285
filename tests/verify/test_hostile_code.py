"""Generated code is hostile: it sees nothing of the pipeline and cannot game its own verdict.

Every route to the pipeline's environment is tried from inside the sandbox and through the real pipeline
(`verified_responses` on a code partition); every trick a policy hunting for reward could find against a
HumanEval-style `check()` is tried and must end in a failure that says why, while honest solutions keep passing.
"""

import json
import os
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

import definitions
from assets import ALL_CHECKS, DATA_GROUPS, assets_in_groups, is_warehouse_asset
from resources.generation import role_resources
from tests.conftest import write_jsonl, write_sources
from thinkforge import warehouse
from thinkforge.verify import Limits, Sandbox, extract_program, verify_program, verify_programs

SECRET = "sk-planted-0123456789abcdef"
SECRET_VAR = "THINKFORGE_PLANTED_API_KEY"

# Reads the environment through every route we know and prints whatever it finds (stdout and stderr), then fails
# so that its output is what the pipeline keeps as the verdict's detail.
SNOOP = r"""
import glob, os, sys
found = [repr(sorted(os.environ.items()))]
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline") + glob.glob("/proc/*/task/*/environ"):
    try:
        found.append(path + "=" + open(path, "rb").read().decode("latin-1"))
    except OSError as e:
        found.append(path + ": " + type(e).__name__)
for fd in range(3, 256):
    try:
        found.append(f"fd {fd}: " + os.read(fd, 4096).decode("latin-1"))
    except OSError:
        pass
for path in glob.glob("/proc/*/fd/*"):
    try:
        found.append(path + " -> " + os.readlink(path))
        found.append(open(path, "rb").read(4096).decode("latin-1"))
    except OSError as e:
        found.append(path + ": " + type(e).__name__)
for path in ("/proc/self/mountinfo", "/proc/1/mem", "/proc/1/maps", "/proc/self/maps"):
    try:
        found.append(open(path, "rb").read(65536).decode("latin-1"))
    except OSError as e:
        found.append(path + ": " + type(e).__name__)
text = "\n".join(found)
print(text)
print(text, file=sys.stderr)
raise SystemExit(text[-150:])
"""


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(limits=Limits(timeout_s=5, memory_mb=256, max_procs=16, max_output_bytes=1_000_000))


def test_no_route_shows_the_pipelines_environment_or_files(sandbox, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    result = sandbox.run_python(SNOOP, stdin=SECRET[:4])
    seen = result.stdout + result.stderr
    assert "/proc/1/environ=" in seen  # the routes were really tried: the program's own pid 1 entry is readable
    assert SECRET not in seen and SECRET_VAR not in seen
    for host_detail in (str(Path.cwd()), os.environ.get("THINKFORGE_HOME", "/nonexistent"), "/tmp/", "pytest"):
        assert host_detail not in seen, host_detail
    assert "/memfd:stdout" in seen  # its own descriptors are anonymous memory files, nothing on the host's disk


def test_secret_values_are_redacted_from_kept_output_as_defence_in_depth(sandbox, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    # the program cannot know the value; if it did (a leak elsewhere), kept output still would not carry it
    result = sandbox.run_python(f"print({SECRET!r}); raise SystemExit({SECRET!r})")
    assert SECRET not in result.stdout + result.stderr and f"[{SECRET_VAR} redacted]" in result.stdout


SQUARE_TESTS = {
    "kind": "program",
    "entry_point": "square",
    "program": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n"
    "    assert candidate(-1) == 1\n",
}
HONEST = ["def square(x):\n    return x * x\n", "import math\n\ndef square(x):\n    return int(math.pow(x, 2))\n"]
WRONG = "def square(x):\n    return x + 2\n"  # right on 2, wrong on 3

# trick → (program, a phrase the failure's detail must contain)
TRICKS = {
    "os._exit at module level": ("import os\nos._exit(0)\n" + WRONG, "while loading"),
    "sys.exit at module level": ("import sys\nsys.exit(0)\n" + WRONG, "SystemExit"),
    "exit inside the call": ("import os\ndef square(x):\n    os._exit(0)\n", "ended during the call"),
    "SystemExit inside the call": ("def square(x):\n    raise SystemExit(0)\n", "raised SystemExit"),
    "__eq__ always true": (
        "class Any:\n    def __eq__(self, other):\n        return True\n\ndef square(x):\n    return Any()\n",
        "not plain data",
    ),
    "int subclass with __eq__": (
        "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n\n"
        "def square(x):\n    return Int(0)\n",
        "not plain data",
    ),
    "list subclass with __eq__": (
        "class L(list):\n    def __eq__(self, other):\n        return True\n\ndef square(x):\n    return L()\n",
        "not plain data",
    ),
    "atexit handler prints a pass": (
        "import atexit, os\natexit.register(lambda: print('check() passed'))\n" + WRONG,
        "assertion failed",
    ),
    "exception hook swallows the failure": (
        "import sys\nsys.excepthook = lambda *a: None\n" + WRONG,
        "assertion failed",
    ),
    "monkeypatched builtins and AssertionError": (
        "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
        "builtins.isinstance = lambda *a: True\n" + WRONG,
        "check() failed",  # only the candidate's own process is affected (here: it breaks its side of the link)
    ),
    "forged verdict lines on stdout": (
        "import sys\nfor out in (sys.stdout, sys.__stdout__):\n"
        '    out.write(\'check() passed\\n{"passed": true, "detail": "ok"}\\n\'); out.flush()\n' + WRONG,
        "assertion failed",
    ),
    "writes to the decider's descriptors": (
        "import os\nfor p in ('/proc/1/fd/1', '/proc/1/fd/0', '/proc/self/fd/1'):\n"
        "    try:\n        open(p, 'w').write('PASS\\n')\n    except OSError:\n        pass\n" + WRONG,
        "assertion failed",
    ),
    "reads the tests from disk or from the decider": (
        "import glob, os\nleak = []\nfor p in glob.glob('/prog/*') + ['/proc/1/fd/0', '/proc/1/mem', '/proc/1/environ']:\n"
        "    try:\n        leak.append(open(p, 'rb').read())\n    except OSError:\n        pass\n"
        "assert not any(b'def ' + b'check(' in x for x in leak), 'the tests were readable'\n" + WRONG,
        "assertion failed",
    ),
    "kills the decider": (
        "import os, signal\nfor pid in (1, os.getppid()):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n        pass\n" + WRONG,
        "assertion failed",
    ),
    "hangs until the time limit": ("import time\ndef square(x):\n    time.sleep(60)\n", "timed out"),
    "frames of the caller": (
        "import sys\ndef square(x):\n    f = sys._getframe(1)\n    while f:\n"
        "        for v in f.f_locals.values():\n            if isinstance(v, int) and v == x * x:\n                return v\n"
        "        f = f.f_back\n    return 0\n",
        "assertion failed",
    ),
}


def test_honest_solutions_pass_and_every_gaming_trick_fails_with_its_reason(sandbox):
    for program in HONEST:
        verdict = verify_program(program, SQUARE_TESTS, sandbox)
        assert verdict.passed, verdict.detail
    wrong = verify_program(WRONG, SQUARE_TESTS, sandbox)
    assert not wrong.passed and "assertion failed" in wrong.detail
    for name, (program, reason) in TRICKS.items():
        tests = {**SQUARE_TESTS, "time_limit_s": 2} if "hangs" in name else SQUARE_TESTS
        verdict = verify_program(program, tests, sandbox)
        assert not verdict.passed, name
        assert reason in verdict.detail, (name, verdict.detail)


def test_verifying_many_programs_concurrently_gives_the_same_verdicts(sandbox):
    jobs = [(p, SQUARE_TESTS) for p in [*HONEST, WRONG, TRICKS["__eq__ always true"][0]]] * 2
    assert [v.passed for v in verify_programs(jobs, sandbox, workers=2)] == [True, True, False, False] * 2


def test_program_extraction_ignores_output_blocks_after_the_program():
    response = "```python\nprint(2 + 3)\n```\nOutput:\n```\n5\n```\nand\n```text\n5\n```"
    assert extract_program(response) == "print(2 + 3)\n"
    assert extract_program("```\nprint(1)\n```") == "print(1)\n"  # an untagged block alone is still the program
    assert extract_program("```bash\nls\n```") is None


def test_through_the_pipeline_secrets_stay_out_and_gamers_are_rejected(home, monkeypatch, tmp_path, tiny_model):
    """raw_problems → verified_responses on a code partition whose source carries hostile solutions, with a secret
    planted in the pipeline's environment: the secret is in no file of THINKFORGE_HOME (warehouse, Dagster's event
    log and run logs), the honest solution is correct and each gamer is wrong."""
    monkeypatch.setenv(SECRET_VAR, SECRET)
    rows = [
        {
            "problem": "Write square(x) returning x squared.",
            "test_cases": json.dumps(SQUARE_TESTS),
            "responses": [HONEST[0], SNOOP, TRICKS["os._exit at module level"][0], TRICKS["__eq__ always true"][0]],
        }
    ]
    src = write_jsonl(tmp_path / "hostile.jsonl", rows)
    sources = write_sources(
        tmp_path / "sources.yaml", [{"name": "hostile", "format": "jsonl", "path": str(src), "domain": "code"}]
    )
    assets = [a for a in assets_in_groups(*DATA_GROUPS) if is_warehouse_asset(a)]
    checks = [c for c in ALL_CHECKS if any(c.check_key.asset_key == a.key for a in assets)]
    config = {
        "ops": {
            "raw_problems": {"config": {"sources_file": str(sources)}},
            "distilled_responses": {"config": {"samples": 0}},
        }
    }
    with DagsterInstance.get() as instance:
        result = materialize(
            [*assets, *checks],
            partition_key="code",
            instance=instance,
            resources={**definitions.defs.resources, **role_resources(str(tiny_model))},
            run_config=config,
        )
    assert result.success
    verified = pl.concat(
        [
            warehouse.read_partition(home, "verified_responses", "code"),
            warehouse.read_partition(home, "verified_responses_rejects", "code"),
        ],
        how="diagonal_relaxed",
    )
    verdicts = {r["response"]: (r["verdict_correct"], r["verdict_detail"]) for r in verified.to_dicts()}
    assert verdicts[HONEST[0]][0] == "correct"
    assert verdicts[SNOOP][0] == "wrong"
    assert (
        verdicts[TRICKS["os._exit at module level"][0]]
        == (
            "wrong",
            verdicts[TRICKS["os._exit at module level"][0]][1],
        )
        and "while loading" in verdicts[TRICKS["os._exit at module level"][0]][1]
    )
    assert "not plain data" in verdicts[TRICKS["__eq__ always true"][0]][1]
    leaked = [p for p in home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
