"""The checkpoints evaluation compares come from the asset graph: a third step-DPO iteration is a config change."""

import json
import os
import shutil
import subprocess
import sys

from assets.common.checkpoints import PARENTS_OF, checkpoint_parents
from tests.conftest import REPO
from thinkforge import paths
from thinkforge.checkpoints import publish, staging_dir

# Run with THINKFORGE_STEPWISE_ITERATIONS=3 in a fresh interpreter (the iteration count is read at import): two
# stepwise checkpoints under THINKFORGE_HOME, then model_eval and no_regression for math.
THIRD_ITERATION = """
import json, sys
from dagster import DagsterInstance, materialize
import definitions
from assets import ALL_ASSETS
from assets.evaluate import CHECKS as EVAL_CHECKS
from resources.generation import role_resources

evaluate = [a for a in ALL_ASSETS if a.key.to_user_string() in ("eval_problems", "model_eval")]
config = {"ops": {"model_eval": {"config": {"max_problems": 1, "max_tokens": 4}}}}
with DagsterInstance.get() as instance:
    result = materialize(
        [*evaluate, *EVAL_CHECKS],
        partition_key="math",
        instance=instance,
        resources={**definitions.defs.resources, **role_resources(sys.argv[1])},
        run_config=config,
    )
meta = {k: v.value for k, v in result.asset_materializations_for_node("model_eval")[0].metadata.items()}
check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "no_regression")
model_eval = next(a for a in evaluate if a.key.to_user_string() == "model_eval")
print(json.dumps({
    "deps": sorted(k.to_user_string() for k in model_eval.asset_deps[model_eval.key]),
    "evaluated": meta["models_evaluated"],
    "missing": meta["models_missing"],
    "comparisons": check.metadata["comparisons"].value,
    "pairs_compared": check.metadata["pairs_compared"].value,
}))
"""


def test_checkpoints_and_parents_are_read_off_the_asset_graph():
    assert PARENTS_OF == {
        "base_model": None,
        "sft_model": "base_model",
        "rl_model": "sft_model",
        "m1_model": "base_model",
        "step_dpo_model_1": "m1_model",
        "step_dpo_model_2": "step_dpo_model_1",
    }
    assert checkpoint_parents([]) == {}


def test_a_third_step_dpo_iteration_is_evaluated_and_compared_with_the_second(home, tiny_model):
    for name in ("step_dpo_model_2", "step_dpo_model_3"):
        final = paths.checkpoint_dir(name, "math")
        staging = staging_dir(final)
        shutil.copytree(tiny_model, staging, dirs_exist_ok=True)
        publish(staging, final, {"asset": name, "prompt_format": "stepwise"})
    env = {**os.environ, "THINKFORGE_STEPWISE_ITERATIONS": "3"}
    done = subprocess.run(
        [sys.executable, "-c", THIRD_ITERATION, str(tiny_model)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "step_dpo_model_3" in out["deps"] and "step_preferences_3" not in out["deps"]
    assert "step_dpo_model_3" in out["evaluated"] and "step_dpo_model_2" in out["evaluated"]
    assert "step_dpo_model_3" not in out["missing"]
    assert "| stepwise | step_dpo_model_3 | step_dpo_model_2 |" in out["comparisons"]
    assert out["pairs_compared"] == 1  # step_dpo_model_2 vs _1 is skipped: step_dpo_model_1 has no checkpoint
