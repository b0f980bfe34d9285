"""Stopping what a process started: process groups, and the watchdog of scripts/cluster.py.

A server started for a test or a demo runs in a process group of its own; stopping it is a polite signal, a grace
period, SIGKILL of whatever is left of the group, and a wait until the group is gone (a zombie counts as gone: it has
exited and only waits to be reaped).

`python -m scripts.process_groups <owner pid> <directory>` is the watchdog of a LocalCluster: the owner starts it
first, in a new process group that every process of the cluster then joins. It polls its parent; once the owner is
gone without having stopped the cluster (SIGKILL, os._exit, a second Ctrl-C during the clean-up), it stops the
group — PostgreSQL's immediate shutdown (SIGQUIT to the postmaster, what `pg_ctl stop -m immediate` sends), SIGTERM
to the rest, SIGKILL after a grace period — removes the cluster's directory and exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil


def alive(process: psutil.Process) -> bool:
    """Whether a process still runs (an exited process waiting to be reaped does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_of(process: psutil.Process) -> int | None:
    """The process group of a process; None once it has exited (a short-lived helper may be gone by the time we ask)."""
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def members(pgid: int) -> list[psutil.Process]:
    """The running processes of process group `pgid`."""
    found = []
    for process in psutil.process_iter():
        if group_of(process) == pgid and alive(process):
            found.append(process)
    return found


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants, as they are now."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def describe(processes: Iterable[psutil.Process]) -> str:
    """Processes as `pid program` for a log line."""
    out = []
    for process in processes:
        try:
            out.append(f"{process.pid} {' '.join(process.cmdline()[:4]) or process.name()}")
        except psutil.Error:
            out.append(f"{process.pid} (exited)")
    return "; ".join(out)


def signal_all(processes: Iterable[psutil.Process], sig: int) -> None:
    for process in processes:
        try:
            process.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def wait_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for every process to exit: those still running."""
    left = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def kill_group(pgid: int, timeout: float = 10, spare: int | None = None) -> list[psutil.Process]:
    """SIGKILL every process of a group and their descendants (PostgreSQL's backends start sessions of their own),
    but `spare` (a pid), until none is left or `timeout` seconds have passed: those still running (a process in
    uninterruptible sleep dies only when its system call returns)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [q for p in members(pgid) if p.pid != spare for q in tree(p.pid)]
        if not left or time.monotonic() >= deadline:
            return left
        signal_all(left, signal.SIGKILL)
        time.sleep(0.1)


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20) -> None:
    """Stop a server started in its own process group (start_new_session or process_group=0): `sig` to the group,
    SIGKILL to what is left of it after `grace` seconds, then wait until the group is gone."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while members(proc.pid) and time.monotonic() < deadline:
        proc.poll()  # reap the leader as soon as it exits
        time.sleep(0.1)
    left = kill_group(proc.pid)
    proc.wait(timeout=10)
    if left:
        raise RuntimeError(f"still running after SIGKILL: {describe(left)}")


def watch(owner: int, directory: Path, poll: float = 0.5, grace: float = 10) -> None:
    """The watchdog (see the module's docstring): returns once the owner is gone and the group is stopped."""
    while os.getppid() == owner:  # a dead owner's children are re-parented (to init or a subreaper)
        time.sleep(poll)
    group, me = os.getpgrp(), os.getpid()
    others = [p for p in members(group) if p.pid != me]
    try:  # PostgreSQL's own record of its postmaster (absent before it starts)
        pm = int((directory / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pm = None
    signal_all([p for p in others if p.pid == pm], signal.SIGQUIT)
    signal_all([p for p in others if p.pid != pm], signal.SIGTERM)
    wait_gone(others, grace)
    kill_group(group, spare=me)
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]), Path(sys.argv[2]))
