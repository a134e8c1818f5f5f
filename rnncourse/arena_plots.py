"""Chapter 9's table and figures, drawn from the arena's results (``rnncourse.arena.load()``).

Every function takes the results dict as ``load`` returns it (JSON: the numbers of pairs and
the context lengths are string keys) and draws or formats what was measured, nothing else.
"""
from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

NAMES = {"lstm": "LSTM", "transformer": "Transformer", "retnet": "RetNet", "rwkv": "RWKV-4", "mamba": "Mamba",
         "hybrid": "Hybrid (RetNet + attention)"}
MARKERS = {"lstm": "o", "transformer": "s", "retnet": "^", "rwkv": "D", "mamba": "v", "hybrid": "P"}


def recall_curve(results: dict[str, Any], name: str) -> tuple[list[int], list[float]]:
    """(numbers of pairs, recall accuracy at each) for one model, in increasing order of pairs."""
    accuracy = results["models"][name]["recall"]["accuracy"]
    pairs = sorted(int(n) for n in accuracy)
    return pairs, [accuracy[str(n)] for n in pairs]


def crossover(results: dict[str, Any], name: str, threshold: float = 0.5) -> int | None:
    """The first number of pairs at which the model's recall accuracy falls below ``threshold``
    (None if it never does over the pairs measured)."""
    for n, acc in zip(*recall_curve(results, name)):
        if acc < threshold:
            return n
    return None


def contexts(results: dict[str, Any]) -> list[int]:
    return sorted(int(c) for c in next(iter(results["models"].values()))["inference"])


def table(results: dict[str, Any]) -> str:
    """The chapter's table as Markdown: parameters, quality per task, training throughput, the time
    of one generated token after the two longest contexts, and the memory kept after the shortest
    and the longest."""
    budget, cs = results["budget"], contexts(results)
    pairs = sorted(budget["pairs"])
    short, middle, long = cs[0], cs[-2], cs[-1]
    head = ["model", "params (text)", f"recall acc. ({pairs[len(pairs) // 2]} / {pairs[-1]} pairs)", "sel. copy acc.",
            "text (bits/char)", "train (tokens/s)", f"ms/token @ {middle}", f"ms/token @ {long}",
            f"state KiB @ {short}", f"state KiB @ {long}"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in results["models"].items():
        acc, inf = row["recall"]["accuracy"], row["inference"]
        cells = [NAMES[name], f"{row['params']['text']:,}",
                 f"{acc[str(pairs[len(pairs) // 2])]:.2f} / {acc[str(pairs[-1])]:.2f}",
                 f"{row['copy']['accuracy']:.2f}", f"{row['text']['bpc']:.2f}", f"{row['text']['tokens_per_s']:,.0f}",
                 f"{1e3 * inf[str(middle)]['seconds_per_token']:.2f}", f"{1e3 * inf[str(long)]['seconds_per_token']:.2f}",
                 f"{inf[str(short)]['state_bytes'] / 1024:.1f}", f"{inf[str(long)]['state_bytes'] / 1024:.1f}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_recall(results: dict[str, Any], ax: Axes | None = None) -> Axes:
    """Recall accuracy against the number of key-value pairs, one line per model, and the accuracy
    1/N of a model that answers with one of the N values it saw, at random."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for name in results["models"]:
        pairs, acc = recall_curve(results, name)
        ax.plot(pairs, acc, marker=MARKERS[name], label=NAMES[name])
    ax.set_xscale("log", base=2)
    ax.set_xticks(pairs, [str(n) for n in pairs])
    ax.minorticks_off()
    ax.plot(pairs, [1 / n for n in pairs], color="0.5", lw=1, ls="--", label="guessing one of the N values (1/N)")
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("key-value pairs in the sequence")
    ax.set_ylabel("recall accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: the curves fill the axes
    return ax


def plot_inference(results: dict[str, Any], key: str = "state_bytes", ax: Axes | None = None) -> Axes:
    """Memory (``key="state_bytes"``) or time (``"seconds_per_token"``) of generation against the
    number of tokens already read, log-log, one line per model."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    cs = contexts(results)
    scale = 1 / 1024 if key == "state_bytes" else 1e3
    for name, row in results["models"].items():
        ax.loglog(cs, [scale * row["inference"][str(c)][key] for c in cs], marker=MARKERS[name], label=NAMES[name])
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.minorticks_off()
    ax.set_xlabel("tokens read so far (context length)")
    ax.set_ylabel("state or cache (KiB)" if key == "state_bytes" else "time per generated token (ms)")
    ax.legend(fontsize=8)
    return ax


def triangle_scores(results: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """Each model's three scores in [0, 1], each relative to the best model on it:
    training parallelism (training tokens per second), cheap inference (the smallest state or
    cache after the longest context, on a log scale), and quality (the mean of recall accuracy
    over the pairs, selective-copy accuracy and the text score, lowest bits per character = 1)."""
    models = results["models"]
    long = str(contexts(results)[-1])
    speed = {n: r["text"]["tokens_per_s"] for n, r in models.items()}
    memory = {n: math.log(r["inference"][long]["state_bytes"]) for n, r in models.items()}
    bpc = {n: r["text"]["bpc"] for n, r in models.items()}
    recall = {n: sum(r["recall"]["accuracy"].values()) / len(r["recall"]["accuracy"]) for n, r in models.items()}
    scores = {}
    for n, r in models.items():
        parallel = speed[n] / max(speed.values())
        cheap = (max(memory.values()) - memory[n]) / max(max(memory.values()) - min(memory.values()), 1e-12)
        text = min(bpc.values()) / bpc[n]
        quality = (recall[n] + r["copy"]["accuracy"] + text) / 3
        scores[n] = (parallel, cheap, quality)
    return scores


def plot_triangle(results: dict[str, Any], ax: Axes | None = None) -> Axes:
    """The "impossible triangle": each model placed at the weighted centre of the three corners
    (training parallelism, cheap inference, quality), weighted by its measured scores; a model
    that had all three would sit in the middle, one strong on a single property near its corner."""
    ax = ax or plt.subplots(figsize=(5, 4.5))[1]
    corners = [(0.0, 0.0), (1.0, 0.0), (0.5, math.sqrt(3) / 2)]
    labels = ["training\nparallelism", "cheap\ninference", "quality"]
    ax.fill(*zip(*corners), color="0.95", edgecolor="0.5")
    for (x, y), label, va in zip(corners, labels, ["top", "top", "bottom"]):
        ax.text(x, y + (0.03 if va == "bottom" else -0.03), label, ha="center", va=va, fontsize=9)
    for name, weights in triangle_scores(results).items():
        total = sum(weights) or 1.0
        x = sum(w * cx for w, (cx, _) in zip(weights, corners)) / total
        y = sum(w * cy for w, (_, cy) in zip(weights, corners)) / total
        ax.plot(x, y, marker=MARKERS[name], ms=9, ls="none", label=f"{NAMES[name]} {tuple(round(w, 2) for w in weights)}")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_ylim(-0.2, 1.0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="(parallel, cheap, quality)",
              title_fontsize=7)
    return ax
