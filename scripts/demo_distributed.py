"""`make demo-distributed`: one domain's whole graph through a distributed deployment on this machine.

PostgreSQL + Redis + two dagster-celery workers + the Dagster daemon (scripts/cluster.py): `worker-gpu` listens on the
`dagster` and `gpu` queues (it takes model-running steps), `worker-cpu` on `dagster` only. The run is submitted to
the queue like a run launched from the UI, into `$THINKFORGE_HOME/distributed-demo` (emptied first, so no cached model
call from an earlier run shortens it); then the script prints where each step ran and the wall time against a
single-process run of the same domain (Dagster's default executor, in its own THINKFORGE_HOME, same run config).
`DOMAIN=code make demo-distributed` picks another domain; `COMPARE=0` skips the single-process run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from assets import DEMO_RUN_CONFIG
from scripts.cluster import LocalCluster, StepLog
from thinkforge import DOMAINS, paths
from thinkforge.paths import REPO_ROOT

WORKERS = {"worker-gpu": ["dagster", "gpu"], "worker-cpu": ["dagster"]}
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _stamp(started: float) -> str:
    elapsed = time.monotonic() - started
    return f"[{elapsed // 60:02.0f}:{elapsed % 60:04.1f}]"


def single_process(domain: str) -> float:
    """`make demo` for the same domain (Dagster's default executor, same run config) in a fresh THINKFORGE_HOME:
    its wall seconds."""
    home = Path(tempfile.mkdtemp(prefix="thinkforge-single-"))
    (home / "dagster").mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {**os.environ, "THINKFORGE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "DOMAINS": domain}
    env.pop("THINKFORGE_EXECUTOR", None)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "scripts.demo"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"single-process demo failed:\n{proc.stdout[-3000:]}")
        return time.monotonic() - started
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    domain = os.environ.get("DOMAIN", "math")
    if domain not in DOMAINS:
        print(f"unknown domain {domain!r}: choose from {', '.join(DOMAINS)}")
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the cluster on SIGTERM as on Ctrl-C
    run_config = {**QUIET, "ops": {name: {"config": cfg} for name, cfg in DEMO_RUN_CONFIG.items()}}
    home = paths.home() / "distributed-demo"  # a fresh home: no request cache from earlier runs to flatter the time
    shutil.rmtree(home, ignore_errors=True)
    started = time.monotonic()
    with LocalCluster(home, WORKERS, log=lambda m: print(f"{_stamp(started)} {m}", flush=True)) as cluster:
        logs: dict[str, StepLog] = {}

        def progress() -> None:
            for run in cluster.instance.get_runs(limit=1):
                for p in logs.setdefault(run.run_id, StepLog(run.run_id)).read(cluster.instance):
                    print(f"{_stamp(started)} {p.step:<34} {p.outcome:<8} on {p.worker} (pid {p.pid})", flush=True)

        distributed_started = time.monotonic()
        base = cluster.launch("build_base_model", run_config=QUIET)
        if cluster.wait(base, timeout=3600, poll=5, on_tick=progress) != "SUCCESS":
            print(f"build_base_model run {base} failed: see the cluster's logs / the run's event log")
            return 1
        run_id = cluster.launch("build_domain", partition=domain, run_config=run_config)
        print(f"{_stamp(started)} build_domain[{domain}] run {run_id} queued", flush=True)
        status = cluster.wait(run_id, timeout=4 * 3600, poll=5, on_tick=progress)
        distributed = time.monotonic() - distributed_started
        placements = [*cluster.placements(base), *cluster.placements(run_id)]
        errors = cluster.errors(run_id)
    print(f"\nbuild_domain[{domain}]: {status}")
    print(f"\n{'step':<40}{'worker':<26}{'pid':>8}{'seconds':>9}")
    for p in placements:
        seconds = f"{p.seconds:.1f}" if p.seconds is not None else p.outcome
        print(f"{p.step:<40}{p.worker:<26}{p.pid or '-':>8}{seconds:>9}")
    by_worker = Counter(p.worker for p in placements)
    print("\nsteps per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(by_worker.items())))
    print(f"distributed (2 Celery workers): {distributed:.1f}s for base_model + {domain}")
    if status != "SUCCESS":
        print("\n".join(errors))
        return 1
    if os.environ.get("COMPARE", "1") != "0":
        print(f"{_stamp(started)} single-process run of the same domain for comparison …", flush=True)
        single = single_process(domain)
        print(
            f"single process (Dagster's default executor): {single:.1f}s  → distributed/single = {distributed / single:.2f}"
        )
    print(f"warehouse: {home / 'warehouse'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
