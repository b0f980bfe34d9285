"""Metrics of one model over its evaluation rows (one row per problem × sample).

Every rate is a share in [0, 1]; a rate whose denominator is empty is None (shown as "–"), never 0. Rows whose
correctness could not be checked (`correct` is null: no reference and no tests) are left out of every rate
that needs correctness.

Each rate comes with its 95 % Wilson score interval (`intervals`: metric → [low, high]); the difference of two
models on the same rows is `paired_difference` (Newcombe's paired method 10). Responses are counted as independent
trials; with several samples per problem the intervals are narrower than the problems alone would give.

Columns read: `correct` (the final answer is right), `problem_id`, `verdict_format`, `completion_tokens`,
`first_correct` (the first attempt is right), `self_verifies`, `verification_verdicts` ("correct" /
"incorrect" / "none" per verification) and `verified_attempts_correct` (the truth of the attempt each
verification checked); `model` and `prompt_format` (the format the model was asked in) group them.
"""

from __future__ import annotations

from collections import defaultdict
from math import comb, sqrt

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


Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def wilson(hits: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's score interval (95 % by default) of the rate hits / total; None without trials."""
    if not total:
        return None
    p, zz = hits / total, z * z
    centre = (p + zz / (2 * total)) / (1 + zz / total)
    half = z * sqrt(p * (1 - p) / total + zz / (4 * total * total)) / (1 + zz / total)
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))  # rounding never leaves p outside


def paired_difference(pairs: list[tuple[bool, bool]], z: float = Z95) -> dict | None:
    """The difference p1 − p2 of two rates measured on the same trials (pairs: (first's hit, second's hit)) with
        Newcombe's (1998) method 10 interval (95 % by default): the two Wilson intervals combined by square-and-add,
        corrected by the phi correlation of the paired 2×2 table (its positive numerator ad − bc lessened by n/2, as
    Newcombe's; phi = 0 when a margin is empty). None without pairs.
        Returns difference, low, high, n and the discordant counts: only_first (first hit, second missed), only_second."""
    n = len(pairs)
    if not n:
        return None
    a = sum(x and y for x, y in pairs)
    b = sum(x and not y for x, y in pairs)
    c = sum(y and not x for x, y in pairs)
    d = n - a - b - c
    p1, p2 = (a + b) / n, (a + c) / n
    (l1, u1), (l2, u2) = wilson(a + b, n, z), wilson(a + c, n, z)
    margins, cross = (a + b) * (c + d) * (a + c) * (b + d), a * d - b * c
    phi = (cross if cross < 0 else max(0.0, cross - n / 2)) / sqrt(margins) if margins else 0.0
    low = sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return {
        "difference": diff,
        "low": max(-1.0, diff - low),
        "high": min(1.0, diff + high),
        "n": n,
        "only_first": b,
        "only_second": c,
    }


def accuracy(rows: list[dict]) -> float | None:
    """Share of checked responses whose final answer is correct (pass@1 averaged over samples)."""
    return _share(*accuracy_counts(rows))


def accuracy_counts(rows: list[dict]) -> tuple[int, int]:
    checked = [r["correct"] for r in rows if r["correct"] is not None]
    return sum(bool(c) for c in checked), len(checked)


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
    return _share(*format_counts(rows))


def format_counts(rows: list[dict]) -> tuple[int, int]:
    return sum(r["verdict_format"] == "pass" for r in rows), len(rows)


def mean_tokens(rows: list[dict]) -> float | None:
    """Mean response length in generated tokens."""
    return _share(sum(r["completion_tokens"] or 0 for r in rows), len(rows))


def self_verify_rate(rows: list[dict]) -> float | None:
    """Share of responses that verify themselves at least once ("Wait, let me recheck my solution.")."""
    return _share(*self_verify_counts(rows))


def self_verify_counts(rows: list[dict]) -> tuple[int, int]:
    return sum(bool(r["self_verifies"]) for r in rows), len(rows)


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
    return _share(*verification_counts(rows))


def verification_counts(rows: list[dict]) -> tuple[int, int]:
    pairs = _verifications(rows)
    return sum((v == "correct") == t for v, t in pairs), len(pairs)


def error_recall(rows: list[dict]) -> float | None:
    """Of the verifications that check a wrong attempt, the share that say "incorrect": how many errors it catches."""
    return _share(*error_recall_counts(rows))


def error_recall_counts(rows: list[dict]) -> tuple[int, int]:
    on_wrong = [v for v, t in _verifications(rows) if not t]
    return sum(v == "incorrect" for v in on_wrong), len(on_wrong)


def correct_precision(rows: list[dict]) -> float | None:
    """Of the verifications that say "correct", the share whose attempt is right: how far a "correct" can be trusted."""
    return _share(*correct_precision_counts(rows))


def correct_precision_counts(rows: list[dict]) -> tuple[int, int]:
    said_correct = [t for v, t in _verifications(rows) if v == "correct"]
    return sum(said_correct), len(said_correct)


def _transitions(rows: list[dict]) -> list[tuple[bool, bool]]:
    return [
        (bool(r["first_correct"]), bool(r["correct"]))
        for r in rows
        if r["correct"] is not None and r["first_correct"] is not None
    ]


def incorrect_to_correct(rows: list[dict]) -> float | None:
    """Share of checked responses whose first attempt is wrong and whose final answer is right (self-correction),
    over all checked responses of the model (so it adds directly to accuracy)."""
    return _share(*incorrect_to_correct_counts(rows))


def incorrect_to_correct_counts(rows: list[dict]) -> tuple[int, int]:
    pairs = _transitions(rows)
    return sum((not first) and last for first, last in pairs), len(pairs)


def correct_to_incorrect(rows: list[dict]) -> float | None:
    """Share of checked responses whose first attempt is right and whose final answer is wrong (a right answer
    talked out of), over all checked responses of the model."""
    return _share(*correct_to_incorrect_counts(rows))


def correct_to_incorrect_counts(rows: list[dict]) -> tuple[int, int]:
    pairs = _transitions(rows)
    return sum(first and not last for first, last in pairs), len(pairs)


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


# Every rate with the counts it is read from: metric → (hits, trials) of a model's rows.
RATES = {
    "accuracy": accuracy_counts,
    "format_rate": format_counts,
    "self_verify_rate": self_verify_counts,
    "verification_accuracy": verification_counts,
    "error_recall": error_recall_counts,
    "correct_precision": correct_precision_counts,
    "incorrect_to_correct": incorrect_to_correct_counts,
    "correct_to_incorrect": correct_to_incorrect_counts,
}


def summarize(rows: list[dict], k: int = 1, behaviour: bool = True) -> dict:
    """Every metric of one model's rows, plus the counts behind them and each rate's 95 % Wilson interval
    (`intervals`: metric → [low, high], None without trials); without `behaviour`, the S²R metrics are None."""
    counts = {m: RATES[m](rows) for m in RATES if behaviour or m not in BEHAVIOUR}
    summary = {
        "responses": len(rows),
        "problems": len({r["problem_id"] for r in rows}),
        "checked": sum(r["correct"] is not None for r in rows),
        **dict.fromkeys(RATES),
        **{m: _share(*c) for m, c in counts.items()},
        "pass_at_k": mean_pass_at_k(rows, k),
        "mean_tokens": mean_tokens(rows),
        "verifications": sum(len(r["verification_verdicts"] or []) for r in rows) if behaviour else None,
        "intervals": {m: None if (ci := wilson(*counts[m])) is None else list(ci) for m in RATES if m in counts},
    }
    return summary


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


def fmt_interval(value, interval) -> str:
    """A rate with its interval: 0.275 (0.161–0.428); the rate alone when it has none."""
    return fmt(value) if not interval else f"{fmt(value)} ({interval[0]:.3f}–{interval[1]:.3f})"


def markdown(summaries: list[dict], lead: tuple[str, ...] = ("model", "prompt_format"), k: int = 1) -> str:
    """The comparison table (one line per summary: its `lead` columns that the summaries have, then every metric,
    each rate with its 95 % Wilson interval in brackets) as markdown."""
    lead = tuple(c for c in lead if summaries and c in summaries[0])
    keys = [m for m in METRICS if m != "pass_at_k" or k > 1]
    head = [*(c.replace("_", " ") for c in lead), "n", *(METRICS[m].replace("@k", f"@{k}") for m in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        intervals = s.get("intervals") or {}
        cells = [
            *(str(s[c]) for c in lead),
            str(s["responses"]),
            *(fmt_interval(s[m], intervals.get(m)) for m in keys),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pair_key(r: dict) -> tuple:
    return r.get("eval_set"), r["problem_id"], r.get("sample_index", 0)


def paired_differences(rows: pl.DataFrame | list[dict], comparisons: list[tuple[str, str]]) -> list[dict]:
    """Per prompt format, each (model, baseline) of `comparisons` both evaluated in it: the difference of their
    accuracy on the rows both have checked (the same problem and sample index), with its 95 % interval
    (`paired_difference`, Newcombe's method 10)."""
    records = rows.to_dicts() if isinstance(rows, pl.DataFrame) else rows
    truth: dict[tuple, dict] = defaultdict(dict)
    for r in records:
        if r["correct"] is not None:
            truth[(r["model"], r.get("prompt_format"))][_pair_key(r)] = bool(r["correct"])
    out = []
    for prompt_format in sorted({f for _, f in truth}, key=str):
        for model, baseline in comparisons:
            mine, theirs = truth.get((model, prompt_format)), truth.get((baseline, prompt_format))
            if mine and theirs:
                both = sorted(set(mine) & set(theirs), key=str)
                diff = paired_difference([(mine[key], theirs[key]) for key in both])
                if diff is not None:
                    out.append({"model": model, "baseline": baseline, "prompt_format": prompt_format, **diff})
    return out


def differences_markdown(differences: list[dict]) -> str:
    """The paired accuracy differences as a markdown table."""
    lines = [
        "| prompt format | model | vs | n | accuracy difference (95 % CI) | only model right | only baseline right |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in differences:
        lines.append(
            f"| {d['prompt_format'] or '–'} | {d['model']} | {d['baseline']} | {d['n']} | "
            f"{d['difference']:+.3f} ({d['low']:+.3f} to {d['high']:+.3f}) | {d['only_first']} | {d['only_second']} |"
        )
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
