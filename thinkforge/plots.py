"""Small matplotlib charts as PNG bytes, and the markdown that embeds one in Dagster metadata.

Every stage draws with these (training curves, length and score histograms, bars of counts) so that the
charts look alike in the UI. Headless: the Agg backend, nothing is shown.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Mapping, Sequence

FEW_POINTS = 12  # a line with at most this many points has each value written next to it


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(ax, fig, title: str) -> None:
    """The title wrapped to the figure's width (about 11 characters an inch at this size), so none is cut off."""
    if title:
        ax.set_title(textwrap.fill(title, max(20, int(fig.get_figwidth() * 11))), fontsize=10)


def _png(fig) -> bytes:
    plt = _pyplot()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def line_figure(
    series: Mapping[str, Sequence[tuple[float, float]]], title: str = "", xlabel: str = "step", ylabel: str = ""
):
    """One line per named series of (x, y) points, e.g. {"loss": [(1, 2.3), (2, 2.1)]}. Steps are whole numbers
    on the axis; a short series has its values written at its points."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2), dpi=100)
    for name, points in series.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=name)
            if len(points) <= FEW_POINTS:
                for x, y in points:
                    ax.annotate(f"{y:.4g}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.1, y=0.2)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    _title(ax, fig, title)
    if len(series) > 1:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def line_png(
    series: Mapping[str, Sequence[tuple[float, float]]], title: str = "", xlabel: str = "step", ylabel: str = ""
) -> bytes:
    """`line_figure` as PNG bytes."""
    return _png(line_figure(series, title, xlabel, ylabel))


def histogram_png(
    values: Mapping[str, Sequence[float]] | Sequence[float], title: str = "", xlabel: str = "", bins: int = 30
) -> bytes:
    """A histogram of one list of values, or overlaid histograms of named lists (e.g. before / after)."""
    plt = _pyplot()
    groups = values if isinstance(values, Mapping) else {"": values}
    fig, ax = plt.subplots(figsize=(6.0, 3.2), dpi=100)
    for name, vals in groups.items():
        if len(vals):
            ax.hist(list(vals), bins=bins, alpha=0.6 if len(groups) > 1 else 0.9, label=name or None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    _title(ax, fig, title)
    if len(groups) > 1:
        ax.legend(fontsize=7)
    return _png(fig)


def bar_png(counts: Mapping[str, float], title: str = "", ylabel: str = "rows") -> bytes:
    """One bar per key, labelled with its value (counts per reason, pass rate per source, ...)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(counts) + 2), 3.2), dpi=100)
    names = [str(k) for k in counts]
    bars = ax.bar(names, list(counts.values()))
    for bar, value in zip(bars, counts.values()):
        label = f"{value:.2f}" if isinstance(value, float) and not float(value).is_integer() else f"{value:g}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    _title(ax, fig, title)
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows the PNG inline (Dagster renders data: URIs in markdown metadata)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
