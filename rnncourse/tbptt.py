"""Truncated backpropagation through time, as a loss function for :func:`rnncourse.train`.

A long stream is read in windows. Every k1 new steps the model takes one
optimiser step, and the gradient flows back at most k2 steps (k1 <= k2): this
is Williams and Peng's (1990) BPTT(h; h') with h = k2 and h' = k1, in the
notation k1, k2 of Sutskever (2013). The hidden state is carried from one
window to the next but *detached*, so the forward pass sees the whole past
while the backward pass stops at the window's start.

Models follow the course's convention ``model(x, state) -> (outputs, state)``
(``CharLM``, ``Forecaster``, ``RNN``), where ``state=None`` means zeros.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch


def detach_state(state):
    """The state cut from the graph that made it: a tensor, a tuple of tensors (LSTM), or None."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def stream_windows(x: torch.Tensor, y: torch.Tensor, k1: int, k2: int | None = None) -> Iterator[tuple]:
    """Windows of k2 steps starting every k1 steps, for :class:`TruncatedBPTT`.

    x, y: (B, N, ...) holding B streams of N steps each (row b of every window
    continues row b of the previous one). Yields (x[:, s:s+k2], y[:, s:s+k2])
    for s = 0, k1, 2 k1, ... while the window fits; with k2 = k1 (the default)
    the windows tile the streams without overlap.
    """
    k2 = k1 if k2 is None else k2
    _check_k(k1, k2)
    if x.shape[:2] != y.shape[:2]:
        raise ValueError(f"x and y must share their first two axes (B, N), got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[1] < k2:
        raise ValueError(f"the streams must hold at least k2={k2} steps, got x of shape {tuple(x.shape)} (B, N, ...)")
    for start in range(0, x.shape[1] - k2 + 1, k1):
        yield x[:, start:start + k2], y[:, start:start + k2]


class TruncatedBPTT:
    """A ``loss_fn(model, batch)`` for :func:`rnncourse.train` that carries the state across batches.

    ``loss_fn(outputs, targets)`` scores one window: outputs (B, k1, ...) and
    targets (B, k1, ...), the window's k1 newest steps. Batches are the
    windows of :func:`stream_windows` with the same k1 and k2 (or any
    consecutive windows of k2 steps, such as ``rnncourse.data.truncated_windows``
    when k1 = k2). The state after the window's first k1 steps, where the next
    window starts, is kept and detached; ``reset()`` forgets it.
    """

    def __init__(self, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], k1: int,
                 k2: int | None = None):
        self.loss_fn, self.k1, self.k2 = loss_fn, k1, (k1 if k2 is None else k2)
        _check_k(self.k1, self.k2)
        self.state = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch  # (B, k2, ...) each
        k1, k2 = self.k1, self.k2
        if x.shape[1] != k2:
            raise ValueError(f"each batch must be a window of k2={k2} steps, shape (B, {k2}, ...), got {tuple(x.shape)}")
        outputs, state = model(x[:, :k1], self.state)  # the next window starts after these k1 steps
        if k2 > k1:  # the overlap: recomputed here so that the gradient reaches k2 steps back
            rest, _ = model(x[:, k1:], state)
            outputs = torch.cat([outputs, rest], dim=1)  # (B, k2, ...)
        self.state = detach_state(state)  # the forward pass goes on; the backward pass stops here
        return self.loss_fn(outputs[:, k2 - k1:], y[:, k2 - k1:])


def _check_k(k1: int, k2: int) -> None:
    if not 1 <= k1 <= k2:
        raise ValueError(f"truncated BPTT needs 1 <= k1 <= k2 (update every k1 steps, backpropagate k2 steps), "
                         f"got k1={k1}, k2={k2}")
