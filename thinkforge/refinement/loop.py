"""refined_solutions: checklist critique by several evaluators and revision rounds, keeping the best candidate.

Per problem: start from the best verified response's answer (or a teacher draft when none verified); every
evaluator judges every checklist item and gives an overall score; the reviser rewrites from the critique (failed
items first); repeat until every item passes, the score reaches `threshold`, a round brings no improvement, or
`max_rounds`. The project's answer checker outranks the evaluators: a candidate it finds wrong (math-verify, the
sandbox, or the judge role against the reference for science) is never chosen. All problems of a partition move through a round together, so every model
call of a round is one batch.

The critique is multi-model only when several evaluators are configured (THINKFORGE_EVALUATORS_MODEL, a list): with
one, the report carries a `warning` that the asset shows in its metadata and log.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import polars as pl
from pydantic import Field

from thinkforge.generation import SamplingParams
from thinkforge.ids import row_id
from thinkforge.refinement.checklist import GENERIC
from thinkforge.refinement.critique import (
    Aggregate,
    aggregate,
    evaluation_prompt,
    parse_evaluation,
    review_text,
)
from thinkforge.rows import TEMPLATES, Generate, conversation, row_schema
from thinkforge.stage import StageOutput, StageReport, StageSettings, frame
from thinkforge.thinking import after_thinking
from thinkforge.verify import AnswerChecker

STAGE = "refined_solutions"
PROMPTS = TEMPLATES / "refine"
ROUND = pl.Struct(
    {
        "round": pl.Int64,
        "origin": pl.String,
        "candidate": pl.String,
        "score": pl.Float64,
        "agreement": pl.Float64,
        "items_passed": pl.List(pl.Boolean),
        "verified": pl.Boolean,
        "verify_detail": pl.String,
        "evaluations": pl.String,
    }
)
SCHEMA = row_schema(
    "reference_answer",
    "test_cases",
    checklist=pl.List(pl.String),
    solution=pl.String,
    solution_origin=pl.String,
    best_round=pl.Int64,
    n_rounds=pl.Int64,
    stop_reason=pl.String,
    score_before=pl.Float64,
    score_after=pl.Float64,
    agreement=pl.Float64,
    verified=pl.Boolean,
    verify_detail=pl.String,
    items_passed=pl.List(pl.Boolean),
    not_chosen=pl.String,
    rounds=pl.List(ROUND),
)
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}
SINGLE_EVALUATOR = (
    "refined with one evaluator ({name}): the critique is not multi-model as in Nanbeige; configure two or more "
    "(THINKFORGE_EVALUATORS_MODEL=a,b or the evaluators resource's models)"
)
INSTRUCTION = {
    "math": "End with the final answer in \\boxed{}.",
    "code": "Give the complete program in one ```python code block.",
}


class RefineSettings(StageSettings):
    """The critique and revision loop."""

    max_rounds: int = Field(
        3, description="most evaluation rounds per problem (round 1 scores the starting candidate)"
    )
    threshold: float = Field(0.9, description="stop when the mean evaluator score (0-1) reaches this")
    min_score: float = Field(
        0.5,
        description="reject the problem when its best candidate scores below this (0-1); 0: keep it even when no "
        "evaluator reply could be parsed",
    )
    eval_max_tokens: int = Field(256, description="maximum tokens of one evaluator reply")
    revise_max_tokens: int = Field(512, description="maximum tokens of a revision")
    revise_temperature: float = Field(0.3, description="reviser sampling temperature")
    draft_max_tokens: int = Field(
        512, description="maximum tokens of a teacher draft (problems with no verified response)"
    )
    draft_temperature: float = Field(0.7, description="teacher draft sampling temperature")
    draft_system_prompt: str = Field(
        "You are a careful reasoner. Think before you answer.", description="system message of a teacher draft"
    )
    seed: int = Field(0, description="sampling seed of drafts and revisions (evaluators are greedy)")


@dataclass
class RefineReport(StageReport):
    stop_reasons: Counter[str] = field(default_factory=Counter)  # kept problems per stop reason
    rounds: Counter[int] = field(default_factory=Counter)  # kept problems per number of scored rounds
    score_before: list[float] = field(default_factory=list)  # per scored kept problem: its first candidate's score
    score_after: list[float] = field(default_factory=list)  # … and its chosen candidate's
    # generic criterion name or "model-written" → (passed, checked) in the chosen candidates
    criteria: dict[str, tuple[int, int]] = field(default_factory=dict)
    not_verifying_revisions: int = 0  # revisions never chosen because the answer checker found them wrong
    evaluators: list[str] = field(default_factory=list)  # "<index>:<model>" of each evaluator
    warning: str | None = None  # SINGLE_EVALUATOR when the critique had one evaluator


@dataclass
class Candidate:
    round: int
    origin: str  # verified_response | teacher_draft | revision
    text: str
    agg: Aggregate | None = None
    verified: bool | None = None
    verify_detail: str = ""

    @property
    def eligible(self) -> bool:
        return self.verified is not False

    @property
    def rank(self) -> float:
        return -1.0 if self.agg is None or self.agg.score is None else self.agg.score


@dataclass
class Problem:
    row: dict  # the checklist row
    criteria: list[str]
    parents: list[str]
    candidates: list[Candidate] = field(default_factory=list)
    stop: str = ""
    failure: str = ""

    def best(self) -> Candidate | None:
        eligible = [c for c in self.candidates if c.eligible and c.agg is not None]
        return max(eligible, key=lambda c: (c.rank, -c.round)) if eligible else None


def _revision_prompt(problem: Problem, base: Candidate) -> list[dict]:
    text = (PROMPTS / "revise.txt").read_text()
    return [
        {
            "role": "user",
            "content": text.format(
                problem=problem.row["problem"],
                candidate=base.text,
                review=review_text(problem.criteria, base.agg),
                instruction=INSTRUCTION.get(problem.row["domain"], ""),
            ),
        }
    ]


def _stop_reason(problem: Problem, current: Candidate, settings: RefineSettings, previous_best: float) -> str:
    if current.eligible and current.agg.all_pass:
        return "all_pass"
    if current.eligible and current.agg.score is not None and current.agg.score >= settings.threshold:
        return "threshold"
    if current.round >= 2 and not (current.eligible and current.rank > previous_best):
        return "no_improvement"
    if current.round >= settings.max_rounds:
        return "max_rounds"
    return ""


def refine(
    checklists: pl.DataFrame,
    starts: dict[str, dict],
    evaluators: list[tuple[str, Generate]],
    revise: Generate | None,
    draft: Generate | None,
    check: AnswerChecker,
    settings: RefineSettings,
    log=print,
) -> StageOutput:
    """`starts`: problem text → {id, text}, the answer of its best verified response (`verification.best_answers`)."""
    problems = []
    for row in checklists.to_dicts():
        start = starts.get(row["problem"])
        problem = Problem(row, [c["text"] for c in row["criteria"]], [row["id"]])
        if start is not None:
            problem.parents.append(start["id"])
            problem.candidates.append(Candidate(1, "verified_response", start["text"]))
        problems.append(problem)
    _drafts(problems, draft, settings, log)
    for round_no in range(1, settings.max_rounds + 1):
        active = [p for p in problems if not p.stop and not p.failure]
        if not active:
            break
        log(f"round {round_no}: {len(active)} candidates × {len(evaluators)} evaluators")
        previous = {id(p): (p.best().rank if p.best() else float("-inf")) for p in active}
        _evaluate(active, evaluators, check, settings)
        for p in active:
            p.stop = _stop_reason(p, p.candidates[-1], settings, previous[id(p)])
        _revise([p for p in active if not p.stop], revise, round_no + 1, settings)
    out = _output(problems, checklists.height, settings)
    out.report.evaluators = [name for name, _ in evaluators]
    if len(evaluators) == 1:
        out.report.warning = SINGLE_EVALUATOR.format(name=evaluators[0][0])
    return out


def _drafts(problems: list[Problem], draft: Generate | None, settings: RefineSettings, log) -> None:
    need = [p for p in problems if not p.candidates]
    if not need:
        return
    if draft is None:
        for p in need:
            p.failure = "no verified response and no teacher to draft one"
        return
    log(f"teacher drafts for {len(need)} problems with no verified response")
    params = SamplingParams(
        temperature=settings.draft_temperature, max_tokens=settings.draft_max_tokens, seed=settings.seed
    )
    convs = [conversation(p.row["domain"], p.row["problem"], settings.draft_system_prompt) for p in need]
    for p, samples in zip(need, draft(convs, params, 1)):
        c = samples[0]
        if c.ok and after_thinking(c.text).strip():
            p.candidates.append(Candidate(1, "teacher_draft", after_thinking(c.text).strip()))
        else:
            p.failure = f"teacher draft failed: {c.error or 'empty answer'}"


def _evaluate(active: list[Problem], evaluators, check: AnswerChecker, settings: RefineSettings) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=settings.eval_max_tokens, seed=settings.seed)
    prompts = [evaluation_prompt(p.row["problem"], p.candidates[-1].text, p.criteria) for p in active]
    per_evaluator = []
    for name, generate in evaluators:
        replies = [s[0] for s in generate(prompts, params, 1)]
        per_evaluator.append(
            [
                parse_evaluation(
                    name, r.text if r.ok else None, len(p.criteria), "" if r.ok else (r.error or "failed")
                )
                for p, r in zip(active, replies)
            ]
        )
    verdicts = check.check([p.row for p in active], [p.candidates[-1].text for p in active])
    for i, p in enumerate(active):
        current = p.candidates[-1]
        current.agg = aggregate([evals[i] for evals in per_evaluator], len(p.criteria))
        v = verdicts[i]
        current.verified, current.verify_detail = v.correct, f"{v.by or 'no check'} {v.verdict}: {v.detail}"


def _revise(todo: list[Problem], revise: Generate | None, round_no: int, settings: RefineSettings) -> None:
    if not todo:
        return
    if revise is None:
        for p in todo:
            p.stop = "no_reviser"
        return
    bases = [p.best() or p.candidates[-1] for p in todo]
    params = SamplingParams(
        temperature=settings.revise_temperature, max_tokens=settings.revise_max_tokens, seed=settings.seed + round_no
    )
    for p, samples in zip(todo, revise([_revision_prompt(p, b) for p, b in zip(todo, bases)], params, 1)):
        c = samples[0]
        text = after_thinking(c.text).strip() if c.ok else ""
        if text:
            p.candidates.append(Candidate(round_no, "revision", text))
        else:
            p.stop = "revision_failed"


def _round_record(c: Candidate) -> dict:
    return {
        "round": c.round,
        "origin": c.origin,
        "candidate": c.text,
        "score": c.agg.score if c.agg else None,
        "agreement": c.agg.agreement if c.agg else None,
        "items_passed": c.agg.items_passed if c.agg else None,
        "verified": c.verified,
        "verify_detail": c.verify_detail,
        "evaluations": json.dumps(c.agg.as_dicts() if c.agg else []),
    }


def _output(problems: list[Problem], rows_in: int, settings: RefineSettings) -> StageOutput:
    kept, rejects = [], []
    report = RefineReport()
    for p in problems:
        row = {k: p.row.get(k) for k in ("domain", "source", "problem", "reference_answer", "test_cases")}
        scored = [c for c in p.candidates if c.agg is not None]
        chosen = p.best()
        broken = [c for c in scored if not c.eligible]
        report.not_verifying_revisions += sum(c.origin == "revision" for c in broken)
        row.update(
            parent_ids=p.parents,
            checklist=p.criteria,
            n_rounds=len(scored),
            stop_reason=p.stop or ("failed" if p.failure else ""),
            score_before=scored[0].agg.score if scored else None,
            rounds=[_round_record(c) for c in p.candidates],
            not_chosen="; ".join(f"round {c.round}: does not verify ({c.verify_detail})" for c in broken) or None,
        )
        if chosen is not None:
            row.update(
                solution=chosen.text,
                solution_origin=chosen.origin,
                best_round=chosen.round,
                score_after=chosen.agg.score,
                agreement=chosen.agg.agreement,
                verified=chosen.verified,
                verify_detail=chosen.verify_detail,
                items_passed=chosen.agg.items_passed,
            )
        row["id"] = row_id(STAGE, p.parents, [row.get("solution"), row["n_rounds"]])
        reason = _reject_reason(p, chosen, scored, settings)
        if reason:
            rejects.append({**row, "reason": reason[0], "detail": reason[1]})
            continue
        kept.append(row)
        report.stop_reasons[row["stop_reason"]] += 1
        report.rounds[row["n_rounds"]] += 1
        if row["score_before"] is not None:
            report.score_before.append(row["score_before"])
            report.score_after.append(row["score_after"])
        for criterion, ok in zip(p.criteria, chosen.agg.items_passed):
            name = next((n for n, text in GENERIC.items() if text == criterion), "model-written")
            passed, total = report.criteria.get(name, (0, 0))
            report.criteria[name] = (passed + ok, total + 1)
    return StageOutput(frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), rows_in, report)


def _reject_reason(p: Problem, chosen: Candidate | None, scored: list[Candidate], settings) -> tuple[str, str] | None:
    if p.failure:
        return "no_candidate", p.failure
    if chosen is None:
        details = "; ".join(f"round {c.round}: {c.verify_detail}" for c in scored)
        return "no_verified_candidate", f"no candidate verifies: {details}"[:500]
    if chosen.agg.score is None and settings.min_score > 0:  # min_score 0: no score required
        return "unscored", "no evaluator reply could be parsed for any verifying candidate"
    if chosen.agg.score is not None and chosen.agg.score < settings.min_score:
        return "below_min_score", f"best score {chosen.agg.score:.2f} < min_score {settings.min_score}"
    return None
