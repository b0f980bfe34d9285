"""The real asset graph materialized with Dagster on the bundled sample data."""

import os
import re
import subprocess
import sys

import duckdb
import polars as pl
import pytest
from dagster import AssetCheckKey, DagsterEventType, DagsterInstance, RunsFilter, materialize

import definitions
from assets import ALL_ASSETS, ALL_CHECKS, DEMO_RUN_CONFIG
from assets.collect.raw_problems import raw_problems
from tests.conftest import REPO, write_jsonl, write_sources
from thinkforge import DOMAINS, warehouse

RESOURCES = definitions.defs.resources
CONSERVED = {c.check_key.asset_key.to_user_string() for c in ALL_CHECKS if c.check_key.name == "rows_conserved"}


RAW_ONLY = [raw_problems, *[c for c in ALL_CHECKS if c.check_key.asset_key == raw_problems.key]]


def run(partition, instance, run_config=None, assets=RAW_ONLY):
    return materialize(
        assets,
        partition_key=partition,
        instance=instance,
        resources=RESOURCES,
        run_config=run_config,
        raise_on_error=False,
    )


@pytest.fixture
def instance(home):
    with DagsterInstance.get() as inst:
        yield inst


def test_conservation_check_fails_when_rows_go_missing(home, instance):
    assert run("chat", instance).success
    path = warehouse.partition_path(home, "raw_problems_rejects", "chat")
    pl.read_parquet(path).head(1).write_parquet(path)  # lose two rejected rows
    job = definitions.defs.resolve_implicit_global_asset_job_def()
    check_only = job.get_subset(
        asset_selection=set(), asset_check_selection={AssetCheckKey(raw_problems.key, "rows_conserved")}
    )
    result = check_only.execute_in_process(partition_key="chat", instance=instance, raise_on_error=False)
    assert not result.success  # the check is blocking: a failed check fails the run
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["missing"].value == 2


def test_configuration_error_fails_the_run_saying_what_to_fix(home, instance, tmp_path):
    bad = write_sources(tmp_path / "bad.yaml", [{"name": "x", "format": "alpaca", "path": str(tmp_path)}])
    result = run("math", instance, run_config={"ops": {"raw_problems": {"config": {"sources_file": str(bad)}}}})
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Fix the sources configuration" in str(
        failure.event_specific_data.error
    ) or "unknown format 'alpaca'" in str(failure.event_specific_data)


def test_lineage_cli_traces_rows_to_their_source(home, instance):
    result = run("chat", instance)
    kept = warehouse.read_partition(home, "raw_problems", "chat").row(0, named=True)
    rejected = (
        warehouse.read_partition(home, "raw_problems_rejects", "chat")
        .filter(pl.col("reason") == "empty_problem")
        .row(0, named=True)
    )
    env = {**os.environ, "THINKFORGE_HOME": str(home)}
    cli = [sys.executable, "-m", "thinkforge.cli", "lineage"]
    out = subprocess.run([*cli, kept["id"]], env=env, capture_output=True, text=True, check=True).stdout
    assert f"run={result.run_id}" in out and "partition=chat" in out and "[kept]" in out
    assert f"raw source: {kept['source']}" in out and f"row={kept['source_row']}" in out
    out = subprocess.run([*cli, rejected["id"]], env=env, capture_output=True, text=True, check=True).stdout
    assert "[REJECTED]" in out and "reason: empty_problem" in out and "line 3: field 'prompt'" in out
    missing = subprocess.run([*cli, "0000000000000000"], env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_inbox_files_join_the_pool(home, instance):
    write_jsonl(home / "inbox" / "orca_math" / "batch1.jsonl", [{"question": "What is 6*7?", "answer": "6 * 7 = 42"}])
    assert run("math", instance).success
    math = warehouse.read_partition(home, "raw_problems", "math")
    new = math.filter(pl.col("source") == "inbox/orca_math/batch1.jsonl")
    assert new["reference_answer"].to_list() == ["42"]


@pytest.mark.heavy(180)
@pytest.mark.timeout(1500)  # the whole graph, four domains (pyproject's default limit is 600 s)
def test_demo_script_runs_every_partition_with_metadata_checks_and_catalog(home, tiny_model, tiny_smollm2):
    # `make demo` itself runs SmolLM2; this checks the mechanics: every role on the tiny model, and training from a
    # tiny model that tokenizes like SmolLM2 (so the demo's length limits hold as in `make demo`).
    env = {**os.environ, "THINKFORGE_MODEL": str(tiny_model), "THINKFORGE_BASE_MODEL": str(tiny_smollm2)}
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for domain in DOMAINS:
        assert f"{domain}: run" in proc.stdout and "succeeded" in proc.stdout
    assert re.search(r"raw_problems\s+chat\s+12\s+9\s+3\b", proc.stdout), proc.stdout
    assert "make ui" in proc.stdout

    # what the runs recorded: every asset's metadata, every conservation check passed
    distill_meta = {}
    with DagsterInstance.get() as instance:
        for domain in DOMAINS:
            meta, checks = run_records(instance, domain)
            assert set(meta) == {a.key.to_user_string() for a in ALL_ASSETS if a.partitions_def is not None}
            raw = meta["raw_problems"]
            assert raw["rows_in"] == raw["rows_out"] + raw["rows_rejected"] > 0
            assert "sample_rows" in raw and "info_types" in raw
            distill_meta[domain] = meta["distilled_responses"]
            conserved = {asset for asset, name, passed in checks if name == "rows_conserved" and passed}
            assert conserved == CONSERVED, checks  # every table's check ran and passed

    # the warehouse through its DuckDB catalog
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        by_domain = dict(con.execute("SELECT domain, count(*) FROM raw_problems GROUP BY domain").fetchall())
        reasons = dict(con.execute("SELECT reason, count(*) FROM raw_problems_rejects GROUP BY reason").fetchall())
        dedup_reasons = dict(
            con.execute("SELECT reason, count(*) FROM deduped_problems_rejects GROUP BY reason").fetchall()
        )
        lineage_ok = con.execute(
            "SELECT count(*) FROM deduped_problems d JOIN raw_problems r ON d.parent_ids[1] = r.id"
        ).fetchone()[0]
        total = con.execute("SELECT count(*) FROM deduped_problems").fetchone()[0]
    assert set(by_domain) == set(DOMAINS)
    assert reasons == {"bad_json": 1, "bad_field": 1, "empty_problem": 1}  # the planted bad rows of instructions.jsonl
    assert dedup_reasons == {"contaminated": 20}  # the HumanEval sample: it is an evaluation set
    assert lineage_ok == total > 0
    selected = warehouse.read_partition(home, "selected_problems", "math")
    assert selected.height > 0 and selected["difficulty_source"].drop_nulls().len() > 0
    distilled = warehouse.read_partition(home, "distilled_responses", "math")
    math = distill_meta["math"]  # AM: the teacher samples only problems whose source gives no reasoning chain
    assert math["problems_skipped_with_chain"] > 0 and math["problems_distilled"] > 0  # OpenR1's R1 chains are skipped
    assert math["problems_distilled"] + math["problems_skipped_with_chain"] == selected.height
    samples = DEMO_RUN_CONFIG["distilled_responses"]["samples"]
    assert (distilled["origin"] == "teacher").sum() == samples * math["problems_distilled"]
    assert all(m["problems_distilled"] > 0 for m in distill_meta.values())  # every domain still gets teacher samples
    verified = pl.concat(
        [
            warehouse.read_partition(home, "verified_responses", "code"),
            warehouse.read_partition(home, "verified_responses_rejects", "code"),
        ],
        how="diagonal_relaxed",
    )
    human = verified.filter(pl.col("origin") == "source")
    assert human.height > 0 and set(human["verdict_correct"]) == {"correct"}  # the sources' own solutions pass
    chat = warehouse.read_partition(home, "raw_problems", "chat")
    assert chat.schema["responses"] == pl.List(
        pl.Struct({"model": pl.String, "text": pl.String, "correct": pl.Boolean, "finish_reason": pl.String})
    )


def run_records(instance, domain: str) -> tuple[dict[str, dict], list[tuple[str, str, bool]]]:
    """The domain's run: each asset's materialization metadata, and each check's (asset, name, passed)."""
    (run,) = instance.get_runs(filters=RunsFilter(tags={"dagster/partition": domain}))
    meta = {}
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.dagster_event.event_specific_data.materialization
        meta[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    checks = []
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        checks.append((evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.passed))
    return meta, checks
