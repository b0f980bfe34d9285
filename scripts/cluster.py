"""A distributed Dagster deployment on one machine, for `make demo-distributed` and its test.

PostgreSQL (the instance's run, event-log and schedule storage), Redis (the Celery broker and result backend),
dagster-celery workers and the Dagster daemon each run as a process on 127.0.0.1 under one temporary directory, with
the instance config of deploy/celery/dagster.yaml and THINKFORGE_EXECUTOR=celery: the same processes a multi-machine
deployment runs, only on one host. Runs are submitted to the queued run coordinator (`dagster job launch`); the
daemon launches each run worker, which sends every step to the workers.

Every process the cluster starts joins one process group, that of a watchdog started first
(scripts/process_groups.py). When the context exits, also on an error or Ctrl-C, the cluster is stopped within about
20 s however loaded the machine (polite signals, SIGKILL of what is left after a grace period, then a wait until the
group is gone); if the owning process dies without that (SIGKILL), the watchdog stops the group and removes the
cluster's files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType

from jobs.executors import CELERY_CONFIG
from scripts.postgres import free_port, spawn_postgres, wait_for_postgres
from scripts.process_groups import describe, kill_group, signal_all, tree, wait_gone
from thinkforge.paths import REPO_ROOT

BIN = Path(sys.executable).parent
CELERY_DAGSTER_YAML = REPO_ROOT / "deploy" / "celery" / "dagster.yaml"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
# Stopping: seconds the takers of work (daemon, workers) get after SIGTERM, then PostgreSQL after its fast shutdown
# (SIGINT) and after its immediate one (SIGQUIT), before SIGKILL.
TAKERS_GRACE_S = 8
POSTGRES_FAST_S = 4
POSTGRES_IMMEDIATE_S = 4


@dataclass
class StepPlacement:
    """Where one step of a run ran: the Celery worker that took it and the process that executed it."""

    step: str
    worker: str
    pid: int | None
    seconds: float | None
    outcome: str


class LocalCluster:
    """PostgreSQL + Redis + Celery workers + the Dagster daemon for THINKFORGE_HOME `home`.

    `workers` maps a worker name to the queues it listens on (`dagster` is Dagster's default queue; `gpu` takes
    model-running steps, see assets/common/gpu.py). `env` adds settings for every process (e.g. THINKFORGE_MODEL).
    """

    def __init__(self, home: Path, workers: dict[str, list[str]], env: dict[str, str] | None = None, log=print):
        self.home = Path(home)
        self.workers = workers
        self.extra_env = env or {}
        self.log = log
        self.root: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.watchdog: subprocess.Popen | None = None
        self._saved_env: dict[str, str | None] = {}
        self._instance = None

    # ---- start / stop -------------------------------------------------------------------------------------------
    def __enter__(self) -> LocalCluster:
        self.root = Path(tempfile.mkdtemp(prefix="thinkforge-cluster-"))
        (self.root / "logs").mkdir()
        try:
            self._start_watchdog()
            pg_url = self._start_postgres()
            redis_port = self._start_redis()
            dagster_home = self.root / "dagster"
            dagster_home.mkdir()
            shutil.copy(CELERY_DAGSTER_YAML, dagster_home / "dagster.yaml")
            self.env = {
                **os.environ,
                **self.extra_env,
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "THINKFORGE_HOME": str(self.home),
                "DAGSTER_HOME": str(dagster_home),
                "THINKFORGE_EXECUTOR": "celery",
                "THINKFORGE_POSTGRES_URL": pg_url,
                "THINKFORGE_CELERY_BROKER": f"redis://127.0.0.1:{redis_port}/0",
                "THINKFORGE_CELERY_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
            }
            # This process reads the same instance (run status, event log) and may re-execute runs.
            for key in ("THINKFORGE_HOME", "DAGSTER_HOME", "THINKFORGE_EXECUTOR", *self.extra_env, *_CLUSTER_KEYS):
                self._saved_env[key] = os.environ.get(key)
                os.environ[key] = self.env[key]
            self._run([str(BIN / "dagster"), "instance", "migrate"], "instance-migrate")
            for name, queues in self.workers.items():
                self._start_worker(name, queues)
            self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])
            self._wait_for_workers()
            self._wait_for_daemon()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None
        self._stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        if self.root and self.root.exists():
            for path in self.root.iterdir():  # the logs of a failed or interrupted cluster are kept, not its data
                if exc_type is None or path.name != "logs":
                    shutil.rmtree(path, ignore_errors=True)
            if exc_type is None:
                self.root.rmdir()
            else:
                self.log(f"cluster logs kept in {self.root / 'logs'}")

    def _start_watchdog(self) -> None:
        """The watchdog, in a new process group (in this session) that every process of the cluster joins."""
        out = open(self.root / "logs" / "watchdog.log", "ab")  # noqa: SIM115 (the process owns it)
        self.watchdog = subprocess.Popen(
            [sys.executable, "-m", "scripts.process_groups", str(os.getpid()), str(self.root)],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        out.close()
        self.log(f"process group {self.watchdog.pid}: the cluster's processes and their watchdog")

    def _stop(self) -> None:
        """SIGTERM to the takers of work (the daemon, the workers, a run launch) and all they started, SIGKILL after
        TAKERS_GRACE_S; then SIGTERM to Redis and PostgreSQL's fast shutdown, its immediate shutdown if the fast one
        hangs (SIGQUIT to the postmaster: what `pg_ctl stop -m immediate` sends); last, also when interrupted,
        SIGKILL to whatever is left of the group (the watchdog too) and a wait until it is gone."""
        if self.watchdog is None:
            return
        started = time.monotonic()
        try:
            storage = {name: self.procs[name] for name in ("postgres", "redis") if name in self.procs}
            takers = [p for name, proc in self.procs.items() if name not in storage for p in tree(proc.pid)]
            signal_all(takers, signal.SIGTERM)
            if stubborn := wait_gone(takers, TAKERS_GRACE_S):
                self.log(f"SIGKILL to what still runs {TAKERS_GRACE_S}s after SIGTERM: {describe(stubborn)}")
                signal_all(stubborn, signal.SIGKILL)
            servers = {name: tree(proc.pid)[:1] for name, proc in storage.items()}  # signal the servers' mains only
            signal_all(servers.get("redis", []), signal.SIGTERM)
            signal_all(servers.get("postgres", []), signal.SIGINT)
            if wait_gone(servers.get("postgres", []), POSTGRES_FAST_S):
                self.log(f"PostgreSQL's fast shutdown took over {POSTGRES_FAST_S}s: immediate shutdown")
                signal_all(servers["postgres"], signal.SIGQUIT)
                wait_gone(servers["postgres"], POSTGRES_IMMEDIATE_S)
        finally:
            left = kill_group(self.watchdog.pid)
            for proc in [*self.procs.values(), self.watchdog]:
                proc.wait(timeout=10)
            self.procs, self.watchdog = {}, None
            if left:
                self.log(f"still running after SIGKILL: {describe(left)}")
        self.log(f"cluster stopped in {time.monotonic() - started:.1f}s")

    def _spawn(self, name: str, cmd: list[str], **kwargs) -> subprocess.Popen:
        out = open(self.root / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it)
        proc = subprocess.Popen(
            cmd,
            cwd=kwargs.pop("cwd", REPO_ROOT),
            env=kwargs.pop("env", getattr(self, "env", None)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=self.watchdog.pid,  # the cluster's group: the watchdog stops it if this process dies
            **kwargs,
        )
        out.close()
        self.procs[name] = proc
        return proc

    def _run(self, cmd: list[str], name: str, **kwargs) -> None:
        proc = self._spawn(name, cmd, **kwargs)
        if proc.wait(timeout=300) != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{self.log_tail(name)}")
        self.procs.pop(name)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _start_postgres(self) -> str:
        """initdb + postgres on 127.0.0.1 in the cluster's process group (scripts/postgres.py)."""
        sockets, log = self.root / "pgsock", self.root / "logs" / "postgres.log"
        sockets.mkdir()
        pgroup = {"process_group": self.watchdog.pid}  # stopped with the cluster, by its watchdog if this process dies
        proc, port = spawn_postgres(self.root / "pgdata", sockets, log, ("max_connections=200",), **pgroup)
        self.procs["postgres"] = proc
        url = wait_for_postgres(proc, port, "dagster", log)
        self.log(f"PostgreSQL on 127.0.0.1:{port} (pid {proc.pid})")
        return url

    def _start_redis(self) -> int:
        import redis

        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server not found: install the redis-server package (make distributed-deps)")
        port = free_port()
        (self.root / "redis").mkdir()
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        self._spawn("redis", [*cmd, "--dir", str(self.root / "redis")], env={"PATH": os.environ.get("PATH", "")})
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping()
                break
            except redis.ConnectionError:
                if self.procs["redis"].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Redis did not start:\n{self.log_tail('redis')}") from None
                time.sleep(0.2)
        self.log(f"Redis on 127.0.0.1:{port} (pid {self.procs['redis'].pid})")
        return port

    def _start_worker(self, name: str, queues: list[str]) -> None:
        """dagster-celery's worker (a Celery worker of dagster_celery.app): one step at a time (--concurrency 1)."""
        cmd = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(CELERY_CONFIG)]
        cmd += ["-n", name, "-l", "INFO"]
        for queue in queues:
            cmd += ["-q", queue]
        self._spawn(name, [*cmd, "--", "--concurrency=1", "--without-gossip", "--without-mingle"])

    def _wait_for_workers(self, timeout: float = 180) -> None:
        from celery import Celery

        app = Celery(broker=self.env["THINKFORGE_CELERY_BROKER"])
        deadline = time.monotonic() + timeout
        want = {f"{name}@{socket.gethostname()}" for name in self.workers}
        while True:
            up = {name for reply in app.control.ping(timeout=1.0) for name in reply}
            if want <= up:
                break
            for name in self.workers:
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"Celery worker {name} exited:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery workers {sorted(want - up)} did not answer a ping in {timeout:.0f}s")
        app.close()
        for name, queues in self.workers.items():
            self.log(f"Celery worker {name} (pid {self.procs[name].pid}) on queues {', '.join(queues)}")

    def _wait_for_daemon(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while "QUEUED_RUN_COORDINATOR" not in self.instance.get_daemon_heartbeats():
            if self.procs["daemon"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Dagster daemon did not start:\n{self.log_tail('daemon')}")
            time.sleep(1)
        self.log(f"Dagster daemon (pid {self.procs['daemon'].pid})")

    # ---- runs ---------------------------------------------------------------------------------------------------
    @property
    def instance(self):
        """The cluster's Dagster instance (PostgreSQL), as every process of the cluster sees it."""
        if self._instance is None:
            from dagster import DagsterInstance

            self._instance = DagsterInstance.from_config(self.env["DAGSTER_HOME"])
        return self._instance

    def launch(self, job: str, partition: str | None = None, run_config: dict | None = None) -> str:
        """Submit a run of `job` to the queue (the daemon launches it); returns its run id."""
        run_id = str(uuid.uuid4())
        tags = {"dagster/partition": partition} if partition else {}
        cmd = [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", job, "--run-id", run_id]
        cmd += ["--tags", json.dumps(tags), "--config-json", json.dumps(run_config or {})]
        self._run(cmd, f"launch-{run_id[:8]}")
        return run_id

    def wait(self, run_id: str, timeout: float, poll: float = 1.0, on_tick=None) -> str:
        """Wait for a run to finish: its final status (SUCCESS, FAILURE, CANCELED)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.instance.get_run_by_id(run_id)
            if run is not None and run.status.value in FINISHED:
                return run.status.value
            for name, proc in self.procs.items():
                if name == "daemon" and proc.poll() is not None:
                    raise RuntimeError(f"the Dagster daemon exited:\n{self.log_tail('daemon')}")
            if time.monotonic() > deadline:
                status = run.status.value if run else "not found"
                raise TimeoutError(f"run {run_id} still {status} after {timeout:.0f}s")
            if on_tick:
                on_tick()
            time.sleep(poll)

    def reexecute_from_failure(self, run_id: str) -> str:
        """Re-execute a failed run from its failed steps (what the UI's "Re-execute from failure" does)."""
        from dagster._core.execution.plan.resume_retry import ReexecutionStrategy
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import WorkspaceFileTarget

        parent = self.instance.get_run_by_id(run_id)
        target = WorkspaceFileTarget([str(REPO_ROOT / "workspace.yaml")])
        with WorkspaceProcessContext(self.instance, target) as workspace:
            context = workspace.create_request_context()
            origin = parent.remote_job_origin
            location = context.get_code_location(origin.location_name)
            repository = location.get_repository(origin.repository_origin.repository_name)
            job = repository.get_full_job(parent.job_name)
            run = self.instance.create_reexecuted_run(
                request_context=context,
                parent_run=parent,
                code_location=location,
                remote_job=job,
                strategy=ReexecutionStrategy.FROM_FAILURE,
                use_parent_run_tags=True,
            )
            self.instance.submit_run(run.run_id, context)
        return run.run_id

    def errors(self, run_id: str) -> list[str]:
        """What went wrong in a run: each failed step's error and the run's failure message."""
        out = []
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            if event is not None and event.event_type_value in ("STEP_FAILURE", "PIPELINE_FAILURE"):
                error = getattr(event.event_specific_data, "error", None)
                out.append(f"{entry.step_key or 'run'}: {error.to_string() if error else event.message}")
        return out

    def placements(self, run_id: str) -> list[StepPlacement]:
        """Every step of a run with the worker that took it (from the worker's own event) and its process."""
        log = StepLog(run_id)
        log.read(self.instance)
        while log.has_more:
            log.read(self.instance)
        return log.placements()

    def worker_pids(self) -> dict[str, set[int]]:
        """Each worker's processes (the dagster-celery launcher, Celery's main process and its pool)."""
        import psutil

        pids = {}
        for name in self.workers:
            try:
                root = psutil.Process(self.procs[name].pid)
                pids[name] = {root.pid, *(p.pid for p in root.children(recursive=True))}
            except psutil.NoSuchProcess:
                pids[name] = set()
        return pids


class StepLog:
    """Where the steps of one run ran, read from its event log incrementally (a cursor: each event read once)."""

    KINDS = {
        DagsterEventType.ENGINE_EVENT,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
    }

    def __init__(self, run_id: str):
        self.run_id, self.cursor, self.has_more = run_id, None, False
        self.worker: dict[str, str] = {}
        self.pid: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.outcome: dict[str, str] = {}

    def read(self, instance, limit: int = 1000) -> list[StepPlacement]:
        """Read the next events (up to `limit`): the steps that finished among them."""
        page = instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=self.KINDS, limit=limit)
        self.cursor, self.has_more = page.cursor, page.has_more
        finished = []
        for record in page.records:
            entry, event = record.event_log_entry, record.event_log_entry.dagster_event
            step = entry.step_key
            if not step:
                continue
            if event.event_type == DagsterEventType.ENGINE_EVENT:
                meta = event.event_specific_data.metadata
                if "Celery worker" in meta:
                    self.worker[step] = meta["Celery worker"].value
            elif event.event_type == DagsterEventType.STEP_START:
                self.pid[step] = event.pid
            else:
                self.outcome[step] = event.event_type_value.removeprefix("STEP_").lower()
                if event.event_type == DagsterEventType.STEP_SUCCESS:
                    self.seconds[step] = event.event_specific_data.duration_ms / 1000
                finished.append(step)
        return [self.placement(s) for s in finished]

    def placement(self, step: str) -> StepPlacement:
        return StepPlacement(
            step,
            self.worker.get(step, "-"),
            self.pid.get(step),
            self.seconds.get(step),
            self.outcome.get(step, "unfinished"),
        )

    def placements(self) -> list[StepPlacement]:
        return [self.placement(s) for s in dict.fromkeys([*self.worker, *self.pid])]


_CLUSTER_KEYS = ("THINKFORGE_POSTGRES_URL", "THINKFORGE_CELERY_BROKER", "THINKFORGE_CELERY_BACKEND")
