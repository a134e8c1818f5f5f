"""The shared training loop: it learns, it is seeded, it clips, it respects its time budget."""
import pytest
import torch

from rnncourse import seed_everything, train


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
    history = train(model, _loss, lambda: (x, y), steps=300, lr=0.05, seed=0, progress=False)
    assert history.steps == 300 and history.stopped_by == "steps"
    assert history.losses[-1] < 1e-3 < history.losses[0]


def test_seeded_runs_are_identical():
    x, y = _regression()
    runs = []
    for _ in range(2):
        seed_everything(1)
        model = torch.nn.Linear(3, 1)
        runs.append(train(model, _loss, lambda: (x, y), steps=20, seed=1, progress=False).losses)
    assert runs[0] == runs[1]


def test_clipping_bounds_the_update():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    before = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train(model, _loss, lambda: (x * 100, y * 100), steps=1, optimizer=opt, clip_grad_norm=0.5,
                    progress=False)
    assert history.grad_norms[0] > 0.5  # the norm is recorded before clipping
    assert (model.weight.detach() - before).norm() <= 0.5 + 1e-6


def test_time_budget_and_iterable_batches_and_evaluation():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    history = train(model, _loss, iter([(x, y)] * 5), steps=100, progress=False,
                    evaluate=lambda m: _loss(m, (x, y)), eval_every=2)
    assert history.steps == 5 and history.stopped_by == "end of data"
    assert [s for s, _ in history.evals] == [2, 4, 5]
    history = train(model, _loss, lambda: (x, y), steps=10**6, time_budget=0.2, progress=False)
    assert history.stopped_by == "time budget" and history.seconds < 2


def test_bad_steps():
    with pytest.raises(ValueError, match="steps"):
        train(torch.nn.Linear(1, 1), _loss, lambda: None, steps=0)
