"""s2r_trajectories: verifications by the teacher, then S²R's construction of self-verify / self-correct trajectories.

Per problem (its K policy samples): the teacher verifies each distinct answer (the gold answer first, at most
`max_verifications`), a verification kept only when its verdict matches the truth. Then, by the number of wrong
samples w out of K (scaled to S²R's K = 5: w5 = round(5·w/K)): 0 → 1 attempt; 1 → 2; 2–3 → 3 if two distinct
verified wrong answers exist, else 2; 4–5 → 4 if three exist, else 3 or 2. Wrong attempts come first, each a
distinct answer with its "incorrect" verification; the last attempt is correct with its "correct" verification.
Trajectories of the full length for their class are kept with `keep_probability` (seeded per problem); shorter
fallbacks always. A correct sample cut at max_tokens is never the last attempt (that attempt is trained on). A text
that contains an action marker itself ("Wait, let me recheck my solution." / "Let me try again.") is never an action.
Without a correct sample, `fallback` takes the problem's best verified response as the last attempt (its action's
`origin` says so) with the verification of the gold answer.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import Field

from thinkforge.generation import Completion, SamplingParams
from thinkforge.ids import row_id
from thinkforge.rows import TEMPLATES, Generate, row_schema
from thinkforge.s2r.actions import (
    action_masks,
    closing_sentence,
    has_marker,
    parse_verdict,
    render,
    verification_verdict,
)
from thinkforge.s2r.samples import extract_answer
from thinkforge.stage import StageOutput, StageReport, StageSettings, frame

STAGE = "s2r_trajectories"
PROMPTS = TEMPLATES / "s2r"
ACTION = pl.Struct(
    {
        "kind": pl.String,
        "text": pl.String,
        "correct": pl.Boolean,
        "verdict": pl.String,
        "mask": pl.Int64,
        "origin": pl.String,
    }
)
SCHEMA = row_schema(
    "reference_answer",
    "test_cases",
    actions=pl.List(ACTION),
    response=pl.String,
    attempts=pl.Int64,
    difficulty=pl.Int64,
    used_fallback=pl.Boolean,
    verifications=pl.String,
)
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}
RECORD = ("answer", "gold", "correct", "verdict", "kept", "finish_reason", "refined")
RECORD_CHARS = 1500  # of each verification's text in the `verifications` record


class TrajectorySettings(StageSettings):
    """Verification writing and S²R trajectory construction."""

    verification_style: Literal["confirmative", "problem_solving"] = Field(
        "confirmative",
        description="confirmative: check the answer without re-solving (S²R's choice); problem_solving: re-solve and compare",
    )
    max_verifications: int = Field(5, description="distinct answers verified per problem, gold first")
    verify_temperature: float = Field(0.1, description="teacher temperature for verifications (S²R: 0.1)")
    verify_max_tokens: int = Field(512, description="maximum tokens of one verification")
    verdict_rule: Literal["exact_ending", "s2r_code"] = Field(
        "exact_ending",
        description="how a verification's verdict is read: exact_ending = it must end with exactly 'Therefore, the "
        "answer is correct.' / '... incorrect.' (actions.parse_verdict); s2r_code = S²R's lenient parser (last "
        "'Therefore, the answer is X.', else 'is incorrect' / 'is correct' phrases), the closing sentence appended",
    )
    refine_verifications: bool = Field(
        True,
        description="a second teacher pass rewrites each kept verification as a self-check (S²R: a rewrite pass "
        "on every kept one)",
    )
    keep_probability: dict[str, float] = Field(
        default_factory=lambda: {"1": 0.24, "2": 0.5, "3": 0.5, "4": 0.5},
        description="attempts of a full-length trajectory → probability it is kept (S²R select_train_data); shorter fallbacks always kept",
    )
    fallback: bool = Field(
        False,
        description="with no correct policy sample, use the problem's best verified response as the last attempt "
        "(not in S²R, which has no trajectory for such a problem)",
    )
    seed: int = Field(0, description="seed of the keep draws and of the teacher")


@dataclass
class TrajectoryReport(StageReport):
    verifications: int  # teacher verifications of distinct answers
    verification_accuracy: float | None  # share of verifications whose verdict matches the truth (None: none)
    verification_accuracy_when_right: float | None  # … of a correct answer
    verification_accuracy_when_wrong: float | None  # … of a wrong answer
    no_verdict: int  # verifications without a readable verdict
    attempts: dict[int, int]  # kept trajectories by number of attempts
    used_fallback: int  # kept trajectories whose last attempt is a verified response
    fallback_share: float | None
    self_corrections: int  # kept trajectories that really correct themselves (`real_self_correction`)


def verification_prompt(domain: str, problem: str, answer: str, style: str) -> list[dict]:
    name = f"{style}_code.txt" if domain == "code" else f"{style}.txt"
    return [{"role": "user", "content": (PROMPTS / name).read_text().format(question=problem, answer=answer)}]


def as_self_check(text: str, verdict: str) -> str:
    """The verification ending with exactly S²R's closing sentence (appended when the lenient rule kept it without)."""
    body = text.strip()
    ending = closing_sentence(verdict)
    return body if body.endswith(ending) else f"{body}\n\n{ending}"


def read_verdict(reply: Completion, rule: str) -> str | None:
    """The verdict of a teacher verification under `verdict_rule` (exact_ending: a reply cut at max_tokens has none;
    s2r_code: S²R's parser as its code applies it, whatever the finish reason)."""
    if not reply.ok:
        return None
    if rule == "exact_ending":
        return None if reply.finish_reason == "length" else parse_verdict(reply.text)
    return verification_verdict(reply.text or "")


def target_attempts(wrong: int, k: int, verified_wrong: int) -> tuple[int, bool]:
    """(attempts, full length for its class) from the wrong count out of K and the distinct verified wrong answers."""
    w5 = round(5 * wrong / k) if k else 0
    full = {0: 1, 1: 2, 2: 3, 3: 3, 4: 4, 5: 4}[w5]
    attempts = min(full, 1 + verified_wrong)
    if w5 == 1 and attempts < 2:
        return 1, False
    return attempts, attempts == full


def build_trajectory(
    problem: dict,
    samples: list[dict],
    verifications: dict[str, dict],
    fallback: dict | None,
    settings: TrajectorySettings,
) -> tuple[dict | None, str, str]:
    """(trajectory row or None, reject reason, detail). `verifications`: answer → {verdict, kept, text, correct}.

    Four phases: final (the correct last attempt: a complete correct sample with a kept verification, else the
    verified-response fallback), wrong (the distinct wrong answers with a kept verification), length (the attempts
    the wrong count asks for, and the keep draw of a full-length one), assemble (actions, masks, the row)."""
    found = _Found(verifications)
    final, reason, detail = _final(samples, found, fallback, settings)
    if final is None:
        return None, reason, detail
    wrong_attempts = _wrong(samples, found)
    wrong = sum(s["correct"] is False for s in samples)
    k = sum(s["correct"] is not None for s in samples)  # unscorable samples are out of the group
    attempts, full = target_attempts(wrong, k, len(wrong_attempts))
    if full:
        p = settings.keep_probability.get(str(attempts), 1.0)
        draw = random.Random(f"{settings.seed}:{problem['id']}").random()
        if draw >= p:
            return None, "not_sampled", f"{attempts}-attempt trajectory kept with probability {p} (draw {draw:.3f})"
    return _assemble(problem, samples, wrong_attempts[: attempts - 1], final, attempts, wrong), "", ""


@dataclass
class _Final:
    """The correct last attempt: its text, the verification that confirms it, its source rows and their origin."""

    text: str
    verification: dict
    ids: list[str]
    origin: str


class _Found:
    """The teacher's verifications by answer; a sample answer equal to the gold one shares the gold verification."""

    def __init__(self, verifications: dict[str, dict]):
        self.verifications, self.gold = verifications, verifications.get("__gold__")

    def of(self, answer: str | None) -> dict | None:
        gold = self.gold
        return self.verifications.get(answer or "") or (gold if gold and answer and gold["answer"] == answer else None)


def _usable(v: dict | None) -> bool:
    """A kept verification that can be one action."""
    return bool(v and v["kept"] and not has_marker(v["text"]))


def _final(
    samples: list[dict], found: _Found, fallback: dict | None, settings: TrajectorySettings
) -> tuple[_Final | None, str, str]:
    # the last attempt trains (mask 1): a correct sample cut at max_tokens does not end, so it is not used
    complete = [s for s in samples if s["correct"] and _ends(s)]
    for s in complete:
        v = found.of(s["answer"])
        if _usable(v):
            return _Final(s["response"], v, [s["id"]], "policy_sample"), "", ""
    if complete:
        return None, "no_surviving_verification", "no verification of a correct answer matched the truth"
    gold = found.gold
    if settings.fallback and fallback and _usable(gold) and not has_marker(fallback["text"]):
        return _Final(fallback["text"], gold, [fallback["id"]], "verified_response"), "", ""
    right = sum(bool(s["correct"]) for s in samples)
    why = ["no correct sample" if not right else f"{right} correct, all cut at max_tokens or holding a marker"]
    if not settings.fallback:
        why.append("fallback off")
    elif not fallback:
        why.append("no verified response to fall back on")
    elif has_marker(fallback["text"]):
        why.append("the verified response holds an action marker")
    if gold is None:
        why.append("no gold answer to verify")
    elif not gold["kept"]:
        why.append(f"the gold answer's verification said {gold['verdict'] or 'nothing parsable'}")
    elif not _usable(gold):
        why.append("the gold answer's verification holds an action marker")
    return None, "no_correct_sample", "; ".join(why)


def _ends(sample: dict) -> bool:
    """A sample usable as an attempt: it ends (not cut at max_tokens, so its answer is its final one) and holds no
    action marker."""
    return sample.get("finish_reason") != "length" and not has_marker(sample["response"])


def _wrong(samples: list[dict], found: _Found) -> list[tuple[dict, dict]]:
    """(sample, verification) of each distinct wrong answer, from a sample that ends, the teacher's kept
    verification calls incorrect."""
    seen, attempts = set(), []
    for s in samples:
        if s["correct"] is not False:
            continue
        v = found.of(s["answer"])
        if s["answer"] and s["answer"] not in seen and _usable(v) and _ends(s):
            seen.add(s["answer"])
            attempts.append((s, v))
    return attempts


def _assemble(
    problem: dict,
    samples: list[dict],
    wrong_attempts: list[tuple[dict, dict]],
    final: _Final,
    attempts: int,
    wrong: int,
) -> dict:
    actions = []
    for s, v in wrong_attempts:
        actions.append(
            {
                "kind": "solve",
                "text": s["response"].strip(),
                "correct": False,
                "verdict": None,
                "origin": "policy_sample",
            }
        )
        actions.append(
            {
                "kind": "verify",
                "text": as_self_check(v["text"], "incorrect"),
                "correct": None,
                "verdict": "incorrect",
                "origin": "teacher",
            }
        )
    actions.append(
        {"kind": "solve", "text": final.text.strip(), "correct": True, "verdict": None, "origin": final.origin}
    )
    actions.append(
        {
            "kind": "verify",
            "text": as_self_check(final.verification["text"], "correct"),
            "correct": None,
            "verdict": "correct",
            "origin": "teacher",
        }
    )
    for a, m in zip(actions, action_masks(actions)):
        a["mask"] = m
    # the problem, the attempts' sources in action order, then the problem's other samples (the wrong count and
    # lineage read all K of them)
    used = [*(s["id"] for s, _ in wrong_attempts), *final.ids]
    parents = [problem["id"], *used, *(s["id"] for s in samples if s["id"] not in used)]
    row = {k: problem.get(k) for k in ("domain", "source", "problem", "reference_answer", "test_cases")}
    row.update(
        parent_ids=parents,
        actions=actions,
        response=render(actions),
        attempts=attempts,
        difficulty=wrong,
        used_fallback=final.origin != "policy_sample",
    )
    row["id"] = row_id(STAGE, parents, row["response"])
    return row


def build_trajectories(
    samples: pl.DataFrame,
    fallbacks: dict[str, dict],
    generate: Generate,
    model: str,
    settings: TrajectorySettings,
    log=print,
) -> StageOutput:
    """`fallbacks`: problem text → {id, text} of its best verified response."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in samples.sort(["sample_index"]).to_dicts():
        groups[s["parent_ids"][0]].append(s)
    problems = [
        {"id": pid, **{k: rows[0][k] for k in ("domain", "source", "problem", "reference_answer", "test_cases")}}
        for pid, rows in sorted(groups.items())
    ]
    # what to verify: the gold answer first, then each distinct sample answer (at most max_verifications in all)
    asks = []
    for p in problems:
        fb = fallbacks.get(p["problem"])
        gold = p["reference_answer"] if p["domain"] != "code" else extract_answer("code", fb["text"]) if fb else None
        todo = [("__gold__", gold, True)] if gold else []
        for s in groups[p["id"]]:  # an unscorable sample has no truth for a verification to match
            if (
                s["answer"]
                and s["correct"] is not None
                and _ends(s)
                and s["answer"] not in {a for a, _, _ in todo}
                and s["answer"] != gold
                and len(todo) < settings.max_verifications
            ):
                todo.append((s["answer"], s["answer"], bool(s["correct"])))
        asks.extend((p, key, answer, truth) for key, answer, truth in todo)
    log(f"{len(asks)} verifications for {len(problems)} problems ({settings.verification_style})")
    params = SamplingParams(
        temperature=settings.verify_temperature, max_tokens=settings.verify_max_tokens, seed=settings.seed
    )
    replies = (
        [
            c[0]
            for c in generate(
                [
                    verification_prompt(p["domain"], p["problem"], a, settings.verification_style)
                    for p, _, a, _ in asks
                ],
                params,
                1,
            )
        ]
        if asks
        else []
    )
    verified: dict[str, dict[str, dict]] = defaultdict(dict)
    for (p, key, answer, truth), reply in zip(asks, replies):
        verdict = read_verdict(reply, settings.verdict_rule)
        verified[p["id"]][key] = {
            "answer": answer,
            "correct": truth,
            "verdict": verdict,
            "kept": verdict == ("correct" if truth else "incorrect"),
            "text": reply.text or "",
            "gold": key == "__gold__",
            "finish_reason": reply.finish_reason if reply.ok else f"error: {reply.error}",
            "refined": False,
        }
    if settings.refine_verifications:
        _refine(verified, problems, generate, params, settings.verdict_rule)
    kept, rejects = [], []
    for p in problems:
        row, reason, detail = build_trajectory(
            p, groups[p["id"]], verified[p["id"]], fallbacks.get(p["problem"]), settings
        )
        record = json.dumps(
            [
                {"teacher": model, **{k: v[k] for k in RECORD}, "text": v["text"][:RECORD_CHARS]}
                for v in verified[p["id"]].values()
            ]
        )
        if row is None:
            rejects.append(
                {
                    **{k: p[k] for k in ("domain", "source", "problem", "reference_answer", "test_cases")},
                    "id": row_id(f"{STAGE}_rejects", [p["id"]], reason),
                    "parent_ids": [p["id"], *(s["id"] for s in groups[p["id"]])],
                    "verifications": record,
                    "difficulty": sum(s["correct"] is False for s in groups[p["id"]]),
                    "reason": reason,
                    "detail": detail,
                }
            )
        else:
            kept.append({**row, "verifications": record})
    report = _report(verified, kept)
    return StageOutput(frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), len(problems), report)


def _refine(verified, problems, generate, params, rule: str) -> None:
    """Rewrite each kept verification as a self-check; the rewrite replaces it only when it reaches the same verdict."""
    todo = [(p, v) for p in problems for v in verified[p["id"]].values() if v["kept"]]
    if not todo:
        return
    template = (PROMPTS / "refine_verification.txt").read_text()
    prompts = [
        [
            {
                "role": "user",
                "content": template.format(
                    question=p["problem"], answer=v["answer"], verification=v["text"], verdict=v["verdict"]
                ),
            }
        ]
        for p, v in todo
    ]
    for (_, v), reply in zip(todo, generate(prompts, params, 1)):
        if read_verdict(reply[0], rule) == v["verdict"]:
            v["text"], v["refined"] = reply[0].text, True


def real_self_correction(actions: list[dict]) -> bool:
    """Whether a trajectory corrects itself for real: at least two attempts, every earlier attempt a policy sample the
    checker found wrong, every verification's verdict the truth of the attempt before it, and the last attempt the
    policy's own (not the fallback's verified response)."""
    solves = [a for a in actions if a["kind"] == "solve"]
    checks = [
        (a["verdict"], prev["correct"])
        for prev, a in zip(actions, actions[1:])
        if a["kind"] == "verify" and prev["kind"] == "solve"
    ]
    return (
        len(solves) >= 2
        and all(a["correct"] is False and a["origin"] == "policy_sample" for a in solves[:-1])
        and solves[-1]["correct"] is True
        and solves[-1]["origin"] == "policy_sample"
        and all((verdict == "correct") == bool(truth) for verdict, truth in checks)
    )


def _report(verified: dict, kept: list[dict]) -> TrajectoryReport:
    allv = [v for per in verified.values() for v in per.values()]
    acc = lambda vs: round(sum(v["kept"] for v in vs) / len(vs), 3) if vs else None  # noqa: E731
    return TrajectoryReport(
        verifications=len(allv),
        verification_accuracy=acc(allv),
        verification_accuracy_when_right=acc([v for v in allv if v["correct"]]),
        verification_accuracy_when_wrong=acc([v for v in allv if not v["correct"]]),
        no_verdict=sum(v["verdict"] is None for v in allv),
        attempts=dict(pl.Series([r["attempts"] for r in kept], dtype=pl.Int64).value_counts().iter_rows())
        if kept
        else {},
        used_fallback=sum(r["used_fallback"] for r in kept),
        fallback_share=round(sum(r["used_fallback"] for r in kept) / len(kept), 3) if kept else None,
        self_corrections=sum(real_self_correction(r["actions"]) for r in kept),
    )
