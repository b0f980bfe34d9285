"""A throwaway PostgreSQL server on 127.0.0.1 (tests and benchmarks of the PostgreSQL request cache).

initdb + postgres in a temporary directory, as the `postgres` user where we are root (PostgreSQL refuses root), in a
process group of its own that is stopped (fast shutdown, then SIGKILL of the group) when the context exits, also on
an error or Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.cluster import free_port, postgres_bin
from scripts.process_groups import stop_group


@contextmanager
def temporary_postgres(database: str = "thinkforge") -> Iterator[str]:
    """Yields the server's URL (`postgresql+psycopg2://thinkforge@127.0.0.1:<port>/<database>`, trust auth)."""
    import psycopg2

    root = Path(tempfile.mkdtemp(prefix="thinkforge-pg-"))
    data, log = root / "data", root / "postgres.log"
    data.mkdir(mode=0o700)
    user = {}
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chmod(root, 0o755)
        os.chown(data, pw.pw_uid, pw.pw_gid)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    proc = None
    try:
        initdb = [postgres_bin("initdb"), "-D", str(data), "-U", "thinkforge", "--auth=trust", "--no-sync"]
        subprocess.run(
            [*initdb, "-E", "UTF8", "--locale=C"], env=env, cwd=root, check=True, capture_output=True, **user
        )
        port = free_port()
        server = [postgres_bin("postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root)]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [*server, "-c", "fsync=off"],
                env=env,
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped with every backend it forked
                **user,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                con = psycopg2.connect(host="127.0.0.1", port=port, user="thinkforge", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start:\n{log.read_text(errors='replace')[-3000:]}"
                    ) from None
                time.sleep(0.2)
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE {database}")
        con.close()
        yield f"postgresql+psycopg2://thinkforge@127.0.0.1:{port}/{database}"
    finally:
        if proc is not None:
            stop_group(proc, signal.SIGINT)  # PostgreSQL's fast shutdown, SIGKILL of the group after the grace
        shutil.rmtree(root, ignore_errors=True)
