"""Sampling the next token from a model's logits, with a temperature.

Dividing the logits by a temperature tau before the softmax sharpens the
distribution (tau < 1) or flattens it (tau > 1); tau = 0 is the limit in which
all probability sits on the most likely token (greedy decoding).
"""
from __future__ import annotations

import torch


def temperature_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax of logits / temperature over the last axis.

    logits: (..., V). Returns probabilities of the same shape, each row summing to 1.
    temperature 0 puts all mass on the arg-max (the greedy limit).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    # p_i = exp(z_i / tau) / sum_j exp(z_j / tau)
    return torch.softmax(logits / temperature, dim=-1)


def sample_next(logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row. logits: (B, V) -> token ids (B,), int64."""
    probs = temperature_probs(logits, temperature)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
