"""Multi-query associative recall: the answers agree with a brute-force lookup, the
generator is deterministic."""

import pytest
import torch

from rnncourse.data.long_range import IGNORE
from rnncourse.data.recall import associative_recall


def brute_force_answers(x: list[int], n_pairs: int) -> list[int]:
    """Read the pairs into a dictionary, then answer each query by looking its
    key up."""
    table = {}
    for i in range(n_pairs):
        table[x[2 * i]] = x[2 * i + 1]
    return [table[key] for key in x[2 * n_pairs :]]


@pytest.mark.parametrize("n_pairs", [1, 3, 16, 64])
def test_answers_agree_with_a_brute_force_solver(n_pairs):
    task = associative_recall(50, n_pairs, n_keys=64, n_values=32, seed=n_pairs)
    assert task.x.shape == task.y.shape == (50, 3 * n_pairs) and task.vocab_size == 96
    for x, y in zip(task.x.tolist(), task.y.tolist()):
        keys, values = x[0 : 2 * n_pairs : 2], x[1 : 2 * n_pairs : 2]
        assert len(set(keys)) == n_pairs and all(
            0 <= k < 64 for k in keys
        )  # distinct keys
        assert all(64 <= v < 96 for v in values)
        assert sorted(x[2 * n_pairs :]) == sorted(keys)  # every key asked for once
        assert y[2 * n_pairs :] == brute_force_answers(x, n_pairs)
        assert all(t == IGNORE for t in y[: 2 * n_pairs])


def test_pairs_and_query_order_vary():
    task = associative_recall(200, 8, seed=0)
    assert len({tuple(row) for row in task.x.tolist()}) == 200
    assert (task.x[:, 16:] != task.x[:, 0:16:2]).any(
        dim=1
    ).float().mean() > 0.9  # queries in a new order


def test_deterministic_and_seeds_differ():
    a, b, c = (associative_recall(20, 8, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_keys >= n_pairs"):
        associative_recall(4, 65, n_keys=64)
    with pytest.raises(ValueError, match="n_pairs >= 1"):
        associative_recall(4, 0)
    with pytest.raises(ValueError, match="n_values >= 2"):
        associative_recall(4, 4, n_values=1)
