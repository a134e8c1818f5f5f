"""The LSTM language model: its configuration, forward and backward, one character at a
time equals the whole."""

import torch
import torch.nn.functional as F

from rnncourse.nn.lstm_lm import LSTMLM, LSTMConfig
from rnncourse.training import seed_everything


def test_forward_backward_and_step_by_step():
    seed_everything(0)
    model = LSTMLM(LSTMConfig(11, d_model=8, hidden_size=12, n_layers=2)).double()
    idx = torch.randint(0, 11, (3, 10))
    logits, (h, c) = model(idx)
    assert logits.shape == (3, 10, 11) and h.shape == c.shape == (2, 3, 12)
    state, steps = None, []
    for t in range(10):
        out, state = model(idx[:, t : t + 1], state)
        steps.append(out)
    assert (torch.cat(steps, dim=1) - logits).abs().max() < 1e-12
    F.cross_entropy(logits.flatten(0, 1), idx.flatten()).backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()
    )


def test_same_function_as_torch_lstm():
    """The core is the course's LSTM: loaded into torch.nn.LSTM, the same outputs."""
    seed_everything(1)
    model = LSTMLM(LSTMConfig(11, d_model=8, hidden_size=12, n_layers=2)).double()
    reference = torch.nn.LSTM(8, 12, num_layers=2, batch_first=True).double()
    reference.load_state_dict(model.rnn.state_dict())
    x = model.embed(torch.randint(0, 11, (2, 9)))
    assert (model.rnn(x)[0] - reference(x)[0]).abs().max() < 1e-12
