"""The selective-copying task: tokens where the positions say, blanks elsewhere, targets
in order at the end."""

import pytest
import torch

from rnncourse.data.long_range import IGNORE
from rnncourse.data.selective_copy import BLANK, selective_copy


def test_tokens_positions_and_targets():
    task = selective_copy(200, length=30, n_tokens=5, n_symbols=6, seed=3)
    assert (
        task.x.shape == task.y.shape == (200, 35)
        and task.vocab_size == 8
        and task.marker == 7
    )
    rows = torch.arange(200)[:, None]
    assert (task.positions[:, 1:] > task.positions[:, :-1]).all()  # sorted and distinct
    assert (task.positions < 30).all()
    data = task.x[rows, task.positions]
    assert ((data >= 1) & (data <= 6)).all()
    assert torch.equal(
        task.y[:, 30:], data - 1
    )  # the k-th marker asks for the k-th data token, in order
    others = torch.ones(200, 30, dtype=torch.bool)
    others[rows, task.positions] = False
    assert (task.x[:, :30][others] == BLANK).all()
    assert (task.x[:, 30:] == 7).all() and (task.y[:, :30] == IGNORE).all()
    assert (
        task.positions[:, 0].float().std() > 1
    )  # the places vary from sequence to sequence


def test_deterministic_and_seeds_differ():
    a, b, c = (
        selective_copy(20, seed=0),
        selective_copy(20, seed=0),
        selective_copy(20, seed=1),
    )
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least n_tokens=5"):
        selective_copy(10, length=4, n_tokens=5)
    with pytest.raises(ValueError):
        selective_copy(0)
    with pytest.raises(ValueError):
        selective_copy(10, n_symbols=1)
