"""The hand-written BPTT against autograd: float64, several shapes, both losses, with
and without h_0."""

import pytest
import torch

from rnncourse.bptt import (
    LOSSES,
    ElmanParams,
    Gradients,
    autograd_gradients,
    bptt,
    elman_forward,
    numerical_gradient,
    relative_error,
    step_backward,
)

# (B, T, D_in, D_h, D_out)
SHAPES = [
    (1, 1, 1, 1, 1),
    (2, 5, 3, 4, 2),
    (3, 17, 2, 8, 5),
    (4, 63, 6, 3, 7),
]


def _problem(B, T, D_in, D_h, D_out, loss, seed):
    g = torch.Generator().manual_seed(seed)
    params = ElmanParams.init(D_in, D_h, D_out, g)
    x = torch.randn(B, T, D_in, generator=g, dtype=torch.float64)
    if loss == "squared_error":
        target = torch.randn(B, T, D_out, generator=g, dtype=torch.float64)
    else:
        target = torch.randint(0, D_out, (B, T), generator=g)
    h0 = torch.randn(B, D_h, generator=g, dtype=torch.float64) * 0.5
    return x, target, params, h0


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_autograd(shape, loss, with_h0):
    x, target, params, h0 = _problem(*shape, loss, seed=sum(shape))
    h0 = h0 if with_h0 else None
    L, grads = bptt(x, target, params, h0, loss)
    L_ref, grads_ref = autograd_gradients(x, target, params, h0, loss)
    assert abs(L.item() - L_ref.item()) <= 1e-12 * abs(L_ref.item())
    for name, g, g_ref in zip(Gradients._fields, grads, grads_ref):
        assert g.shape == g_ref.shape and g.dtype == torch.float64, name
        assert relative_error(g, g_ref) < 1e-10, name


def test_matches_finite_differences():
    x, target, params, h0 = _problem(2, 4, 2, 3, 2, "cross_entropy", seed=7)
    _, grads = bptt(x, target, params, h0, "cross_entropy")
    for name in ("W_hh", "W_xh", "b_y"):
        tensor = getattr(params, name)
        numeric = numerical_gradient(
            lambda: bptt(x, target, params, h0, "cross_entropy")[0].item(), tensor
        )
        assert relative_error(numeric, getattr(grads, name)) < 1e-7, name
    numeric = numerical_gradient(
        lambda: bptt(x, target, params, h0, "cross_entropy")[0].item(), h0
    )
    assert relative_error(numeric, grads.h0) < 1e-7


def test_forward_stores_every_state_and_matches_torch():
    x, _, params, h0 = _problem(2, 6, 3, 4, 2, "squared_error", seed=3)
    hs, y = elman_forward(x, params, h0)
    assert hs.shape == (2, 7, 4) and y.shape == (2, 6, 2)
    assert torch.equal(hs[:, 0], h0)
    rnn = torch.nn.RNN(3, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(params.W_xh), rnn.weight_hh_l0.copy_(params.W_hh)
        rnn.bias_ih_l0.copy_(params.b_h), rnn.bias_hh_l0.zero_()
    torch.testing.assert_close(hs[:, 1:], rnn(x, h0[None])[0], rtol=0, atol=1e-14)


def test_step_backward_is_the_chain_rule_of_one_step():
    g = torch.Generator().manual_seed(0)
    x, h_prev = (
        torch.randn(3, 2, generator=g, dtype=torch.float64),
        torch.randn(3, 4, generator=g, dtype=torch.float64),
    )
    W_xh = torch.randn(4, 2, generator=g, dtype=torch.float64).requires_grad_()
    W_hh = torch.randn(4, 4, generator=g, dtype=torch.float64).requires_grad_()
    b_h = torch.randn(4, generator=g, dtype=torch.float64).requires_grad_()
    h_prev.requires_grad_()
    h = torch.tanh(x @ W_xh.T + h_prev @ W_hh.T + b_h)
    dh = torch.randn(3, 4, generator=g, dtype=torch.float64)
    (h * dh).sum().backward()
    dh_prev, dW_xh, dW_hh, db_h = step_backward(
        dh, h.detach(), h_prev.detach(), x, W_hh.detach()
    )
    for ours, theirs in [
        (dh_prev, h_prev.grad),
        (dW_xh, W_xh.grad),
        (dW_hh, W_hh.grad),
        (db_h, b_h.grad),
    ]:
        assert relative_error(ours, theirs) < 1e-12


@pytest.mark.parametrize("loss", LOSSES)
def test_bad_input_names_the_expected_shape(loss):
    x, target, params, h0 = _problem(2, 3, 2, 4, 3, loss, seed=0)
    with pytest.raises(ValueError, match=r"\(B, T, D_in\) with D_in=2"):
        bptt(x[..., :1], target, params, None, loss)
    with pytest.raises(ValueError, match=r"\(B, D_h\) = \(2, 4\)"):
        bptt(x, target, params, h0[:, :3], loss)
    with pytest.raises(ValueError, match="target"):
        bptt(x, target[:, :2], params, h0, loss)
    with pytest.raises(ValueError, match="loss must be one of"):
        bptt(x, target, params, h0, "hinge")
