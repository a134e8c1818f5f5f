"""The Jordan network against torch.nn.RNNCell: a Jordan step is an Elman cell whose
input is [x_t; s_t]."""

import pytest
import torch

from rnncourse.nn import Jordan


def _torch_jordan(net: Jordan, x, mu):
    """The same network built from trusted torch pieces, in float64."""
    cell = torch.nn.RNNCell(
        net.input_size + net.output_size, net.hidden_size, dtype=torch.float64
    )
    readout = torch.nn.Linear(net.hidden_size, net.output_size, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.cat([net.weight_xh, net.weight_sh], dim=1))
        cell.bias_ih.copy_(net.bias_h)
        cell.weight_hh.zero_(), cell.bias_hh.zero_()
        readout.weight.copy_(net.weight_hy), readout.bias.copy_(net.bias_y)
    T, B, _ = x.shape
    s = y = torch.zeros(B, net.output_size, dtype=torch.float64)
    ys = []
    for t in range(T):
        s = mu * s + y
        y = readout(
            cell(
                torch.cat([x[t], s], dim=1),
                torch.zeros(B, net.hidden_size, dtype=torch.float64),
            )
        )
        ys.append(y)
    return torch.stack(ys)


@pytest.mark.parametrize("mu", [0.0, 0.5])
def test_matches_torch_cells(mu):
    torch.manual_seed(0)
    net = Jordan(3, 8, 2, mu=mu, dtype=torch.float64)
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    out, (s, y) = net(x)
    ref = _torch_jordan(net, x, mu)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, ref[-1])


def test_state_carries_across_calls_and_batch_first():
    torch.manual_seed(1)
    net = Jordan(3, 8, 2, mu=0.3, batch_first=True)
    x = torch.randn(2, 9, 3)
    whole, _ = net(x)
    first, state = net(x[:, :4])
    second, _ = net(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_output_feedback_matters():
    torch.manual_seed(2)
    net = Jordan(1, 4, 1)
    x = torch.zeros(5, 1, 1)
    out, _ = net(x)
    # with zero input, only the fed-back output changes h_t
    assert not torch.allclose(out[1], out[2])


def test_bad_input():
    net = Jordan(3, 8, 2)
    with pytest.raises(ValueError, match="3 features"):
        net(torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match="must be batched"):
        net(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"state\[0\] \(s\) must have shape \(2, 2\)"):
        net(torch.randn(5, 2, 3), (torch.zeros(3, 2), torch.zeros(2, 2)))
    with pytest.raises(ValueError, match="mu"):
        Jordan(3, 8, 2, mu=1.0)
