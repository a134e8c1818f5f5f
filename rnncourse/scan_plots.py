"""Figures for chapter 6: the parallel scan as a diagram, and a diagonal SSM's kernel."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch


def draw_parallel_scan(T: int = 8, ax=None):
    """The Hillis-Steele scan of T steps: log2(T) rounds, in round r step t combines with step t - 2^r.

    Each box names the steps it has composed so far, "s:t" for (a_s, b_s) o ... o (a_t, b_t);
    after the last round box t holds 1:t, so its b is h_t (from h_0 = 0).
    """
    rounds = math.ceil(math.log2(T))
    ax = ax or plt.subplots(figsize=(1.1 * T + 1, 1.0 * rounds + 1.6))[1]
    for r in range(rounds + 1):
        y = rounds - r
        for t in range(1, T + 1):
            first = max(1, t - 2 ** r + 1)
            done = first == 1
            ax.text(t, y, f"{first}:{t}", ha="center", va="center", fontsize=9,
                    bbox=dict(boxstyle="round", fc="#d6ecd2" if done else "#e8eef7", ec="0.4"))
            if r == rounds:
                continue
            ax.annotate("", xy=(t, y - 0.75), xytext=(t, y - 0.25), arrowprops=dict(arrowstyle="->", color="0.6"))
            if t + 2 ** r <= T:  # this box also feeds the one 2^r steps later
                ax.annotate("", xy=(t + 2 ** r - 0.12, y - 0.75), xytext=(t + 0.12, y - 0.25),
                            arrowprops=dict(arrowstyle="->", color="C3", lw=1.2))
        ax.text(0.2, y, "input" if r == 0 else f"round {r}", ha="right", va="center", fontsize=9)
    ax.set_xlim(-0.9, T + 0.6)
    ax.set_ylim(-0.6, rounds + 0.6)
    ax.axis("off")
    ax.set_title(f"A parallel scan of T = {T} steps in log2(T) = {rounds} rounds "
                 "(red: combine with the box 2^r to the left; green: finished)", fontsize=10)
    return ax


def plot_kernel(K: torch.Tensor, channels=(0, 1, 2), ax=None):
    """K: (H, L), the convolution kernel of a diagonal SSM: one line per chosen channel."""
    ax = ax or plt.subplots(figsize=(7, 2.8))[1]
    for h in channels:
        ax.plot(K[h].detach(), lw=1.2, label=f"channel {h}")
    ax.set_xlabel("k (steps into the past)")
    ax.set_ylabel("$K_k$")
    ax.legend(fontsize=8)
    return ax
