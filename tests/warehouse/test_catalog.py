"""The DuckDB catalog is touched only when a view is missing, and a busy catalog never fails a write."""

import subprocess
import sys
import time

import polars as pl

from thinkforge import warehouse
from thinkforge.stage import REJECT_SCHEMA, StageOutput


def _out(n: int) -> StageOutput:
    kept = pl.DataFrame({"id": [f"r{i}" for i in range(n)], "domain": ["math"] * n})
    return StageOutput(kept=kept, rejects=pl.DataFrame(schema=REJECT_SCHEMA), rows_in=n)


def test_writes_go_on_while_a_notebook_holds_the_catalog(tmp_path):
    warehouse.write_partition(tmp_path, "a", "math", _out(2), run_id="r1")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"),
            str(tmp_path / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        warehouse.write_partition(tmp_path, "a", "code", _out(3), run_id="r2")  # its views exist: no catalog access
        assert time.monotonic() - started < 1.0
        messages = []
        warehouse.write_partition(
            tmp_path, "b", "math", _out(1), run_id="r3", catalog_timeout_s=1.0, log=messages.append
        )
        assert warehouse.count_rows(tmp_path, "b", "math") == 1 and "busy" in messages[0]
    finally:
        holder.kill()
        holder.wait()
    warehouse.write_partition(tmp_path, "b", "code", _out(1), run_id="r4")  # the next write creates the missing view
    with warehouse.catalog(tmp_path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM b").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM a").fetchone()[0] == 5


def test_row_counts_come_from_the_footer(tmp_path):
    warehouse.write_partition(tmp_path, "a", "math", _out(7), run_id="r1")
    assert warehouse.count_rows(tmp_path, "a", "math") == 7
    assert warehouse.count_rows(tmp_path, "a_rejects", "math") == 0
