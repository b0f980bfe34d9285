"""step_sft_data: IFT rows (solutions as "Step n: " steps) and EFT rows (step-pair judgments that survive the swap).

IFT: the assistant turn of each `sft_dataset` row (reasoning then answer, think tags dropped), split by its own
"Step n:" marks, else by paragraphs, else by lines (fenced code blocks stay whole), else (when `split_with_model`) by
the judge role with `templates/stepwise/split_steps.txt`; `split_by` records which. Rows beyond `max_rows` are
rejected as `not_chosen`.
EFT: for the first `eft_problems` IFT rows, at a seeded prefix of the solution, the policy samples candidate next
steps (continuing the solution's first steps as its own answer, `steps.next_step_prompt`). Which two steps make a
pair is `eft_pairs`:
- `reference_vs_policy` (default): the solution's own next step against each candidate. The solution is verified, so
  its step is the better one; cheap (no rollouts), but the better step is always the reference's text, so M1 may learn
  to prefer teacher-style steps.
- `policy_vs_policy`: two candidates against each other, as PSRLM's pairs are all M0's own steps. Each candidate is
  rolled out once to the end of the answer (`rollout_max_tokens`) and the answer checked (`check`: math-verify, the
  sandbox, the judge against the reference); a candidate whose rollout is right is better than one whose rollout is
  wrong. Candidates whose rollout cannot be checked make no pair.
The judge role compares the two steps in both orders. A judgment is kept only when both orders name the same winner
and it agrees with the verifier's side. The training example is one of the two orders, picked by a seeded coin per
pair, so M1 sees the verified step as A and as B equally often (always A would teach the judge a position).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import Field

from thinkforge.generation import SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import MESSAGE, Generate, row_schema
from thinkforge.stage import StageOutput, StageReport, StageSettings, frame
from thinkforge.stepwise.steps import (
    clean_step,
    join_steps,
    judge_prompt,
    judge_replies,
    next_step_prompt,
    parse_verdict,
    partial_answer,
    reasoning_prompt,
    split_lines,
    split_marked,
    split_paragraphs,
    template,
)
from thinkforge.thinking import CLOSE, OPEN
from thinkforge.verify import Verdict

Check = Callable[[list[dict], list[str]], list[Verdict]]  # AnswerChecker.check: problems, answers → verdicts
STAGE = "step_sft_data"
SCHEMA = row_schema(
    "reference_answer",
    kind=pl.String,
    messages=pl.List(MESSAGE),
    split_by=pl.String,
    steps=pl.List(pl.String),
    verdict=pl.String,
)
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}


class StepDataSettings(StageSettings):
    """IFT + EFT data for M1."""

    max_rows: int = Field(0, description="sft_dataset rows turned into IFT data (0: all)")
    split_with_model: bool = Field(False, description="ask the judge role to split solutions with no step structure")
    eft_problems: int = Field(50, description="IFT solutions used to build EFT judgments")
    eft_candidates: int = Field(3, description="candidate next steps sampled per EFT prefix")
    eft_pairs: Literal["reference_vs_policy", "policy_vs_policy"] = Field(
        "reference_vs_policy",
        description="EFT step pairs: the verified solution's own next step vs each policy candidate "
        "(reference_vs_policy: no rollouts, but the better step is always the reference's text), or two policy "
        "candidates whose rollouts to the end were checked right vs wrong (policy_vs_policy, PSRLM-like: one "
        "rollout of up to rollout_max_tokens per candidate)",
    )
    rollout_max_tokens: int = Field(
        1024, description="policy_vs_policy: maximum tokens of a candidate's rollout to the final answer"
    )
    judge_shots: int = Field(
        3,
        description="worked step judgments shown to the judge before each pair (0-3, "
        "templates/stepwise/judge_examples.yaml; PSRLM's M0 judges 3-shot)",
    )
    step_max_tokens: int = Field(256, description="maximum tokens of a sampled candidate step")
    judge_max_tokens: int = Field(256, description="maximum tokens of a judgment")
    verdict_cue: bool = Field(
        True,
        description="continue a judge reply that ends without [[A]]/[[B]] after its own reasoning with "
        "'Final verdict: [[' for two tokens (one more short call per such reply); off: such a reply has no verdict, "
        "as in PSRLM",
    )
    temperature: float = Field(0.5, description="candidate sampling temperature")
    seed: int = Field(0, description="seed of prefixes and sampling")


@dataclass
class StepDataReport(StageReport):
    ift: int  # solutions kept as IFT rows
    eft: int  # EFT judgments kept
    eft_pairs: str  # how EFT step pairs were made (the setting)
    eft_judgments: int  # step pairs the judge was asked about
    eft_rollouts: dict[str, int]  # policy_vs_policy: rollout verdict → candidate steps
    split_by: dict[str, int]  # how IFT solutions were split into steps → solutions
    eft_consistency: float | None  # share of pairs judged alike in both orders


def solution_text(messages: list[dict]) -> str:
    """The assistant turn as one worked solution: the reasoning, then the answer (think tags dropped)."""
    return messages[-1]["content"].replace(OPEN, "").replace(CLOSE, "\n\n").strip()


def build_step_data(
    sft: pl.DataFrame,
    sample: Generate | None,
    judge: Generate | None,
    model: str,
    settings: StepDataSettings,
    log=print,
    check: Check | None = None,
) -> StageOutput:
    """IFT and EFT rows; `check` grades rolled-out answers (needed by `eft_pairs="policy_vs_policy"`)."""
    if settings.eft_pairs == "policy_vs_policy" and sample is not None and check is None:
        raise ValueError("eft_pairs=policy_vs_policy needs a checker of rolled-out answers")
    every = sft.sort("id").to_dicts()
    rows = every[: settings.max_rows] if settings.max_rows else every
    kept, rejects = [], []
    for r in every[len(rows) :]:
        why = f"max_rows={settings.max_rows}: left for a run with a larger budget"
        rejects.append(_row(r, "ift", None, None, "none", reason="not_chosen", detail=why))
    unsplit = []
    ift = []
    for r in rows:
        text = solution_text(r["messages"])
        steps, how = split_marked(text), "marker"
        if steps is None:
            steps, how = split_paragraphs(text), "paragraph"
        if steps is None:
            steps, how = split_lines(text), "line"
        if steps is None:
            unsplit.append((r, text))
            continue
        ift.append((r, steps, how))
    if unsplit and settings.split_with_model and judge is not None:
        log(f"splitting {len(unsplit)} solutions with the judge role")
        params = SamplingParams(temperature=0.0, max_tokens=settings.step_max_tokens * 4, seed=settings.seed)
        prompts = [[{"role": "user", "content": template("split_steps.txt").format(solution=t)}] for _, t in unsplit]
        for (r, _), out in zip(unsplit, judge(prompts, params, 1)):
            steps = split_marked(out[0].text or "") if out[0].ok else None
            if steps:
                ift.append((r, steps, "model"))
            else:
                rejects.append(
                    _row(
                        r,
                        "ift",
                        None,
                        None,
                        "model",
                        reason="no_step_structure",
                        detail="the model's split has < 2 steps",
                    )
                )
        unsplit = []
    for r, _ in unsplit:
        rejects.append(
            _row(
                r,
                "ift",
                None,
                None,
                "none",
                reason="no_step_structure",
                detail="no 'Step n:' marks and < 2 paragraphs or lines",
            )
        )
    for r, steps, how in ift:
        messages = [*reasoning_prompt(r["problem"], r["domain"]), {"role": "assistant", "content": join_steps(steps)}]
        kept.append(_row(r, "ift", messages, steps, how))
    eft_kept, eft_rejects, asked, rollouts = _eft(ift[: settings.eft_problems], sample, judge, check, settings, log)
    report = StepDataReport(
        ift=len(ift),
        eft=len(eft_kept),
        eft_pairs=settings.eft_pairs,
        eft_judgments=asked,
        eft_rollouts=rollouts,
        split_by={h: sum(x[2] == h for x in ift) for h in ("marker", "paragraph", "line", "model")},
        eft_consistency=(len(eft_kept) + sum(r["reason"] == "disagrees_with_verifier" for r in eft_rejects)) / asked
        if asked
        else None,
    )
    return StageOutput(
        frame(kept + eft_kept, SCHEMA), frame(rejects + eft_rejects, REJECTS_SCHEMA), len(every) + asked, report
    )


def _row(r: dict, kind: str, messages, steps, how, verdict=None, reason=None, detail=None) -> dict:
    row = {
        "domain": r["domain"],
        "source": r["source"],
        "problem": r["problem"],
        "reference_answer": r.get("reference_answer"),
        "kind": kind,
        "messages": messages,
        "split_by": how,
        "steps": steps,
        "verdict": verdict,
        "parent_ids": [r["id"]],
    }
    row["id"] = row_id(STAGE, [r["id"]], [kind, messages, reason])
    return {**row, "reason": reason, "detail": detail} if reason else row


def _eft(ift, sample, judge, check, settings, log) -> tuple[list[dict], list[dict], int, dict]:
    """(kept, rejects, pairs judged, rollout verdict counts)."""
    if not ift or sample is None or judge is None or settings.eft_candidates < 1:
        return [], [], 0, {}
    prefixes = []
    for r, steps, _ in ift:
        at = random.Random(f"{settings.seed}:{r['id']}").randrange(len(steps))
        prefixes.append((r, steps[:at], steps[at]))
    log(f"EFT: {settings.eft_candidates} candidate steps for {len(prefixes)} prefixes")
    params = SamplingParams(
        temperature=settings.temperature, max_tokens=settings.step_max_tokens, seed=settings.seed, stop=("\nStep ",)
    )
    outs = sample(
        [next_step_prompt(r["problem"], prefix, r["domain"]) for r, prefix, _ in prefixes],
        params,
        settings.eft_candidates,
    )
    groups = []
    for (r, prefix, good), cands in zip(prefixes, outs):
        steps = [clean_step(c.text, len(prefix) + 1) if c.ok and c.text else "" for c in cands]
        groups.append((r, prefix, good, [step for step in dict.fromkeys(steps) if step]))
    if settings.eft_pairs == "policy_vs_policy":
        pairs, rollouts = _rolled_out_pairs(groups, sample, check, settings, log)
    else:
        pairs = [(r, prefix, good, step) for r, prefix, good, steps in groups for step in steps if step != good]
        rollouts = {}
    prompts = []
    for r, prefix, good, other in pairs:
        shots, domain = settings.judge_shots, r["domain"]
        prompts += [
            judge_prompt(r["problem"], prefix, good, other, domain, shots),
            judge_prompt(r["problem"], prefix, other, good, domain, shots),
        ]
    params = SamplingParams(temperature=0.0, max_tokens=settings.judge_max_tokens, seed=settings.seed)
    replies = judge_replies(judge, prompts, params, settings.verdict_cue)
    kept, rejects = [], []
    for n, (r, prefix, good, other) in enumerate(pairs):
        v1, v2 = parse_verdict(replies[2 * n].text), parse_verdict(replies[2 * n + 1].text)
        shown = random.Random(f"{settings.seed}:{r['id']}:{good}:{other}").randrange(2)  # 0: verified step as A
        reply = replies[2 * n + shown]
        question = prompts[2 * n + shown][-1]  # the pair itself, without the worked examples
        messages = [question, {"role": "assistant", "content": (reply.text or "").strip()}]
        row = _row(r, "eft", messages, [*prefix, good, other], "judgment", verdict=(v1, v2)[shown])
        row["id"] = row_id(STAGE, [r["id"]], ["eft", prefix, good, other])
        if not (v1 and v2 and (v1 == "A") == (v2 == "B")):
            rejects.append({**row, "reason": "inconsistent_judgment", "detail": f"order AB → {v1}, order BA → {v2}"})
        elif v1 != "A":
            rejects.append(
                {
                    **row,
                    "reason": "disagrees_with_verifier",
                    "detail": "the judge prefers the step the verifier's side calls worse",
                }
            )
        else:
            kept.append(row)
    return kept, rejects, len(pairs), rollouts


def _rolled_out_pairs(groups, sample: Generate, check: Check, settings, log) -> tuple[list[tuple], dict]:
    """(problem, prefix, better step, worse step) for every two candidates of a prefix whose rollouts were checked
    right and wrong, and the rollouts' verdict counts. Each candidate is continued once to the end of the answer."""
    jobs = [(g, r, [*prefix, step]) for g, (r, prefix, _, steps) in enumerate(groups) for step in steps]
    if not jobs:
        return [], {}
    log(f"EFT: rolling {len(jobs)} candidate steps out to a checked answer")
    params = SamplingParams(
        temperature=settings.temperature, max_tokens=settings.rollout_max_tokens, seed=settings.seed
    )
    outs = sample([next_step_prompt(r["problem"], steps, r["domain"]) for _, r, steps in jobs], params, 1)
    answers = [
        ({**r, "test_cases": r.get("test_cases")}, partial_answer(steps) + (out[0].text or ""))
        for (_, r, steps), out in zip(jobs, outs)
    ]
    checked = check([r for r, _ in answers], [text for _, text in answers])
    verdicts = [v.verdict if out[0].ok else "failed" for v, out in zip(checked, outs)]
    by_group: dict[int, dict[str, list[str]]] = {}
    for (g, _, steps), verdict in zip(jobs, verdicts):
        by_group.setdefault(g, {}).setdefault(verdict, []).append(steps[-1])
    pairs = []
    for g, found in by_group.items():
        r, prefix, _, _ = groups[g]
        pairs += [(r, prefix, good, bad) for good in found.get("correct", []) for bad in found.get("wrong", [])]
    return pairs, {v: verdicts.count(v) for v in sorted(set(verdicts))}
