"""rnncourse.training: the loop, truncated BPTT and clipping, each against torch
or autograd."""

import copy

import pytest
import torch
import torch.nn.functional as F

from rnncourse import seed_everything, train
from rnncourse.nn import CharLM, Forecaster
from rnncourse.training import (
    TruncatedBPTT,
    clip_by_norm,
    clip_by_value,
    detach_state,
    global_norm,
    stream_windows,
)


def _regression(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    return x, y


def _loss(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x).squeeze(-1), y)


def test_learns_a_linear_map():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    history = train(
        model, _loss, lambda: (x, y), steps=300, lr=0.05, seed=0, progress=False
    )
    assert history.steps == 300 and history.stopped_by == "steps"
    assert history.losses[-1] < 1e-3 < history.losses[0]


def test_seeded_runs_are_identical():
    x, y = _regression()
    runs = []
    for _ in range(2):
        seed_everything(1)
        model = torch.nn.Linear(3, 1)
        runs.append(
            train(model, _loss, lambda: (x, y), steps=20, seed=1, progress=False).losses
        )
    assert runs[0] == runs[1]


def test_clipping_bounds_the_update():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    before = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train(
        model,
        _loss,
        lambda: (x * 100, y * 100),
        steps=1,
        optimizer=opt,
        clip_grad_norm=0.5,
        progress=False,
    )
    assert history.grad_norms[0] > 0.5  # the norm is recorded before clipping
    assert (model.weight.detach() - before).norm() <= 0.5 + 1e-6


def test_time_budget_and_iterable_batches_and_evaluation():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    history = train(
        model,
        _loss,
        iter([(x, y)] * 5),
        steps=100,
        progress=False,
        evaluate=lambda m: _loss(m, (x, y)),
        eval_every=2,
    )
    assert history.steps == 5 and history.stopped_by == "end of data"
    assert [s for s, _ in history.evals] == [2, 4, 5]
    history = train(
        model, _loss, lambda: (x, y), steps=10**6, time_budget=0.2, progress=False
    )
    assert history.stopped_by == "time budget" and history.seconds < 2


def test_bad_steps():
    with pytest.raises(ValueError, match="steps"):
        train(torch.nn.Linear(1, 1), _loss, lambda: None, steps=0)


def _streams(B=3, N=24, D=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, N, D, generator=g, dtype=torch.float64), torch.randn(
        B, N, D, generator=g, dtype=torch.float64
    )


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
    history = train(
        model,
        tbptt,
        stream_windows(x, y, k),
        steps=100,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        progress=False,
    )
    assert history.steps == 4 and history.stopped_by == "end of data"
    # with lr = 0 the weights never change, so the windows' losses are the full
    # sequence's, window by window
    out, _ = model(x)
    expected = [
        F.mse_loss(out[:, s : s + k], y[:, s : s + k]).item() for s in range(0, 24, k)
    ]
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
    # the same gradient as a fresh forward pass from the carried state, with nothing
    # before it
    reference = copy.deepcopy(model)
    reference.zero_grad()
    _, state = reference(x[:, :k])
    out, _ = reference(x[:, k : 2 * k], state.detach())
    F.mse_loss(out, y[:, k : 2 * k]).backward()
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
    # steps 4..11; loss on steps 8..11; state from step 4 (detached)
    loss = tbptt(model, windows[1])
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
    tbptt = TruncatedBPTT(
        lambda logits, y: F.cross_entropy(logits.flatten(0, 1), y.flatten()), 10
    )
    history = train(
        model, tbptt, truncated_windows(ids, 4, 10), steps=5, progress=False
    )
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


def _grads(scale, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(shape, generator=g, dtype=torch.float64) * scale
        for shape in [(3, 4), (5,), (2, 2)]
    ]


def _torch_clipped(grads, **kwargs):
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    if "max_norm" in kwargs:
        torch.nn.utils.clip_grad_norm_(params, kwargs["max_norm"])
    else:
        torch.nn.utils.clip_grad_value_(params, kwargs["clip_value"])
    return [p.grad for p in params]


@pytest.mark.parametrize(
    "scale,max_norm", [(10.0, 1.0), (0.01, 1.0), (1.0, 0.5), (100.0, 3.0)]
)
def test_clip_by_norm_matches_torch(scale, max_norm):
    grads = _grads(scale)
    ours = clip_by_norm(grads, max_norm)
    for a, b in zip(ours, _torch_clipped(grads, max_norm=max_norm)):
        # torch adds 1e-6 to the norm
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-12)
    assert global_norm(ours) <= max_norm + 1e-12
    if global_norm(grads) <= max_norm:
        assert all(torch.equal(a, b) for a, b in zip(ours, grads))


def test_clip_by_norm_keeps_the_direction_and_clip_by_value_does_not():
    grads = [torch.tensor([10.0, 0.1], dtype=torch.float64)]
    (by_norm,) = clip_by_norm(grads, 1.0)
    (by_value,) = clip_by_value(grads, 1.0)
    torch.testing.assert_close(by_norm / by_norm.norm(), grads[0] / grads[0].norm())
    assert torch.equal(by_value, torch.tensor([1.0, 0.1], dtype=torch.float64))


@pytest.mark.parametrize("clip_value", [0.1, 1.0])
def test_clip_by_value_matches_torch(clip_value):
    grads = _grads(2.0, seed=1)
    for a, b in zip(
        clip_by_value(grads, clip_value), _torch_clipped(grads, clip_value=clip_value)
    ):
        assert torch.equal(a, b)


def test_bad_thresholds():
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_norm(_grads(1.0), 0.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_by_value(_grads(1.0), -1.0)


def test_train_clips_by_value():
    x = torch.randn(64, 3) * 100
    y = x.sum(1) * 100
    model = torch.nn.Linear(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    history = train(
        model,
        lambda m, b: torch.nn.functional.mse_loss(m(b[0]).squeeze(-1), b[1]),
        lambda: (x, y),
        steps=1,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        clip_grad_value=0.01,
        progress=False,
    )
    assert history.grad_norms[0] > 1  # recorded before clipping
    for p, b in zip(model.parameters(), before):
        assert (p.detach() - b).abs().max() <= 0.01 + 1e-7
