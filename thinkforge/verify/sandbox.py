"""Run untrusted programs in bubblewrap: no network, no host files, nothing of the pipeline, hard limits.

The program sees only /usr (read-only, for the interpreter), a private /proc and /dev, its own read-only files in
/prog (copied in from memory: no host path appears in /proc/self/mountinfo) and a private tmpfs /work. It runs as
uid 65534 on the host (so RLIMIT_NPROC holds; it is not enforced for root) in fresh user, pid, network, ipc, uts,
cgroup and mount namespaces, as pid 1 of its namespace (no bwrap init carrying bwrap's command line), with limits on
address space, processes, file size and wall time. Its stdout/stderr are anonymous memory files (`/proc/self/fd/1`
shows `/memfd:…`, a flood hits the file-size limit).

Nothing of the pipeline's environment reaches the sandbox: the whole chain (prlimit → bwrap, already as nobody) is started
with a minimal explicit environment, only the descriptors it needs are inherited, and bwrap clears the environment
again. As defence in depth, output kept from a run has the values of secret-looking variables of the pipeline's
environment redacted. Without bubblewrap nothing runs.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

NOBODY = 65534
CHAIN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # the environment of prlimit and bwrap
PROGRAM_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/work", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|DSN|URI|URL", re.I)


class SandboxUnavailable(RuntimeError):
    """No working isolation: untrusted code is never run unisolated."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 5.0
    memory_mb: int = 512
    max_procs: int = 32
    max_output_bytes: int = 1_000_000


@dataclass
class RunResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f}s"
        if self.exit_code and self.exit_code < 0 or (self.exit_code or 0) > 128:
            sig = -self.exit_code if self.exit_code < 0 else self.exit_code - 128
            return f"killed by signal {signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig}"
        tail = self.stderr.strip().splitlines()[-1:] if self.stderr.strip() else []
        return f"exit {self.exit_code}" + (f": {tail[0][:200]}" if tail else "")


def redact(text: str, environ: dict[str, str] | None = None) -> str:
    """`text` with the value of every secret-looking variable of the pipeline's environment replaced."""
    environ = os.environ if environ is None else environ
    for name, value in environ.items():
        if len(value) >= 6 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, f"[{name} redacted]")
    return text


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, 0)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _unprivileged() -> dict:
    """Popen arguments that drop root to nobody (no supplementary groups) before the chain starts."""
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}


def _exited_within(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the process to exit, at most `timeout_s` (a pidfd: woken at the exit, no polling loop)."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(pidfd)


class Sandbox:
    def __init__(self, python: str = "/usr/bin/python3", limits: Limits = Limits()):
        self.bwrap = shutil.which("bwrap")
        self.prlimit = shutil.which("prlimit")
        self.python, self.limits = python, limits
        if not self.bwrap:
            raise SandboxUnavailable(
                "bubblewrap is not installed: `apt-get install -y bubblewrap` (Debian/Ubuntu) or your "
                "distribution's bubblewrap package; code verification refuses to run untrusted code without it"
            )
        if not self.prlimit:
            raise SandboxUnavailable("`prlimit` (util-linux) is needed to set the sandbox's resource limits")
        probe = self.run_python("print('ok')")
        if probe.stdout.strip() != "ok":
            raise SandboxUnavailable(
                f"bubblewrap cannot create namespaces here ({probe.describe()}; {probe.stderr.strip()[:300]}); "
                "enable unprivileged user namespaces (kernel.unprivileged_userns_clone=1)"
            )

    def _command(self, files: dict[str, int], info_fd: int) -> list[str]:
        lim = self.limits
        limits = [
            self.prlimit,
            f"--as={lim.memory_mb * 2**20}",
            f"--nproc={lim.max_procs}",
            f"--fsize={lim.max_output_bytes}",
            "--core=0",
            "--",
        ]
        env = [arg for name, value in PROGRAM_ENV.items() for arg in ("--setenv", name, value)]
        data = [arg for name, fd in files.items() for arg in ("--ro-bind-data", str(fd), f"/prog/{name}")]
        return [
            *limits,
            self.bwrap,
            "--unshare-all",
            "--as-pid-1",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            *env,
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--dir",
            "/prog",
            *data,
            "--tmpfs",
            "/work",
            "--chdir",
            "/work",
            "--info-fd",
            str(info_fd),
            "--remount-ro",
            "/",
            self.python,
            "-I",
            "/prog/main.py",
        ]

    def run_python(
        self, code: str, stdin: str = "", timeout_s: float | None = None, files: dict[str, str] | None = None
    ) -> RunResult:
        """Run `code` as /prog/main.py (other read-only `files` beside it) with `stdin`; never raises for what the
        program does."""
        timeout_s = timeout_s or self.limits.timeout_s
        sources = {"main.py": code, **(files or {})}
        fds = {name: _memfd(name, text.encode("utf-8")) for name, text in sources.items()}
        out, err, given = _memfd("stdout"), _memfd("stderr"), _memfd("stdin", stdin.encode("utf-8"))
        info_r, info_w = os.pipe()
        try:
            started = time.monotonic()
            proc = subprocess.Popen(
                self._command(fds, info_w),
                stdin=given,  # a memory file: nothing to feed, no pipe to block on
                stdout=out,
                stderr=err,
                env=CHAIN_ENV,
                pass_fds=(*fds.values(), info_w),
                start_new_session=True,
                **_unprivileged(),
            )
            os.close(info_w)
            info_w = -1
            timed_out = not _exited_within(proc, timeout_s)
            if timed_out:
                self._kill(proc, info_r)
            proc.wait()
            duration = time.monotonic() - started
            limit = self.limits.max_output_bytes
            return RunResult(
                exit_code=proc.returncode,
                stdout=redact(os.pread(out, limit, 0).decode("utf-8", "replace")),
                stderr=redact(os.pread(err, limit, 0).decode("utf-8", "replace")),
                timed_out=timed_out,
                duration_s=duration,
            )
        finally:
            for fd in (*fds.values(), out, err, given, info_r, info_w):
                if fd >= 0:
                    os.close(fd)

    @staticmethod
    def _kill(proc: subprocess.Popen, info_r: int) -> None:
        """Kill the sandbox's pid 1 (the kernel then kills its whole pid namespace and bwrap exits and is reaped);
        bwrap's process group when its info never came."""
        os.set_blocking(info_r, False)
        try:
            child = json.loads(os.read(info_r, 4096) or b"{}").get("child-pid")
        except (BlockingIOError, ValueError):
            child = None
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
