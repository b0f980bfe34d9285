"""`make proof`'s profile on a tiny slice: the same script, run config and code paths as the proof, on a few of its
problems and held-out items, every role on the tiny model (the proof itself runs SmolLM2 for up to an hour)."""

import os
import subprocess
import sys

import pytest
from dagster import DagsterInstance

from assets import DEMO_RUN_CONFIG, PROOF_RUN_CONFIG
from scripts.demo import PROFILES
from tests.conftest import REPO, write_sources
from thinkforge import warehouse

PROOF = REPO / "data" / "proof"


def test_the_proof_profile_names_its_data_and_sizes_that_train():
    proof = PROFILES["proof"]
    assert proof.sources == PROOF / "sources.yaml" and proof.eval_sets == PROOF / "eval_sets.yaml"
    assert PROFILES["demo"].sources is None and PROFILES["demo"].eval_sets is None
    assert set(PROOF_RUN_CONFIG) >= {"policy_samples", "sft_model", "rl_model", "model_eval"}
    assert PROOF_RUN_CONFIG["model_eval"]["max_problems"] >= 200  # held-out problems scored per checkpoint
    assert PROOF_RUN_CONFIG["rl_model"]["max_steps"] > DEMO_RUN_CONFIG["rl_model"]["max_steps"]
    assert PROOF_RUN_CONFIG["rl_model"]["reward_level"] == "process"


@pytest.mark.heavy(80)
def test_proof_profile_runs_on_a_tiny_slice(home, tmp_path, tiny_model, tiny_smollm2):
    sources = write_sources(
        tmp_path / "sources.yaml",
        [
            {
                "name": "arithmetic",
                "format": "jsonl",
                "path": str(PROOF / "math_train.jsonl"),
                "domain": "math",
                "limit": 5,
                "columns": {"problem": "problem", "reference_answer": "answer", "responses": "solution", "id": "id"},
            }
        ],
    )
    eval_sets = write_sources(
        tmp_path / "eval_sets.yaml",
        [
            {
                "name": "arithmetic-heldout",
                "format": "jsonl",
                "path": str(PROOF / "math_heldout.jsonl"),
                "domain": "math",
                "limit": 3,
                "columns": {"problem": "problem", "reference_answer": "answer", "id": "id"},
            }
        ],
    )
    env = {
        **os.environ,
        "THINKFORGE_MODEL": str(tiny_model),
        "THINKFORGE_BASE_MODEL": str(tiny_smollm2),
        "THINKFORGE_SOURCES": str(sources),  # a user's files replace the profile's
        "THINKFORGE_EVAL_SETS": str(eval_sets),
        "DOMAINS": "math",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--profile", "proof"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "math: run" in proc.stdout and "succeeded" in proc.stdout
    # the proof's run config, not the demo's: K = 4 policy samples, no teacher samples, every held-out item
    samples = warehouse.read_partition(home, "policy_samples", "math")
    assert samples.height == 5 * 4 and set(samples["sample_index"]) == {0, 1, 2, 3}
    distilled = warehouse.read_partition(home, "distilled_responses", "math")
    assert distilled.height == 5 and "teacher" not in set(distilled["origin"])  # the sources' worked solutions
    evals = warehouse.read_partition(home, "eval_problems", "math")
    assert sorted(evals["item"].to_list()) == ["heldout-math-1", "heldout-math-2", "heldout-math-3"]
    assert set(evals["eval_set"]) == {"arithmetic-heldout"}
    # every asset ran with the proof's config (validated by Dagster at launch); the tiny model writes no parsable
    # verification, so here the S²R trajectories are empty and the trainers train nothing (tests/training covers them)
    with DagsterInstance.get() as instance:
        (run,) = [r for r in instance.get_runs() if r.tags.get("dagster/partition") == "math"]
    assert run.run_config["ops"] == {name: {"config": cfg} for name, cfg in PROOF_RUN_CONFIG.items()}
