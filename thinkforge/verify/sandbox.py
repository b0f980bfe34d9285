"""Run untrusted programs in bubblewrap: no network, no host files, an unprivileged uid, hard limits.

The program sees only /usr (read-only, for the interpreter), a private /proc and /dev, its own
read-only code in /prog and a private tmpfs /work. It runs as uid 65534 on the host (so
RLIMIT_NPROC holds; it is not enforced for root) in fresh user, pid, network, ipc, uts and
mount namespaces, with limits on address space, processes, file size (stdout/stderr go to
files, so a flood hits the file-size limit) and wall time. Without bubblewrap nothing runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534

# A subreaper between us and bwrap: bwrap's in-namespace init is re-parented when bwrap exits, and a
# host init that does not reap would keep it as a zombie that counts against RLIMIT_NPROC.
REAPER = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = os.fork()
if child == 0:
    os.execv(sys.argv[1], sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
code = 1
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
sys.exit(code)
"""


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


class Sandbox:
    def __init__(self, python: str = "/usr/bin/python3", limits: Limits = Limits()):
        self.bwrap = shutil.which("bwrap")
        self.setpriv = shutil.which("setpriv")
        self.python, self.limits = python, limits
        if not self.bwrap:
            raise SandboxUnavailable(
                "bubblewrap is not installed: `apt-get install -y bubblewrap` (Debian/Ubuntu) or your "
                "distribution's bubblewrap package; code verification refuses to run untrusted code without it"
            )
        probe = self.run_python("print('ok')")
        if probe.stdout.strip() != "ok":
            raise SandboxUnavailable(
                f"bubblewrap cannot create namespaces here ({probe.describe()}; {probe.stderr.strip()[:300]}); "
                "enable unprivileged user namespaces (kernel.unprivileged_userns_clone=1)"
            )

    def _command(self, prog_dir: str) -> list[str]:
        lim = self.limits
        prefix = []
        if os.geteuid() == 0:
            if not self.setpriv:
                raise SandboxUnavailable("running as root needs `setpriv` (util-linux) to drop to an unprivileged uid")
            prefix = [self.setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        limits = [
            "prlimit",
            f"--as={lim.memory_mb * 2**20}",
            f"--nproc={lim.max_procs}",
            f"--fsize={lim.max_output_bytes}",
            "--core=0",
            "--",
        ]
        return [
            *limits,
            *prefix,
            self.python,
            "-I",
            "-S",
            "-c",
            REAPER,
            self.bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/work",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
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
            "--ro-bind",
            prog_dir,
            "/prog",
            "--tmpfs",
            "/work",
            "--chdir",
            "/work",
            "--remount-ro",
            "/",
            self.python,
            "-I",
            "/prog/main.py",
        ]

    def run_python(self, code: str, stdin: str = "", timeout_s: float | None = None) -> RunResult:
        timeout_s = timeout_s or self.limits.timeout_s
        with tempfile.TemporaryDirectory(prefix="tf-sandbox-") as tmp:
            prog = Path(tmp) / "prog"
            prog.mkdir()
            (prog / "main.py").write_text(code, encoding="utf-8")
            os.chmod(tmp, 0o755)
            os.chmod(prog, 0o755)
            os.chmod(prog / "main.py", 0o644)
            out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
            started = time.monotonic()
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    self._command(str(prog)), stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True
                )
                timed_out = False
                try:
                    proc.communicate(stdin.encode("utf-8"), timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    proc.terminate()  # the reaper kills bwrap, which takes the sandbox down, then reaps it all
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                except BrokenPipeError:  # the program exited without reading its input
                    proc.wait(timeout=timeout_s)
            limit = self.limits.max_output_bytes
            return RunResult(
                exit_code=proc.returncode,
                stdout=out_path.read_bytes()[:limit].decode("utf-8", "replace"),
                stderr=err_path.read_bytes()[:limit].decode("utf-8", "replace"),
                timed_out=timed_out,
                duration_s=time.monotonic() - started,
            )
