"""Chapter 9's figures, drawn from the arena's results (:func:`rnncourse.arena.load`).

Each accepts an ``ax`` to draw into and returns the ``matplotlib.figure.Figure`` it
drew on.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnncourse.arena.analysis import NAMES, contexts, recall_curve, triangle_scores
from rnncourse.figures.style import figure_and_axes

MARKERS = {
    "lstm": "o",
    "transformer": "s",
    "retnet": "^",
    "rwkv": "D",
    "mamba": "v",
    "hybrid": "P",
}


def plot_recall(results: dict[str, Any], ax: Axes | None = None) -> Figure:
    """Recall accuracy against the number of key-value pairs, one line per model, and
    the accuracy 1/N of a model that answers with one of the N values it saw,
    at random."""
    fig, ax = figure_and_axes(ax, figsize=(6, 3.5))
    for name in results["models"]:
        pairs, acc = recall_curve(results, name)
        ax.plot(pairs, acc, marker=MARKERS[name], label=NAMES[name])
    ax.set_xscale("log", base=2)
    ax.set_xticks(pairs, [str(n) for n in pairs])
    ax.minorticks_off()
    ax.plot(
        pairs,
        [1 / n for n in pairs],
        color="0.5",
        lw=1,
        ls="--",
        label="guessing one of the N values (1/N)",
    )
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("key-value pairs in the sequence")
    ax.set_ylabel("recall accuracy")
    ax.set_ylim(-0.02, 1.02)
    # outside: the curves fill the axes
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_inference(
    results: dict[str, Any], key: str = "state_bytes", ax: Axes | None = None
) -> Figure:
    """Memory (``key="state_bytes"``) or time (``"seconds_per_token"``) of generation
    against the number of tokens already read, log-log, one line per model."""
    fig, ax = figure_and_axes(ax, figsize=(6, 3.5))
    cs = contexts(results)
    scale = 1 / 1024 if key == "state_bytes" else 1e3
    for name, row in results["models"].items():
        ax.loglog(
            cs,
            [scale * row["inference"][str(c)][key] for c in cs],
            marker=MARKERS[name],
            label=NAMES[name],
        )
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.minorticks_off()
    ax.set_xlabel("tokens read so far (context length)")
    ax.set_ylabel(
        "state or cache (KiB)"
        if key == "state_bytes"
        else "time per generated token (ms)"
    )
    ax.legend(fontsize=8)
    return fig


def plot_triangle(results: dict[str, Any], ax: Axes | None = None) -> Figure:
    """The "impossible triangle": each model placed at the weighted centre of the three
    corners (training parallelism, cheap inference, quality), weighted by its measured
    scores; a model that had all three would sit in the middle, one strong on a single
    property near its corner."""
    fig, ax = figure_and_axes(ax, figsize=(5, 4.5))
    corners = [(0.0, 0.0), (1.0, 0.0), (0.5, math.sqrt(3) / 2)]
    labels = ["training\nparallelism", "cheap\ninference", "quality"]
    ax.fill(*zip(*corners), color="0.95", edgecolor="0.5")
    for (x, y), label, va in zip(corners, labels, ["top", "top", "bottom"]):
        ax.text(
            x,
            y + (0.03 if va == "bottom" else -0.03),
            label,
            ha="center",
            va=va,
            fontsize=9,
        )
    for name, weights in triangle_scores(results).items():
        total = sum(weights) or 1.0
        x = sum(w * cx for w, (cx, _) in zip(weights, corners)) / total
        y = sum(w * cy for w, (_, cy) in zip(weights, corners)) / total
        ax.plot(
            x,
            y,
            marker=MARKERS[name],
            ms=9,
            ls="none",
            label=f"{NAMES[name]} {tuple(round(w, 2) for w in weights)}",
        )
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_ylim(-0.2, 1.0)
    ax.legend(
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        title="(parallel, cheap, quality)",
        title_fontsize=7,
    )
    return fig
