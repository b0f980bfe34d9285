"""Start-up cost of a process that loads the Dagster definitions (a code server, a run or step worker, a Celery
worker, `dagster asset materialize`): `import definitions` in a fresh interpreter, against the same import with
torch + transformers loaded first (what every such process paid while the training runner imported transformers at
module level), measured in the same run.

    .venv/bin/python -m benchmarks.definitions_import [--repeats 5]

Prints the median wall seconds of each and their ratio; run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def seconds(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters per variant (the median is shown)")
    args = parser.parse_args()
    seconds("import definitions", 1)  # warm the file cache
    now = seconds("import definitions", args.repeats)
    eager = seconds("import torch, transformers.trainer_utils, definitions", args.repeats)
    print(f"import definitions:                           {now:5.2f} s (median of {args.repeats})")
    print(f"with torch + transformers imported as before: {eager:5.2f} s")
    print(f"ratio before / now:                           {eager / now:5.2f}")


if __name__ == "__main__":
    main()
