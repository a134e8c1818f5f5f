"""Training: the loop every chapter reuses, truncated BPTT as its loss function, and
gradient clipping.

``train`` runs a fixed number of optimiser steps (or fewer, if a time budget
runs out first), shows a tqdm progress bar, optionally clips the gradient (by
norm or by value), and returns the loss history. The model-specific part is
``loss_fn(model, batch)``, so the same loop trains a sine forecaster, a character model
or a translator.

Truncated backpropagation through time (``TruncatedBPTT``) is such a loss
function. A long stream is read in windows. Every k1 new steps the model takes one
optimiser step, and the gradient flows back at most k2 steps (k1 <= k2): this
is Williams and Peng's (1990) BPTT(h; h') with h = k2 and h' = k1, in the
notation k1, k2 of Sutskever (2013). The hidden state is carried from one
window to the next but *detached*, so the forward pass sees the whole past
while the backward pass stops at the window's start. Models follow the course's
convention ``model(x, state) -> (outputs, state)`` (``CharLM``, ``Forecaster``,
``RNN``), where ``state=None`` means zeros.

Gradient clipping by norm (Pascanu, Mikolov & Bengio 2013, algorithm 1) rescales the
whole gradient g = (all parameters' gradients) when its norm exceeds a
threshold: the direction is kept and only the step is shortened. Clipping by
value clamps every entry separately, which also changes the direction.
``train`` clips with torch's ``clip_grad_norm_`` and ``clip_grad_value_``,
which compute the same thing (the tests check it); ``clip_by_norm`` and
``clip_by_value`` are the readable versions.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's generators; return a torch.Generator seeded
    the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class History:
    """What happened during training: one entry per step, plus evaluations."""

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)  # before clipping
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, value)
    seconds: float = 0.0
    stopped_by: str = "steps"  # or "time budget"

    @property
    def steps(self) -> int:
        return len(self.losses)

    def __repr__(self) -> str:
        last = f", last eval {self.evals[-1][1]:.4f}" if self.evals else ""
        return (
            (
                f"History({self.steps} steps in {self.seconds:.1f} s, stopped by "
                f"{self.stopped_by}, loss {self.losses[0]:.4f} -> "
                f"{self.losses[-1]:.4f}{last})"
            )
            if self.losses
            else "History(no steps)"
        )


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    batches: Iterable | Callable[[], Any],
    steps: int,
    *,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    time_budget: float | None = None,
    seed: int | None = None,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    eval_every: int = 100,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` for ``steps`` optimiser steps and return its :class:`History`.

    ``batches`` is an iterable of batches or a function returning the next one;
    ``loss_fn(model, batch)`` returns a scalar loss. Adam with learning rate
    ``lr`` is used unless an ``optimizer`` is given. ``clip_grad_norm`` rescales
    the gradient when its norm exceeds that value, ``clip_grad_value`` then
    clamps each entry to [-value, value]; ``time_budget`` (seconds)
    stops early; ``seed`` seeds every generator first; ``evaluate(model)`` runs
    every ``eval_every`` steps and at the end, in eval mode without gradients.
    """
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if seed is not None:
        seed_everything(seed)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    next_batch = batches if callable(batches) else iter(batches).__next__
    history = History()
    params = [p for p in model.parameters() if p.requires_grad]
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=0.5)
    model.train()
    for step in bar:
        try:
            batch = next_batch()
        except StopIteration:
            history.stopped_by = "end of data"
            break
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # clip_grad_norm_ returns the norm before clipping; max_norm=inf only
        # measures it.
        norm = torch.nn.utils.clip_grad_norm_(params, clip_grad_norm or math.inf)
        if clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(params, clip_grad_value)
        optimizer.step()
        history.losses.append(loss.item())
        history.grad_norms.append(norm.item())
        if evaluate is not None and (step + 1) % eval_every == 0:
            history.evals.append((step + 1, _evaluate(model, evaluate)))
        if step % 10 == 0:
            bar.set_postfix(loss=f"{history.losses[-1]:.4f}")
        if time_budget is not None and time.perf_counter() - start > time_budget:
            history.stopped_by = "time budget"
            break
    bar.close()
    if evaluate is not None and (
        not history.evals or history.evals[-1][0] != history.steps
    ):
        history.evals.append((history.steps, _evaluate(model, evaluate)))
    history.seconds = time.perf_counter() - start
    return history


def _evaluate(
    model: torch.nn.Module, evaluate: Callable[[torch.nn.Module], float]
) -> float:
    model.eval()
    with torch.no_grad():
        value = float(evaluate(model))
    model.train()
    return value


def detach_state(state):
    """The state cut from the graph that made it: a tensor, a tuple of tensors (LSTM),
    or None."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def stream_windows(
    x: torch.Tensor, y: torch.Tensor, k1: int, k2: int | None = None
) -> Iterator[tuple]:
    """Windows of k2 steps starting every k1 steps, for :class:`TruncatedBPTT`.

    x, y: (B, N, ...) holding B streams of N steps each (row b of every window
    continues row b of the previous one). Yields (x[:, s:s+k2], y[:, s:s+k2])
    for s = 0, k1, 2 k1, ... while the window fits; with k2 = k1 (the default)
    the windows tile the streams without overlap.
    """
    k2 = k1 if k2 is None else k2
    _check_k(k1, k2)
    if x.shape[:2] != y.shape[:2]:
        raise ValueError(
            f"x and y must share their first two axes (B, N), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.shape[1] < k2:
        raise ValueError(
            f"the streams must hold at least k2={k2} steps, got x of shape "
            f"{tuple(x.shape)} (B, N, ...)"
        )
    for start in range(0, x.shape[1] - k2 + 1, k1):
        yield x[:, start : start + k2], y[:, start : start + k2]


class TruncatedBPTT:
    """A ``loss_fn(model, batch)`` for :func:`rnncourse.training.train` that carries
    the state across batches.

    ``loss_fn(outputs, targets)`` scores one window: outputs (B, k1, ...) and
    targets (B, k1, ...), the window's k1 newest steps. Batches are the
    windows of :func:`stream_windows` with the same k1 and k2 (or any
    consecutive windows of k2 steps, such as ``rnncourse.data.truncated_windows``
    when k1 = k2). The state after the window's first k1 steps, where the next
    window starts, is kept and detached; ``reset()`` forgets it.
    """

    def __init__(
        self,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        k1: int,
        k2: int | None = None,
    ):
        self.loss_fn, self.k1, self.k2 = loss_fn, k1, (k1 if k2 is None else k2)
        _check_k(self.k1, self.k2)
        self.state = None

    def reset(self) -> None:
        self.state = None

    def __call__(
        self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        x, y = batch  # (B, k2, ...) each
        k1, k2 = self.k1, self.k2
        if x.shape[1] != k2:
            raise ValueError(
                f"each batch must be a window of k2={k2} steps, shape (B, {k2}, ...), "
                f"got {tuple(x.shape)}"
            )
        # the next window starts after these k1 steps
        outputs, state = model(x[:, :k1], self.state)
        if (
            k2 > k1
        ):  # the overlap: recomputed here so that the gradient reaches k2 steps back
            rest, _ = model(x[:, k1:], state)
            outputs = torch.cat([outputs, rest], dim=1)  # (B, k2, ...)
        # the forward pass goes on; the backward pass stops here
        self.state = detach_state(state)
        return self.loss_fn(outputs[:, k2 - k1 :], y[:, k2 - k1 :])


def _check_k(k1: int, k2: int) -> None:
    if not 1 <= k1 <= k2:
        raise ValueError(
            "truncated BPTT needs 1 <= k1 <= k2 (update every k1 steps, backpropagate "
            f"k2 steps), got k1={k1}, k2={k2}"
        )


def global_norm(grads: Iterable[torch.Tensor]) -> torch.Tensor:
    """||g|| with g all the gradients concatenated into one vector."""
    return torch.sqrt(sum((g**2).sum() for g in grads))


def clip_by_norm(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """Scale every gradient by max_norm / ||g|| when the global norm ||g|| exceeds
    ``max_norm``."""
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norm = global_norm(grads)
    # if ||g|| > threshold: g <- threshold * g / ||g||
    scale = torch.clamp(max_norm / norm, max=1.0) if norm > 0 else 1.0
    return [g * scale for g in grads]


def clip_by_value(grads: list[torch.Tensor], clip_value: float) -> list[torch.Tensor]:
    """Clamp every entry of every gradient to [-clip_value, clip_value]."""
    if clip_value <= 0:
        raise ValueError(f"clip_value must be positive, got {clip_value}")
    return [g.clamp(-clip_value, clip_value) for g in grads]
