"""The selective-copying task (Gu & Dao 2023, section 3.1), generated on the spot.

A sequence holds a few data tokens scattered at random places among blank
(noise) tokens; at the end come as many "recall" markers, and at the k-th marker
the model must output the k-th data token it saw. Unlike the copy-memory task
(chapter 3), the data tokens sit at different places in every sequence, so a
model has to decide from the *content* of each token whether to store it: a
time-invariant model, whose every step treats its input the same way, cannot
just count steps. This is the task Mamba's paper uses to motivate selection.

Deterministic under ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnncourse.data.long_range import IGNORE

BLANK = 0  # the noise token between data tokens


@dataclass
class SelectiveCopy:
    """A batch of the selective-copying task.

    ``x``: (N, T) int64 tokens with T = length + n_tokens: 0 is blank,
    1..n_symbols are data tokens, n_symbols + 1 is the recall marker.
    ``y``: (N, T) int64 targets: at the k-th of the last n_tokens steps, the class
    (0..n_symbols - 1) of the k-th data token; ``IGNORE`` elsewhere.
    ``positions``: (N, n_tokens) the sorted steps where the data tokens were put.
    """

    x: torch.Tensor
    y: torch.Tensor
    positions: torch.Tensor
    n_symbols: int

    @property
    def vocab_size(self) -> int:
        """How many input tokens there are: blank, the symbols and the recall marker."""
        return self.n_symbols + 2

    @property
    def marker(self) -> int:
        """The recall marker's token."""
        return self.n_symbols + 1


def selective_copy(
    n: int, length: int = 64, n_tokens: int = 4, n_symbols: int = 8, seed: int = 0
) -> SelectiveCopy:
    """``n`` sequences: ``n_tokens`` data tokens at random distinct steps among
    ``length`` blanks-and-data steps, then ``n_tokens`` recall markers at which they are
    due, in order."""
    if n < 1 or n_tokens < 1 or n_symbols < 2:
        raise ValueError(
            f"need n >= 1, n_tokens >= 1 and n_symbols >= 2, got {n}, {n_tokens}, "
            f"{n_symbols}"
        )
    if length < n_tokens:
        raise ValueError(
            f"length must be at least n_tokens={n_tokens} to hold the data tokens, got "
            f"length={length}"
        )
    g = torch.Generator().manual_seed(seed)
    positions = (
        torch.rand(n, length, generator=g)
        .argsort(dim=1)[:, :n_tokens]
        .sort(dim=1)
        .values
    )
    # classes 0..n_symbols-1
    symbols = torch.randint(0, n_symbols, (n, n_tokens), generator=g)
    x = torch.full((n, length + n_tokens), BLANK, dtype=torch.long)
    x.scatter_(1, positions, symbols + 1)  # data tokens 1..n_symbols
    x[:, length:] = n_symbols + 1  # the recall markers
    y = torch.full_like(x, IGNORE)
    y[:, length:] = symbols  # the k-th marker asks for the k-th data token
    return SelectiveCopy(x, y, positions, n_symbols)
