"""Scores for translations: exact match, the character error rate, and accuracy by
source length.

Exact match counts a translation as right only if every character is right;
the character error rate (the edit distance to the reference, divided by the
reference's length) gives partial credit, and says how wrong a wrong answer is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references) or not references:
        raise ValueError(
            f"expected as many predictions as references (at least one), "
            f"got {len(predictions)} and {len(references)}"
        )


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """The fraction of predictions equal to their reference."""
    _check_pairs(predictions, references)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that
    turn a into b."""
    # d[j] holds the distance between the first i characters of a and the first j of b
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        diagonal, d[0] = d[0], i
        for j, cb in enumerate(b, start=1):
            # d[i][j] = min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + [a_i != b_j])
            diagonal, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, diagonal + (ca != cb))
    return d[-1]


def character_error_rate(
    predictions: Sequence[str], references: Sequence[str]
) -> float:
    """Total edit distance over total reference length
    (0 is perfect; it can exceed 1)."""
    _check_pairs(predictions, references)
    return sum(edit_distance(p, r) for p, r in zip(predictions, references)) / sum(
        map(len, references)
    )


def accuracy_by_length(
    lengths: torch.Tensor, correct: torch.Tensor, edges: Sequence[int]
):
    """Bin examples by source length and return (counts (n_bins,), accuracy (n_bins,)).

    lengths: (N,) int; correct: (N,) bool; bin k holds
    edges[k] <= length < edges[k + 1].
    """
    if lengths.shape != correct.shape or lengths.dim() != 1:
        raise ValueError(
            "lengths and correct must both have shape (N,), got "
            f"{tuple(lengths.shape)} and {tuple(correct.shape)}"
        )
    counts, accuracy = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (lengths >= lo) & (lengths < hi)
        counts.append(int(inside.sum()))
        accuracy.append(
            correct[inside].float().mean().item() if inside.any() else float("nan")
        )
    return torch.tensor(counts), torch.tensor(accuracy)
