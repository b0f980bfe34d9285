"""Trainer checkpoints: only the newest `save_total_limit` are kept, every trainer gets the shared settings, and a
killed run resumes only when its data, trained settings and initial model are the same (otherwise it starts fresh and
says why)."""

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from assets.common.training import trained_metadata
from thinkforge.checkpoints import MODEL_CARD
from thinkforge.stepwise.dpo import StepDpoSettings, step_dpo_trainer
from thinkforge.training.rl import RlSettings, rl_trainer
from thinkforge.training.runner import RUN_RECORD, fit, trainer_dir
from thinkforge.training.sft import SftSettings, masked_sft_trainer, training_rows
from thinkforge.verify import AnswerChecker

SETTINGS = dict(max_steps=4, batch_size=1, gradient_accumulation_steps=1, save_steps=1, max_length=64)


@pytest.fixture(scope="module")
def rows(tiny_model):
    sft = pl.DataFrame(
        [
            {
                "id": f"d{i}",
                "messages": [
                    {"role": "user", "content": f"Say hi {i}"},
                    {"role": "assistant", "content": f"<think>\nhi {i}\n</think>\n\nhi"},
                ],
            }
            for i in range(4)
        ]
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    return training_rows(sft, sft.head(0), tokenizer, SftSettings(**SETTINGS))[0]


class Kill(TrainerCallback):
    """Records the trainer folder's checkpoints after each save; raises KeyboardInterrupt after the one at `at`."""

    def __init__(self, at: int):
        self.at, self.on_disk = at, []

    def on_save(self, args, state, control, **kwargs):
        self.on_disk.append(sorted(p.name for p in Path(args.output_dir).glob("checkpoint-*")))
        if state.global_step == self.at:
            raise KeyboardInterrupt(f"killed after the step-{self.at} checkpoint")


class FolderAtStart(TrainerCallback):
    """What the trainer folder holds when training begins."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.seen = sorted(p.name for p in Path(args.output_dir).iterdir())


def killed_run(model: Path, rows: list[dict], settings: SftSettings, final: Path, at: int) -> list[list[str]]:
    trainer = masked_sft_trainer(str(model), rows, settings, str(trainer_dir(final)))
    kill = Kill(at)
    trainer.add_callback(kill)
    with pytest.raises(KeyboardInterrupt):
        fit(trainer, final, {}, settings, log=lambda _: None)
    assert not final.exists()  # no half-written asset folder
    return kill.on_disk


def test_only_the_newest_save_total_limit_checkpoints_are_kept(tmp_path, tiny_model, rows):
    final = tmp_path / "sft_model" / "math"
    on_disk = killed_run(tiny_model, rows, SftSettings(**SETTINGS, save_total_limit=2), final, at=3)
    assert on_disk == [["checkpoint-1"], ["checkpoint-1", "checkpoint-2"], ["checkpoint-2", "checkpoint-3"]]
    folder = trainer_dir(final)
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert (folder / RUN_RECORD).is_file()


def test_every_trainer_gets_the_shared_settings(tmp_path, tiny_model, rows):
    prompt = {"prompt": [{"role": "user", "content": "1?"}], "domain": "math", "reference_answer": "1"}
    pair = {
        "id": "q",
        "prompt": "1 + 1?",
        "prefix": [],
        "step_index": 1,
        "chosen": "1 + 1 = 2.",
        "rejected": "1 + 1 = 3.",
    }
    shared = dict(max_steps=3, learning_rate=1e-3, save_steps=7, save_total_limit=5, seed=11)
    trainers = [
        masked_sft_trainer(str(tiny_model), rows, SftSettings(**shared), str(tmp_path / "sft")),
        rl_trainer(
            str(tiny_model),
            [{**prompt, "test_cases": "", "id": "p"}],
            RlSettings(**shared, num_generations=2, prompts_per_step=1),
            AnswerChecker(),
            str(tmp_path / "rl"),
        ),
        step_dpo_trainer(str(tiny_model), pl.DataFrame([pair]), StepDpoSettings(**shared), str(tmp_path / "dpo")),
    ]
    for trainer in trainers:
        args = trainer.args
        got = (args.max_steps, args.learning_rate, args.save_steps, args.save_total_limit, args.seed)
        assert got == (3, 1e-3, 7, 5, 11) and args.save_strategy == "steps", type(trainer).__name__


def test_a_killed_run_resumes_under_the_same_data_config_and_model(tmp_path, tiny_model, rows):
    final = tmp_path / "sft_model" / "math"
    killed_run(tiny_model, rows, SftSettings(**SETTINGS), final, at=2)
    # Keeping more checkpoints does not change what is trained: the run still resumes.
    settings = SftSettings(**SETTINGS, save_total_limit=3)
    logs = []
    trainer = masked_sft_trainer(str(tiny_model), rows, settings, str(trainer_dir(final)))
    out = fit(trainer, final, {}, settings, log=logs.append)
    assert out["card"]["resumed_from"].endswith("checkpoint-2") and out["steps"] == 4
    assert out["card"]["resume"] == "resumed from checkpoint-2"
    assert any(
        line.startswith("resuming from") and line.endswith("checkpoint-2 (same data, config and initial model)")
        for line in logs
    )
    assert [h["step"] for h in out["history"] if "loss" in h] == [3, 4]  # only the remaining steps ran
    assert not trainer_dir(final).exists()
    card = json.loads((final / MODEL_CARD).read_text())
    assert card["resume"] == "resumed from checkpoint-2" and card["config"]["save_total_limit"] == 3
    metadata = trained_metadata(out, final, "sft_model · math", ("loss",))
    assert metadata["resume"] == "resumed from checkpoint-2" and metadata["resumed_from"].endswith("checkpoint-2")


def perturbed_copy(model: Path, out: Path) -> Path:
    shutil.copytree(model, out)
    weights = AutoModelForCausalLM.from_pretrained(str(out))
    with torch.no_grad():
        next(weights.parameters()).add_(0.01)
    weights.save_pretrained(out)
    return out


@pytest.mark.parametrize("change", ["data", "config", "initial model", "no record"])
def test_a_killed_run_starts_fresh_when_what_it_trains_changed(tmp_path, tiny_model, rows, change):
    final = tmp_path / "sft_model" / "math"
    killed_run(tiny_model, rows, SftSettings(**SETTINGS), final, at=2)
    model, new_rows, settings = tiny_model, rows, SftSettings(**SETTINGS)
    if change == "data":
        new_rows = rows[:3]  # a row fewer
    elif change == "config":
        settings = SftSettings(**{**SETTINGS, "learning_rate": 1e-4})
    elif change == "initial model":
        model = perturbed_copy(tiny_model, tmp_path / "other_model")
    else:  # a trainer folder written before runs were recorded
        (trainer_dir(final) / RUN_RECORD).unlink()
    logs = []
    trainer = masked_sft_trainer(str(model), new_rows, settings, str(trainer_dir(final)))
    start = FolderAtStart()
    trainer.add_callback(start)
    out = fit(trainer, final, {}, settings, log=logs.append)
    why = {
        "data": "data changed",
        "config": "config changed (learning_rate)",
        "initial model": "initial model changed",
        "no record": f"no {RUN_RECORD} beside the checkpoints",
    }[change]
    assert out["card"]["resumed_from"] is None and out["card"]["resume"] == f"fresh: {why}"
    assert json.loads((final / MODEL_CARD).read_text())["resume"] == f"fresh: {why}"
    assert any(line.startswith("not resuming") and f"checkpoint-2: {why}; removed" in line for line in logs)
    assert start.seen == [RUN_RECORD]  # the old trainer folder was removed before training began
    assert [h["step"] for h in out["history"] if "loss" in h] == [1, 2, 3, 4]  # trained from the start
