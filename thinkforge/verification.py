"""verified_responses: every verdict on a response recorded as a column, then the accept policy.

Correctness is the project's one answer checker (`thinkforge.verify.AnswerChecker`: math-verify for math, the
sandbox for code, the judge role against the reference for science, chat and text math references). Model-based
scores (the LLM judge rubric, a reward model) are computed only for responses that passed the rules and were not
found wrong (the rubric, by default, only where math-verify or the sandbox did not decide correctness;
`judge_verified` scores the verified ones too, as the AM report does), and can reject with `judge` / `reward`.

Verdict columns hold "pass", "skip" or "fail: <why>"; `verdict_correct` holds correct / wrong /
no_answer / text_reference / unparsed / timeout / no_program / unsupported_language / skip (the checker's
`unchecked`). A response is accepted when every rule passes (or is skipped) and it is correct, or correctness
cannot be checked for it (skip).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from pydantic import Field

from thinkforge.ids import row_id
from thinkforge.judging import (
    DIMENSIONS,
    HELPSTEER_ORDER,
    RewardModel,
    extraction_prompt,
    parse_extracted_answer,
    parse_rubric,
    rubric_prompt,
)
from thinkforge.rows import RESPONSE_SCHEMA
from thinkforge.stage import StageOutput, StageReport, frame
from thinkforge.thinking import after_thinking
from thinkforge.verify import AnswerChecker, Judge, MathVerifier, Sandbox, source_language
from thinkforge.verify.rules import (
    RuleSettings,
    check_format,
    check_language,
    check_length,
    check_repetition,
    check_safety,
)

STAGE = "verified_responses"
RULES = ("format", "repetition", "length", "language", "safety")
VERDICTS = {f"verdict_{name}": pl.String for name in (*RULES, "correct")}
SCORES = {
    **{f"score_judge_{d}": pl.Int64 for d in DIMENSIONS},
    "judge_verdict": pl.String,
    "judge_safe": pl.Boolean,
    "score_reward": pl.Float64,
    **{f"score_reward_{d}": pl.Float64 for d in HELPSTEER_ORDER},
}
EXTRA = {**VERDICTS, "verdict_detail": pl.String, **SCORES, "pass_rate": pl.Float64, "pass_rate_difficulty": pl.Int64}
SCHEMA = {**RESPONSE_SCHEMA, **EXTRA}
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}


class VerificationSettings(RuleSettings):
    """Rejection sampling: rule verdicts, automatic correctness checks, then the judge rubric and a reward model."""

    math_workers: int = Field(2, description="math-verify worker processes")
    math_timeout_s: int = Field(5, description="math-verify time limit per answer (seconds)")
    sandbox_timeout_s: float = Field(5.0, description="wall-time limit of one sandboxed program run (seconds)")
    sandbox_memory_mb: int = Field(512, description="address-space limit of a sandboxed program (MiB)")
    sandbox_workers: int = Field(0, description="sandboxed programs run at once (0: one per core)")
    judge: bool = Field(True, description="LLM-as-a-judge rubric (judge role) on responses that passed the rules")
    judge_verified: bool = Field(
        False,
        description="also judge responses math-verify / the sandbox already found correct (the AM report scores "
        "every response). Off by default: it adds a judge call per verified math/code response, the bulk of them, "
        "and a small judge can then reject correct ones (judge_min_correctness)",
    )
    judge_max_tokens: int = Field(96, description="maximum tokens of a judge rubric reply")
    judge_extracts_answers: bool = Field(
        False,
        description="math responses that state no final answer the rules can find: the judge role names the answer "
        "the response writes (it must occur in the response), then math-verify compares it (answer basis: judge). "
        "Off by default: turn it on with a capable judge (a served 7B+), not a tiny one that picks any number",
    )
    judge_min_correctness: int = Field(
        2, description="reject when the judge rates correctness below this (1-5); 0: off"
    )
    reward_model: str = Field("", description="HF sequence-classification reward model folder or hub id; empty: none")
    reward_min: float | None = Field(
        None, description="reject below this absolute reward score; empty: no absolute threshold"
    )
    reward_percentile: float = Field(
        0.0, description="reject this bottom share (0-100) of the partition's scored responses"
    )


@dataclass
class VerificationReport(StageReport):
    verdicts: dict[str, dict[str, int]]  # per verdict column: verdict → responses
    math_answer_basis: dict[str, int]  # what math verdicts rest on (`_answer_basis`) → responses
    teacher_accept_rate: float  # share of teacher responses kept
    problems_with_pass_rate: int  # problems of kept rows with a teacher pass rate
    source_solutions_failing: dict[str, str]  # per source: "<failing> of <checked>" of its own solutions
    unsupported_language: dict[str, int]  # per source: responses in a language no check runs
    source_pass_rates: dict[str, float]  # per source: share of its automatically checked responses found correct
    judged: dict[str, int]  # responses the judge scored, by whether an automatic check had verified them


def _judge_extracted_answers(rows: list[dict], judge: Judge, checker: AnswerChecker, log) -> None:
    """`no_answer` math verdicts re-decided by the checker on the answer the judge reads in the response, when the
    response writes that answer; otherwise they stay `no_answer` (never `wrong`)."""
    todo = [r for r in rows if r["verdict_correct"] == "no_answer"]
    if not todo:
        return
    log(f"judge: final answer of {len(todo)} math responses with none the rules found")
    found = []
    for r, reply in zip(todo, judge([extraction_prompt(r["response"]) for r in todo])):
        answer = parse_extracted_answer(reply, r["response"] or "")
        if answer is None:
            r["verdict_detail"] += "; the judge found none the response writes"
        else:
            found.append((r, answer))
    verdicts = checker.check([r for r, _ in found], [f"\\boxed{{{answer}}}" for _, answer in found])
    for (r, _), v in zip(found, verdicts):
        r["verdict_correct"] = v.verdict
        r["verdict_detail"] = v.detail.replace("(answer: boxed)", "(answer: judge)")


def _model_scores(
    rows: list[dict], judge: Judge | None, reward: RewardModel | None, settings: VerificationSettings, log
) -> dict[str, int]:
    """Judge rubric and reward scores for the responses that survived the rules (cheap checks first); returns how
    many responses the judge scored, by whether an automatic check had verified them."""
    for r in rows:
        r.update({k: None for k in SCORES})
    todo = [
        r
        for r in rows
        if not any(r[f"verdict_{n}"].startswith("fail") for n in RULES) and r["verdict_correct"] in ("correct", "skip")
    ]
    automatic = ("math-verify", "sandbox")
    to_judge = [r for r in todo if settings.judge_verified or r["_by"] not in automatic] if judge is not None else []
    judged = dict(Counter("verified" if r["_by"] in automatic else "unverified" for r in to_judge))
    if to_judge:
        log(f"LLM judge rubric on {len(to_judge)} responses")
        for r, reply in zip(to_judge, judge([rubric_prompt(r) for r in to_judge])):
            r.update(parse_rubric(reply))
            if r["judge_safe"] is False:
                r["verdict_safety"] = "fail: the LLM judge says unsafe"
    if reward is not None and todo:
        log(f"reward model on {len(todo)} responses")
        for r, scores in zip(todo, reward.score(todo)):
            r.update(scores)
            if "score_reward" not in scores:
                r["score_reward"] = sum(scores.values()) / len(scores)
    return judged


def _reward_cutoff(rows: list[dict], settings: VerificationSettings) -> float | None:
    scored = sorted(r["score_reward"] for r in rows if r["score_reward"] is not None)
    cutoffs = [settings.reward_min] if settings.reward_min is not None else []
    if settings.reward_percentile > 0 and scored:
        cutoffs.append(scored[min(len(scored) - 1, int(len(scored) * settings.reward_percentile / 100))])
    return max(cutoffs) if cutoffs else None


def verify_responses(
    responses: pl.DataFrame,
    math: MathVerifier | None,
    sandbox: Sandbox | None,
    settings: VerificationSettings,
    log: Callable[[str], None] = lambda _: None,
    judge: Judge | None = None,
    reward: RewardModel | None = None,
) -> StageOutput:
    rows = responses.to_dicts()
    for r in rows:
        r["verdict_format"] = check_format(r)
        r["verdict_repetition"] = check_repetition(r["response"] or "", settings)
        r["verdict_length"] = check_length(r, settings)
        r["verdict_language"] = check_language(r)
        r["verdict_safety"] = check_safety(r["response"] or "", settings.safety_patterns)
    checker = AnswerChecker(math, sandbox, judge, settings.sandbox_workers)
    languages = [source_language(r["origin"], r["model"]) for r in rows]
    for r, v in zip(rows, checker.check(rows, [r["response"] or "" for r in rows], languages, log)):
        r["verdict_correct"] = "skip" if v.verdict == "unchecked" else v.verdict  # the column's name for it
        r["verdict_detail"], r["_by"] = v.detail, v.by
    if judge is not None and math is not None and settings.judge_extracts_answers:
        _judge_extracted_answers(rows, judge, checker, log)
    judged = _model_scores(rows, judge, reward, settings, log)
    cutoff = _reward_cutoff(rows, settings)
    by_problem: dict[str, list[str]] = {}
    for r in rows:
        if r["origin"] == "teacher" and r["verdict_correct"] != "skip":
            by_problem.setdefault(r["parent_ids"][0], []).append(r["verdict_correct"])
    kept, rejects = [], []
    for r in rows:
        checked = by_problem.get(r["parent_ids"][0])
        r["pass_rate"] = sum(v == "correct" for v in checked) / len(checked) if checked else None
        r["pass_rate_difficulty"] = 1 + round(9 * (1 - r["pass_rate"])) if r["pass_rate"] is not None else None
        parent = r["id"]
        r["parent_ids"], r["id"] = [parent], row_id(STAGE, [parent], r["response"])
        failed = next((name for name in RULES if r[f"verdict_{name}"].startswith("fail")), None)
        if failed:
            rejects.append({**r, "reason": failed, "detail": r[f"verdict_{failed}"].removeprefix("fail: ")})
        elif r["verdict_correct"] not in ("correct", "skip"):
            reason = "incorrect" if r["verdict_correct"] == "wrong" else r["verdict_correct"]  # no_answer, timeout…
            rejects.append({**r, "reason": reason, "detail": f"{r['verdict_correct']}: {r['verdict_detail']}"})
        elif settings.judge_min_correctness and (r["score_judge_correctness"] or 5) < settings.judge_min_correctness:
            rejects.append(
                {
                    **r,
                    "reason": "judge",
                    "detail": f"judge correctness {r['score_judge_correctness']} < {settings.judge_min_correctness}",
                }
            )
        elif cutoff is not None and r["score_reward"] is not None and r["score_reward"] < cutoff:
            rejects.append(
                {**r, "reason": "reward", "detail": f"reward {r['score_reward']:.3f} < cutoff {cutoff:.3f}"}
            )
        else:
            kept.append(r)
    return StageOutput(
        kept=frame(kept, SCHEMA),
        rejects=frame(rejects, REJECTS_SCHEMA),
        rows_in=len(rows),
        report=_report(rows, kept, judged),
    )


def _answer_basis(detail: str) -> str:
    """What a math verdict rests on: an explicit answer (boxed / answer phrase), the closing sentence's value, or
    nothing stated (no_answer)."""
    found = re.search(r"\(answer: (\w+)\)$", detail or "")
    return found.group(1) if found else "no answer compared"


def _report(rows: list[dict], kept: list[dict], judged: dict[str, int]) -> VerificationReport:
    """Verdict counts per check, the teacher's acceptance, and source solutions that fail verification per source."""
    verdicts = {name: dict(Counter(r[name].split(":")[0] for r in rows).most_common()) for name in VERDICTS}
    teacher = [r for r in rows if r["origin"] == "teacher"]
    kept_ids = {r["id"] for r in kept}
    # a source's own solutions that it calls correct (CodeContests also ships known-wrong ones) and the sandbox ran
    claimed = [r for r in rows if r["origin"] == "source" and r["source_correct"] is not False]
    checked = Counter(r["source"] for r in claimed if r["verdict_correct"] not in ("skip", "unsupported_language"))
    failing = Counter(
        r["source"] for r in claimed if r["verdict_correct"] not in ("correct", "skip", "unsupported_language")
    )
    unsupported = Counter(r["source"] for r in rows if r["verdict_correct"] == "unsupported_language")
    math = [r for r in rows if r["domain"] == "math" and r["verdict_correct"] not in ("skip",)]
    basis = Counter(_answer_basis(r["verdict_detail"]) for r in math)
    return VerificationReport(
        verdicts=verdicts,
        math_answer_basis=dict(basis.most_common()),
        teacher_accept_rate=round(sum(r["id"] in kept_ids for r in teacher) / len(teacher), 3) if teacher else 0.0,
        problems_with_pass_rate=len({r["parent_ids"][0] for r in kept if r["pass_rate"] is not None}),
        source_solutions_failing={src: f"{failing[src]} of {n}" for src, n in checked.most_common()},
        unsupported_language=dict(unsupported.most_common()),
        source_pass_rates=_pass_rates(rows),
        judged=judged,
    )


def _pass_rates(rows: list[dict]) -> dict[str, float]:
    """Per source: the share of its automatically checked responses (sources' own and teacher) found correct."""
    checked: dict[str, list[bool]] = {}
    for r in rows:
        if r["verdict_correct"] != "skip":
            checked.setdefault(r["source"], []).append(r["verdict_correct"] == "correct")
    return {src: round(sum(v) / len(v), 3) for src, v in sorted(checked.items())}


def answer_part(response: str, domain: str, origin: str) -> str:
    """The answer after </think>; a bare program from a source is put in a ```python block."""
    answer = after_thinking(response).strip()
    if domain == "code" and origin == "source" and "```" not in answer:
        answer = f"```python\n{answer}\n```"
    return answer


def best_verified(verified: pl.DataFrame) -> dict[str, dict]:
    """problem text → its best accepted response: verified correct first, then reward, then judge correctness."""
    if verified.is_empty():
        return {}
    ranked = verified.with_columns(
        _correct=pl.col("verdict_correct") == "correct",
        _reward=pl.col("score_reward").fill_null(float("-inf")) if "score_reward" in verified.columns else pl.lit(0.0),
        _judge=pl.col("score_judge_correctness").fill_null(0)
        if "score_judge_correctness" in verified.columns
        else pl.lit(0),
        _len=pl.col("response").str.len_chars(),
    ).sort(["_correct", "_reward", "_judge", "_len", "id"], descending=[True, True, True, False, False])
    best: dict[str, dict] = {}
    for row in ranked.to_dicts():
        best.setdefault(row["problem"], row)
    return best


def best_answers(verified: pl.DataFrame) -> dict[str, dict]:
    """problem text → {id, text}: the answer part of its best accepted response (refined_solutions starts from it,
    s2r_trajectories falls back on it)."""
    return {
        problem: {"id": row["id"], "text": answer_part(row["response"], row["domain"], row["origin"])}
        for problem, row in best_verified(verified).items()
    }
