"""The selective SSM against a float64 loop written from the equations: outputs and
gradients."""

import pytest
import torch

from rnncourse.nn.selective_ssm import SelectiveSSM, selective_scan

F64 = torch.float64


def _loop(x, delta, A, B, C, D):
    """h_t = exp(Δ_t A) h_{t-1} + A^{-1}(exp(Δ_t A) - 1) B_t x_t, y_t = C_t h_t + D x_t,
    one step at a time."""
    h = torch.zeros(x.shape[0], x.shape[2], A.shape[1], dtype=A.dtype)
    ys = []
    for t in range(x.shape[1]):
        A_bar = torch.exp(delta[:, t, :, None] * A)
        h = A_bar * h + (A_bar - 1) / A * B[:, t, None, :] * x[:, t, :, None]
        y = (h * C[:, t, None, :]).sum(-1)
        # a complex mode stands for a conjugate pair
        ys.append((2 * y.real if A.is_complex() else y) + D * x[:, t])
    return torch.stack(ys, dim=1)


def _inputs(Bsz=2, L=9, E=3, N=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(Bsz, L, E, generator=g, dtype=F64)
    delta = torch.rand(Bsz, L, E, generator=g, dtype=F64) + 0.01
    A = -torch.rand(E, N, generator=g, dtype=F64) * 3 - 0.1
    B, C = (
        torch.randn(Bsz, L, N, generator=g, dtype=F64),
        torch.randn(Bsz, L, N, generator=g, dtype=F64),
    )
    return x, delta, A, B, C, torch.randn(E, generator=g, dtype=F64)


@pytest.mark.parametrize("L", [1, 9, 63])
@pytest.mark.parametrize("impl", ["loop", "parallel"])
def test_matches_a_float64_loop(L, impl):
    args = _inputs(L=L)
    torch.testing.assert_close(
        selective_scan(*args, impl=impl), _loop(*args), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("impl", ["loop", "parallel"])
@pytest.mark.parametrize("complex_A", [False, True])
def test_gradients_match_the_loop(impl, complex_A):
    inputs = list(_inputs(L=20, seed=1))
    if complex_A:
        inputs[2] = torch.complex(
            inputs[2], torch.randn(inputs[2].shape, dtype=F64) * 3
        )
    inputs = [a.requires_grad_() for a in inputs]
    w = torch.randn(2, 20, 3, dtype=F64)
    ours = torch.autograd.grad((selective_scan(*inputs, impl=impl) * w).sum(), inputs)
    reference = torch.autograd.grad((_loop(*inputs) * w).sum(), inputs)
    for name, g, r in zip(["x", "delta", "A", "B", "C", "D"], ours, reference):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-10, msg=name)


def test_gradcheck_against_finite_differences():
    inputs = [a.requires_grad_() for a in _inputs(Bsz=1, L=5, E=2, N=2, seed=2)]
    assert torch.autograd.gradcheck(
        lambda *a: selective_scan(*a, impl="parallel"), inputs
    )


@pytest.mark.parametrize("complex_A", [False, True])
def test_layer_matches_the_loop_and_float32_stays_close(complex_A):
    torch.manual_seed(3)
    layer = SelectiveSSM(6, 4, complex_A=complex_A).double()
    x = torch.randn(2, 15, 6, dtype=F64)
    # the selection, written out again
    dt, B, C = layer.x_proj(x).split([layer.dt_rank, 4, 4], dim=-1)
    delta = torch.nn.functional.softplus(layer.dt_proj(dt))
    assert all(torch.equal(p, q) for p, q in zip(layer.selection(x), (delta, B, C)))
    A = -torch.exp(layer.A_log) + (1j * layer.A_imag if complex_A else 0)
    reference = _loop(x, delta, A, B, C, layer.D)
    torch.testing.assert_close(layer(x), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        layer.float()(x.float()).double(), reference, rtol=1e-4, atol=1e-5
    )


def test_a_small_step_holds_the_state():
    # selection at work: where Δ_t is (nearly) 0 the state ignores x_t and the output
    # depends only on C_t, D
    x, delta, A, B, C, D = _inputs(L=6, seed=4)
    delta[:, 3] = 1e-12
    changed = x.clone()
    changed[:, 3] += 5.0
    y, y_changed = (
        selective_scan(x, delta, A, B, C, D),
        selective_scan(changed, delta, A, B, C, D),
    )
    torch.testing.assert_close(
        (y_changed - y)[:, 3], D * 5.0 * torch.ones_like(y[:, 3])
    )
    torch.testing.assert_close(y_changed[:, 4:], y[:, 4:])


def test_bad_input():
    layer = SelectiveSSM(6, 4)
    with pytest.raises(ValueError, match="6 features"):
        layer(torch.randn(2, 5, 5))
    with pytest.raises(ValueError, match="dtype torch.float32"):
        layer(torch.randn(2, 5, 6, dtype=F64))
    with pytest.raises(ValueError, match="empty sequence"):
        layer(torch.randn(2, 0, 6))
    with pytest.raises(ValueError, match="must be batched"):
        layer(torch.randn(5, 6))
