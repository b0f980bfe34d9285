"""The comparison chart of model_eval: grouped bars ((model, prompt format) × metrics) as a PNG, embeddable in markdown."""

from __future__ import annotations

import io
import textwrap

from thinkforge.evaluation.metrics import METRICS

CHART_METRICS = ("accuracy", "format_rate", "self_verify_rate", "verification_accuracy", "incorrect_to_correct")


def has_signal(summaries: list[dict], metrics: tuple[str, ...] = CHART_METRICS) -> bool:
    """Whether any model has a value above 0 on any charted metric (an all-zero chart shows nothing)."""
    return any(s.get(m) for s in summaries for m in metrics)


def label(summary: dict) -> str:
    """A summary's name: the model, and the prompt format it was asked in when the rows name one."""
    return " · ".join(str(summary[c]) for c in ("model", "prompt_format") if summary.get(c))


def bar_chart_png(summaries: list[dict], metrics: tuple[str, ...] = CHART_METRICS, title: str = "") -> bytes:
    """Grouped bars: one group per metric, one bar per (model, prompt format), each with its 95 % Wilson interval as
    an error bar where the summary has one (a metric without a value is drawn as 0 and marked –)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [s["model"] for s in summaries]
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(metrics) + 0.4 * len(models)), 3.6), dpi=100)
    for j, s in enumerate(summaries):
        xs = [i + (j - (len(models) - 1) / 2) * width for i in range(len(metrics))]
        values = [s.get(m) for m in metrics]
        bars = ax.bar(xs, [v or 0.0 for v in values], width, label=label(s))
        intervals = s.get("intervals") or {}
        for bar, m, v in zip(bars, metrics, values):
            x, top = bar.get_x() + bar.get_width() / 2, bar.get_height()
            if v is not None and intervals.get(m):
                low, top = intervals[m]
                ax.errorbar(x, v, yerr=[[v - low], [top - v]], fmt="none", ecolor="black", capsize=2, linewidth=0.8)
            ax.annotate(
                "–" if v is None else f"{v:.2f}",
                (x, top),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(metrics)), [METRICS[m] for m in metrics], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share")
    if title:
        ax.set_title(textwrap.fill(title, int(fig.get_figwidth() * 11)), fontsize=10)
    ax.legend(fontsize=7, ncol=min(3, len(models)) or 1, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
