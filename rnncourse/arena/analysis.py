"""Chapter 9's results read: recall curves, crossovers, the table and the
triangle's scores.

Every function takes the results dict as :func:`rnncourse.arena.load` returns it (JSON:
the numbers of pairs and the context lengths are string keys) and computes from what was
measured, nothing else; :mod:`rnncourse.figures.arena` draws them.
"""

from __future__ import annotations

import math
from typing import Any

NAMES = {
    "lstm": "LSTM",
    "transformer": "Transformer",
    "retnet": "RetNet",
    "rwkv": "RWKV-4",
    "mamba": "Mamba",
    "hybrid": "Hybrid (RetNet + attention)",
}


def recall_curve(results: dict[str, Any], name: str) -> tuple[list[int], list[float]]:
    """(numbers of pairs, recall accuracy at each) for one model, in increasing order
    of pairs."""
    accuracy = results["models"][name]["recall"]["accuracy"]
    pairs = sorted(int(n) for n in accuracy)
    return pairs, [accuracy[str(n)] for n in pairs]


def crossover(results: dict[str, Any], name: str, threshold: float = 0.5) -> int | None:
    """The first number of pairs at which the model's recall accuracy falls below
    ``threshold`` (None if it never does over the pairs measured)."""
    for n, acc in zip(*recall_curve(results, name)):
        if acc < threshold:
            return n
    return None


def contexts(results: dict[str, Any]) -> list[int]:
    return sorted(int(c) for c in next(iter(results["models"].values()))["inference"])


def table(results: dict[str, Any]) -> str:
    """The chapter's table as Markdown: parameters, quality per task, training
    throughput, the time of one generated token after the two longest contexts, and the
    memory kept after the shortest and the longest."""
    budget, cs = results["budget"], contexts(results)
    pairs = sorted(budget["pairs"])
    short, middle, long = cs[0], cs[-2], cs[-1]
    head = [
        "model",
        "params (text)",
        f"recall acc. ({pairs[len(pairs) // 2]} / {pairs[-1]} pairs)",
        "sel. copy acc.",
        "text (bits/char)",
        "train (tokens/s)",
        f"ms/token @ {middle}",
        f"ms/token @ {long}",
        f"state KiB @ {short}",
        f"state KiB @ {long}",
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in results["models"].items():
        acc, inf = row["recall"]["accuracy"], row["inference"]
        cells = [
            NAMES[name],
            f"{row['params']['text']:,}",
            f"{acc[str(pairs[len(pairs) // 2])]:.2f} / {acc[str(pairs[-1])]:.2f}",
            f"{row['copy']['accuracy']:.2f}",
            f"{row['text']['bpc']:.2f}",
            f"{row['text']['tokens_per_s']:,.0f}",
            f"{1e3 * inf[str(middle)]['seconds_per_token']:.2f}",
            f"{1e3 * inf[str(long)]['seconds_per_token']:.2f}",
            f"{inf[str(short)]['state_bytes'] / 1024:.1f}",
            f"{inf[str(long)]['state_bytes'] / 1024:.1f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def triangle_scores(results: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """Each model's three scores in [0, 1], each relative to the best model on it:
    training parallelism (training tokens per second), cheap inference (the smallest
    state or cache after the longest context, on a log scale), and quality (the mean of
    recall accuracy over the pairs, selective-copy accuracy and the text score, lowest
    bits per character = 1)."""
    models = results["models"]
    long = str(contexts(results)[-1])
    speed = {n: r["text"]["tokens_per_s"] for n, r in models.items()}
    memory = {
        n: math.log(r["inference"][long]["state_bytes"]) for n, r in models.items()
    }
    bpc = {n: r["text"]["bpc"] for n, r in models.items()}
    recall = {
        n: sum(r["recall"]["accuracy"].values()) / len(r["recall"]["accuracy"])
        for n, r in models.items()
    }
    scores = {}
    for n, r in models.items():
        parallel = speed[n] / max(speed.values())
        cheap = (max(memory.values()) - memory[n]) / max(
            max(memory.values()) - min(memory.values()), 1e-12
        )
        text = min(bpc.values()) / bpc[n]
        quality = (recall[n] + r["copy"]["accuracy"] + text) / 3
        scores[n] = (parallel, cheap, quality)
    return scores
