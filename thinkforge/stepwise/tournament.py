"""step_preferences: M_i samples w candidate next steps, judges every ordered pair, appends the best (PSRLM Fig. 1).

A candidate is sampled as the continuation of M_i's own answer: the reasoning prompt M1 learned, then the assistant
turn so far ("Step 1: …\nStep l: …\n", `steps.next_step_prompt`), generation stopping before the next "Step ". A pair
records that prompt (the user turn in `prompt`, the steps in `prefix`), and step-DPO trains on the same ids.

All problems advance one step together, so each step is one sampling batch (one per roll-back count) and one judging
batch. Ties everywhere roll back one step (its pair is dropped and recorded as rolled back) and the step is sampled
again with a new seed — the same seed would give the same candidates back (the request cache and seeded sampling
make a draw reproducible). A problem stops at a final answer, at `max_steps`, after `max_rollbacks`, or when the
step chosen was cut at `step_max_tokens`: its pair is kept, but the answer would go on mid-sentence, where M_i
finishes the cut sentence or opens its next step with a blank line ("\nStep 2: …", which the stop string ends before
it begins: an empty candidate). Identical candidate texts are judged once (a pair of equal steps teaches nothing).
A `held_out_share` of the problems, among those no earlier checkpoint trained on, is held out of step-DPO's training
(`held_out`): their pairs are made as any other, and each step of such a pair is rolled out to the end of the answer
by M_i and checked (`heldout.roll_out`: `chosen_rollout`, `rejected_rollout`), for step_dpo_model_i's preference
accuracy on verified pairs.
Iteration i takes the next `problems[i]` problems after those of earlier iterations (fresh questions per round, as
PSRLM; it wraps around when the pool runs out); the rest of the partition is recorded as `not_chosen`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import permutations

import polars as pl
from pydantic import Field

from thinkforge.generation import SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import Generate, row_schema
from thinkforge.stage import StageOutput, StageReport, StageSettings, frame
from thinkforge.stepwise.heldout import Check, held_out_problems, is_verified, roll_out
from thinkforge.stepwise.steps import (
    clean_step,
    is_final,
    judge_prompt,
    judge_replies,
    next_step_prompt,
    parse_verdict,
)

SCHEMA = row_schema(
    "reference_answer",
    iteration=pl.Int64,
    step_index=pl.Int64,
    prefix=pl.List(pl.String),
    prompt=pl.String,
    chosen=pl.String,
    rejected=pl.String,
    chosen_wins=pl.Int64,
    rejected_wins=pl.Int64,
    candidates=pl.List(pl.String),
    wins=pl.List(pl.Int64),
    consistency=pl.Float64,
    judgments=pl.String,
    model=pl.String,
    held_out=pl.Boolean,
    chosen_rollout=pl.String,
    rejected_rollout=pl.String,
)
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}


class PreferenceSettings(StageSettings):
    """The step-wise tournament of one iteration."""

    problems: list[int] = Field(
        default_factory=lambda: [400, 800, 1200],
        description="problems per iteration (iteration i uses entry i, the last one beyond); PSRLM: 400, 800, 1200",
    )
    candidates: int = Field(6, description="w candidate next steps per prefix (PSRLM: 6)")
    temperature: float = Field(0.5, description="candidate sampling temperature (PSRLM: 0.5)")
    top_p: float = Field(0.95, description="candidate nucleus mass (PSRLM: 0.95)")
    step_max_tokens: int = Field(
        256, description="maximum tokens of one candidate step; a chosen step cut there ends the solution (step_cut)"
    )
    judge_max_tokens: int = Field(256, description="maximum tokens of one pair judgment")
    max_steps: int = Field(20, description="steps per solution before stopping (PSRLM: 20)")
    max_rollbacks: int = Field(3, description="roll-backs per problem before giving up on it")
    judge_shots: int = Field(
        0,
        description="worked step judgments shown before each pair (0-3, templates/stepwise/judge_examples.yaml); "
        "M_i learned the task from EFT data, PSRLM's M0 judged 3-shot",
    )
    judge_temperature: float = Field(0.0, description="temperature of the step judge (0: greedy)")
    verdict_cue: bool = Field(
        True,
        description="continue a judge reply that ends without [[A]]/[[B]] after its own reasoning with "
        "'Final verdict: [[' for two tokens (one more short call per such reply); off: such a reply has no verdict, "
        "as in PSRLM",
    )
    seed: int = Field(0, description="sampling seed")
    held_out_share: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="share of the iteration's problems (rounded down: one problem is never held out; only problems "
        "that neither m1_model's step_sft_data nor an earlier iteration holds) whose step pairs step-DPO does not "
        "train on; their steps are rolled out and checked, and step_dpo_model_i reports its preference accuracy on "
        "the pairs whose chosen step's rollout is right and rejected step's wrong",
    )
    rollout_max_tokens: int = Field(
        1024, description="maximum tokens of a held-out step's greedy rollout to the end of the answer"
    )


@dataclass
class PreferenceReport(StageReport):
    problems: int  # problems of the iteration
    pairs: int  # step pairs kept
    rollbacks: int  # steps rolled back (no clear best and worst candidate)
    stops: dict[str, int]  # why each problem's tournament ended → problems
    steps_per_solution: float | None
    judge_consistency: float | None  # mean over kept pairs of `tally`'s consistency
    chars_per_step: float | None  # of the chosen steps
    tokens_per_step: float | None  # of every sampled candidate
    held_out_problems: int
    held_out_pairs: int
    verified_held_out_pairs: int  # held-out pairs whose chosen step's rollout is right and rejected step's wrong


@dataclass
class State:
    problem: dict
    prefix: list[str] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    rolled_back: list[dict] = field(default_factory=list)
    rollbacks: int = 0
    done: str = ""
    tokens: list[int] = field(default_factory=list)  # completion tokens of every sampled candidate


def tally(w: int, verdicts: dict[tuple[int, int], str | None]) -> tuple[list[int], float | None]:
    """Wins per candidate from ordered-pair verdicts ((i, j) → "A" means i beat j) and the judge's consistency:
    the share of unordered pairs whose two orders name the same winner."""
    wins = [0] * w
    for (i, j), v in verdicts.items():
        if v == "A":
            wins[i] += 1
        elif v == "B":
            wins[j] += 1
    agree = total = 0
    for i in range(w):
        for j in range(i + 1, w):
            a, b = verdicts.get((i, j)), verdicts.get((j, i))
            if a and b:
                total += 1
                agree += (a == "A") == (b == "B")
    return wins, (agree / total if total else None)


def step_once(
    states: list[State], sample: Generate, judge: Generate, settings: PreferenceSettings, iteration: int, model: str
) -> None:
    """One step for every unfinished problem: sample, judge all ordered pairs, append the best or roll back."""
    active = [s for s in states if not s.done]
    if not active:
        return
    candidates: dict[int, list[str]] = {}
    cut: dict[int, set[str]] = {}  # the candidates cut at step_max_tokens
    for attempt in sorted({s.rollbacks for s in active}):
        group = [s for s in active if s.rollbacks == attempt]
        params = SamplingParams(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.step_max_tokens,
            seed=settings.seed + 1000 * iteration + 100_000 * attempt,  # a roll-back draws new candidates
            stop=("\nStep ",),
        )
        prompts = [next_step_prompt(s.problem["problem"], s.prefix, s.problem["domain"]) for s in group]
        for s, outs in zip(group, sample(prompts, params, settings.candidates)):
            s.tokens += [c.completion_tokens for c in outs if c.ok]
            outs = [c for c in outs if c.ok and c.text and c.text.strip()]
            steps = [clean_step(c.text, len(s.prefix) + 1) for c in outs]
            candidates[id(s)] = list(dict.fromkeys(x for x in steps if x))  # distinct texts, in sampling order
            whole = {x for x, c in zip(steps, outs) if c.finish_reason != "length"}
            cut[id(s)] = {x for x, c in zip(steps, outs) if c.finish_reason == "length"} - whole
    rounds = [(s, candidates[id(s)], list(permutations(range(len(candidates[id(s)])), 2))) for s in active]
    prompts = [
        judge_prompt(s.problem["problem"], s.prefix, steps[i], steps[j], s.problem["domain"], settings.judge_shots)
        for s, steps, pairs in rounds
        for i, j in pairs
    ]
    params = SamplingParams(
        temperature=settings.judge_temperature, max_tokens=settings.judge_max_tokens, seed=settings.seed
    )
    replies = iter(judge_replies(judge, prompts, params, settings.verdict_cue))
    for s, steps, pairs in rounds:
        answers = {pair: next(replies) for pair in pairs}
        verdicts = {pair: parse_verdict(c.text) if c.ok else None for pair, c in answers.items()}
        wins, consistency = tally(len(steps), verdicts)
        if len(steps) < 2 or len(set(wins)) == 1:
            _roll_back(s, settings, f"{len(steps)} distinct candidates, wins {wins}")
            continue
        best, worst = wins.index(max(wins)), wins.index(min(wins))
        prompt = next_step_prompt(s.problem["problem"], s.prefix, s.problem["domain"])[0]["content"]
        pair = {
            "domain": s.problem["domain"],
            "source": s.problem["source"],
            "problem": s.problem["problem"],
            "reference_answer": s.problem.get("reference_answer"),
            "iteration": iteration,
            "step_index": len(s.prefix) + 1,
            "prefix": list(s.prefix),
            "prompt": prompt,
            "chosen": steps[best],
            "rejected": steps[worst],
            "chosen_wins": wins[best],
            "rejected_wins": wins[worst],
            "candidates": steps,
            "wins": wins,
            "consistency": consistency,
            "model": model,
            "judgments": json.dumps(
                [{"a": i, "b": j, "verdict": v, "reply": answers[(i, j)].text} for (i, j), v in verdicts.items()]
            ),
            "parent_ids": [s.problem["id"]],
        }
        pair["id"] = row_id("step_preferences", [s.problem["id"]], [iteration, s.prefix, steps[best], steps[worst]])
        s.pairs.append(pair)
        s.prefix.append(steps[best])
        if is_final(steps[best], s.problem["domain"]):
            s.done = "final_answer"
        elif steps[best] in cut[id(s)]:
            s.done = "step_cut"
        elif len(s.prefix) >= settings.max_steps:
            s.done = "max_steps"


def _roll_back(s: State, settings: PreferenceSettings, why: str) -> None:
    s.rollbacks += 1
    if s.prefix:
        s.prefix.pop()
        if s.pairs:
            s.rolled_back.append({**s.pairs.pop(), "reason": "rolled_back", "detail": f"the next step tied ({why})"})
    if s.rollbacks > settings.max_rollbacks:
        s.done = "too_many_rollbacks"


def iteration_problems(
    rows: list[dict], settings: PreferenceSettings, iteration: int
) -> tuple[list[dict], list[dict]]:
    """(this iteration's problems, the others): the next `problems[i]` after the earlier iterations' (sorted by id;
    wrapping around when the pool runs out)."""
    rows = sorted(rows, key=lambda r: r["id"])
    if not rows:
        return [], []
    budget = lambda k: settings.problems[min(k, len(settings.problems)) - 1]  # noqa: E731
    start = sum(budget(k) for k in range(1, iteration)) % len(rows)
    take = {(start + k) % len(rows) for k in range(min(budget(iteration), len(rows)))}
    chosen = [r for k, r in enumerate(rows) if k in take]
    return chosen, [r for k, r in enumerate(rows) if k not in take]


def _reject(problem: dict, iteration: int, model: str, reason: str, detail: str) -> dict:
    return {
        "id": row_id("step_preferences_rejects", [problem["id"]], [iteration, reason]),
        "parent_ids": [problem["id"]],
        "domain": problem["domain"],
        "source": problem["source"],
        "problem": problem["problem"],
        "reference_answer": problem.get("reference_answer"),
        "iteration": iteration,
        "model": model,
        "reason": reason,
        "detail": detail,
    }


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def run_tournament(
    problems: list[dict],
    sample: Generate,
    judge: Generate,
    settings: PreferenceSettings,
    iteration: int,
    model: str,
    log=print,
    left_out: list[dict] = (),
    check: Check | None = None,
    trained_on: set[str] = frozenset(),
) -> StageOutput:
    """Step pairs of `problems`; `left_out` (problems of the partition this iteration does not use) go to the
    rejects as `not_chosen`. Rows in = pairs made (kept or rolled back) + problems without a pair + left out.
    `check` grades the rollouts of the held-out pairs (without it they are not rolled out); problems in `trained_on`
    (ids an earlier checkpoint of the chain trained on) are never held out."""
    states = [State(p) for p in problems]
    # each round advances or rolls back every active problem: at most max_steps + 2 per roll-back rounds in all
    for step in range(settings.max_steps + 2 * (settings.max_rollbacks + 1)):
        if all(s.done for s in states):
            break
        log(f"iteration {iteration}, step {step + 1}: {sum(not s.done for s in states)} problems")
        step_once(states, sample, judge, settings, iteration, model)
    ids = [s.problem["id"] for s in states]
    held = held_out_problems(ids, settings.held_out_share, settings.seed + iteration, trained_on)
    jobs = []
    for s in states:
        for p in s.pairs:
            p["held_out"] = s.problem["id"] in held
            jobs += [(s.problem, p)] if p["held_out"] else []
    if jobs and check is not None:
        log(f"iteration {iteration}: rolling out both steps of {len(jobs)} held-out pairs")
        for (_, p), verdicts in zip(jobs, roll_out(jobs, sample, check, settings.rollout_max_tokens)):
            p["chosen_rollout"], p["rejected_rollout"] = verdicts
    kept = [p for s in states for p in s.pairs]
    rejects = [p for s in states for p in s.rolled_back]
    for s in states:
        if not s.pairs:
            why = f"no step pair survived ({s.done or 'unfinished'}, {s.rollbacks} roll-backs)"
            rejects.append(_reject(s.problem, iteration, model, "no_pair", why))
    for p in left_out:
        why = f"not among iteration {iteration}'s {len(problems)} problems (run config `problems`)"
        rejects.append(_reject(p, iteration, model, "not_chosen", why))
    consistency = [p["consistency"] for p in kept if p["consistency"] is not None]
    report = PreferenceReport(
        problems=len(problems),
        pairs=len(kept),
        rollbacks=sum(s.rollbacks for s in states),
        stops={k: sum(s.done == k for s in states) for k in {s.done or "unfinished" for s in states}},
        steps_per_solution=sum(len(s.prefix) for s in states) / len(states) if states else None,
        judge_consistency=_mean(consistency),
        chars_per_step=sum(len(p["chosen"]) for p in kept) / len(kept) if kept else None,
        tokens_per_step=_mean([t for s in states for t in s.tokens]),
        held_out_problems=len(held),
        held_out_pairs=len(jobs),
        verified_held_out_pairs=sum(is_verified(p) for _, p in jobs),
    )
    return StageOutput(frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), len(kept) + len(rejects), report)
