"""Four domain partitions materialized at once by separate Dagster processes share the warehouse safely."""

import os
import subprocess

import duckdb
import pytest
from dagster import DagsterInstance

from tests.conftest import REPO
from thinkforge import DOMAINS, warehouse

DAGSTER = str(REPO / ".venv" / "bin" / "dagster")


@pytest.mark.heavy(75)
def test_four_partitions_in_parallel_processes(home):
    with DagsterInstance.get():  # create the instance's SQLite storage once, as `make` does
        pass
    env = {**os.environ, "THINKFORGE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    procs = [
        subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-f", "definitions.py", "--select", "raw_problems", "--partition", d],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for d in DOMAINS
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for domain, proc, out in zip(DOMAINS, procs, outputs):
        assert proc.returncode == 0, f"{domain}: {out[-3000:]}"
        assert "RUN_SUCCESS" in out
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT domain, count(*) FROM raw_problems GROUP BY domain").fetchall())
        rejected = con.execute("SELECT count(*) FROM raw_problems_rejects").fetchone()[0]
    for domain in DOMAINS:
        info = warehouse.read_info(home, "raw_problems", domain)
        assert counts[domain] == info["rows_out"] > 0
        assert info["rows_in"] == info["rows_out"] + info["rows_rejected"]
    assert rejected == 3
    assert not list((home / "warehouse").rglob("*.tmp"))  # no half-written files left behind
