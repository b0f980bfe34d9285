"""policy_samples and s2r_trajectories materialized by Dagster on the sample data (tiny model in every role)."""

import json

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

import definitions
from assets import ALL_CHECKS, DATA_GROUPS, assets_in_groups, is_warehouse_asset
from resources.generation import role_resources
from thinkforge import lineage, warehouse
from thinkforge.training.formats import trajectory_problem

S2R = assets_in_groups("s2r")
FIRST_HALF = [a for a in assets_in_groups(*DATA_GROUPS) if is_warehouse_asset(a)]
S2R_CHECKS = [c for c in ALL_CHECKS if any(c.check_key.asset_key == a.key for a in S2R)]
CONFIG = {
    "policy_samples": {"max_problems": 2, "samples": 3, "max_tokens": 24},
    "s2r_trajectories": {"verify_max_tokens": 24, "refine_verifications": False, "fallback": True},
}


def metadata(result, name: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}


def stored(home, asset: str, domain: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        warehouse.read_partition(home, asset, domain),
        warehouse.read_partition(home, warehouse.rejects_name(asset), domain),
    )


@pytest.mark.parametrize("domain", ["math", "code"])
def test_both_assets_on_the_tiny_model_conserve_rows_and_trace_to_the_raw_row(home, tiny_model, domain):
    resources = {**definitions.defs.resources, **role_resources(str(tiny_model))}
    with DagsterInstance.get() as instance:
        first = materialize(
            FIRST_HALF,
            partition_key=domain,
            instance=instance,
            resources=resources,
            run_config={"ops": {"distilled_responses": {"config": {"samples": 1, "max_tokens": 16}}}},
        )
        assert first.success
        run = lambda: materialize(  # noqa: E731
            [*S2R, *S2R_CHECKS, *FIRST_HALF],
            selection=[a.key for a in S2R],
            partition_key=domain,
            instance=instance,
            resources=resources,
            run_config={"ops": {name: {"config": cfg} for name, cfg in CONFIG.items()}},
        )
        result = run()
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert {c.asset_key.path[-1] for c in checks} == {"policy_samples", "s2r_trajectories"}
        assert all(c.passed for c in checks if c.check_name in ("rows_conserved", "training_format"))
        again = run()  # an unchanged re-run is served from the request cache
        assert all(metadata(again, n).get("model_calls", 0) == 0 for n in ("policy_samples", "s2r_trajectories"))

    samples, sample_rejects = stored(home, "policy_samples", domain)
    selected = warehouse.read_partition(home, "selected_problems", domain)
    meta = metadata(result, "policy_samples")
    assert meta["rows_in"] == samples.height + sample_rejects.height == meta["rows_out"] + meta["rows_rejected"]
    assert samples.height == 2 * 3  # 2 problems × K = 3, every sample checked
    assert samples["sample_index"].sort().to_list() == [0, 0, 1, 1, 2, 2]
    assert set(samples["verdict"]) <= {"correct", "wrong", "no_answer", "unparsed", "timeout", "no_program"}
    assert samples["correct"].to_list() == [v == "correct" for v in samples["verdict"]]
    assert set(sample_rejects["reason"]) <= {"not_chosen"}  # math and code problems of the sample data are checkable
    assert sample_rejects.height == selected.height - 2

    traj, traj_rejects = stored(home, "s2r_trajectories", domain)
    tmeta = metadata(result, "s2r_trajectories")
    assert tmeta["rows_in"] == 2 == traj.height + traj_rejects.height == tmeta["rows_out"] + tmeta["rows_rejected"]
    assert tmeta["verifications"] >= 1 and tmeta["verification_style"] == "confirmative"
    assert set(traj_rejects["reason"]) <= {"no_correct_sample", "no_surviving_verification", "not_sampled"}
    for row in traj.to_dicts():
        assert trajectory_problem(row) is None
    for row in traj_rejects.to_dicts() + traj.to_dicts():
        record = json.loads(row["verifications"])
        assert all({"answer", "gold", "correct", "verdict", "kept", "text", "teacher"} <= set(v) for v in record)
        chain = lineage.trace(home, row["id"])
        stages = [hit.stage for _, hit in chain]
        assert stages[0] == "s2r_trajectories" and "policy_samples" in stages and "raw_problems" in stages
        text = lineage.render(chain)
        assert "verifications" in text and "verdict" in text  # each sample's verdict on the way back
