"""Charts of measured data: training curves, gradient norms against distance, an SSM's
kernel, attention weights, accuracy by length, and the cost of a forward pass against T.

Like every function in :mod:`rnncourse.figures`, each accepts an ``ax`` (``axes``
for a chart of two panels) to draw into and returns the ``matplotlib.figure.Figure``
it drew on. In a notebook, end the call with ``;`` (or assign the figure) so that
Jupyter shows the figure once, without the figure's text representation after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnncourse.figures.style import figure_and_axes

# --------------------------------------------------------------------------
# 1. Training curves
# --------------------------------------------------------------------------


def plot_losses(
    losses: Sequence[float] | np.ndarray,
    ax: Axes | None = None,
    label: str | None = None,
    smooth: int | None = None,
    ylabel: str = "loss",
) -> Figure:
    """A training-loss curve against the step number.

    With ``smooth=k`` the raw curve is drawn faintly and a moving average over
    the last ``k`` steps on top of it. Call again with the same ``ax`` (and a
    ``label``) to overlay another run; a legend lists the labelled curves.
    """
    if smooth is not None and smooth < 1:
        raise ValueError(f"smooth must be a window of at least 1 step, got {smooth}")
    fig, ax = figure_and_axes(ax, figsize=(6.4, 3.8))
    values = np.asarray(losses, dtype=float)
    steps = np.arange(len(values))
    if smooth is None or smooth == 1:
        ax.plot(steps, values, linewidth=1.6, label=label)
    else:
        (raw,) = ax.plot(steps, values, linewidth=1, alpha=0.3)
        window = min(smooth, len(values))  # a short run still gets a (shorter) average
        average = np.convolve(values, np.ones(window) / window, mode="valid")
        # Each average ends at its last step, so the curve never looks ahead.
        ax.plot(
            steps[window - 1 :],
            average,
            linewidth=1.8,
            color=raw.get_color(),
            label=label,
        )
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if any(not line.get_label().startswith("_") for line in ax.get_lines()):
        ax.legend(frameon=False)
    return fig


# --------------------------------------------------------------------------
# 2. Gradient norms against distance (chapter 3)
# --------------------------------------------------------------------------


def plot_gradient_norms(
    curves: dict[str, Sequence[float]],
    ax: Axes | None = None,
    guides: dict[str, float] | None = None,
    ylim: tuple[float, float] = (1e-12, 1e6),
) -> Figure:
    """Gradient norm against the distance T - t, on a log scale, one line per entry of
    ``curves``.

    ``curves`` maps a label to norms indexed by distance (entry 0 at distance 0).
    ``guides`` maps a label to a factor r, drawn dashed as r^distance (the formula
    beside the measurement): in the colour of the curve with the same label, or,
    for a label of its own, in grey with its own legend entry.
    """
    fig, ax = figure_and_axes(ax, figsize=(7, 4))
    colors = {}
    longest = 1
    for label, norms in curves.items():
        values = np.asarray(norms, dtype=float)
        (line,) = ax.semilogy(np.arange(len(values)), values, linewidth=2, label=label)
        colors[label] = line.get_color()
        longest = max(longest, len(values))
    distance = np.arange(longest, dtype=float)
    for label, factor in (guides or {}).items():
        own = label not in colors
        ax.semilogy(
            distance,
            factor**distance,
            "--",
            linewidth=1.2,
            color=colors.get(label, "0.35"),
            label=label if own else None,
        )
    ax.axhline(1.0, color="0.5", linewidth=0.8)
    ax.set_ylim(*ylim)
    ax.set_xlabel("distance $T - t$ (steps back from the end)")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=9, loc="best")
    return fig


# --------------------------------------------------------------------------
# 3. A diagonal SSM's convolution kernel (chapter 6)
# --------------------------------------------------------------------------


def plot_kernel(
    K: torch.Tensor, channels: Sequence[int] = (0, 1, 2), ax: Axes | None = None
) -> Figure:
    """K: (H, L), the convolution kernel of a diagonal SSM: one line per
    chosen channel."""
    fig, ax = figure_and_axes(ax, figsize=(7, 2.8))
    for h in channels:
        ax.plot(K[h].detach(), lw=1.2, label=f"channel {h}")
    ax.set_xlabel("k (steps into the past)")
    ax.set_ylabel("$K_k$")
    ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------
# 4. Attention weights and accuracy by length (chapter 5)
# --------------------------------------------------------------------------


def _printable(token: str) -> str:
    return {" ": "\u2423"}.get(token, token)  # an open box shows where a space is


def attention_heatmap(
    weights: torch.Tensor,
    source: Sequence[str],
    target: Sequence[str],
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Alignment weights as a heatmap: one row per target token, one column per
    source token.

    weights: (T, S), row i holding alpha_i1..alpha_iS; ``source`` and ``target``
    are the S and T tokens that label the columns and rows.
    """
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.dim() != 2 or weights.shape != (len(target), len(source)):
        raise ValueError(
            f"weights must have shape (T, S) = ({len(target)}, {len(source)}) to match "
            f"the tokens, got {tuple(weights.shape)}"
        )
    T, S = weights.shape
    fig, ax = figure_and_axes(ax, figsize=(max(4.0, 0.16 * S + 1.5), 0.3 * T + 1.2))
    ax.imshow(
        weights.numpy(),
        cmap="Greys",
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_xticks(
        range(S), [_printable(t) for t in source], fontsize=8, family="monospace"
    )
    ax.set_yticks(
        range(T), [_printable(t) for t in target], fontsize=9, family="monospace"
    )
    ax.tick_params(length=0)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return fig


def plot_accuracy_by_length(
    edges: Sequence[int],
    accuracies: Mapping[str, torch.Tensor],
    counts: torch.Tensor | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Exact-match accuracy per bin of source length, one line per model.

    ``edges`` has n_bins + 1 entries; each accuracy is (n_bins,); ``counts``
    (n_bins,), if given, labels each bin with its number of examples.
    """
    fig, ax = figure_and_axes(ax, figsize=(7, 3.6))
    edges = np.asarray(edges, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    for name, accuracy in accuracies.items():
        if len(accuracy) != len(centres):
            raise ValueError(
                f"{name}: expected {len(centres)} accuracies (one per bin), got "
                f"{len(accuracy)}"
            )
        ax.plot(centres, 100 * np.asarray(accuracy), "o-", label=name)
    labels = [f"{int(a)}-{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:])]
    if counts is not None:
        labels = [f"{label}\n({int(n)})" for label, n in zip(labels, counts)]
    ax.set_xticks(centres, labels, fontsize=8)
    ax.set_xlabel(
        "source length in characters (number of test examples)"
        if counts is not None
        else "source length in characters"
    )
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(0, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, loc="lower left")
    return fig


# --------------------------------------------------------------------------
# 5. The cost of a forward pass against T (chapter 8)
# --------------------------------------------------------------------------


def plot_cost(
    rows: list[dict],
    formula: Callable[[int], float] | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Peak memory and time of one forward pass against T, one line per mixer (log-log).

    ``rows``: dicts with keys "mixer", "T", "seconds" and "bytes". ``formula``: optional
    function of T giving the naive form's predicted bytes, drawn dashed. ``axes``: two
    axes to draw into (memory, time).
    """
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")[1]
    mixers = list(dict.fromkeys(r["mixer"] for r in rows))
    for mixer in mixers:
        mine = sorted((r for r in rows if r["mixer"] == mixer), key=lambda r: r["T"])
        T = [r["T"] for r in mine]
        axes[0].plot(
            T, [r["bytes"] / 2**20 for r in mine], marker="o", ms=4, label=mixer
        )
        axes[1].plot(
            T, [r["seconds"] * 1e3 for r in mine], marker="o", ms=4, label=mixer
        )
    if formula is not None:
        T = sorted({r["T"] for r in rows})
        axes[0].plot(
            T,
            [formula(t) / 2**20 for t in T],
            ls="--",
            color="0.4",
            label="naive: the formula",
        )
    for ax, what in zip(
        axes, ("peak memory beyond the inputs (MiB)", "time of one forward pass (ms)")
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    return axes[0].figure
