"""Declarative automation: a data refresh rebuilds data, never a model; retraining is opt-in and counts new rows."""

import json
from itertools import groupby

import polars as pl
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    DagsterInstance,
    DefaultSensorStatus,
    MaterializeResult,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
    multi_asset,
)
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from assets import TRAINING_ASSETS
from assets.common.automation import RETRAIN_MIN_ROWS, NewTrainingRows
from assets.stepwise.domains import ITERATIONS
from definitions import defs
from sensors import automation_sensor, training_automation_sensor
from sensors.inbox import inbox_sensor
from tests.conftest import write_jsonl
from thinkforge import warehouse
from thinkforge.checkpoints import MODEL_CARD

GRAPH = defs.resolve_asset_graph()
DOMAIN = "math"
# Every trained checkpoint (base_model is converted, not trained) and the pairs sampled from M_i to train M_{i+1}.
TRAINED = {k.to_user_string() for k in GRAPH.get_all_asset_keys() if "pytorch" in GRAPH.get(k).kinds} - {"base_model"}
PREFERENCES = {f"step_preferences_{i}" for i in range(1, ITERATIONS + 1)}


def record_run(instance: DagsterInstance, nodes: list, partitions_def) -> None:
    """One run of `nodes` for the domain, in order, as Dagster records it: each asset's materialization and its checks,
    passed. A stand-in with the assets' keys, code versions, dependencies and checks (no model, no data)."""
    checks = [
        AssetCheckSpec(c.name, asset=c.asset_key, blocking=GRAPH.get(c).blocking, partitions_def=partitions_def)
        for node in nodes
        for c in node.check_keys
    ]

    @multi_asset(
        specs=[AssetSpec(node.key, code_version=node.code_version, deps=node.parent_keys) for node in nodes],
        check_specs=checks,
        partitions_def=partitions_def,
    )
    def stand_in():
        for node in nodes:
            yield MaterializeResult(asset_key=node.key)
            for c in node.check_keys:
                yield AssetCheckResult(asset_key=c.asset_key, check_name=c.name, passed=True)

    assert materialize([stand_in], instance=instance, partition_key=DOMAIN if partitions_def else None).success


def record_runs(instance: DagsterInstance, names: list[str]) -> None:
    """Runs of `names` in their order, one per stretch of names with the same partitions definition."""
    nodes = [GRAPH.get(AssetKey(name)) for name in names]
    for partitions_def, stretch in groupby(nodes, key=lambda node: node.partitions_def):
        record_run(instance, list(stretch), partitions_def)


@pytest.fixture
def built_graph(home):
    """An instance where the whole graph was built once for the domain, and the cursor of the ticks that saw it."""
    instance = DagsterInstance.ephemeral()
    record_runs(instance, [key.to_user_string() for level in GRAPH.toposorted_asset_keys_by_level for key in level])
    cursor = None
    for _ in range(2):
        cursor = evaluate_automation_conditions(defs, instance, cursor=cursor).cursor
    return instance, cursor


def requested(result) -> set[str]:
    return {key.to_user_string() for key in GRAPH.get_all_asset_keys() if result.get_num_requested(key)}


def test_training_assets_are_the_trained_checkpoints_and_the_preference_data_sampled_from_them():
    assert set(TRAINING_ASSETS) == TRAINED | PREFERENCES
    assert TRAINED == {"sft_model", "rl_model", "m1_model"} | {f"step_dpo_model_{i}" for i in range(1, ITERATIONS + 1)}


def test_a_new_inbox_file_rebuilds_the_data_assets_and_no_model(home, built_graph):
    instance, cursor = built_graph
    quiet = evaluate_automation_conditions(
        defs, instance, asset_selection=automation_sensor.asset_selection, cursor=cursor
    )
    assert requested(quiet) == set()
    # A new file in the inbox: the inbox sensor's run for its domain collects raw_problems (the real asset and check).
    write_jsonl(home / "inbox" / "orca_math" / "new.jsonl", [{"question": "What is 17 * 3?", "answer": "51"}])
    (run,) = inbox_sensor(build_sensor_context(instance=instance)).run_requests
    assert run.partition_key == DOMAIN
    refresh = defs.resolve_job_def("refresh_domain").execute_in_process(
        instance=instance, partition_key=run.partition_key, tags=run.tags, asset_selection=[AssetKey("raw_problems")]
    )
    assert refresh.success
    result = evaluate_automation_conditions(
        defs, instance, asset_selection=automation_sensor.asset_selection, cursor=quiet.cursor
    )
    data = {
        "deduped_problems",
        "selected_problems",
        "distilled_responses",
        "verified_responses",
        "checklists",
        "refined_solutions",
        "cot_sft_data",
        "sft_dataset",
        "policy_samples",
        "s2r_trajectories",
        "step_sft_data",
    }
    assert requested(result) == data
    assert all(result.get_requested_partitions(AssetKey(n)) == {DOMAIN} for n in data)
    # The sensor's run rebuilds them; then each training asset fed by them shows as unsynced in the UI, new data
    # available (the status behind its "Unsynced" badge), and nothing more is requested.
    record_runs(instance, [k.to_user_string() for k in GRAPH.toposorted_asset_keys if k.to_user_string() in data])
    status = CachingStaleStatusResolver(instance, GRAPH, LoadingContextForTest(instance))
    fed = {n for n in TRAINING_ASSETS if {p.to_user_string() for p in GRAPH.get(AssetKey(n)).parent_keys} & data}
    assert fed == {"sft_model", "rl_model", "m1_model"} | PREFERENCES
    for name in TRAINING_ASSETS:
        causes = status.get_stale_causes(AssetKey(name), DOMAIN)
        assert status.get_status(AssetKey(name), DOMAIN) == (StaleStatus.STALE if name in fed else StaleStatus.FRESH)
        assert {c.reason for c in causes} <= {"has a new dependency data version"}
    after = evaluate_automation_conditions(
        defs, instance, asset_selection=automation_sensor.asset_selection, cursor=result.cursor
    )
    assert requested(after) == set()
    # Every condition, the training ones included, evaluated as the daemon would with both sensors on: still no
    # model, because no checkpoint's training tables hold RETRAIN_MIN_ROWS new rows (the warehouse is empty).
    everything = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert not requested(everything) & set(TRAINING_ASSETS)


def test_only_the_training_sensor_evaluates_training_and_it_is_off_by_default():
    assert automation_sensor.default_status == DefaultSensorStatus.RUNNING
    assert training_automation_sensor.default_status == DefaultSensorStatus.STOPPED
    keys = GRAPH.get_all_asset_keys()
    data_targets = automation_sensor.asset_selection.resolve(GRAPH)
    training_targets = training_automation_sensor.asset_selection.resolve(GRAPH)
    assert {k.to_user_string() for k in training_targets} == set(TRAINING_ASSETS)
    assert data_targets == keys - training_targets


def write_table(home, asset: str, ids: list[str]) -> None:
    path = warehouse.partition_path(home, asset, DOMAIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": ids}).write_parquet(path)


def write_card(home, asset: str, data_ids: list[str], **fields) -> None:
    folder = home / "models" / asset / DOMAIN
    folder.mkdir(parents=True)
    card = {"asset": asset, "domain": DOMAIN, "data_ids": data_ids, **fields}
    (folder / MODEL_CARD).write_text(json.dumps(card))


def test_new_rows_count_only_the_tables_the_checkpoint_was_trained_on(home):
    write_table(home, "sft_dataset", [f"sft-{i}" for i in range(7)])
    write_table(home, "s2r_trajectories", ["traj-0", "traj-1", "traj-2"])
    write_card(home, "sft_model", ["traj-0"], training_sets="s2r_trajectories")
    condition = NewTrainingRows("sft_model", ("sft_dataset", "s2r_trajectories"), 2)
    assert condition.new_rows(DOMAIN) == 2  # the 7 sft_dataset rows are not what this sft_model trains on
    (home / "models" / "sft_model" / DOMAIN / MODEL_CARD).unlink()
    (home / "models" / "sft_model" / DOMAIN).rmdir()
    write_card(home, "sft_model", ["traj-0"], training_sets="both")
    assert condition.new_rows(DOMAIN) == 9


def test_opt_in_retraining_starts_at_the_threshold_of_new_rows_and_the_rl_model_follows(home, built_graph):
    trained = [f"sft-{i}" for i in range(5)] + [f"traj-{i}" for i in range(3)]
    write_table(home, "sft_dataset", trained[:5])
    write_table(home, "s2r_trajectories", trained[5:])
    write_card(home, "sft_model", trained)
    instance, cursor = built_graph
    training = training_automation_sensor.asset_selection

    # New rows one short of the threshold (in both tables, one id already trained on): no retraining.
    write_table(home, "sft_dataset", trained[:5] + [f"new-{i}" for i in range(RETRAIN_MIN_ROWS - 2)])
    write_table(home, "s2r_trajectories", [*trained[5:], trained[0], "new-traj"])
    record_runs(instance, ["sft_dataset"])
    below = evaluate_automation_conditions(defs, instance, asset_selection=training, cursor=cursor)
    assert requested(below) == set()

    # One more new row: sft_model retrains for the domain, and rl_model (which starts from it) in the same tick.
    write_table(home, "s2r_trajectories", [*trained[5:], "new-traj", "new-traj-2"])
    record_runs(instance, ["s2r_trajectories"])
    reached = evaluate_automation_conditions(defs, instance, asset_selection=training, cursor=below.cursor)
    assert requested(reached) == {"sft_model", "rl_model"}
    assert reached.get_requested_partitions(AssetKey("sft_model")) == {DOMAIN}

    # Requested once: the next tick waits for that run (no request loop while the rows stay above the threshold).
    again = evaluate_automation_conditions(defs, instance, asset_selection=training, cursor=reached.cursor)
    assert requested(again) == set()


def test_switched_on_the_training_sensor_launches_one_run_for_the_retraining(home, built_graph):
    instance, _ = built_graph

    def tick(cursor=None):
        return training_automation_sensor(build_sensor_context(instance=instance, definitions=defs, cursor=cursor))

    first = tick()
    assert first.run_requests == []
    # No sft_model checkpoint yet: every row is new.
    write_table(home, "sft_dataset", [f"new-{i}" for i in range(RETRAIN_MIN_ROWS)])
    record_runs(instance, ["sft_dataset"])
    (run,) = tick(first.cursor).run_requests
    assert run.partition_key == DOMAIN
    assert set(run.asset_selection) == {AssetKey("sft_model"), AssetKey("rl_model")}


def test_a_new_checkpoint_is_evaluated_and_opt_in_the_iterations_follow_it(home, built_graph):
    instance, cursor = built_graph
    record_runs(instance, ["m1_model"])  # trained on purpose
    data = evaluate_automation_conditions(
        defs, instance, asset_selection=automation_sensor.asset_selection, cursor=cursor
    )
    assert requested(data) == {"model_eval"}
    training = evaluate_automation_conditions(
        defs, instance, asset_selection=training_automation_sensor.asset_selection, cursor=cursor
    )
    assert requested(training) == PREFERENCES | {f"step_dpo_model_{i}" for i in range(1, ITERATIONS + 1)}
