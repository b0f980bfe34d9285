"""The contract between stages: the problem-row columns and the schema builder, the message type, the model-calling
signature, the templates folder and the conversation a problem is asked in. Stages import this, not each other."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from thinkforge.generation import Completion, SamplingParams

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_SYSTEM = "You are a careful reasoner. Think before you answer."
# Every row of the second half starts with these: its id, the rows it came from and the problem it is about.
HEAD = {
    "id": pl.String,
    "parent_ids": pl.List(pl.String),
    "domain": pl.String,
    "source": pl.String,
    "problem": pl.String,
}
# The problem's columns a stage may carry after the head (in this order).
PROBLEM_COLUMNS = {
    "info_type": pl.String,
    "reference_answer": pl.String,
    "test_cases": pl.String,
    "difficulty": pl.Int64,
    "category": pl.String,
}
MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
# conversations, sampling, n → completions[i][s]: sample s of conversation i (a Generator's `generate`)
Generate = Callable[[list[list[dict]], SamplingParams, int], list[list[Completion]]]


def row_schema(*carried: str, **own: pl.DataType) -> dict[str, pl.DataType]:
    """A stage's table schema: the head, the problem columns it carries (named from PROBLEM_COLUMNS), its own."""
    return {**HEAD, **{name: PROBLEM_COLUMNS[name] for name in carried}, **own}


# A candidate response (distilled_responses writes it, verified_responses adds its verdicts).
RESPONSE_SCHEMA = row_schema(
    "info_type",
    "reference_answer",
    "test_cases",
    "difficulty",
    "category",
    response=pl.String,
    model=pl.String,
    origin=pl.String,
    prompt_id=pl.String,
    sample_index=pl.Int64,
    sampling=pl.String,
    prompt_tokens=pl.Int64,
    completion_tokens=pl.Int64,
    finish_reason=pl.String,
    source_correct=pl.Boolean,
)


def conversation(domain: str, problem: str, system: str) -> list[dict]:
    """A problem as the teacher is asked it: the system message (none when empty), then the domain's prompt."""
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": _template(domain).format(problem=problem)}]


def prompt_id(domain: str, system: str) -> str:
    """Names the conversation a response came from: template file and a hash of template + system message."""
    digest = hashlib.sha1((_template(domain) + "\x00" + system).encode()).hexdigest()[:8]
    return f"distill_{domain}@{digest}"


def _template(domain: str) -> str:
    return (TEMPLATES / f"distill_{domain}.txt").read_text()


def verified_first(problems: pl.DataFrame, verified: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(chosen, left out): the problems with a verified response first, then by id; limit 0 keeps all (checklists and
    policy_samples pick their problems so)."""
    has = [] if verified.is_empty() else verified["problem"].unique().to_list()  # responses carry the problem text
    ordered = problems.with_columns(_verified=pl.col("problem").is_in(has)).sort(
        ["_verified", "id"], descending=[True, False]
    )
    ordered = ordered.drop("_verified")
    if not limit or ordered.height <= limit:
        return ordered, ordered.head(0)
    return ordered.head(limit), ordered.slice(limit)
