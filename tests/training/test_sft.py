"""Masked SFT: labels are −100 exactly on masked spans; training changes the weights (resuming: test_runner.py)."""

import json

import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from thinkforge.checkpoints import MODEL_CARD, weights_fingerprint
from thinkforge.s2r.actions import action_masks, segments
from thinkforge.training.data import IGNORE, encode
from thinkforge.training.runner import fit
from thinkforge.training.sft import SftSettings, masked_sft_trainer, training_rows

ACTIONS = [
    {"kind": "solve", "text": "two plus two is five", "mask": 0},
    {"kind": "verify", "text": "no. Therefore, the answer is incorrect.", "mask": 1},
    {"kind": "solve", "text": "two plus two is four", "mask": 0},
    {"kind": "verify", "text": "no. Therefore, the answer is incorrect.", "mask": 1},
    {"kind": "solve", "text": "The answer is four", "mask": 1},
    {"kind": "verify", "text": "yes. Therefore, the answer is correct.", "mask": 1},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(str(tiny_model))


def test_action_mask_and_token_labels(tokenizer):
    assert action_masks(ACTIONS) == [0, 1, 0, 1, 1, 1]
    pieces = segments(ACTIONS)
    messages = [
        {"role": "user", "content": "What is two plus two?"},
        {"role": "assistant", "content": "".join(t for t, _ in pieces)},
    ]
    row = encode(tokenizer, messages, pieces)
    ids, labels = row["input_ids"], row["labels"]
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    at = n_prompt
    for text, mask in pieces:
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert labels[at : at + n] == (ids[at : at + n] if mask else [IGNORE] * n), text
        at += n
    assert labels[at:] == ids[at:] and tokenizer.eos_token_id in ids[at:]  # the end of turn is trained
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(messages, tokenize=False)


def rows_frames():
    traj = pl.DataFrame(
        [
            {
                "id": "t1",
                "domain": "math",
                "problem": "What is two plus two?",
                "actions": ACTIONS,
                "response": "".join(t for t, _ in segments(ACTIONS)),
            }
        ]
    )
    sft = pl.DataFrame(
        [
            {
                "id": f"d{i}",
                "messages": [
                    {"role": "user", "content": "Say hi"},
                    {"role": "assistant", "content": f"<think>\nhi {i}\n</think>\n\nhi"},
                ],
            }
            for i in range(3)
        ]
    )
    return sft, traj


def test_sft_changes_parameters_and_kl_term_runs(tmp_path, tiny_model, tokenizer):
    sft, traj = rows_frames()
    settings = SftSettings(
        max_steps=2, batch_size=2, gradient_accumulation_steps=1, learning_rate=1e-2, kl_coef=0.1, max_length=320
    )
    rows, report = training_rows(sft, traj, tokenizer, settings)
    assert (
        report["rows_by_kind"] == {"s2r_trajectory": 1, "sft_dataset": 3}
        and 0 < report["masked_tokens"] < report["tokens"]
    )
    trainer = masked_sft_trainer(str(tiny_model), rows, settings, str(tmp_path / "run"))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    out = fit(trainer, tmp_path / "sft_model" / "math", {"rows": len(rows)}, settings, log=lambda _: None)
    changed = [n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert changed and out["steps"] == 2
    final = tmp_path / "sft_model" / "math"
    card = json.loads((final / MODEL_CARD).read_text())
    assert card["steps"] == 2 and card["fingerprint"] == weights_fingerprint(final) != weights_fingerprint(tiny_model)
    AutoModelForCausalLM.from_pretrained(str(final))  # loadable; the chat template travels with it
    assert AutoTokenizer.from_pretrained(str(final)).chat_template == tokenizer.chat_template
