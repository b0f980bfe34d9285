"""model_eval: every checkpoint answers the held-out problems; each answer is verified and its S²R behaviour read.

One row per model × prompt format × problem × sample. Each model is asked in the prompt format it was trained in
(`prompts`: its card's `prompt_format`; `extra_models` from the run config, default `distill`); base_model in the
distillation format and in every format of a trained checkpoint evaluated beside it, so each trained model has a
like-for-like baseline. Format compliance is that of the format: the thinking format (a closed think block, then
the answer) for `distill`, a final answer not cut off for `s2r` and `stepwise` (trained without think blocks).
A response is split into its solve attempts and self-verifications (`s2r.actions.parse_actions`); every attempt is
checked by the project's one checker (`thinkforge.verify.AnswerChecker`: math-verify for math, the sandbox against
the tests for code, the judge role against the reference answer otherwise). `correct` is the verdict of the last
attempt (the final answer); None where it is unscorable.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass

import polars as pl
from pydantic import Field, model_validator

from thinkforge.answers import last_boxed
from thinkforge.evaluation.metrics import compare
from thinkforge.evaluation.prompts import PROMPT_FORMATS, known_format, prompt, prompt_id
from thinkforge.generation import SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import DEFAULT_SYSTEM, Generate
from thinkforge.s2r.actions import parse_actions
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageReport, StageSettings, frame
from thinkforge.thinking import after_thinking
from thinkforge.verify import AnswerChecker, extract_program
from thinkforge.verify.rules import check_format

STAGE = "model_eval"
SCHEMA = {
    "id": pl.String,
    "parent_ids": pl.List(pl.String),
    "domain": pl.String,
    "source": pl.String,
    "eval_set": pl.String,
    "item": pl.String,
    "problem_id": pl.String,
    "problem": pl.String,
    "reference_answer": pl.String,
    "test_cases": pl.String,
    "model": pl.String,
    "model_path": pl.String,
    "model_id": pl.String,
    "prompt_format": pl.String,
    "prompt_id": pl.String,
    "prompt": pl.String,
    "sampling": pl.String,
    "sample_index": pl.Int64,
    "response": pl.String,
    "finish_reason": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "correct": pl.Boolean,
    "verdict": pl.String,
    "verdict_detail": pl.String,
    "verdict_format": pl.String,
    "self_verifies": pl.Boolean,
    "attempts": pl.Int64,
    "first_correct": pl.Boolean,
    "attempts_correct": pl.List(pl.Boolean),
    "verification_verdicts": pl.List(pl.String),
    "verified_attempts_correct": pl.List(pl.Boolean),
}
REJECTS_SCHEMA = {
    **REJECT_SCHEMA,
    "eval_set": pl.String,
    "item": pl.String,
    "problem": pl.String,
    "model": pl.String,
    "model_path": pl.String,
    "prompt_format": pl.String,
    "sample_index": pl.Int64,
}


class EvalSettings(StageSettings):
    """Evaluation of every checkpoint on the held-out eval sets (THINKFORGE_EVAL_SETS, default data/eval/eval_sets.yaml)."""

    checkpoints: list[str] = Field(
        default_factory=list,
        description="checkpoint assets to evaluate (empty: every checkpoint asset of the models, train and stepwise "
        "groups, in training order); those whose folder $THINKFORGE_HOME/models/<asset>/<domain>/ (base_model: "
        "models/base_model/) does not exist yet are listed as missing",
    )
    extra_models: dict[str, str] = Field(
        default_factory=dict,
        description="more models, name → an HF folder or hub id, or `<served model>@<base URL>` for an "
        "OpenAI-compatible endpoint (e.g. `Qwen2.5-7B-Instruct@http://vllm:8000/v1`)",
    )
    extra_model_formats: dict[str, str] = Field(
        default_factory=dict,
        description="prompt format of an `extra_models` entry, name → distill | s2r | stepwise (the format it was "
        "trained in; default distill)",
    )
    max_problems: int = Field(0, description="problems per eval set and domain (the first N of the set); 0: all")
    samples: int = Field(
        1, description="responses per problem and model; pass@k uses k = samples (sample s: seed + s)"
    )
    temperature: float = Field(0.0, description="sampling temperature; 0: greedy (use > 0 with samples > 1)")
    top_p: float = Field(1.0, description="nucleus sampling mass")
    max_tokens: int = Field(1024, description="maximum new tokens per response")
    seed: int = Field(0, description="base seed of the samples")
    system_prompt: str = Field(
        DEFAULT_SYSTEM,
        description="system message of the distill-format prompts (empty: none); s2r and stepwise "
        "prompts are the trainers' own",
    )
    math_workers: int = Field(2, description="math-verify worker processes")
    math_timeout_s: int = Field(5, description="math-verify time limit per answer (seconds)")
    sandbox_timeout_s: float = Field(5.0, description="wall-time limit of one sandboxed program run (seconds)")
    sandbox_memory_mb: int = Field(512, description="address-space limit of a sandboxed program (MiB)")
    judge_max_tokens: int = Field(
        16,
        description="maximum tokens of the judge's reply (one word: correct / incorrect) on science and chat answers",
    )
    report: str = Field(
        "",
        description="file under $THINKFORGE_HOME/reports/ to write the proof report to ('{domain}' is replaced by the "
        "partition, e.g. proof.md or proof_{domain}.md): the targets met / missed / not measured, the table with its "
        "intervals, paired differences, step-DPO preference accuracy, RL reward curve and S²R trajectory figures; "
        "empty: no report",
    )

    @model_validator(mode="after")
    def _known_extra_formats(self) -> EvalSettings:
        for name, prompt_format in self.extra_model_formats.items():
            if name not in self.extra_models:
                raise ValueError(f"extra_model_formats[{name!r}]: no extra_models entry of that name")
            known_format(prompt_format)
        return self

    def params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, seed=self.seed
        )


@dataclass
class EvalReport(StageReport):
    models: list[dict]  # `compare`'s summary per (model, prompt format)
    per_set: list[dict]  # … per eval set and (model, prompt format), with `eval_set`
    verdicts: dict[str, int]  # verdict → answers


def base_formats(trained: Collection[str]) -> list[str]:
    """base_model's prompt formats: the distillation prompt, and every format of the trained checkpoints evaluated
    beside it (`trained`), so each has a like-for-like baseline."""
    return [f for f in PROMPT_FORMATS if f == "distill" or f in trained]


def first_problems_per_eval_set(problems: pl.DataFrame, max_problems: int) -> pl.DataFrame:
    """The first `max_problems` problems of every eval set (in file order); all when 0."""
    if problems.is_empty() or not max_problems:
        return problems
    return problems.sort("eval_set", "source_row").group_by("eval_set", maintain_order=True).head(max_problems)


def generate_rows(
    problems: pl.DataFrame,
    model: str,
    model_path: str,
    model_id: str,
    generate: Generate,
    settings: EvalSettings,
    prompt_format: str,
) -> list[dict]:
    """One row per problem × sample of one model asked in `prompt_format` (failed generations keep their `error`)."""
    records = problems.to_dicts()
    if not records:
        return []
    params = settings.params()
    conversations = [prompt(prompt_format, p["domain"], p["problem"], settings.system_prompt) for p in records]
    outputs = generate(conversations, params, settings.samples)
    rows = []
    for p, messages, samples in zip(records, conversations, outputs):
        for s, c in enumerate(samples):
            rows.append(
                {
                    "parent_ids": [p["id"]],
                    "problem_id": p["id"],
                    **{
                        k: p.get(k)
                        for k in ("domain", "source", "eval_set", "item", "problem", "reference_answer", "test_cases")
                    },
                    "model": model,
                    "model_path": model_path,
                    "model_id": model_id,
                    "prompt_format": prompt_format,
                    "prompt_id": prompt_id(prompt_format, p["domain"], settings.system_prompt),
                    "prompt": json.dumps(messages, ensure_ascii=False),
                    "sampling": json.dumps(params.key_fields()),
                    "sample_index": s,
                    "response": c.text,
                    "finish_reason": c.finish_reason,
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                    "error": c.error,
                }
            )
    return rows


def has_final_answer(domain: str, text: str) -> bool:
    """A final answer in the form the prompt asks for: a \\boxed{} (math), a ```python block (code), any text after
    the reasoning (otherwise)."""
    answer = after_thinking(text)
    if domain == "math":
        return last_boxed(answer) is not None
    if domain == "code":
        return extract_program(text) is not None
    return bool(answer.strip())


def grade(rows: list[dict], checker: AnswerChecker, log: Callable[[str], None] = lambda _: None) -> StageOutput:
    """Verdicts and behaviour of generated rows; failed generations go to the rejects."""
    kept, rejects = [], []
    ok = [r for r in rows if r["error"] is None]
    behaviours = [parse_actions(r["response"] or "") for r in ok]
    items = [(r, attempt) for r, b in zip(ok, behaviours) for attempt in b.attempts]
    verdicts = iter(checker.check([r for r, _ in items], [a for _, a in items], log=log))
    for r, b in zip(ok, behaviours):
        checked = [next(verdicts) for _ in b.attempts]
        truth = [v.correct for v in checked]
        verdict, detail = checked[-1].verdict, checked[-1].detail
        if len(b.attempts) > 1:
            detail = f"last of {len(b.attempts)} attempts: {detail}"
        if (
            r["finish_reason"] == "length"
            and verdict != "correct"
            and not has_final_answer(r["domain"], b.attempts[-1])
        ):
            verdict, detail = "truncated", f"cut off at max_tokens before a final answer ({verdict}: {detail})"
        kept.append(
            {
                **r,
                "id": row_id(
                    STAGE,
                    r["parent_ids"],
                    [r["model"], r["model_id"], r["prompt_format"], r["sample_index"], r["response"]],
                ),
                "correct": truth[-1],
                "verdict": verdict,
                "verdict_detail": detail,
                # the thinking format is the distill prompt's: s2r and stepwise are trained without think blocks
                "verdict_format": check_format(
                    {**r, "origin": "teacher" if r["prompt_format"] == "distill" else "eval"}
                ),
                "self_verifies": b.self_verifies,
                "attempts": len(b.attempts),
                "first_correct": truth[0],
                "attempts_correct": truth,
                "verification_verdicts": [v or "none" for _, v in b.verifications],
                "verified_attempts_correct": [truth[i] for i, _ in b.verifications],
            }
        )
    for r in rows:
        if r["error"] is not None:
            rejects.append(
                {
                    **r,
                    "id": row_id(
                        f"{STAGE}_rejects",
                        r["parent_ids"],
                        [r["model"], r["prompt_format"], r["sample_index"], r["error"]],
                    ),
                    "reason": "generation_failed",
                    "detail": r["error"],
                }
            )
    return StageOutput(frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), rows_in=len(rows))


def report(out: StageOutput, order: list[str], k: int) -> EvalReport:
    """The stage's figures: a summary per (model, prompt format), per eval set and (model, prompt format), and the
    verdict counts."""
    kept = out.kept
    per_set = []
    for eval_set in sorted(set(kept["eval_set"].to_list())) if kept.height else []:
        for s in compare(kept.filter(pl.col("eval_set") == eval_set), order, k):
            per_set.append({"eval_set": eval_set, **s})
    return EvalReport(
        models=compare(kept, order, k),
        per_set=per_set,
        verdicts=dict(Counter(kept["verdict"].to_list()).most_common()) if kept.height else {},
    )


def parse_extra(name: str, spec: str) -> dict:
    """An `extra_models` entry → {"model": …, "base_url": …}: `<served model>@<http(s) URL>` is an endpoint, else a folder / hub id."""
    model, sep, url = spec.rpartition("@")
    if sep and url.startswith(("http://", "https://")) and model:
        return {"model": model, "base_url": url}
    if not spec.strip():
        raise ValueError(f"extra_models[{name!r}]: empty model")
    return {"model": spec, "base_url": ""}
