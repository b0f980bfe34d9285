"""`make demo` / `make proof`: materialize every asset for every domain partition into the local instance, then summarize.

A profile is a run config and the raw sources and eval sets it runs on; the code paths are the same. `demo` (the
default): each asset group's `DEMO_RUN_CONFIG`, small CPU settings, on the bundled sample data. `proof`
(`--profile proof`): each group's `PROOF_RUN_CONFIG`, training long enough to change the model's behaviour, on
data/proof/ (seeded arithmetic word problems and function tasks; the held-out arithmetic as eval set).
THINKFORGE_SOURCES / THINKFORGE_EVAL_SETS, when set, replace a profile's files. `DOMAINS=math,code` runs a subset.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance

STARTED = time.monotonic()
PROOF_DATA = Path(__file__).resolve().parents[1] / "data" / "proof"


@dataclass(frozen=True)
class Profile:
    run_config: str  # the name of the gathered run config in `assets` (asset name → config)
    sources: Path | None = None  # the raw-source YAML (None: THINKFORGE_SOURCES, else data/sources.yaml)
    eval_sets: Path | None = None  # the eval-sets YAML (None: THINKFORGE_EVAL_SETS, else data/eval/eval_sets.yaml)


PROFILES = {
    "demo": Profile("DEMO_RUN_CONFIG"),
    "proof": Profile("PROOF_RUN_CONFIG", PROOF_DATA / "sources.yaml", PROOF_DATA / "eval_sets.yaml"),
}
# Lines of a run's event log worth a terminal line: step start/finish, warnings and the stages' progress messages.
STEP_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"}
PROGRESS = (
    "generated ",
    "to generate with",
    "embedded ",
    "math-verify on",
    "sandbox tests on",
    "LLM judge on",
    "training",
    "round ",
)


def _follow(instance: DagsterInstance, stop: threading.Event) -> None:
    """Print progress from the runs' event logs while `materialize` runs (asset, partition, what, elapsed)."""
    run_id, cursor = None, None
    while not stop.wait(2.0):
        runs = instance.get_runs(limit=1)
        if not runs:
            continue
        if runs[0].run_id != run_id:
            run_id, cursor = runs[0].run_id, None
        page = instance.get_records_for_run(run_id=run_id, cursor=cursor, limit=1000)
        cursor = page.cursor
        partition = runs[0].tags.get("dagster/partition", "")
        for record in page.records:
            entry = record.event_log_entry
            kind = entry.dagster_event.event_type_value if entry.dagster_event else ""
            message = entry.user_message or ""
            if kind in STEP_EVENTS or entry.level >= logging.WARNING or any(w in message for w in PROGRESS):
                elapsed = time.monotonic() - STARTED
                print(
                    f"[{elapsed // 60:02.0f}:{elapsed % 60:04.1f}] {partition:<8} {entry.step_key or '':<22} "
                    f"{kind or 'log'}: {message[:120]}",
                    flush=True,
                )


QUIET = {
    "loggers": {"console": {"config": {"log_level": "ERROR"}}}
}  # progress comes from the event log  # full logs stay in the instance / UI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="demo", help="run config and data (default demo)"
    )
    profile = PROFILES[parser.parse_args(argv).profile]
    for variable, path in (("THINKFORGE_SOURCES", profile.sources), ("THINKFORGE_EVAL_SETS", profile.eval_sets)):
        if path is not None:
            os.environ.setdefault(variable, str(path))  # a user's own file wins
    # Imported here, not at the top: worker processes started with "spawn" (the math-verify pool) re-import this
    # module, and the code location (torch, transformers, dagster) would cost each of them seconds.
    from dagster import DagsterInstance, materialize

    import assets
    import definitions
    from assets import ALL_ASSETS, ALL_CHECKS
    from thinkforge import DOMAINS, paths
    from thinkforge.cli import eval_table, summary_table

    instance = DagsterInstance.get()  # DAGSTER_HOME=$THINKFORGE_HOME/dagster (set by the Makefile)
    resources = definitions.defs.resources
    domains = [d for d in os.environ.get("DOMAINS", ",".join(DOMAINS)).split(",") if d]
    unknown = set(domains) - set(DOMAINS)
    if unknown:
        print(f"unknown domain(s) {sorted(unknown)}: choose from {', '.join(DOMAINS)}")
        return 2
    partitioned = [a for a in ALL_ASSETS if a.partitions_def is not None]
    unpartitioned = [a for a in ALL_ASSETS if a.partitions_def is None]
    ops = getattr(assets, profile.run_config)
    run_config = {**QUIET, "ops": {name: {"config": cfg} for name, cfg in ops.items()}}
    started = time.monotonic()
    step_seconds: dict[str, dict[str, float]] = {}
    stop = threading.Event()
    threading.Thread(target=_follow, args=(instance, stop), daemon=True).start()
    if unpartitioned:
        result = materialize(
            unpartitioned,
            instance=instance,
            resources=resources,
            run_config=QUIET,
            raise_on_error=False,
        )
        print(
            f"{', '.join(a.key.to_user_string() for a in unpartitioned)}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}"
        )
        if not result.success:
            return 1
    for domain in domains:
        result = materialize(
            [*partitioned, *ALL_CHECKS],
            partition_key=domain,
            instance=instance,
            resources=resources,
            run_config=run_config,
            raise_on_error=False,
        )
        print(f"{domain}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}")
        for event in result.all_events:
            if event.event_type_value == "STEP_SUCCESS":
                step_seconds.setdefault(event.step_key, {})[domain] = event.event_specific_data.duration_ms / 1000
        if not result.success:
            return 1
    print(
        f"\nmaterialized {len(unpartitioned)} unpartitioned asset(s) and {len(partitioned)} asset(s) x {len(domains)} partitions"
        f" in {time.monotonic() - started:.1f}s\n"
    )
    stop.set()
    print(summary_table(paths.home()))
    print("\nwall time per asset (s):")
    print(f"{'asset':<24}" + "".join(f"{d:>9}" for d in domains) + f"{'total':>9}")
    for step, by_domain in step_seconds.items():
        cells = "".join(f"{by_domain.get(d, 0):>9.1f}" for d in domains)
        print(f"{step:<24}{cells}{sum(by_domain.values()):>9.1f}")
    print("\nmodel_eval:\n" + eval_table(paths.home()))
    print(f"\nbase model: {paths.checkpoint_dir('base_model')}")
    print(f"warehouse: {paths.warehouse_dir()}  (SQL: duckdb {paths.catalog_path()})")
    print("trace a row:  .venv/bin/thinkforge lineage <row-id>")
    print("open the UI:  make ui   →  http://127.0.0.1:3000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
