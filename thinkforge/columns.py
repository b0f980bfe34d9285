"""What each warehouse column means, in one place: the trace (`lineage`) labels judgments with it and the web UI's
column schema of every warehouse table describes its columns with it.

`LABELS` and `STAGE_LABELS` are the judgment columns, each with its group in a trace; `COLUMNS` the identity,
content and bookkeeping columns. `describe` gives a column's meaning in a stage, or None for a column nobody
described (a test keeps every stored column described).
"""

from __future__ import annotations

# Judgment columns: column → (group, label). Groups are shown in this order.
GROUPS = (
    "source",
    "dedup",
    "selection",
    "response",
    "rules",
    "correctness",
    "judge",
    "reward",
    "pass rate",
    "evaluation",
    "rejection",
)
LABELS: dict[str, tuple[str, str]] = {
    "info_type": (
        "source",
        "what the row carries to check answers: test_cases / reference_answer / ground_truth / none",
    ),
    "reference_answer": ("source", "reference answer"),
    "meta": ("source", "source-specific fields"),
    "cluster_size": ("dedup", "near-duplicate cluster size: rows merged into this one, itself included"),
    "duplicate_of": ("dedup", "the kept row this one duplicates"),
    "similarity": ("dedup", "embedding cosine to that row"),
    "language": ("selection", "language of the problem (py3langid)"),
    "language_prob": ("selection", "language detector's probability"),
    "difficulty": ("selection", "difficulty, 1-10"),
    "difficulty_source": ("selection", "where the difficulty came from: source metadata or the LLM judge"),
    "quality": ("selection", "quality, 1-10"),
    "quality_source": (
        "selection",
        "where the quality came from: source metadata, the LLM judge or the heuristic prior",
    ),
    "category": ("selection", "category of the domain's taxonomy"),
    "category_source": ("selection", "where the category came from"),
    "judge_status": (
        "selection",
        "the selection judge on this row (not_needed: source metadata and heuristics sufficed)",
    ),
    "origin": (
        "response",
        "who wrote the response: teacher = sampled by this pipeline, source = shipped with the data",
    ),
    "model": ("response", "model that wrote the response"),
    "finish_reason": ("response", "why generation stopped: stop / length (cut at max_tokens)"),
    "source_correct": ("response", "correctness flag the source shipped with the response"),
    "verdict_format": ("rules", "rule: a closed think block, an answer after it, not truncated"),
    "verdict_repetition": ("rules", "rule: no 20-token n-gram repeated too often"),
    "verdict_length": ("rules", "rule: length within the domain's bounds"),
    "verdict_language": ("rules", "rule: the answer is in the problem's language"),
    "verdict_safety": ("rules", "rule: no unsafe content"),
    "verdict_correct": (
        "correctness",
        "correctness: math-verify (math), sandbox tests (code), LLM judge vs the reference (science, chat); "
        "skip = no automatic check",
    ),
    "verdict_detail": ("correctness", "what the correctness check found"),
    "judge_verdict": ("judge", "LLM judge: the answer compared with the reference"),
    "judge_safe": ("judge", "LLM judge: the answer is safe"),
    "score_reward": ("reward", "reward model score"),
    "pass_rate": (
        "pass rate",
        "teacher pass rate of the problem: share of the teacher's K samples verified correct (a source response carries its "
        "problem's rate, so a correct row can show 0.0)",
    ),
    "pass_rate_difficulty": ("pass rate", "difficulty from the teacher pass rate: 1 + 9 × (1 − pass rate), 1-10"),
    "reason": ("rejection", "why the stage rejected this row"),
    "detail": ("rejection", "details of the rejection"),
}
for _dim in ("correctness", "helpfulness", "coherence", "complexity", "verbosity"):
    LABELS[f"score_judge_{_dim}"] = ("judge", f"LLM judge rubric: {_dim}, 1-5")
    LABELS[f"score_reward_{_dim}"] = ("reward", f"reward model: {_dim}")
# A stage's own meaning of a column.
STAGE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "model_eval": {
        "model": ("evaluation", "checkpoint evaluated (asset name or configured name)"),
        "model_path": ("evaluation", "its folder, hub id or served name"),
        "prompt_format": ("evaluation", "the prompt format the model was asked in: distill / s2r / stepwise"),
        "prompt": ("evaluation", "the conversation the model was asked (JSON messages)"),
        "eval_set": ("evaluation", "eval set"),
        "item": ("evaluation", "the problem's id in the eval set"),
        "sample_index": ("evaluation", "sample number (seed + sample)"),
        "correct": ("evaluation", "final answer correct (the last attempt's verdict)"),
        "verdict": (
            "evaluation",
            "verdict of the final answer: math-verify / sandbox tests / LLM judge vs the reference",
        ),
        "verdict_detail": ("evaluation", "what the verdict's check found"),
        "verdict_format": ("evaluation", "format compliance: a closed think block, a final answer, not truncated"),
        "self_verifies": ("evaluation", 'S²R: the response verifies itself ("Wait, let me recheck my solution.")'),
        "attempts": ("evaluation", "S²R: solve attempts in the response"),
        "first_correct": ("evaluation", "S²R: the first attempt is correct"),
        "attempts_correct": ("evaluation", "S²R: correctness of each attempt"),
        "verification_verdicts": ("evaluation", "S²R: what each self-verification concluded"),
        "verified_attempts_correct": ("evaluation", "S²R: the truth of the attempt each verification checked"),
    },
    "eval_problems": {
        "eval_set": ("source", "eval set (name in the eval-sets YAML)"),
        "item": ("source", "the problem's id in the eval set"),
    },
    "selected_problems": {
        "pass_rate_difficulty": ("selection", "difficulty from the teacher pass rate (filled by rejection sampling)"),
    },
}
# Identity, content and bookkeeping columns (not judgments).
COLUMNS: dict[str, str] = {
    "id": "row id: a hash of the stage, the parent ids and the row's content (16 hex characters)",
    "parent_ids": "ids of the rows this row was made from, in the upstream assets (empty for a raw row)",
    "domain": "domain partition: math / code / science / chat",
    "source": "source name in the sources YAML (or the eval set) the problem came from",
    "source_file": "file the raw row was read from",
    "source_row": "row number in that file",
    "raw": "the unparsed source line of a rejected raw row",
    "problem": "the problem statement, as shown to the model",
    "test_cases": 'code tests as JSON: {"kind": "stdio" | "call" | "program", "cases": [{input, output}], …}',
    "responses": "responses shipped with the source: text, model and correctness flag",
    "response": "the full response: the reasoning in a think block, then the answer",
    "prompt_id": "hash of the prompt template and system prompt the response was sampled with",
    "sampling": "sampling parameters of the call, as JSON (temperature, top_p, max_tokens, seed)",
    "sample_index": "sample number of this problem (seed + sample index)",
    "prompt_tokens": "tokens of the prompt",
    "completion_tokens": "tokens the model generated",
    "criteria": "checklist criteria: each item's text and weight",
    "status": 'parsed, or "unparsed: …" with why, when the checklist reply could not be read',
    "reply": "the checklist model's raw reply",
    "checklist": "checklist criteria the evaluators judged each candidate against",
    "solution": "the chosen solution after critique and revision",
    "solution_origin": "where the chosen solution came from: the verified response, a draft or a revision",
    "best_round": "round of the chosen candidate (0: the starting solution)",
    "n_rounds": "candidates the evaluators scored",
    "stop_reason": "why the rounds stopped: all items pass, threshold, no improvement, max_rounds, failed",
    "score_before": "evaluators' overall score of the starting solution",
    "score_after": "evaluators' overall score of the chosen solution",
    "agreement": "share of evaluators agreeing on the chosen candidate's checklist items",
    "verified": "the chosen candidate verifies (math-verify or sandbox; empty where no automatic check applies)",
    "verify_detail": "why it verifies or not",
    "items_passed": "checklist items the chosen candidate passes, in checklist order",
    "not_chosen": "candidates never chosen because they do not verify, with why",
    "rounds": "every candidate: round, origin, text, score, agreement, items passed, verification, evaluations",
    "summary": "the solution's summary the chain of thought was reconstructed from",
    "cot": "the reconstructed chain of thought (the think block of the training example)",
    "messages": "the training conversation: system, user and assistant turns",
    "kind": "IFT (a solution as steps) or EFT (a step-pair judgment)",
    "split_by": "how the solution was split into steps: marker / paragraph / line / model",
    "steps": "the solution's steps",
    "verdict": "verdict of the answer (evaluation), or the judged winner of a step pair (EFT)",
    "iteration": "Step-DPO iteration that sampled the pair",
    "step_index": "number of the step the pair is for (1: the first step)",
    "prefix": "the steps before it (the chosen steps of earlier rounds)",
    "prompt": "the prompt that asks for the next step",
    "chosen": "the step that won the most pairwise judgments",
    "rejected": "the step that won the fewest",
    "chosen_wins": "pairwise wins of the chosen step",
    "rejected_wins": "pairwise wins of the rejected step",
    "candidates": "every sampled candidate step",
    "wins": "pairwise wins of each candidate",
    "consistency": "share of pairs judged the same in both orders",
    "judgments": "every pairwise judgment as JSON: the pair, the verdict, the judge's reply",
    "held_out": "the pair's problem is held out: step-DPO does not train on it, its steps are rolled out and checked",
    "chosen_rollout": "verdict of the chosen step's rollout to the end of the answer (held-out pairs)",
    "rejected_rollout": "verdict of the rejected step's rollout to the end of the answer (held-out pairs)",
    "answer": "the answer extracted from the response",
    "correct": "the answer is correct",
    "actions": "the trajectory's actions: solve / verify, with their text, verdict and loss mask (1: trained)",
    "attempts": "solve attempts in the trajectory",
    "used_fallback": "the correct final attempt is the verified source answer, not a policy sample",
    "verifications": "every verification written for the problem, as JSON",
    "eval_set": "eval set (name in the eval-sets YAML)",
    "item": "the problem's id in the eval set",
    "problem_id": "id of the eval problem (an eval_problems row)",
    "model_id": "model id the backend reported",
}


def describe(column: str, stage: str | None = None) -> str | None:
    """What a column means in a stage (its stage's own meaning first), or None when nobody described it."""
    known = STAGE_LABELS.get(stage or "", {}).get(column) or LABELS.get(column)
    if known:
        return known[1]
    if column in COLUMNS:
        return COLUMNS[column]
    if column.startswith("verdict_"):
        return f"rule verdict: {column.removeprefix('verdict_')}"
    return None
