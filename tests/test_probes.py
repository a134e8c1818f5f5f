"""rnncourse.probes: Jacobian products and gradient norms against autograd, and the
LSTM's recorded gates."""

import pytest
import torch

from rnncourse.nn import LSTM, RNN
from rnncourse.nn.init import orthogonal_
from rnncourse.probes import (
    gradient_norms,
    jacobian_product,
    lstm_gate_trace,
    lstm_gradient_norms,
    probe,
    unroll_lstm_states,
    unroll_states,
)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jacobian_product_equals_autograds_jacobian(nonlinearity):
    torch.manual_seed(0)
    rnn = RNN(3, 5, nonlinearity=nonlinearity, dtype=torch.float64)
    x = torch.randn(1, 7, 3, dtype=torch.float64)
    h0 = torch.randn(1, 5, dtype=torch.float64)

    def h_T(h0):
        return unroll_states(rnn, x, h0)[-1][0]

    expected = torch.autograd.functional.jacobian(h_T, h0)[:, 0]  # (D_h, D_h)
    hs = torch.cat(unroll_states(rnn, x, h0)).detach()  # (T+1, D_h)
    torch.testing.assert_close(
        jacobian_product(hs, rnn.weight_hh_l0.detach(), nonlinearity),
        expected,
        rtol=1e-12,
        atol=1e-14,
    )


def test_gradient_norms_are_the_formula_applied_to_u():
    torch.manual_seed(1)
    rnn = RNN(2, 4, dtype=torch.float64)
    x = torch.randn(1, 6, 2, dtype=torch.float64)
    norms = gradient_norms(rnn, x, seed=3)
    assert norms.shape == (7,) and norms[0].item() == pytest.approx(1.0)
    hs = torch.cat(unroll_states(rnn, x)).detach()
    u = torch.randn(
        1, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    u = u / u.norm()
    for d in range(7):  # distance d: from h_{T-d} to h_T
        J = jacobian_product(hs[6 - d :], rnn.weight_hh_l0.detach())
        assert norms[d].item() == pytest.approx((u @ J).norm().item(), rel=1e-12)


def test_doubling_and_halving_at_zero_input():
    for rho, expected in [(2.0, 2.0**10), (0.5, 2.0**-10)]:
        W = orthogonal_(
            torch.empty(16, 16, dtype=torch.float64),
            gain=rho,
            generator=torch.Generator().manual_seed(0),
        )
        norms = probe(W, T=10, input_scale=0.0)
        assert norms[10].item() == pytest.approx(expected, rel=1e-10)


def test_probe_is_deterministic_and_checks_its_rnn():
    W = orthogonal_(torch.empty(8, 8, dtype=torch.float64))
    assert torch.equal(probe(W, T=20), probe(W, T=20))
    with pytest.raises(ValueError, match="one-layer"):
        unroll_states(RNN(2, 3, num_layers=2), torch.randn(1, 4, 2))
    with pytest.raises(ValueError, match=r"\(B, T, D_in\) with D_in=2"):
        unroll_states(RNN(2, 3), torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match=r"\(T\+1, D_h\)"):
        jacobian_product(torch.zeros(4, 2), torch.zeros(3, 3))


def test_probe_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    probe(torch.eye(4, dtype=torch.float64), T=5)
    assert torch.equal(torch.rand(3), expected)


def test_lstm_gradient_norms_match_autograd_through_torchs_lstm():
    torch.manual_seed(2)
    lstm = torch.nn.LSTM(3, 5, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    by_h, by_c = lstm_gradient_norms(lstm, x, seed=4)
    assert by_h.shape == by_c.shape == (7,)
    assert by_h[0].item() == pytest.approx(1.0)  # dL/dh_T = u, a unit vector
    assert by_c[0].item() > 0  # h_T = o_T tanh(c_T) depends on c_T
    # Distance T: the gradient at (h_0, c_0), computed through torch's own LSTM.
    h0 = torch.zeros(1, 2, 5, dtype=torch.float64, requires_grad=True)
    c0 = torch.zeros(1, 2, 5, dtype=torch.float64, requires_grad=True)
    out, _ = lstm(x, (h0, c0))
    u = torch.randn(
        2, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    u = u / u.norm(dim=1, keepdim=True)
    dh0, dc0 = torch.autograd.grad((u * out[:, -1]).sum(), (h0, c0))
    assert by_h[6].item() == pytest.approx(dh0[0].norm(dim=1).mean().item(), rel=1e-10)
    assert by_c[6].item() == pytest.approx(dc0[0].norm(dim=1).mean().item(), rel=1e-10)


def test_lstm_states_refuse_what_they_cannot_measure():
    with pytest.raises(ValueError, match="one-layer, one-direction LSTM"):
        unroll_lstm_states(torch.nn.LSTM(3, 4, num_layers=2), torch.randn(1, 2, 3))
    with pytest.raises(ValueError, match=r"\(B, T, D_in\) with D_in=3"):
        unroll_lstm_states(torch.nn.LSTM(3, 4), torch.randn(2, 3))


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("cls", [torch.nn.LSTM, LSTM])
def test_trace_reproduces_the_layers_outputs(cls, layer):
    torch.manual_seed(0)
    lstm = cls(3, 5, num_layers=2, batch_first=True)
    x = torch.randn(7, 3)
    trace = lstm_gate_trace(lstm, x, layer=layer)
    assert set(trace) == set("ifgoch") and all(
        v.shape == (7, 5) for v in trace.values()
    )
    if layer == 1:
        out, (h_n, c_n) = lstm(x[None])
        torch.testing.assert_close(trace["h"], out[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(trace["c"][-1], c_n[1, 0], rtol=0, atol=1e-6)
    else:
        one = cls(3, 5, batch_first=True)  # the first layer alone
        one.load_state_dict(
            {k: v for k, v in lstm.state_dict().items() if k.endswith("_l0")}
        )
        torch.testing.assert_close(trace["h"], one(x[None])[0][0], rtol=0, atol=1e-6)
    for name in "ifo":
        assert trace[name].min() >= 0 and trace[name].max() <= 1
    assert trace["g"].abs().max() <= 1


def test_bad_input():
    lstm = torch.nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"non-empty sequence of shape \(T, 3\)"):
        lstm_gate_trace(lstm, torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"non-empty sequence"):
        lstm_gate_trace(lstm, torch.randn(0, 3))
    with pytest.raises(ValueError, match="layer must lie in 0..0"):
        lstm_gate_trace(lstm, torch.randn(5, 3), layer=1)
    with pytest.raises(ValueError, match="one-direction LSTM without projection"):
        lstm_gate_trace(torch.nn.LSTM(3, 4, bidirectional=True), torch.randn(5, 3))
