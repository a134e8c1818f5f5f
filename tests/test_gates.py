"""The gate trace records what the LSTM computes: its h and c equal torch's, its gates lie in their ranges."""
import pytest
import torch

from rnncourse.gates import lstm_gate_trace
from rnncourse.nn import LSTM


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("cls", [torch.nn.LSTM, LSTM])
def test_trace_reproduces_the_layers_outputs(cls, layer):
    torch.manual_seed(0)
    lstm = cls(3, 5, num_layers=2, batch_first=True)
    x = torch.randn(7, 3)
    trace = lstm_gate_trace(lstm, x, layer=layer)
    assert set(trace) == set("ifgoch") and all(v.shape == (7, 5) for v in trace.values())
    if layer == 1:
        out, (h_n, c_n) = lstm(x[None])
        torch.testing.assert_close(trace["h"], out[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(trace["c"][-1], c_n[1, 0], rtol=0, atol=1e-6)
    else:
        one = cls(3, 5, batch_first=True)  # the first layer alone
        one.load_state_dict({k: v for k, v in lstm.state_dict().items() if k.endswith("_l0")})
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
