"""A tagging task that needs the future: at each step, the sum of the two neighbours
modulo K.

Input: a sequence of random symbols x_0..x_{T-1} from {0, ..., K-1}. Target at
step t (for 0 < t < T-1): y_t = (x_{t-1} + x_{t+1}) mod K. A model reading left
to right has not seen x_{t+1} when it must answer, so it is at chance (1/K)
whatever its depth. A bidirectional layer has both neighbours, but in two
separate halves of its output; chapter 4 shows why one such layer with a linear
readout still cannot add them, and two can.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnncourse.data.long_range import IGNORE


@dataclass
class NeighbourSum:
    """``x``: (N, T) int64 symbols in 0..K-1; ``y``: (N, T) int64 targets, ``IGNORE`` at
    the two ends."""

    x: torch.Tensor
    y: torch.Tensor
    K: int


def neighbour_sum(n: int, length: int = 16, K: int = 4, seed: int = 0) -> NeighbourSum:
    """``n`` random sequences of ``length`` symbols with their targets
    (x_{t-1} + x_{t+1}) mod K."""
    if n < 1 or length < 3 or K < 2:
        raise ValueError(
            f"need n >= 1, length >= 3 and K >= 2, got n={n}, length={length}, K={K}"
        )
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, K, (n, length), generator=g)
    y = torch.full((n, length), IGNORE, dtype=torch.long)
    y[:, 1:-1] = (x[:, :-2] + x[:, 2:]) % K  # y_t = (x_{t-1} + x_{t+1}) mod K
    return NeighbourSum(x, y, K)
