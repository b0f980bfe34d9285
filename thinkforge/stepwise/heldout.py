"""Held-out verified step pairs and step-DPO's preference accuracy on them.

step_preferences_i holds out a share of its problems (`held_out_problems`) that no checkpoint of the chain trained
on (not in m1_model's step_sft_data, not in an earlier iteration): their step pairs are made as any other but
step_dpo_model_i does not train on them. Each held-out pair is verified by rollouts (`roll_out`): M_i continues
the answer once, greedily, from the previous steps plus the chosen step, and once from the previous steps plus the
rejected step, and each finished answer is checked (math-verify, the sandbox). A pair is verified when the chosen
step's rollout is checked correct and the rejected step's wrong (`is_verified`).

A model's preference on a pair is its DPO implicit reward margin (`step_margins`): β·[(log π(chosen) − log
π_ref(chosen)) − (log π(rejected) − log π_ref(rejected))], log-probabilities of the step's tokens after the pair's
prompt, the same ids step-DPO trains on (`dpo.tokenize_pairs`). Preference accuracy is the share of pairs with a
margin above 0, with its 95 % Wilson interval (`preference_accuracy`); `held_out_preference` compares models on the
same pairs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import polars as pl

from thinkforge.evaluation.metrics import paired_difference, wilson
from thinkforge.generation import SamplingParams
from thinkforge.rows import Generate
from thinkforge.stepwise.dpo import tokenize_pairs
from thinkforge.stepwise.steps import next_step_prompt, partial_answer
from thinkforge.verify.checker import TRUTH, Verdict

Check = Callable[[list[dict], list[str]], list[Verdict]]  # AnswerChecker.check: problems, answers → verdicts


def held_out_problems(problem_ids: list[str], share: float, seed: int, trained_on: set[str] = frozenset()) -> set[str]:
    """floor(share · n) of the n problems (so one problem is never held out), the first by a seeded hash of their ids
    (the pick does not depend on the problems' order) among those not in `trained_on` (problems a checkpoint of the
    chain trained on: never held out; fewer are held out when too few remain)."""
    ids = set(problem_ids)
    ranked = sorted(ids - set(trained_on), key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    return set(ranked[: int(share * len(ids))])


def roll_out(pairs: list[tuple[dict, dict]], sample: Generate, check: Check, max_tokens: int) -> list[tuple[str, str]]:
    """(chosen's verdict, rejected's verdict) of each (problem, pair): one greedy rollout from the previous steps plus
    the step to the end of the answer, checked; a failed generation is "failed"."""
    jobs = [(problem, [*pair["prefix"], pair[side]]) for problem, pair in pairs for side in ("chosen", "rejected")]
    if not jobs:
        return []
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    outs = sample([next_step_prompt(p["problem"], steps, p["domain"]) for p, steps in jobs], params, 1)
    rows = [{**p, "test_cases": p.get("test_cases")} for p, _ in jobs]
    answers = [partial_answer(steps) + (out[0].text or "") for (_, steps), out in zip(jobs, outs)]
    verdicts = [v.verdict if out[0].ok else "failed" for v, out in zip(check(rows, answers), outs)]
    return list(zip(verdicts[::2], verdicts[1::2]))


def is_verified(pair: dict) -> bool:
    """A held-out pair whose chosen step's rollout is checked correct and whose rejected step's is checked not
    correct (wrong, or no final answer)."""
    return (
        bool(pair.get("held_out"))
        and TRUTH.get(pair.get("chosen_rollout")) is True
        and TRUTH.get(pair.get("rejected_rollout")) is False
    )


def _step_logps(model_path: str, rows: list[dict]) -> list[tuple[float, float]]:
    """Summed log-probabilities of the chosen and the rejected step's tokens after the prompt, per row."""
    import torch
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).to(device).eval()
    out = []
    with torch.no_grad():
        for r in rows:
            pair = []
            for step in (r["chosen_ids"], r["rejected_ids"]):
                logits = model(torch.tensor([r["prompt_ids"] + step], device=device)).logits
                logps = logits[0, len(r["prompt_ids"]) - 1 : -1].float().log_softmax(-1)
                pair.append(logps.gather(-1, torch.tensor(step, device=device)[:, None]).sum().item())
            out.append((pair[0], pair[1]))
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def step_margins(
    model_path: str, reference_path: str, pairs: pl.DataFrame, beta: float, max_length: int
) -> dict[str, float]:
    """Pair id → the model's implicit reward margin against the reference, for every pair that fits in
    `max_length` (as step-DPO shortens it: `tokenize_pairs` with the model's tokenizer)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ids, rows = [], []
    for k in range(pairs.height):
        fitted, _ = tokenize_pairs(pairs[k : k + 1], tokenizer, max_length)
        if fitted:
            ids.append(pairs["id"][k])
            rows.append(fitted[0])
    if not rows:
        return {}
    mine, ref = _step_logps(model_path, rows), _step_logps(reference_path, rows)
    return {i: beta * ((c - rc) - (r - rr)) for i, (c, r), (rc, rr) in zip(ids, mine, ref)}


def preference_accuracy(margins: dict[str, float]) -> dict:
    """The share of pairs whose margin is above 0 with its 95 % Wilson interval, the pair count and the mean
    margin (None without pairs)."""
    n, hits = len(margins), sum(m > 0 for m in margins.values())
    return {
        "pairs": n,
        "preferred": hits,
        "accuracy": hits / n if n else None,
        "interval": list(ci) if (ci := wilson(hits, n)) else None,
        "mean_margin": sum(margins.values()) / n if n else None,
    }


def split_held_out(pairs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the pairs step-DPO trains on, the held-out verified pairs); pairs made before held-out pairs existed are all
    trained on."""
    if "held_out" not in pairs.columns:
        return pairs, pairs.head(0)
    held = pl.col("held_out").fill_null(False)
    verified = held & (pl.col("chosen_rollout") == "correct") & (pl.col("rejected_rollout") == "wrong")
    return pairs.filter(~held), pairs.filter(verified.fill_null(False))


def held_out_preference(
    models: dict[str, tuple[str, str]], pairs: pl.DataFrame, beta: float, max_length: int, baseline: str
) -> dict:
    """Each model's (name → (its folder, its reference's folder)) preference accuracy on the pairs, and each model's
    paired difference from `baseline` on the pairs both fit (Newcombe's method 10, `metrics.paired_difference`)."""
    margins = {name: step_margins(path, ref, pairs, beta, max_length) for name, (path, ref) in models.items()}
    out = {"pairs": pairs.height, "models": {name: preference_accuracy(m) for name, m in margins.items()}}
    out["differences"] = {
        name: paired_difference([(m[i] > 0, margins[baseline][i] > 0) for i in m if i in margins[baseline]])
        for name, m in margins.items()
        if name != baseline and baseline in margins
    }
    return out
