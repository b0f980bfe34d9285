"""`make demo`: materialize every asset for every domain partition into the local instance, then summarize."""

import sys
import time

from dagster import DagsterInstance, materialize

import definitions
from assets import ALL_ASSETS, ALL_CHECKS
from resources.models import DEFAULT_MODEL_DIR
from thinkforge import DOMAINS, settings
from thinkforge.cli import summary_table


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # full logs stay in the instance / UI
# The demo keeps the teacher cheap on CPU: 2 samples of at most 192 tokens (the asset defaults are 4 and 1024).
DEMO_CONFIG = {**QUIET, "ops": {"distilled_responses": {"config": {"samples": 2, "max_tokens": 192}}}}


def main() -> int:
    instance = DagsterInstance.get()  # DAGSTER_HOME=$THINKFORGE_HOME/dagster (set by the Makefile)
    resources = definitions.defs.resources
    partitioned = [a for a in ALL_ASSETS if a.partitions_def is not None]
    unpartitioned = [a for a in ALL_ASSETS if a.partitions_def is None]
    started = time.monotonic()
    if unpartitioned:
        result = materialize(unpartitioned, instance=instance, resources=resources, run_config=QUIET, raise_on_error=False)
        print(f"{', '.join(a.key.to_user_string() for a in unpartitioned)}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            return 1
    for domain in DOMAINS:
        result = materialize(
            [*partitioned, *ALL_CHECKS], partition_key=domain, instance=instance, resources=resources,
            run_config=DEMO_CONFIG, raise_on_error=False,
        )
        print(f"{domain}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            return 1
    print(f"\nmaterialized {len(unpartitioned)} unpartitioned asset(s) and {len(partitioned)} asset(s) x {len(DOMAINS)} partitions"
          f" in {time.monotonic() - started:.1f}s\n")
    print(summary_table(settings.home()))
    print(f"\nbase model: {settings.home() / DEFAULT_MODEL_DIR}")
    print(f"warehouse: {settings.warehouse_dir()}  (SQL: duckdb {settings.catalog_path()})")
    print("trace a row:  .venv/bin/thinkforge lineage <row-id>")
    print("open the UI:  make ui   →  http://127.0.0.1:3000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
