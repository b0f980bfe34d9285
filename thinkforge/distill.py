"""distilled_responses: existing source responses plus K teacher samples per problem, in the thinking format.

As in the AM report, the teacher distils only what lacks a reasoning chain: a problem whose source already carries
one (a response in the thinking format, `<think>…</think>` + answer, that the source does not mark wrong: OpenR1's R1
generations) gets no teacher samples unless `distill_existing` is `also`. Its chain is a candidate like every source
response and is verified by `verified_responses`. A plain answer (a human solution, Natural Reasoning's Llama
responses) is no chain: it cannot become a thinking-format SFT row (`sft_dataset` needs the `<think>` block).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import Field

from thinkforge.generation import Completion, SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import DEFAULT_SYSTEM, RESPONSE_SCHEMA, Generate, conversation, prompt_id
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageReport, StageSettings, frame
from thinkforge.thinking import has_closed_thinking

STAGE = "distilled_responses"
CARRY = ("domain", "source", "problem", "info_type", "reference_answer", "test_cases", "difficulty", "category")
SCHEMA = RESPONSE_SCHEMA
REJECTS_SCHEMA = {**REJECT_SCHEMA, "problem": pl.String, "model": pl.String, "sample_index": pl.Int64}


class DistillSettings(StageSettings):
    """Teacher distillation: K samples per selected problem in the thinking format."""

    samples: int = Field(4, description="K teacher responses per problem (sample s uses seed + s)")
    temperature: float = Field(0.7, description="teacher sampling temperature")
    top_p: float = Field(0.95, description="nucleus sampling mass")
    max_tokens: int = Field(1024, description="maximum new tokens per teacher response")
    seed: int = Field(0, description="base seed of the K samples")
    system_prompt: str = Field(DEFAULT_SYSTEM, description="system message of every teacher prompt (empty: none)")
    keep_existing: bool = Field(
        True, description="the sources' own responses become candidates too (kept later only if they verify)"
    )
    distill_existing: Literal["skip", "also"] = Field(
        "skip",
        description="problems whose source already carries a reasoning chain (a <think>…</think> response not "
        "marked wrong, e.g. OpenR1's R1 generations; plain answers are none): skip: no teacher samples, the chain is "
        "the candidate (AM distils only what lacks one); also: K teacher samples as for every problem. With "
        "keep_existing off every problem is distilled",
    )


@dataclass
class DistillReport(StageReport):
    problems_with_chain: int  # problems whose source carries a reasoning chain
    problems_skipped_with_chain: int  # … that the teacher did not sample (distill_existing skip)
    problems_distilled: int  # problems the teacher sampled


def carries_chain(problem: dict) -> bool:
    """The source gives a reasoning chain: a response in the thinking format that the source does not mark wrong."""
    return any(
        r.get("correct") is not False and has_closed_thinking(r.get("text")) for r in problem.get("responses") or []
    )


def teacher_problems(records: list[dict], settings: DistillSettings) -> list[dict]:
    """The problems the teacher samples: all, or (distill_existing skip) those whose source gives no chain."""
    if settings.distill_existing == "also" or not settings.keep_existing:
        return records
    return [p for p in records if not carries_chain(p)]


def distill(
    problems: pl.DataFrame, domain: str, generate: Generate | None, model: str, settings: DistillSettings
) -> StageOutput:
    """One row per candidate response; failed generations go to the rejects with their error."""
    records = problems.to_dicts()
    params = SamplingParams(
        temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_tokens, seed=settings.seed
    )
    pid = prompt_id(domain, settings.system_prompt)
    kept, rejects = [], []

    def add(
        problem: dict, text: str, model_name: str, origin: str, index: int, completion: Completion | None, correct=None
    ):
        row = {k: problem.get(k) for k in CARRY}
        row.update(
            parent_ids=[problem["id"]],
            response=text,
            model=model_name,
            origin=origin,
            sample_index=index,
            prompt_id=pid if origin == "teacher" else None,
            source_correct=correct,
            sampling=json.dumps(params.key_fields()) if origin == "teacher" else None,
            prompt_tokens=completion.prompt_tokens if completion else None,
            completion_tokens=completion.completion_tokens if completion else None,
            finish_reason=completion.finish_reason if completion else None,
        )
        row["id"] = row_id(STAGE, [problem["id"]], [origin, model_name, index, text])
        kept.append(row)

    if settings.keep_existing:
        for p in records:
            for i, r in enumerate(p.get("responses") or []):
                if r.get("text"):
                    add(p, r["text"], r.get("model") or "unknown", "source", i, None, r.get("correct"))
    todo = teacher_problems(records, settings)
    if generate is not None and settings.samples > 0 and todo:
        outputs = generate(
            [conversation(domain, p["problem"], settings.system_prompt) for p in todo], params, settings.samples
        )
        for p, samples in zip(todo, outputs):
            for i, c in enumerate(samples):
                if c.ok:
                    add(p, c.text, model, "teacher", i, c)
                else:
                    rejects.append(
                        {
                            "id": row_id(f"{STAGE}_rejects", [p["id"]], [model, i, c.error]),
                            "parent_ids": [p["id"]],
                            "domain": p["domain"],
                            "source": p["source"],
                            "problem": p["problem"],
                            "model": model,
                            "sample_index": i,
                            "reason": "generation_failed",
                            "detail": c.error,
                        }
                    )
    chains = sum(carries_chain(p) for p in records)
    report = DistillReport(
        problems_with_chain=chains,
        problems_skipped_with_chain=len(records) - len(todo) if settings.samples > 0 else 0,
        problems_distilled=len(todo) if generate is not None and settings.samples > 0 else 0,
    )
    return StageOutput(
        kept=frame(kept, SCHEMA),
        rejects=frame(rejects, REJECTS_SCHEMA),
        rows_in=len(kept) + len(rejects),
        report=report,
    )
