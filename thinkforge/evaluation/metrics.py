"""Metrics of one model over its evaluation rows (one row per problem × sample).

Every rate is a share in [0, 1]; a rate whose denominator is empty is None (shown as "–"), never 0. Rows whose
correctness could not be checked (`correct` is null: no reference and no tests) are left out of every rate
that needs correctness.

Columns read: `correct` (the final answer is right), `problem_id`, `verdict_format`, `completion_tokens`,
`first_correct` (the first attempt is right), `self_verifies`, `verification_verdicts` ("correct" /
"incorrect" / "none" per verification) and `verified_attempts_correct` (the truth of the attempt each
verification checked); `model` and `prompt_format` (the format the model was asked in) group them.
"""

from __future__ import annotations

from collections import defaultdict
from math import comb

import polars as pl

# Column order of the comparison table; the key is the metric, the value its heading.
METRICS = {
    "accuracy": "accuracy",
    "pass_at_k": "pass@k",
    "format_rate": "format",
    "mean_tokens": "tokens",
    "self_verify_rate": "self-verify",
    "verification_accuracy": "verif. acc.",
    "error_recall": "error recall",
    "correct_precision": "correct prec.",
    "incorrect_to_correct": "incorrect→correct",
    "correct_to_incorrect": "correct→incorrect",
}


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def accuracy(rows: list[dict]) -> float | None:
    """Share of checked responses whose final answer is correct (pass@1 averaged over samples)."""
    checked = [r["correct"] for r in rows if r["correct"] is not None]
    return _share(sum(checked), len(checked))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with n samples of which c are correct: 1 − C(n−c, k) / C(n, k) (Chen et al. 2021)."""
    k = min(k, n)
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mean_pass_at_k(rows: list[dict], k: int) -> float | None:
    """pass@k averaged over problems: the chance that at least one of k samples of a problem is correct."""
    by_problem: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r["correct"] is not None:
            by_problem[r["problem_id"]].append(bool(r["correct"]))
    if not by_problem:
        return None
    return sum(pass_at_k(len(v), sum(v), k) for v in by_problem.values()) / len(by_problem)


def format_rate(rows: list[dict]) -> float | None:
    """Share of responses in the format of their prompt, not cut off at max_tokens: for `distill`, the thinking
    format (a closed <think>…</think> block, then a final answer: a \\boxed{} answer for math, a ```python block for
    code, any text otherwise); for `s2r` and `stepwise`, a final answer (a ```python block for code)."""
    return _share(sum(r["verdict_format"] == "pass" for r in rows), len(rows))


def mean_tokens(rows: list[dict]) -> float | None:
    """Mean response length in generated tokens."""
    return _share(sum(r["completion_tokens"] or 0 for r in rows), len(rows))


def self_verify_rate(rows: list[dict]) -> float | None:
    """Share of responses that verify themselves at least once ("Wait, let me recheck my solution.")."""
    return _share(sum(bool(r["self_verifies"]) for r in rows), len(rows))


def _verifications(rows: list[dict]) -> list[tuple[str, bool]]:
    """(verdict, truth of the checked attempt) of every verification with a verdict and a checked attempt."""
    out = []
    for r in rows:
        for verdict, truth in zip(r["verification_verdicts"] or [], r["verified_attempts_correct"] or []):
            if verdict in ("correct", "incorrect") and truth is not None:
                out.append((verdict, bool(truth)))
    return out


def verification_accuracy(rows: list[dict]) -> float | None:
    """Share of self-verifications whose verdict matches the truth of the attempt they check (S²R App. E): "correct"
    on a right attempt or "incorrect" on a wrong one, over every verification that states a verdict."""
    pairs = _verifications(rows)
    return _share(sum((v == "correct") == t for v, t in pairs), len(pairs))


def error_recall(rows: list[dict]) -> float | None:
    """Of the verifications that check a wrong attempt, the share that say "incorrect": how many errors it catches."""
    on_wrong = [v for v, t in _verifications(rows) if not t]
    return _share(sum(v == "incorrect" for v in on_wrong), len(on_wrong))


def correct_precision(rows: list[dict]) -> float | None:
    """Of the verifications that say "correct", the share whose attempt is right: how far a "correct" can be trusted."""
    said_correct = [t for v, t in _verifications(rows) if v == "correct"]
    return _share(sum(said_correct), len(said_correct))


def _transitions(rows: list[dict]) -> list[tuple[bool, bool]]:
    return [
        (bool(r["first_correct"]), bool(r["correct"]))
        for r in rows
        if r["correct"] is not None and r["first_correct"] is not None
    ]


def incorrect_to_correct(rows: list[dict]) -> float | None:
    """Share of checked responses whose first attempt is wrong and whose final answer is right (self-correction),
    over all checked responses of the model (so it adds directly to accuracy)."""
    pairs = _transitions(rows)
    return _share(sum((not first) and last for first, last in pairs), len(pairs))


def correct_to_incorrect(rows: list[dict]) -> float | None:
    """Share of checked responses whose first attempt is right and whose final answer is wrong (a right answer
    talked out of), over all checked responses of the model."""
    pairs = _transitions(rows)
    return _share(sum(first and not last for first, last in pairs), len(pairs))


# S²R's self-verification metrics: read only where the model was asked in S²R's format.
BEHAVIOUR = (
    "self_verify_rate",
    "verifications",
    "verification_accuracy",
    "error_recall",
    "correct_precision",
    "incorrect_to_correct",
    "correct_to_incorrect",
)


def summarize(rows: list[dict], k: int = 1, behaviour: bool = True) -> dict:
    """Every metric of one model's rows, plus the counts behind them; without `behaviour`, the S²R metrics are None."""
    summary = {
        "responses": len(rows),
        "problems": len({r["problem_id"] for r in rows}),
        "checked": sum(r["correct"] is not None for r in rows),
        "accuracy": accuracy(rows),
        "pass_at_k": mean_pass_at_k(rows, k),
        "format_rate": format_rate(rows),
        "mean_tokens": mean_tokens(rows),
        "self_verify_rate": self_verify_rate(rows),
        "verifications": sum(len(r["verification_verdicts"] or []) for r in rows),
        "verification_accuracy": verification_accuracy(rows),
        "error_recall": error_recall(rows),
        "correct_precision": correct_precision(rows),
        "incorrect_to_correct": incorrect_to_correct(rows),
        "correct_to_incorrect": correct_to_incorrect(rows),
    }
    return summary if behaviour else {**summary, **dict.fromkeys(BEHAVIOUR)}


def compare(rows: pl.DataFrame | list[dict], order: list[str] | None = None, k: int = 1) -> list[dict]:
    """One summary per (model, prompt_format) — per model for rows without `prompt_format` — models in `order` first
    (e.g. the checkpoint order), then by name, each model's formats by name. S²R's behaviour metrics are read on
    rows asked in the `s2r` format only (None for the others)."""
    records = rows.to_dicts() if isinstance(rows, pl.DataFrame) else rows
    by = ["model", "prompt_format"] if records and "prompt_format" in records[0] else ["model"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[tuple(r[c] for c in by)].append(r)
    order = order or []
    rank = {name: i for i, name in enumerate(order)}
    keys = sorted(groups, key=lambda key: (rank.get(key[0], len(order)), *map(str, key)))
    return [
        {**dict(zip(by, key)), **summarize(groups[key], k, behaviour=by == ["model"] or key[1] == "s2r")}
        for key in keys
    ]


def fmt(value) -> str:
    """A cell: shares with 3 decimals, counts as integers, None as –."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1.0 else f"{value:.1f}"
    return str(value)


def markdown(summaries: list[dict], lead: tuple[str, ...] = ("model", "prompt_format"), k: int = 1) -> str:
    """The comparison table (one line per summary: its `lead` columns that the summaries have, then every metric) as
    markdown."""
    lead = tuple(c for c in lead if summaries and c in summaries[0])
    keys = [m for m in METRICS if m != "pass_at_k" or k > 1]
    head = [*(c.replace("_", " ") for c in lead), "n", *(METRICS[m].replace("@k", f"@{k}") for m in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        cells = [*(str(s[c]) for c in lead), str(s["responses"]), *(fmt(s[m]) for m in keys)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def regressions(summaries: list[dict], parents: dict[str, str], metric: str = "accuracy") -> list[dict]:
    """Each evaluated model with its parent evaluated in the same prompt format: its `metric`, the parent's, and
    whether it is lower."""
    by_key = {(s["model"], s.get("prompt_format")): s for s in summaries}
    out = []
    for s in summaries:
        parent = by_key.get((parents.get(s["model"]), s.get("prompt_format")))
        if parent is not None:
            mine, theirs = s[metric], parent[metric]
            lower = mine is not None and theirs is not None and mine < theirs
            out.append(
                {
                    "model": s["model"],
                    "trained_from": parent["model"],
                    "prompt_format": s.get("prompt_format"),
                    "model_score": mine,
                    "parent_score": theirs,
                    "below": lower,
                }
            )
    return out
