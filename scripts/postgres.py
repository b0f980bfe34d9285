"""A throwaway PostgreSQL server on 127.0.0.1: the start sequence shared by the tests and benchmarks of the
PostgreSQL request cache (`temporary_postgres`) and the local cluster of scripts/cluster.py.

initdb + postgres in a temporary directory, as the `postgres` user where we are root (PostgreSQL refuses root), in a
process group chosen by the caller: `temporary_postgres` gives it a group of its own that is stopped (fast shutdown,
then SIGKILL of the group) when the context exits, also on an error or Ctrl-C; the cluster puts it in its watchdog's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.process_groups import stop_group


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))[::-1]), None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the postgresql package (make distributed-deps)")
    return str(found)


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def spawn_postgres(
    data: Path, sockets: Path, log: Path, settings: tuple[str, ...] = (), **pgroup
) -> tuple[subprocess.Popen, int]:
    """initdb in `data` (a new folder), then the server on 127.0.0.1 and a free port, its socket in `sockets` (an
    existing folder), initdb's and the server's output appended to `log`. `pgroup` is Popen's process-group argument
    (start_new_session=True, process_group=<pgid>). Where we are root, both run as the `postgres` user, which is
    given `data`, `sockets` and the log's folder (and may enter data's parent). Returns the server process, not yet
    accepting connections (`wait_for_postgres`), and its port."""
    data.mkdir(mode=0o700)
    user = {}
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chmod(data.parent, 0o755)
        for path in {data, sockets, log.parent}:
            os.chown(path, pw.pw_uid, pw.pw_gid)
        user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    initdb = [postgres_bin("initdb"), "-D", str(data), "-U", "thinkforge", "--auth=trust", "--no-sync", "-E", "UTF8"]
    with open(log, "ab") as out:
        done = subprocess.run(
            [*initdb, "--locale=C"],
            env=env,
            cwd=data,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            **pgroup,
            **user,
        )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{_tail(log)}")
    port = free_port()
    server = [postgres_bin("postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(sockets)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*server, "-c", "fsync=off", *(arg for s in settings for arg in ("-c", s))],
            env=env,
            cwd=data,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **pgroup,
            **user,
        )
    return proc, port


def wait_for_postgres(proc: subprocess.Popen, port: int, database: str, log: Path, timeout: float = 60) -> str:
    """Waits until the server of `spawn_postgres` accepts connections, creates `database` and returns its URL
    (`postgresql+psycopg2://thinkforge@127.0.0.1:<port>/<database>`, trust auth; SQLAlchemy 2.1 defaults to
    psycopg 3). Raises with the server's log when it exits or does not answer within `timeout` seconds."""
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            con = psycopg2.connect(host="127.0.0.1", port=port, user="thinkforge", dbname="postgres")
            break
        except psycopg2.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{_tail(log)}") from None
            time.sleep(0.2)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
    con.close()
    return f"postgresql+psycopg2://thinkforge@127.0.0.1:{port}/{database}"


@contextmanager
def temporary_postgres(database: str = "thinkforge") -> Iterator[str]:
    """Yields the server's URL (`wait_for_postgres`); the server and its directory are gone once the context exits."""
    root = Path(tempfile.mkdtemp(prefix="thinkforge-pg-"))
    proc = None
    try:
        proc, port = spawn_postgres(root / "data", root, root / "postgres.log", start_new_session=True)
        yield wait_for_postgres(proc, port, database, root / "postgres.log")
    finally:
        if proc is not None:
            stop_group(proc, signal.SIGINT)  # PostgreSQL's fast shutdown, SIGKILL of the group after the grace
        shutil.rmtree(root, ignore_errors=True)
