"""The distributed profile end to end on a tiny input: PostgreSQL + Redis + two dagster-celery workers + the Dagster
daemon (scripts/cluster.py) run `refresh_domain` for one partition. The process executing a model step is killed
mid-step, once its completions are in the request cache (a table in the instance's PostgreSQL): the run fails,
nothing of that step is written, and a re-execution from failure completes it from the cache, asking the model
nothing. The warehouse and the lineage then equal a single-process run of the same input, and every step ran in a
worker process.
Two more tests stop a cluster by Ctrl-C and by SIGKILL of the process that owns it: nothing it started is left."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import psutil
import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

import definitions
from assets import ALL_CHECKS, DATA_GROUPS, assets_in_groups, is_warehouse_asset
from resources.generation import role_resources
from scripts import process_groups
from scripts.cluster import LocalCluster, StepLog
from tests.conftest import REPO, link_embedder_cache, write_jsonl, write_sources
from thinkforge import lineage, warehouse
from thinkforge.generation.cache import PG_TABLE, libpq_url

DOMAIN = "math"
WORKERS = {"worker-gpu": ["dagster", "gpu"], "worker-cpu": ["dagster"]}
REFRESH = [a for a in assets_in_groups(*DATA_GROUPS) if is_warehouse_asset(a)]  # raw → verified responses
REFRESH_CHECKS = [c for c in ALL_CHECKS if any(c.check_key.asset_key == a.key for a in REFRESH)]
GPU_STEPS = {a.op.name for a in REFRESH if a.op.pool == "gpu"}
KILLED_STEP = "distilled_responses"


def tiny_pool(tmp_path) -> dict:
    """Run config: a 12-row math source and small generation settings."""
    rows = [
        {"question": f"What is {a} + {b}?", "answer": f"{a} + {b} = {a + b}"}
        for a, b in zip(range(3, 15), range(7, 19))
    ]
    rows.append(dict(rows[0]))  # an exact duplicate for dedup to drop
    data = write_jsonl(tmp_path / "pool" / "sums.jsonl", rows)
    sources = write_sources(
        tmp_path / "pool" / "sources.yaml",
        [{"name": "sums", "format": "orca_math", "path": str(data), "domain": DOMAIN}],
    )
    return {
        "ops": {
            "raw_problems": {"config": {"sources_file": str(sources)}},
            "selected_problems": {
                "config": {"min_quality": 1}
            },  # one-line sums: keep them whatever the tiny judge says
            "distilled_responses": {"config": {"samples": 2, "max_tokens": 160}},
        }
    }


def tables(home) -> dict[str, pl.DataFrame]:
    """Every warehouse table of the partition, rows in id order."""
    out = {}
    for asset in warehouse.asset_names(home):
        if warehouse.partition_path(home, asset, DOMAIN).exists():
            out[asset] = warehouse.read_partition(home, asset, DOMAIN).sort("id")
    return out


def chain(home, row_id: str) -> list[tuple]:
    """A row's lineage: (depth, asset, id, judgments) up to its raw source row."""
    return [(d, h.asset, h.row["id"], h.verdicts()) for d, h in lineage.trace(home, row_id)]


def single_process(home, config, tiny_model, monkeypatch) -> None:
    monkeypatch.setenv("THINKFORGE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with DagsterInstance.get() as instance:
        result = materialize(
            [*REFRESH, *REFRESH_CHECKS],
            partition_key=DOMAIN,
            instance=instance,
            resources={**definitions.defs.resources, **role_resources(str(tiny_model))},
            run_config=config,
        )
    assert result.success


def wait_for_step_start(cluster, run_id: str, step: str, timeout: float) -> int:
    """The pid of the process executing `step`, as soon as its STEP_START is in the event log."""
    deadline, log = time.monotonic() + timeout, StepLog(run_id)
    while time.monotonic() < deadline:
        log.read(cluster.instance)
        if step in log.pid:
            return log.pid[step]
        run = cluster.instance.get_run_by_id(run_id)
        assert run.status.value not in ("SUCCESS", "FAILURE", "CANCELED"), f"run ended before {step} started"
        time.sleep(0.1)
    raise TimeoutError(f"{step} did not start in {timeout}s")


def wait_for_all_generated(cluster, run_id: str, step: str, timeout: float) -> int:
    """How many samples `step` generated, as soon as it logs that all of them are in the request cache (the step
    then still builds and writes its partition)."""
    deadline, cursor = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        page = cluster.instance.get_records_for_run(run_id, cursor=cursor)
        cursor = page.cursor
        for record in page.records:
            entry = record.event_log_entry
            if entry.step_key != step:
                continue
            if entry.dagster_event is None and (done := re.match(r"generated (\d+)/\1 ", entry.user_message)):
                return int(done.group(1))
            event = entry.dagster_event
            assert not (event and (event.is_step_success or event.is_step_failure)), f"{step} ended before the kill"
        time.sleep(0.05)
    raise TimeoutError(f"{step} did not finish generating in {timeout}s")


def cache_rows_by_process(url: str) -> Counter:
    """Rows of the PostgreSQL request cache per process that wrote them ("host:pid")."""
    con = psycopg2.connect(libpq_url(url))
    with con.cursor() as cur:
        cur.execute(f"SELECT created_by, count(*) FROM {PG_TABLE} GROUP BY created_by")
        rows = Counter(dict(cur.fetchall()))
    con.close()
    return rows


def model_calls(cluster, run_id: str) -> dict[str, tuple[int, int, int]]:
    """Each step's (process, model calls that succeeded, cache hits), from its materialization's metadata."""
    out = {}
    for entry in cluster.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        meta = entry.dagster_event.event_specific_data.materialization.metadata
        if "model_calls" in meta:
            calls = meta["model_calls"].value - meta["failed_requests"].value
            out[entry.step_key] = (entry.dagster_event.pid, calls, meta["cache_hits"].value)
    return out


@pytest.mark.heavy(195)
@pytest.mark.timeout(1200)
def test_celery_workers_run_the_graph_and_a_killed_worker_fails_the_run_cleanly(
    tmp_path, tiny_model, embedder_cache, monkeypatch
):
    config = tiny_pool(tmp_path)
    for name in ("single", "cluster"):
        link_embedder_cache(tmp_path / name, embedder_cache)
    single_process(tmp_path / "single", config, tiny_model, monkeypatch)
    reference = tables(tmp_path / "single")

    home = tmp_path / "cluster"
    host = socket.gethostname()
    with LocalCluster(home, WORKERS, env={"THINKFORGE_MODEL": str(tiny_model)}, log=lambda _: None) as cluster:
        run_id = cluster.launch("refresh_domain", partition=DOMAIN, run_config=config)
        killed = wait_for_step_start(cluster, run_id, KILLED_STEP, timeout=600)
        owners = cluster.worker_pids()
        assert killed in owners["worker-gpu"], "the model step did not run in the gpu-queue worker's process"
        # Killed once its completions are in the request cache, before it writes its partition.
        generated = wait_for_all_generated(cluster, run_id, KILLED_STEP, timeout=600)
        os.kill(killed, signal.SIGKILL)  # the worker process executing the step dies mid-step (as by the OOM killer)
        assert cluster.wait(run_id, timeout=300) == "FAILURE"
        first = {p.step: p for p in cluster.placements(run_id)}
        assert first[KILLED_STEP].outcome == "unfinished"
        failure = [
            e
            for e in cluster.instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_FAILURE
        ]
        assert failure and "WorkerLostError" in str(failure[0].dagster_event.event_specific_data.error), failure
        assert not warehouse.partition_path(home, KILLED_STEP, DOMAIN).exists()  # nothing of the killed step written
        assert not list(home.rglob("*.tmp"))

        retry_id = cluster.reexecute_from_failure(run_id)
        assert cluster.wait(retry_id, timeout=600) == "SUCCESS", cluster.errors(retry_id)
        second = {p.step: p for p in cluster.placements(retry_id)}
        owners_after = cluster.worker_pids()
        run_worker_pids = {
            e.dagster_event.pid
            for r in (run_id, retry_id)
            for e in cluster.instance.all_logs(r)
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_START
        }
        # The request cache is the instance's PostgreSQL table: every completion of every worker process is there,
        # under the process that asked for it, the killed step's included; its re-execution read them all back.
        steps = {**model_calls(cluster, run_id), **model_calls(cluster, retry_id)}
        cached_by = cache_rows_by_process(cluster.env["THINKFORGE_POSTGRES_URL"])
    assert not (home / "cache" / "requests.sqlite").exists()
    expected = Counter({f"{host}:{killed}": generated})
    for pid, calls, _ in steps.values():
        expected[f"{host}:{pid}"] += calls
    assert generated > 0 and cached_by == expected, (cached_by, steps)
    reader, calls, hits = steps[KILLED_STEP]  # the re-executed step, in the process that replaced the killed one
    assert reader != killed and reader in owners_after["worker-gpu"] and (calls, hits) == (0, generated)
    assert {pid for pid, _, _ in steps.values()} <= owners["worker-gpu"] | owners_after["worker-gpu"]

    # Every step ran in a Celery worker's process (from the workers' own events), never in the run worker.
    assert set(second) >= {KILLED_STEP} and KILLED_STEP not in {s for s, p in first.items() if p.outcome == "success"}
    for placement in [*first.values(), *second.values()]:
        name = placement.worker.split("@")[0]
        assert placement.worker in {f"{w}@{host}" for w in WORKERS}, placement
        assert placement.pid not in run_worker_pids and placement.pid != os.getpid()
        assert placement.pid in owners[name] | owners_after[name], placement
        if placement.step in GPU_STEPS:
            assert name == "worker-gpu", f"{placement.step} is a model step: it belongs on the gpu queue"
    assert {p.worker.split("@")[0] for p in [*first.values(), *second.values()]} == set(WORKERS)

    # The warehouse equals the single-process run's: no row lost or duplicated by the kill and the re-execution.
    result = tables(home)
    assert set(result) == set(reference) and KILLED_STEP in result
    for asset, frame in reference.items():
        assert result[asset]["id"].is_unique().all(), asset
        assert result[asset].equals(frame), f"{asset} differs from the single-process run"
    row = (
        reference["verified_responses"]["id"][0]
        if reference["verified_responses"].height
        else reference["verified_responses_rejects"]["id"][0]
    )
    assert chain(home, row) == chain(tmp_path / "single", row)


CLUSTER_UNTIL_STOPPED = """
import sys, time
from pathlib import Path
from scripts.cluster import LocalCluster
with LocalCluster(Path(sys.argv[1]), {"worker-1": ["dagster"]}, log=lambda m: print(m, flush=True)):
    print("up", flush=True)
    for _ in range(1200):  # short sleeps, as the owner's own waits poll: a signal taken by another thread still ends it
        time.sleep(0.5)
"""


def start_cluster_process(tmp_path) -> subprocess.Popen:
    """A process that starts a LocalCluster, prints its log lines and "up", and keeps it until stopped."""
    return subprocess.Popen(
        [sys.executable, "-c", CLUSTER_UNTIL_STOPPED, str(tmp_path / "home")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen, prefix: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"the cluster process exited before {prefix!r}: {lines}")


def started_by(proc: subprocess.Popen) -> tuple[list[psutil.Process], set[int]]:
    """Every process a cluster process has started (its descendants and the members of their process groups, which
    takes in what a dead parent left behind), and those groups."""
    processes = psutil.Process(proc.pid).children(recursive=True)
    groups = {process_groups.group_of(p) for p in processes} - {os.getpgrp(), None}
    processes += [p for g in groups for p in process_groups.members(g) if p not in processes]
    return processes, groups


def cluster_root(processes: list[psutil.Process]) -> Path:
    """The cluster's directory (in the arguments of its processes)."""
    paths = [path for p in processes for a in _command(p).split() for path in (Path(a), *Path(a).parents)]
    return next(path for path in paths if path.name.startswith("thinkforge-cluster-"))


def owner_state(proc: subprocess.Popen) -> str:
    """What a cluster owner that does not stop is doing: its state and signal masks, what it still runs, its output."""
    status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
    fields = [line for line in status if line.split(":")[0] in ("State", "SigBlk", "SigIgn", "SigCgt")]
    wchan = Path(f"/proc/{proc.pid}/wchan").read_text()
    children = [_command(p) for p in psutil.Process(proc.pid).children(recursive=True)]
    os.set_blocking(proc.stdout.fileno(), False)
    output = proc.stdout.read() or ""
    return f"{'; '.join(fields)}; wchan {wchan}; children {children}; output since 'up': {output[-3000:]!r}"


def still_running(processes: list[psutil.Process], groups: set[int], timeout: float) -> list[str]:
    """What is still running of `processes` and `groups` once they are gone or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        left = process_groups.wait_gone(processes, 0) + [p for g in groups for p in process_groups.members(g)]
        if not left or time.monotonic() > deadline:
            return [_command(p) for p in left]
        time.sleep(0.5)


@pytest.mark.timeout(300)
def test_ctrl_c_stops_everything_the_cluster_started(tmp_path):
    proc, groups, root = start_cluster_process(tmp_path), set(), None
    try:
        read_until(proc, "up")
        started, groups = started_by(proc)
        commands = " ".join(_command(p) for p in started)
        assert "postgres" in commands and "redis-server" in commands and "celery" in commands, commands
        root = cluster_root(started)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            assert proc.wait(timeout=30) != 0
        except subprocess.TimeoutExpired:
            pytest.fail(f"the owner still runs 30 s after Ctrl-C: {owner_state(proc)}")
        assert not still_running(started, groups, timeout=0)
        print(f"the owner exited {time.monotonic() - interrupted:.1f}s after Ctrl-C:", *proc.stdout, sep="\n")
        assert [p.name for p in root.iterdir()] == ["logs"]  # an interrupted cluster keeps its logs, not its data
    finally:
        proc.kill()
        for group in groups:
            process_groups.kill_group(group)
        if root:
            shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("killed_after", ["Redis on", "up"])  # half-way through starting it; once it is up
def test_a_killed_owner_leaves_nothing_of_the_cluster_running(tmp_path, killed_after):
    proc, groups, root = start_cluster_process(tmp_path), set(), None
    try:
        lines = read_until(proc, killed_after)
        started, groups = started_by(proc)
        assert any("postgres" in _command(p) for p in started), [_command(p) for p in started]
        root = cluster_root(started)
        proc.kill()  # SIGKILL: the owner has no chance to stop anything
        proc.wait()
        killed = time.monotonic()
        assert not still_running(started, groups, timeout=60), lines
        print(f"nothing of the cluster left {time.monotonic() - killed:.1f}s after its owner was killed")
        assert not root.exists()
    finally:
        proc.kill()
        for group in groups:
            process_groups.kill_group(group)
        if root:
            shutil.rmtree(root, ignore_errors=True)


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()) or process.name()
    except psutil.Error:  # exited (or a zombie) while we looked
        return ""
