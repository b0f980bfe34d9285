"""The proof report: the eval table with its intervals, the paired differences, the other stages' figures, and each
target stated before the run with its verdict — met, missed or not measured — and the numbers behind it.

Inputs are plain data: model_eval's summaries (`metrics.compare`) and paired differences (`metrics.paired_differences`)
and `figures`, the latest materialization metadata of the other assets of the domain (asset → key → value):
`step_dpo_model_<i>` (`held_out_preference`), `s2r_trajectories` (`attempts`, `used_fallback`, `fallback_share`,
`self_corrections`) and `rl_model` (`reward_curve`, `reward_per_step`, `mean_reward`). A target whose figures are
absent is "not measured", never met.
"""

from __future__ import annotations

from thinkforge.evaluation.metrics import differences_markdown, fmt, fmt_interval, markdown

MIN_PROBLEMS = 200
SELF_VERIFY_TARGET = 0.8
FORMAT_TARGET = 0.9
MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"


def _summary(summaries: list[dict], model: str, prompt_format: str) -> dict | None:
    return next((s for s in summaries if s["model"] == model and s.get("prompt_format") == prompt_format), None)


def _rate(summary: dict | None, metric: str) -> str:
    if summary is None:
        return "not evaluated"
    return fmt_interval(summary[metric], (summary.get("intervals") or {}).get(metric))


def _diff(d: dict) -> str:
    where = f" ({d['prompt_format']} prompts)" if d.get("prompt_format") else ""
    return (
        f"{d['model']} − {d['baseline']}{where}: {d['difference']:+.3f} (95 % CI {d['low']:+.3f} to {d['high']:+.3f}, "
        f"n = {d['n']})"
    )


def _at_least(summary: dict | None, metric: str, target: float) -> str:
    if summary is None or summary[metric] is None:
        return NOT_MEASURED
    return MET if summary[metric] >= target else MISSED


def targets(summaries: list[dict], differences: list[dict], problems: int, figures: dict[str, dict]) -> list[dict]:
    """Each stated target: {target, status (met / missed / not measured), figures (the numbers and intervals)}."""
    out = []

    def add(target: str, status: str, numbers: str) -> None:
        out.append({"target": target, "status": status, "figures": numbers})

    add(
        f"evaluated on ≥ {MIN_PROBLEMS} held-out problems",
        MET if problems >= MIN_PROBLEMS else MISSED,
        f"{problems} problems",
    )
    sft, base = _summary(summaries, "sft_model", "s2r"), _summary(summaries, "base_model", "s2r")
    add(
        f"sft_model self-verification rate ≥ {SELF_VERIFY_TARGET} in its trained format (s2r; base_model ≈ 0)",
        _at_least(sft, "self_verify_rate", SELF_VERIFY_TARGET),
        f"sft_model {_rate(sft, 'self_verify_rate')}; base_model {_rate(base, 'self_verify_rate')}",
    )
    add(
        f"sft_model format compliance ≥ {FORMAT_TARGET} in s2r",
        _at_least(sft, "format_rate", FORMAT_TARGET),
        f"sft_model {_rate(sft, 'format_rate')}",
    )
    vs_base = [d for d in differences if d["baseline"] == "base_model"]
    winners = [d for d in vs_base if d["low"] > 0]
    add(
        "a trained checkpoint beats base_model in accuracy beyond the 95 % interval of the paired difference",
        NOT_MEASURED if not vs_base else MET if winners else MISSED,
        "; ".join(_diff(d) for d in (winners or vs_base)) or "no trained checkpoint evaluated beside base_model",
    )
    rl = next((d for d in differences if d["model"] == "rl_model" and d["baseline"] == "sft_model"), None)
    rewards = figures.get("rl_model", {})
    curve = (
        f"reward curve: {len(rewards['reward_per_step'])} logged steps, first {rewards['reward_per_step'][0]:.3f}, "
        f"last {rewards['reward_per_step'][-1]:.3f}, mean {fmt(rewards.get('mean_reward'))}"
        if rewards.get("reward_per_step")
        else "no reward curve recorded"
    )
    add(
        "rl_model does not fall below sft_model in accuracy beyond the interval; its reward curve is recorded",
        NOT_MEASURED if rl is None else MISSED if rl["high"] < 0 or not rewards.get("reward_per_step") else MET,
        f"{_diff(rl) if rl else 'rl_model and sft_model not both evaluated in one format'}; {curve}",
    )
    last = max(
        (a for a in figures if a.startswith("step_dpo_model_")), default=None, key=lambda a: int(a.rsplit("_", 1)[1])
    )
    preference = (figures.get(last) or {}).get("held_out_preference") if last else None
    mine = (preference or {}).get("models", {}).get(last) or {}
    m1 = (preference or {}).get("models", {}).get("m1_model") or {}
    if mine.get("accuracy") is None:
        add(
            "the last step-DPO model's preference accuracy on held-out verified step pairs above 0.5 beyond its interval",
            NOT_MEASURED,
            f"{last or 'no step_dpo_model'}: no held-out verified step pairs measured",
        )
    else:
        low, high = mine["interval"]
        add(
            f"{last}'s preference accuracy (implicit reward margin > 0) on held-out verified step pairs above 0.5 "
            "beyond its interval",
            MET if low > 0.5 else MISSED,
            f"{mine['accuracy']:.3f} ({low:.3f}–{high:.3f}), {mine['preferred']} of {mine['pairs']} pairs",
        )
    gain = (preference or {}).get("differences", {}).get(last)
    add(
        f"{last or 'the last step-DPO model'}'s preference accuracy above m1_model's beyond the paired interval",
        NOT_MEASURED if not gain else MET if gain["low"] > 0 else MISSED,
        f"m1_model {fmt(m1.get('accuracy'))}; difference {gain['difference']:+.3f} (95 % CI {gain['low']:+.3f} to "
        f"{gain['high']:+.3f}, n = {gain['n']})"
        if gain
        else "m1_model not measured on the same pairs",
    )
    trajectories = figures.get("s2r_trajectories", {})
    corrections = trajectories.get("self_corrections")
    add(
        "S²R trajectories include real self-correction (≥ 2 attempts, the policy's earlier attempts wrong by the "
        "checker, verifications right, the last attempt the policy's own), not only the fallback",
        NOT_MEASURED if corrections is None else MET if corrections > 0 else MISSED,
        f"{fmt(corrections)} real self-corrections; {fmt(trajectories.get('used_fallback'))} trajectories end with "
        f"the fallback (share {fmt(trajectories.get('fallback_share'))})",
    )
    return out


def proof_report(
    domain: str,
    summaries: list[dict],
    differences: list[dict],
    problems: int,
    samples: int,
    figures: dict[str, dict],
    chart: str = "",
) -> str:
    """The report as markdown; `chart` is model_eval's chart (markdown with the embedded image)."""
    lines = [
        f"# Proof run · {domain}",
        "",
        f"{problems} held-out problems × {samples} samples per (checkpoint, prompt format). Rates with their 95 % "
        "Wilson intervals; differences paired on the same problems and samples (Newcombe's method 10).",
        "",
        "## Targets (stated before the run)",
        "",
        "| target | status | figures |",
        "|---|---|---|",
    ]
    verdicts = targets(summaries, differences, problems, figures)
    lines += [f"| {t['target']} | **{t['status']}** | {t['figures']} |" for t in verdicts]
    missed = [t["target"] for t in verdicts if t["status"] == MISSED]
    lines += ["", f"Missed: {'; '.join(missed)}." if missed else "No target missed."]
    lines += ["", "## Checkpoints × prompt formats", "", markdown(summaries, k=samples) if summaries else "none", ""]
    if chart:
        lines += [chart, ""]
    lines += ["## Paired accuracy differences", "", differences_markdown(differences) if differences else "none", ""]
    lines += ["## Step-DPO preference accuracy on held-out verified step pairs", ""]
    rows = [
        (asset, name, acc)
        for asset in sorted(a for a in figures if a.startswith("step_dpo_model_"))
        for name, acc in ((figures[asset].get("held_out_preference") or {}).get("models") or {}).items()
    ]
    if rows:
        lines += [
            "| measured in | model | pairs | preference accuracy (95 % CI) | mean margin |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {asset} | {name} | {acc['pairs']} | {fmt_interval(acc['accuracy'], acc['interval'])} | "
            f"{'–' if acc['mean_margin'] is None else format(acc['mean_margin'], '+.4f')} |"
            for asset, name, acc in rows
        ]
    else:
        lines.append("not measured")
    rl = figures.get("rl_model", {})
    lines += ["", "## RL reward curve", "", rl.get("reward_curve") or "not recorded", ""]
    trajectories = figures.get("s2r_trajectories", {})
    lines += [
        "## S²R trajectories",
        "",
        f"real self-corrections: {fmt(trajectories.get('self_corrections'))}; trajectories ending with the fallback: "
        f"{fmt(trajectories.get('used_fallback'))} (share {fmt(trajectories.get('fallback_share'))})",
        "",
        trajectories.get("attempts") or "attempts histogram not recorded",
        "",
    ]
    return "\n".join(lines)
