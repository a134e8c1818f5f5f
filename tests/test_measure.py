"""rnncourse.measure: the peak memory of a call, the cost of a training step and of
every mixer, and state sizes."""

import pytest
import torch
import torch.nn.functional as F

from rnncourse.measure import (
    MIXERS,
    forward_cost,
    n_params,
    saved_bytes,
    state_bytes,
    state_tensors,
    step_cost,
)
from rnncourse.nn import CharLM
from rnncourse.ops.softmax_attention import memory_naive


def test_saved_bytes_counts_one_stored_tensor_once():
    x = torch.randn(100, requires_grad=True)
    loss, nbytes = saved_bytes(lambda: (x * x).sum())  # x is saved twice, counted once
    assert nbytes == 400 and loss.requires_grad


def test_memory_of_a_step_grows_linearly_with_T():
    model = CharLM(10, hidden_size=16, embed_size=4)

    def loss_fn(model, x):
        logits, _ = model(x)
        return F.cross_entropy(logits.flatten(0, 1), x.flatten())

    sizes = {
        T: step_cost(model, loss_fn, torch.randint(0, 10, (2, T)), repeats=1)[1]
        for T in (10, 20, 40)
    }
    per_step = (sizes[40] - sizes[20]) / 20
    assert per_step > 0
    assert (
        abs((sizes[20] - sizes[10]) / 10 - per_step) < 1e-9 * per_step + 1
    )  # exactly linear
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("mixer", MIXERS)
def test_memory_grows_as_the_chapter_says(mixer):
    (t1, small), (t2, large) = (
        forward_cost(mixer, 512, d=16),
        forward_cost(mixer, 2048, d=16),
    )
    assert t1 > 0 and t2 > 0
    if mixer == "attention (naive)":
        assert small.peak == memory_naive(1, 1, 512, 512, 16, causal=True)
        assert large.peak == memory_naive(1, 1, 2048, 2048, 16, causal=True)
    else:
        assert large.peak <= 6 * small.peak, (
            small,
            large,
        )  # 4 times the tokens: about 4 times the memory, not 16
        assert (
            large.largest < 2048 * 2048 * 4 / 4
        )  # never a T x T matrix (tiles: 2048 x 256)


def test_unknown_mixer():
    with pytest.raises(KeyError):
        forward_cost("attention (magic)", 16)


def test_state_bytes_counts_nested_tensors():
    state = (3, [torch.zeros(2, 3), (torch.zeros(4, dtype=torch.float64), None)])
    assert len(state_tensors(state)) == 2
    assert state_bytes(state) == 6 * 4 + 4 * 8


def test_n_params_counts_every_parameter():
    assert n_params(torch.nn.Linear(3, 2)) == 3 * 2 + 2
