"""Clipping by norm and by value agree with torch's, and clipping in train() bounds the update."""
import pytest
import torch

from rnncourse import train
from rnncourse.clipping import clip_by_norm, clip_by_value, global_norm


def _grads(scale, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) * scale for shape in [(3, 4), (5,), (2, 2)]]


def _torch_clipped(grads, **kwargs):
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    if "max_norm" in kwargs:
        torch.nn.utils.clip_grad_norm_(params, kwargs["max_norm"])
    else:
        torch.nn.utils.clip_grad_value_(params, kwargs["clip_value"])
    return [p.grad for p in params]


@pytest.mark.parametrize("scale,max_norm", [(10.0, 1.0), (0.01, 1.0), (1.0, 0.5), (100.0, 3.0)])
def test_clip_by_norm_matches_torch(scale, max_norm):
    grads = _grads(scale)
    ours = clip_by_norm(grads, max_norm)
    for a, b in zip(ours, _torch_clipped(grads, max_norm=max_norm)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-12)  # torch adds 1e-6 to the norm
    assert global_norm(ours) <= max_norm + 1e-12
    if global_norm(grads) <= max_norm:
        assert all(torch.equal(a, b) for a, b in zip(ours, grads))


def test_clip_by_norm_keeps_the_direction_and_clip_by_value_does_not():
    grads = [torch.tensor([10.0, 0.1], dtype=torch.float64)]
    by_norm, = clip_by_norm(grads, 1.0)
    by_value, = clip_by_value(grads, 1.0)
    torch.testing.assert_close(by_norm / by_norm.norm(), grads[0] / grads[0].norm())
    assert torch.equal(by_value, torch.tensor([1.0, 0.1], dtype=torch.float64))


@pytest.mark.parametrize("clip_value", [0.1, 1.0])
def test_clip_by_value_matches_torch(clip_value):
    grads = _grads(2.0, seed=1)
    for a, b in zip(clip_by_value(grads, clip_value), _torch_clipped(grads, clip_value=clip_value)):
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
    history = train(model, lambda m, b: torch.nn.functional.mse_loss(m(b[0]).squeeze(-1), b[1]), lambda: (x, y),
                    steps=1, optimizer=torch.optim.SGD(model.parameters(), lr=1.0), clip_grad_value=0.01, progress=False)
    assert history.grad_norms[0] > 1  # recorded before clipping
    for p, b in zip(model.parameters(), before):
        assert (p.detach() - b).abs().max() <= 0.01 + 1e-7
