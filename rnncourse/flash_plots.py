"""Figures for chapter 8: which blocks of the score matrix FlashAttention visits, and the measured cost of one
forward pass against the sequence length."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


def draw_tiles(T: int = 8, block: int = 2, causal: bool = True, ax=None):
    """The (T, T) score matrix in blocks of ``block`` queries (rows) by ``block`` keys (columns).

    Causal attention computes the blocks below the diagonal in full (blue), masks part of the blocks on it
    (orange) and skips the blocks above it (white): the kernel's loop stops at the diagonal.
    Returns the axes; each drawn block is a ``Rectangle`` patch labelled "full", "masked" or "skipped".
    """
    ax = ax or plt.subplots(figsize=(3.6, 3.6))[1]
    n = -(-T // block)
    colours = {"full": "C0", "masked": "C4", "skipped": "white"}
    for i in range(n):
        for j in range(n):
            kind = "full" if (not causal or j < i) else "masked" if j == i else "skipped"
            ax.add_patch(Rectangle((j * block, i * block), block, block, fc=colours[kind], ec="0.3", alpha=0.8,
                                   label=kind))
    if causal:
        ax.plot([0, T], [0, T], color="black", lw=1)
    ax.set_xlim(0, T)
    ax.set_ylim(T, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("key j (blocks of keys stream past)")
    ax.set_ylabel("query i (one program per block)")
    ax.set_title(f"{'causal' if causal else 'full'} attention, T = {T}, blocks of {block}", fontsize=10)
    return ax


def plot_cost(rows: list[dict], formula=None, axes=None):
    """Peak memory and time of one forward pass against T, one line per mixer (log-log).

    ``rows``: dicts with keys "mixer", "T", "seconds" and "bytes". ``formula``: optional function of T giving
    the naive form's predicted bytes, drawn dashed. Returns the two axes.
    """
    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(11, 4))[1]
    mixers = list(dict.fromkeys(r["mixer"] for r in rows))
    for mixer in mixers:
        mine = sorted((r for r in rows if r["mixer"] == mixer), key=lambda r: r["T"])
        T = [r["T"] for r in mine]
        axes[0].plot(T, [r["bytes"] / 2 ** 20 for r in mine], marker="o", ms=4, label=mixer)
        axes[1].plot(T, [r["seconds"] * 1e3 for r in mine], marker="o", ms=4, label=mixer)
    if formula is not None:
        T = sorted({r["T"] for r in rows})
        axes[0].plot(T, [formula(t) / 2 ** 20 for t in T], ls="--", color="0.4", label="naive: the formula")
    for ax, what in zip(axes, ("peak memory beyond the inputs (MiB)", "time of one forward pass (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    return axes
