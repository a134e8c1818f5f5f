"""The forward-pass cost of every sequence mixer: each runs, naive attention's memory is its formula, and the
others' memory grows linearly in T."""
import pytest

from rnncourse.ops.attention import memory_naive
from rnncourse.sequence_cost import MIXERS, forward_cost


@pytest.mark.parametrize("mixer", MIXERS)
def test_memory_grows_as_the_chapter_says(mixer):
    (t1, small), (t2, large) = forward_cost(mixer, 512, d=16), forward_cost(mixer, 2048, d=16)
    assert t1 > 0 and t2 > 0
    if mixer == "attention (naive)":
        assert small.peak == memory_naive(1, 1, 512, 512, 16, causal=True)
        assert large.peak == memory_naive(1, 1, 2048, 2048, 16, causal=True)
    else:
        assert large.peak <= 6 * small.peak, (small, large)  # 4 times the tokens: about 4 times the memory, not 16
        assert large.largest < 2048 * 2048 * 4 / 4  # never a T x T matrix (tiles: 2048 x 256)


def test_unknown_mixer():
    with pytest.raises(KeyError):
        forward_cost("attention (magic)", 16)
