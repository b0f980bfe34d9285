"""The refine group materialized by Dagster on the sample data: tiny models in every role, two distinct evaluators."""

import json

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

import definitions
from assets import ALL_CHECKS, DATA_GROUPS, assets_in_groups, is_warehouse_asset
from resources.generation import evaluators_resource, role_resources
from tests.conftest import SMOLLM2_SERVED
from tests.tiny_model import build_tiny_model
from thinkforge import lineage, warehouse

REFINE = assets_in_groups("refine")
FIRST_HALF = [a for a in assets_in_groups(*DATA_GROUPS) if is_warehouse_asset(a)]
REFINE_CHECKS = [c for c in ALL_CHECKS if any(c.check_key.asset_key == a.key for a in REFINE)]
SMALL = {
    "refined_solutions": {"max_rounds": 2, "eval_max_tokens": 24, "revise_max_tokens": 24, "draft_max_tokens": 24},
    "cot_sft_data": {"summary_max_tokens": 16, "cot_max_tokens": 24},
}


def config(max_problems: int) -> dict:
    ops = {**SMALL, "checklists": {"max_problems": max_problems, "max_tokens": 24}}
    return {"ops": {name: {"config": cfg} for name, cfg in ops.items()}}


def metadata(result, name: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}


@pytest.fixture
def resources(tiny_model, tmp_path_factory):
    second = build_tiny_model(tmp_path_factory.mktemp("tiny2") / "model", hidden=32)  # another architecture
    return {
        **definitions.defs.resources,
        **role_resources(str(tiny_model)),
        "evaluators": evaluators_resource([str(tiny_model), str(second)]),
    }


def test_refine_group_on_math_conserves_rows_traces_lineage_and_reuses_the_cache(home, resources):
    with DagsterInstance.get() as instance:
        first = materialize(
            FIRST_HALF,
            partition_key="math",
            instance=instance,
            resources=resources,
            run_config={"ops": {"distilled_responses": {"config": {"samples": 1, "max_tokens": 24}}}},
        )
        assert first.success
        run = lambda n: materialize(  # noqa: E731
            [*REFINE, *REFINE_CHECKS, *FIRST_HALF],
            selection=[a.key for a in REFINE],
            partition_key="math",
            instance=instance,
            resources=resources,
            run_config=config(n),
        )
        result = run(1)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert {c.asset_key.path[-1] for c in checks} == {a.key.path[-1] for a in REFINE} and all(
            c.passed for c in checks
        )
        refined = metadata(result, "refined_solutions")
        calls = refined["calls_per_role"]
        assert "evaluator 0:" in calls and "evaluator 1:" in calls  # both evaluator models were asked
        assert refined["evaluators"] == 2 and "warning" not in refined  # multi-model: no warning
        assert refined["rows_in"] == 1 == refined["rows_out"] + refined["rows_rejected"]

        # one more problem reaches the stage: every role is called for it only, the first one is served from the cache
        again = run(2)
        assert again.success
        checklist_meta = metadata(again, "checklists")
        assert (checklist_meta["model_calls"], checklist_meta["cache_hits"]) == (1, 1)
        refined2 = metadata(again, "refined_solutions")
        assert refined2["cache_hits"] >= refined["model_calls"] and refined2["model_calls"] > 0
        same = run(2)  # nothing new: no model call at all
        assert all(metadata(same, a.key.path[-1]).get("model_calls", 0) == 0 for a in REFINE)

    rows = pl.concat(
        [warehouse.read_partition(home, "refined_solutions", "math"), _rejects(home, "refined_solutions")],
        how="diagonal_relaxed",
    )
    assert rows.height == 2
    rounds = rows["rounds"].to_list()[0]
    assert rounds and {"candidate", "score", "evaluations", "verified"} <= set(rounds[0])
    assert len(json.loads(rounds[0]["evaluations"])) == 2  # one entry per evaluator
    chain = lineage.trace(home, rows["id"][0])
    stages = [hit.stage for _, hit in chain]
    assert stages[:2] == ["refined_solutions", "checklists"] and "raw_problems" in stages
    text = lineage.render(chain)
    assert "rounds" in text and "criteria" in text and "stop_reason" in text
    refined_kept = warehouse.read_partition(home, "refined_solutions", "math").height
    assert metadata(same, "cot_sft_data")["rows_in"] == refined_kept
    sft = pl.concat(
        [warehouse.read_partition(home, "sft_dataset", "math"), _rejects(home, "sft_dataset")], how="diagonal_relaxed"
    )
    assert (
        sft.height
        == warehouse.read_partition(home, "verified_responses", "math").height
        + warehouse.read_partition(home, "cot_sft_data", "math").height
    )
    assert (home / "datasets" / "sft_dataset" / "math" / "README.md").is_file()


def _rejects(home, asset):
    return warehouse.read_partition(home, warehouse.rejects_name(asset), "math")


@pytest.mark.xdist_group("smollm2-server")  # the session's SmolLM2 vLLM server, shared with the other modules
@pytest.mark.heavy(60)
def test_the_real_small_model_through_checklist_refinement_and_cot(home, smollm2_server, monkeypatch):
    """SmolLM2-135M, served by vLLM behind its OpenAI-compatible endpoint (every role configured by environment, as on
    a served fleet), on two math problems: the three assets run and every row is accounted for."""
    for key, value in {
        "THINKFORGE_BACKEND": "openai",
        "THINKFORGE_OPENAI_BASE_URL": smollm2_server,
        "THINKFORGE_MODEL": SMOLLM2_SERVED,
    }.items():
        monkeypatch.setenv(key, value)
    resources = {**definitions.defs.resources, **role_resources()}
    small = {
        "checklists": {"max_problems": 2, "max_tokens": 96},
        "refined_solutions": {"max_rounds": 2, "eval_max_tokens": 80, "revise_max_tokens": 96, "min_score": 0.0},
        "cot_sft_data": {"summary_max_tokens": 48, "cot_max_tokens": 96},
    }
    with DagsterInstance.get() as instance:
        result = materialize(
            [*FIRST_HALF, *REFINE, *REFINE_CHECKS],
            partition_key="math",
            instance=instance,
            resources=resources,
            run_config={
                "ops": {
                    "distilled_responses": {"config": {"samples": 1, "max_tokens": 48}},
                    **{name: {"config": cfg} for name, cfg in small.items()},
                }
            },
        )
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    refined = metadata(result, "refined_solutions")
    assert refined["rows_in"] == 2 and refined["model_calls"] > 0
    cot = metadata(result, "cot_sft_data")
    assert cot["rows_in"] == refined["rows_out"] == cot["rows_out"] + cot["rows_rejected"]
    for row in (
        _rejects(home, "cot_sft_data").to_dicts() + warehouse.read_partition(home, "cot_sft_data", "math").to_dicts()
    ):
        stages = [hit.stage for _, hit in lineage.trace(home, row["id"])]
        assert stages[:3] == ["cot_sft_data", "refined_solutions", "checklists"] and "raw_problems" in stages


def test_refined_solutions_run_with_one_evaluator_warns_in_its_metadata(home, tiny_model):
    """The asset itself, on one problem, with the tiny model in every role and the default single evaluator."""
    from dagster import build_asset_context

    from assets.refine.refined_solutions import RefineConfig, refined_solutions
    from thinkforge.refinement.checklist import generic_criteria

    checklists = pl.DataFrame(
        [
            {
                "id": "cl1",
                "parent_ids": ["p1"],
                "domain": "chat",
                "source": "s",
                "problem": "Say hello.",
                "reference_answer": None,
                "test_cases": None,
                "criteria": generic_criteria("chat"),
            }
        ]
    )
    resources = role_resources(str(tiny_model))
    assert len(resources["evaluators"].models) == 1
    tiny = {"max_rounds": 1, "min_score": 0.0, "eval_max_tokens": 8, "draft_max_tokens": 8}
    with build_asset_context(partition_key="chat", resources=resources) as context:
        output = refined_solutions(
            context,
            RefineConfig(**tiny),
            checklists=checklists,
            verified_responses=pl.DataFrame(schema={"problem": pl.String}),
        )
    assert output.value.rows_in == 1
    assert output.metadata["evaluators"].value == 1
    assert output.metadata["warning"].text.startswith("refined with one evaluator (0:")
