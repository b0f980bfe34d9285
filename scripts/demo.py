"""`make demo`: materialize every asset for every domain partition into the local instance, then summarize.

Each asset group's `DEMO_RUN_CONFIG` keeps its CPU settings small. `DOMAINS=math,code make demo` runs a subset.
"""

import os
import sys
import time

from dagster import DagsterInstance, materialize

import definitions
from assets import ALL_ASSETS, ALL_CHECKS, DEMO_RUN_CONFIG
from resources.generation import DEFAULT_MODEL_DIR
from thinkforge import DOMAINS, paths
from thinkforge.cli import summary_table

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # full logs stay in the instance / UI


def main() -> int:
    instance = DagsterInstance.get()  # DAGSTER_HOME=$THINKFORGE_HOME/dagster (set by the Makefile)
    resources = definitions.defs.resources
    domains = [d for d in os.environ.get("DOMAINS", ",".join(DOMAINS)).split(",") if d]
    unknown = set(domains) - set(DOMAINS)
    if unknown:
        print(f"unknown domain(s) {sorted(unknown)}: choose from {', '.join(DOMAINS)}")
        return 2
    partitioned = [a for a in ALL_ASSETS if a.partitions_def is not None]
    unpartitioned = [a for a in ALL_ASSETS if a.partitions_def is None]
    run_config = {**QUIET, "ops": {name: {"config": cfg} for name, cfg in DEMO_RUN_CONFIG.items()}}
    started = time.monotonic()
    if unpartitioned:
        result = materialize(unpartitioned, instance=instance, resources=resources, run_config=QUIET, raise_on_error=False)
        print(f"{', '.join(a.key.to_user_string() for a in unpartitioned)}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            return 1
    for domain in domains:
        result = materialize([*partitioned, *ALL_CHECKS], partition_key=domain, instance=instance, resources=resources,
                             run_config=run_config, raise_on_error=False)
        print(f"{domain}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            return 1
    print(f"\nmaterialized {len(unpartitioned)} unpartitioned asset(s) and {len(partitioned)} asset(s) x {len(domains)} partitions"
          f" in {time.monotonic() - started:.1f}s\n")
    print(summary_table(paths.home()))
    print(f"\nbase model: {paths.home() / DEFAULT_MODEL_DIR}")
    print(f"warehouse: {paths.warehouse_dir()}  (SQL: duckdb {paths.catalog_path()})")
    print("trace a row:  .venv/bin/thinkforge lineage <row-id>")
    print("open the UI:  make ui   →  http://127.0.0.1:3000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
