"""Multi-scale retention: its three forms agree, pieces with the state equal one pass,
the decays, bad input."""

import pytest
import torch

from rnncourse.nn.retnet import MultiScaleRetention, retnet_log_decays, rotate
from rnncourse.training import seed_everything


def _layer(impl="parallel", **options):
    seed_everything(0)
    return MultiScaleRetention(
        16, n_heads=4, impl=impl, chunk_size=16, **options
    ).double()


def _x(B=2, T=45, seed=1):
    return torch.randn(
        B, T, 16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def test_the_three_forms_agree_in_values_and_gradients():
    x = _x()
    outputs = {}
    for impl in ("parallel", "recurrent", "chunk"):
        layer = _layer(impl)
        xi = x.clone().requires_grad_()
        y, state = layer(xi)
        y.pow(2).sum().backward()
        outputs[impl] = (y, state, xi.grad, layer.q_proj.weight.grad)
    for impl in ("recurrent", "chunk"):
        for got, expected in zip(outputs[impl], outputs["parallel"]):
            assert (got - expected).abs().max() < 1e-10


def test_pieces_with_state_and_offset_equal_one_pass():
    layer, x = _layer("chunk"), _x(T=40)
    y, state = layer(x)
    y1, s1 = layer(x[:, :23])
    y2, s2 = layer(x[:, 23:], s1, offset=23)
    assert (torch.cat([y1, y2], dim=1) - y).abs().max() < 1e-10 and (
        s2 - state
    ).abs().max() < 1e-10
    # without the offset the rotation restarts at position 0
    y_wrong, _ = layer(x[:, 23:], s1)
    assert (y_wrong - y[:, 23:]).abs().max() > 1e-3


def test_multi_scale_decays():
    gamma = retnet_log_decays(4).double().exp()
    assert torch.allclose(
        gamma,
        1 - 2.0 ** torch.tensor([-5.0, -6, -7, -8], dtype=torch.float64),
        atol=1e-7,
    )


def test_rotation_keeps_norms_and_depends_on_relative_position():
    q, k = _x(1, 6, 2).view(1, 1, 6, 16), _x(1, 6, 3).view(1, 1, 6, 16)
    assert torch.allclose(rotate(q).norm(dim=-1), q.norm(dim=-1))
    scores = rotate(q) @ rotate(k).transpose(-1, -2)
    shifted = rotate(q, offset=7) @ rotate(k, offset=7).transpose(-1, -2)
    assert (scores - shifted).abs().max() < 1e-5


def test_state_shape_and_bad_input():
    layer = _layer()
    _, state = layer(_x(T=3))
    assert state.shape == (2, 4, 4, 4)
    with pytest.raises(ValueError, match="must have 16 features"):
        layer(_x()[..., :8])
    with pytest.raises(ValueError, match="must be batched"):
        layer(_x()[0])
    with pytest.raises(
        ValueError, match="dtype torch.float64 like the layer's parameters"
    ):
        layer(_x().float())
    with pytest.raises(ValueError, match="d_model=16 must be divisible by n_heads=3"):
        MultiScaleRetention(16, n_heads=3)
    with pytest.raises(ValueError, match="n_heads=2 times an even head size"):
        MultiScaleRetention(6, n_heads=2)
