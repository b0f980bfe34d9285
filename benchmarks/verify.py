"""Verification throughput: math-verify pairs/s, and sandbox per-run overhead against plain subprocesses.

.venv/bin/python benchmarks/verify.py [--pairs 2000] [--runs 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from thinkforge.verify import MathVerifier, Sandbox, verify_programs


def forms(i: int) -> list[tuple[str, str]]:
    """Eight (reference, response) pairs in different notations; 6 verify, 1 is wrong, 1 has no answer."""
    return [
        (f"\\frac{{{i + 1}}}{{2}}", f"The answer is ${(i + 1) / 2}$."),
        (str(i), f"So $x = {i}$."),
        (str(i), f"\\boxed{{{i}}}"),
        (f"\\sqrt{{{i + 2}}}", f"$\\boxed{{\\sqrt{{{i + 2}}}}}$"),
        (str(i), f"\\boxed{{{i + 1}}}"),
        (f"{i + 1}\\pi", f"The area is ${i + 1}\\pi$."),
        (f"\\frac{{{i + 19}}}{{12}}", f"\\boxed{{\\dfrac{{{i + 19}}}{{12}}}}"),
        (str(i), "I do not know."),
    ]


PROGRAM = "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    pairs = [
        pair for i in range(args.pairs // 8) for pair in forms(i)
    ]  # distinct strings: nothing served from a cache
    with MathVerifier(workers=args.workers) as verifier:
        verifier.verify(pairs[:8])  # start the workers
        started = time.monotonic()
        verdicts = verifier.verify(pairs)
        math_s = time.monotonic() - started
    math_rate = len(pairs) / math_s
    print(
        f"math-verify: {math_rate:.0f} pairs/s on {args.workers} worker processes ({sum(v.passed for v in verdicts)} correct)"
    )

    sandbox = Sandbox()
    sandboxed, plain = [], []
    for _ in range(args.runs):
        started = time.monotonic()
        assert sandbox.run_python(PROGRAM, stdin="2 3\n").stdout == "5\n"
        sandboxed.append(time.monotonic() - started)
        started = time.monotonic()
        out = subprocess.run(
            [sandbox.python, "-I", "-c", PROGRAM], input="2 3\n", capture_output=True, text=True
        ).stdout
        assert out == "5\n"
        plain.append(time.monotonic() - started)
    sandbox_ms, plain_ms = statistics.median(sandboxed) * 1000, statistics.median(plain) * 1000
    print(
        f"sandbox: median {sandbox_ms:.1f} ms per run ({1000 / sandbox_ms:.0f} runs/s), plain subprocess {plain_ms:.1f} ms;"
        f" isolation overhead {sandbox_ms - plain_ms:.1f} ms ({sandbox_ms / plain_ms:.2f}x)"
    )
    tests = {"kind": "stdio", "cases": [{"input": f"{i} {i}\n", "output": f"{2 * i}\n"} for i in range(4)]}
    rates = {}
    for workers in (1, 2):
        jobs = [(PROGRAM, tests)] * (args.runs // 4)
        started = time.monotonic()
        assert all(v.passed for v in verify_programs(jobs, sandbox, workers))
        rates[workers] = len(jobs) * 4 / (time.monotonic() - started)
    print(
        f"code verification: {rates[1]:.0f} tests/s with 1 worker, {rates[2]:.0f} tests/s with 2 workers "
        f"({rates[2] / rates[1]:.2f}x)"
    )
    print(
        json.dumps(
            {
                "math_pairs_per_s": round(math_rate, 1),
                "sandbox_median_ms": round(sandbox_ms, 2),
                "subprocess_median_ms": round(plain_ms, 2),
                "sandbox_overhead_ms": round(sandbox_ms - plain_ms, 2),
                "sandbox_vs_subprocess": round(sandbox_ms / plain_ms, 2),
                "tests_per_s_1_worker": round(rates[1], 1),
                "tests_per_s_2_workers": round(rates[2], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
