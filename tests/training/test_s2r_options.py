"""S²R as published, selectable: the SFT training sets (recorded in the card), S²R's per-action mean in the RL loss,
the RL prompt filter (problems always / never solved left out and counted), and the paper's library defaults."""

import shutil

import polars as pl
import pytest
import torch
from dagster import DagsterInstance, materialize
from transformers import AutoTokenizer

import definitions
from assets import ALL_ASSETS, DEMO_RUN_CONFIG
from tests.training.test_lengths import long_trajectory, sft_rows
from tests.training.test_rl import ROW, A, B, ByLength
from thinkforge import paths, warehouse
from thinkforge.checkpoints import read_card
from thinkforge.refinement.sft_dataset import REJECTS_SCHEMA as SFT_REJECTS
from thinkforge.refinement.sft_dataset import SCHEMA as SFT_SCHEMA
from thinkforge.s2r import PolicySampleSettings, TrajectorySettings
from thinkforge.s2r.samples import REJECTS_SCHEMA as SAMPLE_REJECTS
from thinkforge.s2r.samples import SCHEMA as SAMPLE_SCHEMA
from thinkforge.s2r.trajectories import REJECTS_SCHEMA as TRAJ_REJECTS
from thinkforge.s2r.trajectories import SCHEMA as TRAJ_SCHEMA
from thinkforge.selection.select import REJECTS_SCHEMA as SELECT_REJECTS
from thinkforge.stage import StageOutput, frame
from thinkforge.training.rewards import ContextBaseline
from thinkforge.training.rl import RlSettings, action_mean_advantages, rl_prompts, rl_trainer, token_advantages
from thinkforge.training.sft import S2rSftSettings, SftSettings, training_rows


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(str(tiny_model))


def test_training_sets_choose_the_rows(tokenizer):
    sft, traj = frame(sft_rows(), SFT_SCHEMA), frame([long_trajectory(attempts=1)], TRAJ_SCHEMA)
    ids = {}
    for choice in ("both", "s2r_trajectories", "sft_dataset"):
        rows, report = training_rows(sft, traj, tokenizer, S2rSftSettings(max_length=512, training_sets=choice))
        ids[choice] = [r["id"] for r in rows]
        assert report["rows_in"] == len(rows) and set(report["rows_by_kind"]) == set(report["sources"])
    assert ids == {"both": ["long", "d0", "d1", "d2"], "s2r_trajectories": ["long"], "sft_dataset": ["d0", "d1", "d2"]}
    assert [r["id"] for r in training_rows(sft, traj, tokenizer, SftSettings(max_length=512))[0]] == ids["both"]


def test_sft_model_trains_the_chosen_sets_and_its_card_says_which(home, tiny_model):
    shutil.copytree(tiny_model, home / "models" / "base_model")
    warehouse.write_partition(
        home, "sft_dataset", "math", StageOutput(frame(sft_rows(), SFT_SCHEMA), frame([], SFT_REJECTS), 3), "test"
    )
    traj = StageOutput(frame([long_trajectory(attempts=1)], TRAJ_SCHEMA), frame([], TRAJ_REJECTS), 1)
    warehouse.write_partition(home, "s2r_trajectories", "math", traj, run_id="test")
    config = {"max_steps": 1, "batch_size": 1, "gradient_accumulation_steps": 1, "max_length": 512, "kl_coef": 0.0}
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["sft_model"],
            partition_key="math",
            instance=instance,
            resources=definitions.defs.resources,
            run_config={"ops": {"sft_model": {"config": {**config, "training_sets": "s2r_trajectories"}}}},
        )
    assert result.success
    card = read_card(paths.home() / "models" / "sft_model" / "math")
    assert card["training_sets"] == "s2r_trajectories" and card["data_ids"] == ["long"]
    assert card["rows_by_kind"] == {"s2r_trajectory": 1}
    meta = {k: v.value for k, v in result.asset_materializations_for_node("sft_model")[0].metadata.items()}
    assert meta["training_sets"] == "s2r_trajectories"


def rl_loss(trainer, batch, mask, advantages) -> float:
    """TRL's own GRPO loss of one batch: with the policy equal to the sampling policy every ratio is 1, so the loss is
    −Σ advantage over the loss's normalisation, the weight each token's log-prob gradient gets."""
    trainer.model.eval()  # eval mode: one batch, no gradient accumulation in the normaliser
    prompt = torch.full((batch.shape[0], 3), trainer.processing_class.pad_token_id)
    inputs = {
        "prompt_ids": prompt,
        "prompt_mask": torch.ones_like(prompt),
        "completion_ids": batch,
        "completion_mask": mask,
        "advantages": advantages,
        "num_items_in_batch": mask.sum(),
    }
    with torch.no_grad():
        return trainer._compute_loss(trainer.model, inputs).item()


@pytest.mark.parametrize("weighting", ["token", "action_mean"])
def test_per_action_mean_gives_every_action_the_same_weight_whatever_its_length(tmp_path, tiny_model, weighting):
    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in (A, B)]
    width = max(map(len, ids))
    batch = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    rows = [ROW, ROW]
    _, action_ids, _, _ = token_advantages(tok, batch, rows, ByLength(), ContextBaseline(), {tok.eos_token_id})
    actions = [(b, j) for b in range(2) for j in sorted(set(action_ids[b][mask[b] > 0].tolist()))]
    lengths = {a: int(((action_ids[a[0]] == a[1]) & (mask[a[0]] > 0)).sum()) for a in actions}
    assert len(actions) == 6 and len(set(lengths.values())) > 1  # actions of different lengths
    settings = RlSettings(
        reward_level="process", loss_weighting=weighting, num_generations=2, prompts_per_step=1, beta=0.0
    )
    trainer = rl_trainer(str(tiny_model), [{"prompt": "x", **ROW, "id": "p"}] * 2, settings, ByLength(), str(tmp_path))
    tokens = int(mask.sum())
    for b, j in actions:  # advantage 1 on one action, 0 elsewhere: the loss is that action's share of the objective
        advantages = (action_ids == j).float() * (torch.arange(2) == b).float()[:, None]
        if weighting == "action_mean":
            advantages = action_mean_advantages(advantages, action_ids, mask)
        loss = rl_loss(trainer, batch, mask, advantages * mask)
        expected = 1 / len(actions) if weighting == "action_mean" else lengths[(b, j)] / tokens
        assert loss == pytest.approx(-expected, abs=1e-6), (b, j, lengths[(b, j)])


def problems_and_samples():
    problems = [
        {"id": pid, "domain": domain, "source": "s", "problem": f"{pid}?", "reference_answer": "6", "test_cases": None}
        for pid, domain in (("always", "math"), ("never", "math"), ("mixed", "math"), ("unsampled", "math"))
    ] + [
        {"id": "talk", "domain": "chat", "source": "s", "problem": "hi", "reference_answer": None, "test_cases": None}
    ]
    verdicts = {"always": [True, True, True], "never": [False, False, None], "mixed": [True, False, None]}
    samples = [
        {"id": f"{pid}-{k}", "parent_ids": [pid], "domain": "math", "problem": f"{pid}?", "correct": ok}
        for pid, oks in verdicts.items()
        for k, ok in enumerate(oks)
    ]
    return pl.DataFrame(problems), frame(samples, SAMPLE_SCHEMA)


def test_rl_prompts_leave_out_problems_always_or_never_solved_and_count_them():
    problems, samples = problems_and_samples()
    prompts, report = rl_prompts(problems, samples, RlSettings())
    assert [p["id"] for p in prompts] == ["mixed", "unsampled"]  # a sample without a verdict is not scored
    assert report == {"checkable": 4, "always_solved": 1, "never_solved": 1, "unmeasured": 1, "prompts": 2}
    everything, _ = rl_prompts(problems, samples, RlSettings(drop_always_or_never_solved=False))
    assert [p["id"] for p in everything] == ["always", "mixed", "never", "unsampled"]


def test_rl_model_reports_the_filtered_problems_in_its_metadata(home):
    problems, samples = problems_and_samples()
    kept = problems.filter(pl.col("id").is_in(["always", "never"]))
    warehouse.write_partition(home, "selected_problems", "math", StageOutput(kept, frame([], SELECT_REJECTS), 2), "t")
    warehouse.write_partition(home, "policy_samples", "math", StageOutput(samples, frame([], SAMPLE_REJECTS), 2), "t")
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["rl_model"],
            partition_key="math",
            instance=instance,
            resources=definitions.defs.resources,
        )
    meta = {k: v.value for k, v in result.asset_materializations_for_node("rl_model")[0].metadata.items()}
    assert not meta["trained"] and meta["reason"] == "math: every problem always or never solved"
    assert meta["problems_always_solved"] == 1 and meta["problems_never_solved"] == 1


def test_library_defaults_are_s2r_and_the_demo_keeps_its_cpu_sizes():
    sft, rl = S2rSftSettings(), RlSettings()
    trajectories, samples = TrajectorySettings(), PolicySampleSettings()
    assert sft.kl_coef == 0.1 and SftSettings().kl_coef == 0.0  # m1_model (PSRLM's M1) has no KL term
    assert samples.max_tokens == 2048
    assert trajectories.refine_verifications and not trajectories.fallback
    assert rl.prompts_per_step * rl.num_generations == 256 and rl.drop_always_or_never_solved
    demo = DEMO_RUN_CONFIG
    assert demo["sft_model"]["kl_coef"] == 0.0 and demo["policy_samples"]["max_tokens"] == 80
    assert not demo["s2r_trajectories"]["refine_verifications"] and demo["s2r_trajectories"]["fallback"]
    assert demo["rl_model"]["prompts_per_step"] == 2 and not demo["rl_model"]["drop_always_or_never_solved"]
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        RlSettings(prompts_per_step=5, num_generations=4, micro_batch_size=8)
