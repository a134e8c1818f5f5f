"""Figures for chapter 5 (sequence to sequence with attention), drawn with matplotlib only.

Every function returns the ``matplotlib.figure.Figure`` it drew on and accepts
an ``ax`` to draw into, so a notebook can place several figures side by side.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _printable(token: str) -> str:
    return {" ": "\u2423"}.get(token, token)  # an open box shows where a space is


def attention_heatmap(weights: torch.Tensor, source: Sequence[str], target: Sequence[str],
                      ax: Axes | None = None, title: str | None = None) -> Figure:
    """Alignment weights as a heatmap: one row per target token, one column per source token.

    weights: (T, S), row i holding alpha_i1..alpha_iS; ``source`` and ``target``
    are the S and T tokens that label the columns and rows.
    """
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.dim() != 2 or weights.shape != (len(target), len(source)):
        raise ValueError(f"weights must have shape (T, S) = ({len(target)}, {len(source)}) to match the tokens, "
                         f"got {tuple(weights.shape)}")
    T, S = weights.shape
    fig, ax = _figure_and_axes(ax, figsize=(max(4.0, 0.16 * S + 1.5), 0.3 * T + 1.2))
    ax.imshow(weights.numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(S), [_printable(t) for t in source], fontsize=8, family="monospace")
    ax.set_yticks(range(T), [_printable(t) for t in target], fontsize=9, family="monospace")
    ax.tick_params(length=0)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return fig


def plot_accuracy_by_length(edges: Sequence[int], accuracies: Mapping[str, torch.Tensor],
                            counts: torch.Tensor | None = None, ax: Axes | None = None) -> Figure:
    """Exact-match accuracy per bin of source length, one line per model.

    ``edges`` has n_bins + 1 entries; each accuracy is (n_bins,); ``counts``
    (n_bins,), if given, labels each bin with its number of examples.
    """
    fig, ax = _figure_and_axes(ax, figsize=(7, 3.6))
    edges = np.asarray(edges, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    for name, accuracy in accuracies.items():
        if len(accuracy) != len(centres):
            raise ValueError(f"{name}: expected {len(centres)} accuracies (one per bin), got {len(accuracy)}")
        ax.plot(centres, 100 * np.asarray(accuracy), "o-", label=name)
    labels = [f"{int(a)}-{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:])]
    if counts is not None:
        labels = [f"{label}\n({int(n)})" for label, n in zip(labels, counts)]
    ax.set_xticks(centres, labels, fontsize=8)
    ax.set_xlabel("source length in characters (number of test examples)" if counts is not None
                  else "source length in characters")
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(0, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, loc="lower left")
    return fig
