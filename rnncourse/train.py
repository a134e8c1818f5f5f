"""The one small training loop every chapter reuses.

``train`` runs a fixed number of optimiser steps (or fewer, if a time budget
runs out first), shows a tqdm progress bar, optionally clips the gradient (by
norm or by value), and returns the loss history. The model-specific part is ``loss_fn(model,
batch)``, so the same loop trains a sine forecaster, a character model or a
translator; a ``loss_fn`` that carries a detached state from batch to batch
gives truncated backpropagation through time (``rnncourse.tbptt``).
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's generators; return a torch.Generator seeded the same way."""
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
        return (f"History({self.steps} steps in {self.seconds:.1f} s, stopped by {self.stopped_by}, "
                f"loss {self.losses[0]:.4f} -> {self.losses[-1]:.4f}{last})") if self.losses else "History(no steps)"


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
          batches: Iterable | Callable[[], Any], steps: int, *, lr: float = 1e-3,
          optimizer: torch.optim.Optimizer | None = None, clip_grad_norm: float | None = None,
          clip_grad_value: float | None = None, time_budget: float | None = None, seed: int | None = None,
          evaluate: Callable[[torch.nn.Module], float] | None = None, eval_every: int = 100,
          progress: bool = True, desc: str = "training") -> History:
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
        # clip_grad_norm_ returns the norm before clipping; max_norm=inf only measures it.
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
    if evaluate is not None and (not history.evals or history.evals[-1][0] != history.steps):
        history.evals.append((history.steps, _evaluate(model, evaluate)))
    history.seconds = time.perf_counter() - start
    return history


def _evaluate(model: torch.nn.Module, evaluate: Callable[[torch.nn.Module], float]) -> float:
    model.eval()
    with torch.no_grad():
        value = float(evaluate(model))
    model.train()
    return value
