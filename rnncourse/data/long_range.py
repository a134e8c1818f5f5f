"""Two synthetic tasks whose answer depends on inputs far in the past, generated on
the spot.

Copy memory (Hochreiter & Schmidhuber 1997; close to the form of Arjovsky,
Shah & Bengio 2016): read a few symbols, wait, then write them back when a marker
says "go". The lag, the number of steps between reading a symbol and writing
it, is exact, so accuracy can be measured as a function of it.

The adding problem (Hochreiter & Schmidhuber 1997; also a benchmark of Le,
Jaitly & Hinton 2015): a stream of random numbers, two of them marked; output
their sum at the last step. Here the two marks sit one in each half of the sequence.

Both are deterministic under ``seed``; chapters 3 and 4 use them at the same lags.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# the target at steps with nothing to predict; torch's cross_entropy skips it by default
IGNORE = -100


@dataclass
class CopyMemory:
    """A batch of the copy-memory task.

    ``x``: (N, T) int64 tokens, with T = lag + memory_length: 0 is blank,
    1..n_symbols are symbols, n_symbols + 1 is the "go" marker.
    ``y``: (N, T) int64 targets: the symbol's class (0..n_symbols - 1) at the
    memory_length steps where a symbol must be written, ``IGNORE`` elsewhere.
    """

    x: torch.Tensor
    y: torch.Tensor
    lag: int
    n_symbols: int

    @property
    def vocab_size(self) -> int:
        """How many input tokens there are: blank, the symbols and the marker."""
        return self.n_symbols + 2


def copy_memory(
    n: int, lag: int, memory_length: int = 3, n_symbols: int = 8, seed: int = 0
) -> CopyMemory:
    """``n`` sequences in which symbol i, read at step i, must be written at step
    i + lag.

    Steps 0..memory_length-1 hold random symbols, then blanks, the "go" marker at
    step lag - 1, and blanks while the answer is written (steps
    lag..lag+memory_length-1). Needs lag > memory_length so that the marker comes after
    the symbols.
    """
    if n < 1 or memory_length < 1 or n_symbols < 2:
        raise ValueError(
            f"need n >= 1, memory_length >= 1 and n_symbols >= 2, got {n}, "
            f"{memory_length}, {n_symbols}"
        )
    if lag <= memory_length:
        raise ValueError(
            f"lag must exceed memory_length={memory_length} so the marker follows the "
            f"symbols, got lag={lag}"
        )
    g = torch.Generator().manual_seed(seed)
    T = lag + memory_length
    # classes 0..n_symbols-1
    symbols = torch.randint(0, n_symbols, (n, memory_length), generator=g)
    x = torch.zeros(n, T, dtype=torch.long)
    x[:, :memory_length] = symbols + 1  # tokens 1..n_symbols
    x[:, lag - 1] = n_symbols + 1  # "go"
    y = torch.full((n, T), IGNORE, dtype=torch.long)
    y[:, lag:] = symbols  # symbol i is due at step i + lag
    return CopyMemory(x, y, lag, n_symbols)


@dataclass
class AddingProblem:
    """A batch of the adding problem: ``x`` (N, T, 2), values in channel 0 and the two
    marks in channel 1; ``y`` (N,) the sum of the two marked values; ``positions``
    (N, 2) where the marks are."""

    x: torch.Tensor
    y: torch.Tensor
    positions: torch.Tensor


def adding_problem(n: int, length: int, seed: int = 0) -> AddingProblem:
    """``n`` sequences of ``length`` steps: values uniform in [0, 1], one mark in
    each half."""
    if n < 1 or length < 2:
        raise ValueError(f"need n >= 1 and length >= 2, got n={n}, length={length}")
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, length, generator=g)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return AddingProblem(
        torch.stack([values, marks], dim=-1), y, torch.stack([first, second], dim=1)
    )
