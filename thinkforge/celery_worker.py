"""Imported by every dagster-celery worker (`imports` in deploy/celery/executor.yaml).

Celery's prefork pool (billiard) runs each task in a daemonic child process whose identity is billiard's, and such a
process may not start processes of its own with the standard library: a daemonic process may have no children, and
billiard's authentication key refuses to be pickled for a `spawn`ed child. thinkforge's steps do start processes
(math-verify's process pool, vLLM's engine process, data-loader workers), as they may in Dagster's own step
processes; so each pool process, when it starts, is made an ordinary non-daemonic process with a standard key. The
pool keeps what matters here: a step whose process dies is reported (`WorkerLostError`) and fails its run.
"""

import multiprocessing
from multiprocessing.process import AuthenticationString

from celery.signals import worker_process_init


@worker_process_init.connect
def allow_child_processes(**_) -> None:
    config = multiprocessing.current_process()._config  # noqa: SLF001 (what Process.start and spawn read)
    config["daemon"] = False
    config["authkey"] = AuthenticationString(bytes(config["authkey"]))
