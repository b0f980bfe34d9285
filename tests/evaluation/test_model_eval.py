"""model_eval materialized with Dagster: tiny checkpoints under THINKFORGE_HOME, the comparison, the WARN check."""

import shutil

import polars as pl
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    materialize,
)

import definitions
from assets import ALL_ASSETS, ALL_CHECKS
from assets.evaluate import CHECKS as EVAL_CHECKS
from assets.evaluate import DEMO_RUN_CONFIG
from resources.generation import role_resources
from thinkforge import cli, lineage, warehouse
from thinkforge.checkpoints import publish, staging_dir
from thinkforge.evaluation.evaluate import REJECTS_SCHEMA
from thinkforge.stage import StageOutput, frame

EVALUATE = [a for a in ALL_ASSETS if a.key.to_user_string() in ("eval_problems", "model_eval")]
CHECKS = [c for c in ALL_CHECKS if c.check_key.asset_key.to_user_string() in ("eval_problems", "model_eval")]


def _perturbed_copy(src, dst):
    """A second tiny checkpoint: the same architecture with other weights (another fingerprint, other answers)."""
    import torch
    from transformers import AutoModelForCausalLM

    shutil.copytree(src, dst, dirs_exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(dst)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(dst)


@pytest.fixture
def checkpoints(home, tiny_model):
    shutil.copytree(tiny_model, home / "models" / "base_model")
    sft = home / "models" / "sft_model" / "math"
    staging = staging_dir(sft)
    _perturbed_copy(tiny_model, staging)
    publish(staging, sft, {"asset": "sft_model", "prompt_format": "s2r"})  # its card names its format
    return home


def _meta(result, node):
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def test_model_eval_evaluates_every_existing_checkpoint(checkpoints, tiny_model):
    home = checkpoints
    resources = {**definitions.defs.resources, **role_resources(str(tiny_model))}
    config = {
        "ops": {
            "model_eval": {
                "config": {
                    "max_problems": 2,
                    "max_tokens": 12,
                    "extra_models": {"tiny-extra": str(tiny_model)},
                    "report": "proof_{domain}.md",
                }
            }
        }
    }
    with DagsterInstance.get() as instance:
        # step_dpo_model_2 materialized for math without a checkpoint: it had no pairs to train on
        reason = "no step_preferences_2 rows"
        instance.report_runless_asset_event(
            AssetMaterialization("step_dpo_model_2", partition="math", metadata={"trained": False, "reason": reason})
        )
        trajectories = {"self_corrections": 3, "used_fallback": 1, "fallback_share": 0.25, "attempts": "| 2 | 3 |"}
        instance.report_runless_asset_event(
            AssetMaterialization("s2r_trajectories", partition="math", metadata=trajectories)
        )
        result = materialize(
            [*EVALUATE, *CHECKS, *EVAL_CHECKS],
            partition_key="math",
            instance=instance,
            resources=resources,
            run_config=config,
        )
        assert result.success
        rows = warehouse.read_partition(home, "model_eval", "math")
        problems = warehouse.read_partition(home, "eval_problems", "math")
        # (base_model in distill and s2r, sft_model in s2r, tiny-extra in distill) × the first 2 heldout problems
        assert rows.height == 4 * 2
        assert set(rows["model"]) == {"base_model", "sft_model", "tiny-extra"}
        assert set(rows["item"]) == {"h1", "h2"} and set(rows["eval_set"]) == {"heldout"}
        assert rows["parent_ids"].list.first().is_in(problems["id"].implode()).all()  # lineage to the eval problem
        assert rows.filter(pl.col("model") == "sft_model")["model_path"][0] == str(home / "models/sft_model/math")
        for column in ("problem", "reference_answer", "response", "correct", "verdict", "self_verifies"):
            assert column in rows.columns
        assert (
            rows["correct"].dtype == pl.Boolean
            and rows["verdict"].is_in(["correct", "wrong", "unparsed", "truncated"]).all()
        )
        meta = _meta(result, "model_eval")
        assert (
            meta["comparison"]
            .splitlines()[0]
            .startswith("| model | prompt format | n | accuracy | format | tokens | self-verify")
        )
        assert [line.split(" | ")[:2] for line in meta["comparison"].splitlines()[2:]] == [
            ["| base_model", "distill"],
            ["| base_model", "s2r"],
            ["| sft_model", "s2r"],
            ["| tiny-extra", "distill"],
        ]
        if any(
            meta[f"accuracy_{m}"]
            for m in ("base_model_distill", "base_model_s2r", "sft_model_s2r", "tiny-extra_distill")
        ):
            assert meta["chart"].startswith("![model_eval math](data:image/png;base64,iVBOR")
        missing = dict(line.strip("| ").split(" | ") for line in meta["models_missing"].splitlines()[2:])
        assert missing == {
            "rl_model": "not materialized for math yet: materialize rl_model for math",
            "m1_model": "not materialized for math yet: materialize m1_model for math",
            "step_dpo_model_1": "not materialized for math yet: materialize step_dpo_model_1 for math",
            "step_dpo_model_2": f"materialized for math but trained nothing: {reason}",
        }
        assert meta["model_calls"] == 8 and "accuracy_sft_model_s2r" in meta
        assert "| s2r | sft_model | base_model | 2 | " in meta["paired_differences"]  # the same 2 problems
        assert "| distill | tiny-extra | base_model | 2 | " in meta["paired_differences"]
        report = (home / "reports" / "proof_math.md").read_text()
        assert meta["report"] == str(home / "reports" / "proof_math.md") and meta["proof_report"] == report
        assert "| evaluated on ≥ 200 held-out problems | **missed** | 2 problems |" in report
        assert (
            "not only the fallback | **met** | 3 real self-corrections; 1 trajectories end with the fallback" in report
        )
        assert "step_dpo_model_2: no held-out verified step pairs measured" in report  # trained nothing
        evaluations = {
            c.check_name: c for c in result.get_asset_check_evaluations() if c.asset_key.path == ["model_eval"]
        }
        assert evaluations["rows_conserved"].passed
        regression = evaluations["no_regression"]
        assert regression.severity == AssetCheckSeverity.WARN and regression.metadata["pairs_compared"].value == 1
        assert regression.description.startswith("math: ") and regression.metadata["partition"].value == "math"
        # row lineage: an eval row leads to its eval problem, which names its line in the eval set's file
        chain = lineage.trace(home, rows["id"][0])
        assert [h.stage for _, h in chain] == ["model_eval", "eval_problems"]
        md = lineage.render(chain)
        assert "- correct: false — final answer correct" in md and "S²R: the response verifies itself" in md
        assert "raw source: heldout" in md and "heldout.jsonl  row=" in md and "- item: h" in md
        assert "model_eval · math" in cli.eval_table(home) and "| tiny-extra | distill | 2 |" in cli.eval_table(home)
        # a second materialization is served from the request cache
        again = materialize(
            [*EVALUATE], partition_key="math", instance=instance, resources=resources, run_config=config
        )
        assert _meta(again, "model_eval")["model_calls"] == 0 and _meta(again, "model_eval")["cache_hits"] == 8
        assert warehouse.read_partition(home, "model_eval", "math")["id"].sort().equals(rows["id"].sort())


def _eval_rows(model: str, item: str, correct: bool) -> dict:
    return {
        "id": f"{model}-{item}",
        "parent_ids": [item],
        "domain": "math",
        "source": "heldout",
        "eval_set": "heldout",
        "item": item,
        "problem_id": item,
        "problem": "?",
        "model": model,
        "correct": correct,
        "first_correct": correct,
        "verdict": "correct" if correct else "wrong",
        "verdict_format": "pass",
        "self_verifies": False,
        "completion_tokens": 10,
        "verification_verdicts": [],
        "verified_attempts_correct": [],
    }


def test_no_regression_warns_with_the_numbers_when_a_trained_model_is_below_its_parent(home):
    scores = {
        "base_model": [True, True, False, False],
        "sft_model": [True, False, False, False],
        "rl_model": [True] * 4,
    }
    rows = [_eval_rows(model, f"h{i}", ok) for model, oks in scores.items() for i, ok in enumerate(oks)]
    warehouse.write_partition(
        home, "model_eval", "math", StageOutput(pl.DataFrame(rows), frame([], REJECTS_SCHEMA), 12), "r0"
    )
    defs = Definitions(assets=EVALUATE, asset_checks=EVAL_CHECKS, resources=definitions.defs.resources)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection={AssetCheckKey(EVALUATE[1].key, "no_regression")}
    )
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key="math", instance=instance)
    assert result.success  # WARN: the run goes on
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert "sft_model 0.250 < base_model 0.500" in check.description
    assert check.metadata["regressions"].value == 1 and check.metadata["pairs_compared"].value == 2
    table = check.metadata["comparisons"].value
    assert "| sft_model | base_model | 0.250 | 0.500 | -0.250 | **below** |" in table
    assert "| rl_model | sft_model | 1.000 | 0.250 | +0.750 | ok |" in table


def test_demo_config_is_small_and_valid():
    from thinkforge.evaluation import EvalSettings

    settings = EvalSettings(**DEMO_RUN_CONFIG["model_eval"])
    assert 0 < settings.max_problems <= 4 and settings.max_tokens <= 160 and settings.samples == 1
