"""The long-range tasks: deterministic under a seed, with the right targets at the
right lags."""

import pytest
import torch

from rnncourse.data.long_range import IGNORE, adding_problem, copy_memory


@pytest.mark.parametrize("lag,memory_length", [(5, 1), (10, 3), (40, 3), (4, 3)])
def test_copy_memory_targets_are_the_symbols_lag_steps_later(lag, memory_length):
    task = copy_memory(50, lag, memory_length=memory_length, n_symbols=6, seed=1)
    T = lag + memory_length
    assert task.x.shape == task.y.shape == (50, T) and task.vocab_size == 8
    for i in range(memory_length):
        assert torch.equal(
            task.y[:, i + lag], task.x[:, i] - 1
        )  # symbol token s is class s - 1
    assert (task.x[:, lag - 1] == 7).all()  # the "go" marker, just before the answer
    blanks = torch.ones(T, dtype=torch.bool)
    blanks[:memory_length] = False
    blanks[lag - 1] = False
    assert (task.x[:, blanks] == 0).all()
    assert (task.y[:, :lag] == IGNORE).all()
    assert ((task.x[:, :memory_length] >= 1) & (task.x[:, :memory_length] <= 6)).all()


def test_copy_memory_is_deterministic_and_seeds_differ():
    a, b, c = (
        copy_memory(20, 10, seed=0),
        copy_memory(20, 10, seed=0),
        copy_memory(20, 10, seed=1),
    )
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)


def test_copy_memory_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lag must exceed memory_length=3"):
        copy_memory(10, 3, memory_length=3)
    with pytest.raises(ValueError):
        copy_memory(0, 10)


def test_adding_problem():
    task = adding_problem(100, 30, seed=2)
    assert task.x.shape == (100, 30, 2) and task.y.shape == (100,)
    assert (task.x[..., 1].sum(1) == 2).all()
    first, second = task.positions[:, 0], task.positions[:, 1]
    assert (first < 15).all() and (second >= 15).all()
    rows = torch.arange(100)
    torch.testing.assert_close(task.y, task.x[rows, first, 0] + task.x[rows, second, 0])
    assert torch.equal(adding_problem(100, 30, seed=2).x, task.x)
    with pytest.raises(ValueError):
        adding_problem(10, 1)
