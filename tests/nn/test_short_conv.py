"""The short causal convolution before a mixer: the convolution it claims, causal, in
pieces with its window, bad input."""

import pytest
import torch

from rnncourse.nn.retnet import MultiScaleRetention
from rnncourse.nn.short_conv import ShortConvMixer, ShortConvolution
from rnncourse.training import seed_everything


def _conv(d=5, K=4):
    seed_everything(0)
    return ShortConvolution(d, K).double()


def test_equals_the_sum_it_writes():
    conv = _conv()
    x = torch.randn(2, 9, 5, dtype=torch.float64)
    u, past = conv(x)
    # (d, K): w[:, K - 1] multiplies x_t, w[:, 0] x_{t-K+1}
    w, b = (
        conv.conv.weight[:, 0],
        conv.conv.bias,
    )
    K = w.shape[1]
    for t in range(9):
        # u_t = sum_j w_j ⊙ x_{t-j}
        expected = b + sum(
            w[:, K - 1 - j] * x[:, t - j] for j in range(K) if t - j >= 0
        )
        assert torch.allclose(u[:, t], expected, atol=1e-12), f"step {t}"
    assert torch.equal(past, x[:, -3:])


def test_matches_torch_conv1d_with_left_padding():
    conv = _conv()
    x = torch.randn(2, 7, 5, dtype=torch.float64)
    torch_conv = torch.nn.Conv1d(5, 5, 4, groups=5, padding=3).double()
    torch_conv.load_state_dict(conv.conv.state_dict())
    assert torch.allclose(
        conv(x)[0], torch_conv(x.transpose(1, 2))[..., :7].transpose(1, 2), atol=1e-12
    )


@pytest.mark.parametrize("cut", [1, 2, 5])
def test_in_pieces_with_the_window_equals_the_whole(cut):
    conv = _conv()
    x = torch.randn(3, 8, 5, dtype=torch.float64)
    whole, _ = conv(x)
    first, past = conv(x[:, :cut])
    second, _ = conv(x[:, cut:], past)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-12)


def test_mixer_is_causal_and_steps_like_the_whole():
    seed_everything(0)
    mixer = ShortConvMixer(MultiScaleRetention(8, 2), 8).double()
    x = torch.randn(2, 10, 8, dtype=torch.float64)
    y, _ = mixer(x)
    changed = x.clone()
    changed[:, 6] += 1.0
    assert torch.allclose(mixer(changed)[0][:, :6], y[:, :6], atol=1e-12), (
        "a later input changed an earlier output"
    )
    state, steps = None, []
    for t in range(10):
        out, state = mixer(x[:, t : t + 1], state, offset=t)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, dim=1), y, atol=1e-10)


def test_kernel_of_one_is_refused():
    with pytest.raises(ValueError, match="kernel_size must be at least 2"):
        ShortConvolution(4, 1)
