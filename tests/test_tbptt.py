"""Truncated BPTT: k1 = k2 = T reproduces full BPTT exactly; the state is carried and detached."""
import copy

import pytest
import torch
import torch.nn.functional as F

from rnncourse import train
from rnncourse.nn import CharLM, Forecaster
from rnncourse.tbptt import TruncatedBPTT, detach_state, stream_windows


def _streams(B=3, N=24, D=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, N, D, generator=g, dtype=torch.float64), torch.randn(B, N, D, generator=g, dtype=torch.float64)


def _model(seed=0):
    torch.manual_seed(seed)
    return Forecaster(2, hidden_size=6).double()


def test_k1_equal_k2_equal_T_is_full_bptt():
    x, y = _streams()
    full, truncated = _model(), _model()
    loss_full = F.mse_loss(full(x)[0], y)
    loss_full.backward()
    tbptt = TruncatedBPTT(F.mse_loss, k1=x.shape[1], k2=x.shape[1])
    loss_truncated = tbptt(truncated, next(stream_windows(x, y, x.shape[1])))
    loss_truncated.backward()
    assert loss_truncated.item() == loss_full.item()
    for p, q in zip(full.parameters(), truncated.parameters()):
        assert torch.equal(p.grad, q.grad)


def test_windows_carry_the_state_forward_but_not_the_gradient():
    x, y = _streams()
    model, k = _model(), 6
    tbptt = TruncatedBPTT(F.mse_loss, k)
    history = train(model, tbptt, stream_windows(x, y, k), steps=100, optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                    progress=False)
    assert history.steps == 4 and history.stopped_by == "end of data"
    # with lr = 0 the weights never change, so the windows' losses are the full sequence's, window by window
    out, _ = model(x)
    expected = [F.mse_loss(out[:, s:s + k], y[:, s:s + k]).item() for s in range(0, 24, k)]
    assert history.losses == pytest.approx(expected, rel=1e-12)
    assert tbptt.state is not None and not tbptt.state.requires_grad


def test_gradient_stops_at_the_window_start():
    x, y = _streams()
    model, k = _model(), 6
    tbptt = TruncatedBPTT(F.mse_loss, k)
    windows = list(stream_windows(x, y, k))
    tbptt(model, windows[0])
    model.zero_grad()
    tbptt(model, windows[1]).backward()
    # the same gradient as a fresh forward pass from the carried state, with nothing before it
    reference = copy.deepcopy(model)
    reference.zero_grad()
    _, state = reference(x[:, :k])
    out, _ = reference(x[:, k:2 * k], state.detach())
    F.mse_loss(out, y[:, k:2 * k]).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-14)


def test_k2_longer_than_k1_backpropagates_k2_steps():
    x, y = _streams(N=20)
    k1, k2 = 4, 8
    windows = list(stream_windows(x, y, k1, k2))
    assert [w[0].shape[1] for w in windows] == [8] * 4
    assert torch.equal(windows[1][0], x[:, 4:12])
    model = _model()
    tbptt = TruncatedBPTT(F.mse_loss, k1, k2)
    tbptt(model, windows[0])
    model.zero_grad()
    loss = tbptt(model, windows[1])  # steps 4..11; loss on steps 8..11; state from step 4 (detached)
    loss.backward()
    reference = copy.deepcopy(model)
    reference.zero_grad()
    _, state = reference(x[:, :4])
    out, _ = reference(x[:, 4:12], state.detach())
    expected = F.mse_loss(out[:, 4:], y[:, 8:12])
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-14)


def test_works_with_the_char_model_and_its_data():
    from rnncourse.data import truncated_windows
    ids = torch.arange(400) % 7
    model = CharLM(7, hidden_size=8, embed_size=4)
    tbptt = TruncatedBPTT(lambda logits, y: F.cross_entropy(logits.flatten(0, 1), y.flatten()), 10)
    history = train(model, tbptt, truncated_windows(ids, 4, 10), steps=5, progress=False)
    assert history.steps == 5 and tbptt.state.shape == (1, 4, 8)
    tbptt.reset()
    assert tbptt.state is None


def test_detach_state_handles_tuples_and_none():
    h = torch.ones(2, requires_grad=True) * 2
    assert detach_state(None) is None
    c = detach_state((h, h))
    assert isinstance(c, tuple) and not any(t.requires_grad for t in c)


def test_bad_arguments():
    x, y = _streams(N=10)
    with pytest.raises(ValueError, match="1 <= k1 <= k2"):
        TruncatedBPTT(F.mse_loss, 5, 3)
    with pytest.raises(ValueError, match="at least k2=12"):
        next(stream_windows(x, y, 12))
    with pytest.raises(ValueError, match=r"\(B, 4, \.\.\.\)"):
        TruncatedBPTT(F.mse_loss, 4)(_model(), (x, y))
    with pytest.raises(ValueError, match="first two axes"):
        next(stream_windows(x, y[:, :5], 2))
