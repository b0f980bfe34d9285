"""policy_samples: K answers per problem from the policy, each checked by the project's one checker (correct: None
where the checker cannot decide)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import Field

from thinkforge.answers import last_boxed, stated_answer
from thinkforge.generation import SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import Generate, row_schema
from thinkforge.s2r.actions import checkable, conversation
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageReport, StageSettings, frame
from thinkforge.thinking import after_thinking
from thinkforge.verify import AnswerChecker, extract_program

STAGE = "policy_samples"
CARRY = ("domain", "source", "problem", "reference_answer", "test_cases", "difficulty")
SCHEMA = row_schema(
    "reference_answer",
    "test_cases",
    "difficulty",
    response=pl.String,
    answer=pl.String,
    correct=pl.Boolean,
    verdict=pl.String,
    verdict_detail=pl.String,
    sample_index=pl.Int64,
    model=pl.String,
    finish_reason=pl.String,
)
REJECTS_SCHEMA = {**REJECT_SCHEMA, "problem": pl.String, "sample_index": pl.Int64}


class PolicySampleSettings(StageSettings):
    """K samples per problem from the initial policy, each checked for correctness."""

    samples: int = Field(5, description="K samples per problem (S²R: 5)")
    temperature: float = Field(0.7, description="sampling temperature (S²R: 0.7)")
    top_p: float = Field(1.0, description="nucleus sampling mass")
    max_tokens: int = Field(2048, description="maximum new tokens per sample (S²R: 2048)")
    seed: int = Field(0, description="base seed of the K samples")
    max_problems: int = Field(
        0, description="problems sampled per partition, those with a verified response first (0: all)"
    )
    policy: str = Field("", description="the initial policy: an HF folder or served model name (empty: base_model)")
    math_answers: Literal["stated", "boxed"] = Field(
        "stated",
        description="a math sample's answer (what S²R verifies and makes an attempt of): stated = the one the checker "
        "reads (\\boxed{}, an answer phrase, else the closing sentence's value); boxed = \\boxed{} only (S²R)",
    )


@dataclass
class SampleReport(StageReport):
    verdicts: dict[str, int]  # samples by the checker's verdict
    accuracy: float | None  # share of the scored samples the checker found correct (None: none scored)
    unscorable: int  # samples the checker could not decide (correct None)
    problems_sampled: int
    truncated: int  # samples cut at max_tokens
    wrong_per_problem: dict[int, int]  # number of wrong samples (S²R's difficulty level) → problems with that many


def extract_answer(domain: str, text: str, math_answers: str = "stated") -> str | None:
    """The final answer a sample states, or None: the program for code (blank lines and trailing spaces dropped);
    for math the answer the checker reads (`answers.stated_answer`: \\boxed{}, an answer phrase, else the closing
    sentence's value), or \\boxed{} only with `math_answers="boxed"` (S²R's reading: a policy that never boxes then
    gives no wrong attempt to verify); the last \\boxed{} else the last line for science and other free-form answers
    (their judge reads the whole response)."""
    if domain == "code":
        program = extract_program(text)
        return "\n".join(line.rstrip() for line in program.strip().splitlines() if line.strip()) if program else None
    if domain == "math" and math_answers == "stated":
        return stated_answer(after_thinking(text or ""))[0]
    boxed = last_boxed(text)
    if boxed or domain == "math":
        return boxed or None
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else None


def wrong_per_problem(rows: list[dict]) -> dict[int, int]:
    """Number of wrong samples (S²R's difficulty level) → problems with that many (unscorable samples are not wrong)."""
    wrong: dict[str, int] = {}
    for r in rows:
        wrong[r["parent_ids"][0]] = wrong.get(r["parent_ids"][0], 0) + (r["correct"] is False)
    return {w: sum(v == w for v in wrong.values()) for w in sorted(set(wrong.values()))}


def sample_policy(
    problems: pl.DataFrame,
    generate: Generate,
    model: str,
    checker: AnswerChecker,
    settings: PolicySampleSettings,
    log=print,
) -> StageOutput:
    records = problems.to_dicts()  # in the given order (the asset puts problems with a verified response first)
    rejects, todo = [], []
    for p in records:
        why = checkable(p) or (
            f"max_problems={settings.max_problems}"
            if settings.max_problems and len(todo) >= settings.max_problems
            else None
        )
        if why:
            reason = "not_chosen" if why.startswith("max_problems") else "no_checkable_truth"
            rejects.append(
                {
                    "id": row_id(f"{STAGE}_rejects", [p["id"]], why),
                    "parent_ids": [p["id"]],
                    "domain": p["domain"],
                    "source": p["source"],
                    "problem": p["problem"],
                    "sample_index": None,
                    "reason": reason,
                    "detail": why,
                }
            )
        else:
            todo.append(p)
    rows = []
    if todo:
        params = SamplingParams(
            temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_tokens, seed=settings.seed
        )
        log(f"{settings.samples} samples for each of {len(todo)} problems")
        outputs = generate([conversation(p["domain"], p["problem"]) for p in todo], params, settings.samples)
        for p, samples in zip(todo, outputs):
            for k, c in enumerate(samples):
                base = {
                    "parent_ids": [p["id"]],
                    "domain": p["domain"],
                    "source": p["source"],
                    "problem": p["problem"],
                    "sample_index": k,
                }
                if not c.ok:
                    rejects.append(
                        {
                            **base,
                            "id": row_id(f"{STAGE}_rejects", [p["id"]], [model, k, c.error]),
                            "reason": "generation_failed",
                            "detail": c.error,
                        }
                    )
                    continue
                row = {k2: p.get(k2) for k2 in CARRY} | base
                row.update(
                    response=c.text,
                    answer=extract_answer(p["domain"], c.text, settings.math_answers),
                    model=model,
                    finish_reason=c.finish_reason,
                )
                row["id"] = row_id(STAGE, [p["id"]], [model, k, c.text])
                rows.append(row)
    verdicts = checker.check(rows, [r["response"] for r in rows], log=log)
    for r, v in zip(rows, verdicts):
        r.update(verdict=v.verdict, verdict_detail=v.detail[:500], correct=v.correct)
    scored = [r for r in rows if r["correct"] is not None]
    report = SampleReport(
        verdicts=dict(pl.Series([r["verdict"] for r in rows], dtype=pl.String).value_counts().iter_rows())
        if rows
        else {},
        accuracy=sum(r["correct"] for r in scored) / len(scored) if scored else None,
        unscorable=len(rows) - len(scored),
        problems_sampled=len(todo),
        truncated=sum(r["finish_reason"] == "length" for r in rows),
        wrong_per_problem=wrong_per_problem(rows),
    )
    return StageOutput(frame(rows, SCHEMA), frame(rejects, REJECTS_SCHEMA), len(rows) + len(rejects), report)
