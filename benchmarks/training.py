"""Training speed: the sft_model code path against a plain TRL SFTTrainer on the same data, and RL seconds per step.

    .venv/bin/python benchmarks/training.py [--steps 6] [--rows 24] [--rl-steps 2]

Both SFT runs train SmolLM2-135M (converted from the packaged GGUF into a temporary folder) for the same number of
optimizer steps, batch 2, on the same generated conversations: the baseline is `trl.SFTTrainer` on the
conversational dataset as it is (TRL tokenizes it), the thinkforge path pre-tokenizes with the action masks
(`thinkforge.training.sft`). Tokens/s counts every input token TRL reports (`num_tokens`) over the train runtime;
the ratio thinkforge / baseline is the figure (goal ≥ 0.9). RL: seconds per optimizer step of the GRPO loop at
outcome and at process level (generation dominates).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import polars as pl

from thinkforge.training.runner import prepare

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def conversations(n: int, seed: int = 0) -> list[list[dict]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        steps = " ".join(f"Step {k}: we add {a} and {b} once more to check, which gives {a + b}." for k in range(1, 6))
        out.append(
            [
                {"role": "user", "content": f"Problem {i}: what is {a} + {b}? Explain."},
                {"role": "assistant", "content": f"<think>\n{steps}\n</think>\n\nThe answer is \\boxed{{{a + b}}}."},
            ]
        )
    return out


def tokens_per_s(trainer) -> tuple[float, float]:
    started = time.monotonic()
    trainer.train()
    wall = time.monotonic() - started
    tokens = max((h.get("num_tokens", 0) for h in trainer.state.log_history), default=0)
    return tokens / wall, wall


def sft_baseline(model: str, data: list[list[dict]], steps: int, out: str) -> tuple[float, float]:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=out, max_steps=steps, per_device_train_batch_size=2, gradient_accumulation_steps=1,
        max_length=512, logging_steps=1, report_to=[], save_strategy="no", bf16=False,
        gradient_checkpointing=False, use_cpu=True, learning_rate=1e-5,
    )  # fmt: skip
    trainer = SFTTrainer(model=model, train_dataset=Dataset.from_list([{"messages": m} for m in data]), args=args)
    return tokens_per_s(trainer)


def sft_thinkforge(model: str, data: list[list[dict]], steps: int, out: str) -> tuple[float, float]:
    from transformers import AutoTokenizer

    from thinkforge.training.sft import SftSettings, masked_sft_trainer, training_rows

    settings = SftSettings(
        max_steps=steps, batch_size=2, gradient_accumulation_steps=1, max_length=512, learning_rate=1e-5,
        save_steps=10_000,
    )  # fmt: skip
    frame = pl.DataFrame([{"id": str(i), "messages": m} for i, m in enumerate(data)])
    rows, _ = training_rows(frame, frame.head(0), AutoTokenizer.from_pretrained(model), settings)
    trainer = masked_sft_trainer(model, rows, settings, out)
    prepare(trainer, log=lambda _: None)  # the callbacks `fit` adds in the sft_model asset
    return tokens_per_s(trainer)


def rl_seconds_per_step(model: str, level: str, steps: int, out: str) -> float:
    from thinkforge.training.rl import RlSettings, rl_trainer
    from thinkforge.verify import AnswerChecker, MathVerifier

    prompts = [
        {"prompt": [{"role": "user", "content": f"What is {a} + {a}? Put the answer in \\boxed{{}}."}],
         "domain": "math", "problem": f"What is {a} + {a}?", "reference_answer": str(2 * a), "test_cases": "",
         "id": str(a)}
        for a in (3, 7)
    ]  # fmt: skip
    settings = RlSettings(
        reward_level=level, num_generations=4, prompts_per_step=2, max_steps=steps, beta=0.0,
        max_completion_length=48, min_context_count=1, save_steps=10_000,
    )  # fmt: skip
    with MathVerifier(workers=1) as math:
        trainer = rl_trainer(model, prompts, settings, AnswerChecker(math), out)
        prepare(trainer, log=lambda _: None)
        started = time.monotonic()
        trainer.train()
        return (time.monotonic() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="SFT optimizer steps of each run")
    parser.add_argument("--rows", type=int, default=24, help="training conversations")
    parser.add_argument("--rl-steps", type=int, default=2, help="GRPO steps per reward level")
    args = parser.parse_args()
    from thinkforge.checkpoints import convert_gguf, default_gguf

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "smollm2"
        convert_gguf(default_gguf(), model, dtype="float32", log=lambda _: None)
        data = conversations(args.rows)
        base_tps, base_wall = sft_baseline(str(model), data, args.steps, f"{tmp}/a")
        ours_tps, ours_wall = sft_thinkforge(str(model), data, args.steps, f"{tmp}/b")
        print(f"SFT, {args.steps} steps of 2 rows (SmolLM2-135M, CPU):")
        print(f"  plain TRL SFTTrainer      {base_tps:8.1f} tokens/s  ({base_wall:.1f} s)")
        print(f"  sft_model code path       {ours_tps:8.1f} tokens/s  ({ours_wall:.1f} s)")
        print(f"  ratio thinkforge / TRL    {ours_tps / base_tps:8.2f}  (goal >= 0.9)")
        for level in ("outcome", "process"):
            seconds = rl_seconds_per_step(str(model), level, args.rl_steps, f"{tmp}/rl-{level}")
            print(f"RL ({level:7s}), 2 prompts x 4 samples x 48 tokens: {seconds:6.1f} s/step")


if __name__ == "__main__":
    main()
