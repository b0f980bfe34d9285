"""cot_sft_data: a chain of thought rebuilt to fit each refined solution, checked for consistency, in TRL format.

Two completer calls per solution (prompts as files): a short reasoning summary, then the full chain of thought
from problem + summary + solution. A CoT is rejected when it contradicts the solution (math: its concluded answer
must verify against the solution's; code: it must not end on another program than the solution's; science and chat:
the judge role, reading CoT and solution, says INCONSISTENT) or fails the rules `verified_responses` applies (format,
repetition, length, language, safety — the same functions). The judge reads only CoTs that passed those rules.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import polars as pl
from pydantic import Field

from thinkforge import DOMAINS
from thinkforge.answers import last_boxed
from thinkforge.generation import Completion, SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import MESSAGE, TEMPLATES, Generate, row_schema
from thinkforge.stage import StageOutput, StageReport, StageSettings, frame
from thinkforge.thinking import with_thinking
from thinkforge.verify import Judge, MathVerifier, extract_program
from thinkforge.verify.rules import (
    DEFAULT_SAFETY,
    RuleSettings,
    check_format,
    check_language,
    check_length,
    check_repetition,
    check_safety,
)

STAGE = "cot_sft_data"
PROMPTS = TEMPLATES / "refine"
RULES = ("consistency", "format", "repetition", "length", "language", "safety")
SCHEMA = row_schema(
    "reference_answer",
    "test_cases",
    summary=pl.String,
    cot=pl.String,
    solution=pl.String,
    messages=pl.List(MESSAGE),
    model=pl.String,
    finish_reason=pl.String,
    **{f"verdict_{r}": pl.String for r in RULES},
)
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}
JUDGED = ("science", "chat")  # no automatic check: the judge compares CoT and solution
_VERDICT = re.compile(r"VERDICT\s*[:=]\s*\**\s*(INCONSISTENT|CONSISTENT)\b", re.I)
_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


class CotSettings(StageSettings):
    """CoT reconstruction by the completer, then the consistency and rule checks."""

    summary_max_tokens: int = Field(160, description="maximum tokens of the reasoning summary")
    cot_max_tokens: int = Field(1024, description="maximum tokens of the full chain of thought")
    temperature: float = Field(0.3, description="completer sampling temperature")
    seed: int = Field(0, description="sampling seed")
    system_prompt: str = Field("", description="system message of the SFT conversation (empty: none)")
    max_chars: int = Field(32000, description="maximum length of the assembled assistant turn in characters")
    ngram: int = Field(20, description="n-gram length of the repetition rule (as in verified_responses)")
    max_repeats: int = Field(20, description="allowed repeats of one n-gram in a long CoT (as in verified_responses)")
    safety_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SAFETY), description="regexes that fail the safety rule"
    )
    math_timeout_s: int = Field(5, description="math-verify time limit per CoT (seconds)")
    judge_consistency: bool = Field(
        True,
        description="science and chat: the judge role checks each CoT against its solution "
        "(templates/refine/cot_consistency.txt) and an INCONSISTENT verdict rejects it (`consistency`); a reply "
        "without a verdict keeps the CoT (verdict skip, counted)",
    )
    judge_max_tokens: int = Field(128, description="maximum tokens of a consistency judge reply")


@dataclass
class CotReport(StageReport):
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)  # per rule: verdict → chains of thought
    cot_chars: list[int] = field(default_factory=list)  # length of each kept chain of thought
    judge_consistency: dict[str, int] = field(default_factory=dict)  # the judge's verdicts (science, chat)


def _prompt(name: str, **fields) -> list[dict]:
    return [{"role": "user", "content": (PROMPTS / name).read_text().format(**fields)}]


def assistant_turn(cot: str, solution: str) -> str:
    return with_thinking(cot, solution)


def messages(problem: str, cot: str, solution: str, system_prompt: str = "") -> list[dict]:
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return head + [
        {"role": "user", "content": problem},
        {"role": "assistant", "content": assistant_turn(cot, solution)},
    ]


def _squash(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def code_consistency(cot: str, solution: str) -> str:
    """The CoT may draft code, but its last program must be the solution's."""
    blocks = _FENCE.findall(cot)
    if not blocks:
        return "pass"
    final = extract_program(solution)
    if final is not None and _squash(blocks[-1]) == _squash(final):
        return "pass"
    return "fail: the chain of thought ends on another program than the solution's"


def consistency_prompt(row: dict) -> list[dict]:
    return _prompt(
        "cot_consistency.txt", problem=row["problem"][:4000], cot=row["cot"][:8000], solution=row["solution"][:6000]
    )


def parse_consistency(reply: str | None) -> tuple[str | None, str]:
    """("consistent" | "inconsistent" | None, the judge's reason): None when the reply names no verdict or both."""
    found = {m.group(1).lower() for m in _VERDICT.finditer(reply or "")}
    if len(found) != 1:
        return None, ""
    reason = _VERDICT.split(reply, maxsplit=1)[0].strip(" \n*")
    return found.pop(), " ".join(reason.split())[:200]


def _judge_consistency(rows: list[dict], judge: Judge | None, log) -> dict[str, int]:
    """Science and chat CoTs that passed every other rule, checked by the judge against their solution."""
    todo = [
        r
        for r in rows
        if r["domain"] in JUDGED and not any(r[f"verdict_{rule}"].startswith("fail") for rule in RULES[1:])
    ]
    if judge is None or not todo:
        return {}
    log(f"judge: consistency of {len(todo)} chains of thought with their solution")
    counts: Counter = Counter()
    for r, reply in zip(todo, judge([consistency_prompt(r) for r in todo])):
        verdict, reason = parse_consistency(reply)
        counts[verdict or "no_verdict"] += 1
        if verdict == "consistent":
            r["verdict_consistency"] = "pass"
        elif verdict == "inconsistent":
            r["verdict_consistency"] = f"fail: the judge finds it inconsistent with the solution: {reason}"[:300]
        else:
            r["verdict_consistency"] = "skip: the judge gave no consistency verdict"
    return dict(counts)


def _math_consistency(rows: list[dict], math: MathVerifier | None) -> list[str]:
    out = ["skip: no automatic check"] * len(rows)
    todo = [i for i, r in enumerate(rows) if r["domain"] == "math" and math is not None]
    gold = {i: last_boxed(rows[i]["solution"]) or rows[i]["reference_answer"] for i in todo}
    todo = [i for i in todo if gold[i]]
    if todo:
        for i, v in zip(todo, math.verify([(gold[i], rows[i]["cot"]) for i in todo])):
            out[i] = (
                "pass"
                if v.passed
                else f"fail: the chain of thought concludes otherwise ({v.verdict}: {v.detail})"[:300]
            )
    return out


def reconstruct(
    refined: pl.DataFrame,
    generate: Generate | None,
    model: str,
    math: MathVerifier | None,
    settings: CotSettings,
    log=print,
    judge: Judge | None = None,
) -> StageOutput:
    """`judge`: the judge role (greedy replies), for the consistency of science and chat CoTs; None: not checked."""
    records = refined.to_dicts()
    if generate is None or not records:
        return StageOutput(frame([], SCHEMA), frame([], REJECTS_SCHEMA), 0, CotReport())
    params = SamplingParams(
        temperature=settings.temperature, max_tokens=settings.summary_max_tokens, seed=settings.seed
    )
    log(f"summaries for {len(records)} solutions")
    summaries = [
        s[0]
        for s in generate(
            [_prompt("cot_summary.txt", problem=r["problem"], solution=r["solution"]) for r in records], params, 1
        )
    ]
    todo = [i for i, s in enumerate(summaries) if s.ok]
    log(f"chains of thought for {len(todo)} solutions")
    params = SamplingParams(temperature=settings.temperature, max_tokens=settings.cot_max_tokens, seed=settings.seed)
    cots: dict[int, Completion] = {}
    if todo:
        prompts = [
            _prompt(
                "cot_full.txt",
                problem=records[i]["problem"],
                summary=summaries[i].text.strip(),
                solution=records[i]["solution"],
            )
            for i in todo
        ]
        cots = {i: s[0] for i, s in zip(todo, generate(prompts, params, 1))}
    rows, rejects = [], []
    for i, r in enumerate(records):
        row = {k: r.get(k) for k in ("domain", "source", "problem", "reference_answer", "test_cases", "solution")}
        cot = cots.get(i)
        failed = summaries[i] if not summaries[i].ok else cot if cot is not None and not cot.ok else None
        row.update(
            parent_ids=[r["id"]],
            summary=summaries[i].text.strip() if summaries[i].ok else None,
            cot=cot.text.strip() if cot is not None and cot.ok else None,
            model=model,
            finish_reason=cot.finish_reason if cot is not None else None,
        )
        row["id"] = row_id(STAGE, [r["id"]], [model, row["summary"], row["cot"]])
        if failed is not None:
            rejects.append({**row, "reason": "generation_failed", "detail": failed.error})
            continue
        row["messages"] = messages(r["problem"], row["cot"], r["solution"], settings.system_prompt)
        rows.append(row)
    _verdicts(rows, math, settings)
    judged = _judge_consistency(rows, judge if settings.judge_consistency else None, log)
    kept = []
    for row in rows:
        failed = next((rule for rule in RULES if row[f"verdict_{rule}"].startswith("fail")), None)
        if failed:
            rejects.append({**row, "reason": failed, "detail": row[f"verdict_{failed}"][6:]})
        else:
            kept.append(row)
    report = CotReport(
        verdicts={rule: dict(Counter(r[f"verdict_{rule}"].split(":")[0] for r in rows)) for rule in RULES},
        cot_chars=[len(r["cot"]) for r in kept],
        judge_consistency=judged,
    )
    return StageOutput(frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), len(records), report)


def _verdicts(rows: list[dict], math: MathVerifier | None, settings: CotSettings) -> None:
    rules = RuleSettings(
        ngram=settings.ngram, max_repeats=settings.max_repeats, max_chars=dict.fromkeys(DOMAINS, settings.max_chars)
    )
    for row, verdict in zip(rows, _math_consistency(rows, math)):
        row["verdict_consistency"] = verdict
    for row in rows:
        text = assistant_turn(row["cot"], row["solution"])
        if row["domain"] == "code":
            row["verdict_consistency"] = code_consistency(row["cot"], row["solution"])
        view = {**row, "response": text, "origin": "teacher"}
        row["verdict_format"] = check_format(view)
        row["verdict_repetition"] = check_repetition(row["cot"], rules)
        row["verdict_length"] = check_length(view, rules)
        row["verdict_language"] = check_language(view)
        row["verdict_safety"] = check_safety(text, settings.safety_patterns)
