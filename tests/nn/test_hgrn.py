"""HGRN and HGRN2 against plain float64 loops written from the papers' equations."""

import pytest
import torch
import torch.nn.functional as F

from rnncourse.nn.hgrn import HGRN, HGRU, lower_bounds
from rnncourse.nn.hgrn2 import HGRN2, HGRU2

F64 = torch.float64


def _hgru_loop(layer, x, lam):
    """h_t = f_t e^{iθ} h_{t-1} + (1 - f_t) c_t, one step at a time, then the gated,
    normalised output."""
    h = torch.zeros(x.shape[0], layer.d_model, dtype=torch.complex128)
    outs = []
    for t in range(x.shape[1]):
        f = lam + (1 - lam) * torch.sigmoid(layer.f_proj(x[:, t]))
        c_ri = F.silu(layer.c_proj(x[:, t])).view(x.shape[0], -1, 2)
        c = torch.complex(c_ri[..., 0], c_ri[..., 1])
        h = f * torch.exp(1j * layer.theta) * h + (1 - f) * c
        g = F.silu(layer.g_proj(x[:, t]))
        outs.append(layer.o_proj(layer.norm(torch.cat([h.real, h.imag], -1)) * g))
    return torch.stack(outs, dim=1)


def _hgru2_loop(layer, x, lam):
    """S_t = Diag(f_t) S_{t-1} + (1 - f_t) i_t^T per head, o_t = S_t^T q_t."""
    B, H, d_k, d_v = x.shape[0], layer.n_heads, layer.d_k, layer.d_v
    S = torch.zeros(B, H, d_k, d_v, dtype=F64)
    outs = []
    for t in range(x.shape[1]):
        f = (lam + (1 - lam) * torch.sigmoid(layer.f_proj(x[:, t]))).view(B, H, d_k)
        i = layer.i_proj(x[:, t]).view(B, H, d_v)
        q = F.silu(layer.q_proj(x[:, t])).view(B, H, d_k)
        S = f[..., None] * S + (1 - f)[..., None] * i[:, :, None, :]
        o = (S * q[..., None]).sum(2)  # S^T q
        outs.append(layer.o_proj(layer.norm(o.reshape(B, -1))))
    return torch.stack(outs, dim=1)


@pytest.mark.parametrize("T", [1, 12, 63])
@pytest.mark.parametrize("impl", ["loop", "parallel"])
def test_hgru_matches_a_plain_loop(T, impl):
    torch.manual_seed(T)
    layer = HGRU(6).double()
    x, lam = torch.randn(2, T, 6, dtype=F64), torch.rand(6, dtype=F64) * 0.9
    torch.testing.assert_close(
        layer(x, lam, impl=impl), _hgru_loop(layer, x, lam), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("T", [1, 12, 63])
@pytest.mark.parametrize("impl", ["loop", "parallel"])
def test_hgru2_matches_a_plain_loop(T, impl):
    torch.manual_seed(T)
    layer = HGRU2(8, n_heads=2, expand=3).double()
    x, lam = torch.randn(2, T, 8, dtype=F64), torch.rand(6, dtype=F64) * 0.9
    torch.testing.assert_close(
        layer(x, lam, impl=impl), _hgru2_loop(layer, x, lam), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize(
    "model_type,options", [(HGRN, {}), (HGRN2, {"n_heads": 2, "expand": 4})]
)
def test_stack_gradients_match_the_loop(model_type, options):
    torch.manual_seed(5)
    model = model_type(8, n_layers=3, **options).double()
    x = torch.randn(2, 10, 8, dtype=F64)
    w = torch.randn(2, 10, 8, dtype=F64)
    grads = {}
    for impl in ("loop", "parallel"):
        model.zero_grad()
        (model(x, impl=impl) * w).sum().backward()
        grads[impl] = [p.grad.clone() for p in model.parameters()]
    assert model.Gamma.grad.abs().sum() > 0  # the lower bounds are learned
    for g, r in zip(grads["parallel"], grads["loop"]):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-11)


def test_lower_bounds_rise_from_zero_and_stay_below_one():
    lam = lower_bounds(torch.randn(5, 7) * 3)
    assert (lam[0] == 0).all()
    assert (lam[1:] >= lam[:-1]).all() and (lam < 1).all()


def test_bad_input():
    with pytest.raises(ValueError, match="6 features"):
        HGRU(6)(torch.randn(2, 5, 5))
    with pytest.raises(ValueError, match="dtype torch.float32"):
        HGRU(6)(torch.randn(2, 5, 6, dtype=F64))
    with pytest.raises(ValueError, match="empty sequence"):
        HGRU2(8)(torch.randn(2, 0, 8))
    with pytest.raises(ValueError, match="must be batched"):
        HGRU2(8)(torch.randn(5, 8))
    with pytest.raises(ValueError, match="divisible by n_heads=3"):
        HGRU2(8, n_heads=3)
