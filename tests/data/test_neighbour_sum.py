"""The neighbour-sum task: its targets are (x_{t-1} + x_{t+1}) mod K, nothing at
the ends."""

import pytest
import torch

from rnncourse.data.long_range import IGNORE
from rnncourse.data.neighbour_sum import neighbour_sum


def test_targets_by_a_plain_loop():
    data = neighbour_sum(5, length=9, K=3, seed=4)
    assert (
        data.x.shape == data.y.shape == (5, 9)
        and data.x.dtype == data.y.dtype == torch.int64
    )
    for x, y in zip(data.x.tolist(), data.y.tolist()):
        assert y[0] == y[-1] == IGNORE
        assert y[1:-1] == [(x[t - 1] + x[t + 1]) % 3 for t in range(1, 8)]
    assert data.x.min() >= 0 and data.x.max() < 3


def test_seeded():
    assert torch.equal(neighbour_sum(4, seed=1).x, neighbour_sum(4, seed=1).x)
    assert not torch.equal(neighbour_sum(4, seed=1).x, neighbour_sum(4, seed=2).x)


@pytest.mark.parametrize("n,length,K", [(0, 5, 4), (3, 2, 4), (3, 5, 1)])
def test_bad_arguments(n, length, K):
    with pytest.raises(ValueError, match="need n >= 1, length >= 3 and K >= 2"):
        neighbour_sum(n, length, K)
