"""The head split shared by attention and retention: a view, its inverse, errors."""

import pytest
import torch

from rnncourse.nn.heads import head_size, merge_heads, split_heads
from rnncourse.nn.hgrn2 import HGRU2
from rnncourse.nn.retnet import MultiScaleRetention
from rnncourse.nn.transformer import CausalSelfAttention


def test_split_gives_each_head_its_block_of_channels_and_merge_undoes_it():
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):
        assert torch.equal(heads[:, h], x[..., 4 * h : 4 * (h + 1)])
    assert torch.equal(merge_heads(heads), x)


def test_head_size():
    assert head_size("layer", 12, 3) == 4
    assert head_size("layer", 12, 2, even=True) == 6


@pytest.mark.parametrize(
    "make",
    [CausalSelfAttention, MultiScaleRetention, HGRU2],
    ids=lambda make: make.__name__,
)
def test_layers_refuse_a_width_that_does_not_split_into_heads(make):
    with pytest.raises(
        ValueError, match=f"{make.__name__}: d_model=10 must be divisible by n_heads=4"
    ):
        make(10, n_heads=4)
    with pytest.raises(ValueError, match="must be divisible by n_heads=0"):
        make(10, n_heads=0)


@pytest.mark.parametrize("make", [CausalSelfAttention, MultiScaleRetention])
def test_rotating_layers_refuse_an_odd_head_size(make):
    with pytest.raises(
        ValueError,
        match=r"d_model=12 must be n_heads=4 times an even head size .* head size 3",
    ):
        make(12, n_heads=4)
