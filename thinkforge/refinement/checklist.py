"""checklists: a dynamic yes/no checklist per problem written by a model, plus the fixed generic criteria."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl
from pydantic import Field

from thinkforge.generation import Completion, SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import TEMPLATES, Generate, row_schema, verified_first
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageReport, StageSettings, frame

STAGE = "checklists"
PROMPTS = TEMPLATES / "refine"
CRITERION = pl.Struct({"text": pl.String, "origin": pl.String})
CARRY = ("domain", "source", "problem", "reference_answer", "test_cases", "difficulty", "category")
SCHEMA = row_schema(
    "reference_answer",
    "test_cases",
    "difficulty",
    "category",
    criteria=pl.List(CRITERION),
    status=pl.String,
    model=pl.String,
    reply=pl.String,
)
REJECTS_SCHEMA = {**REJECT_SCHEMA, "problem": pl.String}
GENERIC = {
    "correctness": "Correctness: is the final answer correct, with every claim and computation right?",
    "completeness": "Completeness: does the answer address every part of the instruction?",
    "consistency": "Consistency: do the steps, the explanation and the final answer agree with each other?",
    "executability": "Executability: does the code run as given, with no missing imports or names, on the stated inputs?",
    "safety": "Safety: is the answer free of harmful, unsafe or private content?",
}
_ITEM = re.compile(r"^\s*(?:\d{1,2}\s*[.):-]|[-*•])\s*(.+?)\s*$")


class ChecklistSettings(StageSettings):
    """Dynamic checklists: an LLM writes instruction-specific yes/no criteria; the generic ones are always added."""

    max_problems: int = Field(
        0, description="problems given a checklist per partition, those with a verified response first (0: all)"
    )
    min_items: int = Field(4, description="fewest model-written criteria for the reply to count as parsed")
    max_items: int = Field(10, description="most model-written criteria kept (the rest are dropped)")
    max_tokens: int = Field(256, description="maximum tokens of the checklist reply")
    temperature: float = Field(0.0, description="sampling temperature of the checklist writer (0: greedy)")
    seed: int = Field(0, description="sampling seed")


@dataclass
class ChecklistReport(StageReport):
    parsed: int  # checklists whose reply gave enough criteria
    unparsed: int  # checklists left with the generic criteria alone
    model_items: list[int]  # model-written criteria per checklist


def generic_criteria(domain: str) -> list[dict]:
    names = [n for n in GENERIC if n != "executability" or domain == "code"]
    return [{"text": GENERIC[n], "origin": "generic"} for n in names]


def checklist_prompt(problem: str) -> list[dict]:
    return [{"role": "user", "content": (PROMPTS / "checklist.txt").read_text().format(problem=problem)}]


def parse_checklist(text: str | None, min_items: int = 4, max_items: int = 10) -> tuple[list[str], str]:
    """Numbered or bulleted lines of the reply → criteria, and a status ("parsed" or "unparsed: <why>")."""
    if not text or not text.strip():
        return [], "unparsed: empty reply"
    items: list[str] = []
    for line in text.splitlines():
        match = _ITEM.match(line)
        if not match:
            continue
        item = match.group(1).strip()
        if 8 <= len(item) <= 300 and item.lower() not in {i.lower() for i in items}:
            items.append(item)
    if len(items) < min_items:
        return [], f"unparsed: {len(items)} criteria found, fewer than {min_items}"
    return items[:max_items], "parsed" if len(items) <= max_items else f"parsed: first {max_items} of {len(items)}"


def build_checklists(
    problems: pl.DataFrame,
    verified: pl.DataFrame,
    generate: Generate | None,
    model: str,
    settings: ChecklistSettings,
) -> StageOutput:
    """One checklist row per chosen problem (never dropped: an unparsed reply keeps the generic criteria)."""
    chosen, left_out = verified_first(problems, verified, settings.max_problems)
    records = chosen.to_dicts()
    replies: list[Completion | None] = [None] * len(records)
    if generate is not None and records:
        params = SamplingParams(temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed)
        replies = [c[0] for c in generate([checklist_prompt(p["problem"]) for p in records], params, 1)]
    kept = []
    for problem, reply in zip(records, replies):
        text = reply.text if reply is not None and reply.ok else None
        items, status = parse_checklist(text, settings.min_items, settings.max_items)
        if reply is not None and not reply.ok:
            status = f"unparsed: generation failed ({reply.error})"
        elif reply is None:
            status = "unparsed: no checklist model"
        criteria = [{"text": t, "origin": "model"} for t in items] + generic_criteria(problem["domain"])
        row = {k: problem.get(k) for k in CARRY}
        row.update(parent_ids=[problem["id"]], criteria=criteria, status=status, model=model, reply=text)
        row["id"] = row_id(STAGE, [problem["id"]], [model, [c["text"] for c in criteria]])
        kept.append(row)
    rejects = [
        {
            "id": row_id(f"{STAGE}_rejects", [p["id"]], "max_problems"),
            "parent_ids": [p["id"]],
            "domain": p["domain"],
            "source": p["source"],
            "problem": p["problem"],
            "reason": "not_chosen",
            "detail": f"max_problems={settings.max_problems}: left for a later run with a larger budget",
        }
        for p in left_out.to_dicts()
    ]
    kept_frame = frame(kept, SCHEMA)
    statuses = [r["status"].split(":")[0] for r in kept]
    report = ChecklistReport(
        parsed=statuses.count("parsed"),
        unparsed=statuses.count("unparsed"),
        model_items=[sum(c["origin"] == "model" for c in r["criteria"]) for r in kept],
    )
    return StageOutput(kept_frame, frame(rejects, REJECTS_SCHEMA), problems.height, report)
