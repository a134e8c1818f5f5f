"""Gradient clipping, by norm and by value, on a list of gradients.

Clipping by norm (Pascanu, Mikolov & Bengio 2013, algorithm 1) rescales the
whole gradient g = (all parameters' gradients) when its norm exceeds a
threshold: the direction is kept and only the step is shortened. Clipping by
value clamps every entry separately, which also changes the direction.
``rnncourse.train`` clips with torch's ``clip_grad_norm_`` and ``clip_grad_value_``,
which compute the same thing (the tests check it); these versions are the readable ones.
"""
from __future__ import annotations

from typing import Iterable

import torch


def global_norm(grads: Iterable[torch.Tensor]) -> torch.Tensor:
    """||g|| with g all the gradients concatenated into one vector."""
    return torch.sqrt(sum((g ** 2).sum() for g in grads))


def clip_by_norm(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """Scale every gradient by max_norm / ||g|| when the global norm ||g|| exceeds ``max_norm``."""
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

