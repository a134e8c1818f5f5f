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
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(
            logits.dtype
        )
    # p_i = exp(z_i / tau) / sum_j exp(z_j / tau)
    return torch.softmax(logits / temperature, dim=-1)


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row. logits: (B, V) -> token ids (B,), int64."""
    probs = temperature_probs(logits, temperature)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def token_by_token(model, idx: torch.Tensor) -> torch.Tensor:
    """The logits of ``model`` fed idx (B, T) one token at a time, the state carried.

    Returns (B, T, V). For a model with a recurrent form, this must equal the parallel
    pass ``model(idx)[0]``: generation computes what training computed.
    """
    state, steps = None, []
    for t in range(idx.shape[1]):
        logits, state = model(idx[:, t : t + 1], state)
        steps.append(logits)
    return torch.cat(steps, dim=1)


@torch.no_grad()
def generate(
    model,
    prompt: torch.Tensor,
    n: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue ``prompt`` (T0,) int64 by ``n`` sampled ids; returns (n,) int64.

    ``model(ids, state)`` takes (1, T) ids and the state of the previous call (None at
    first) and returns ``(logits (1, T, V), state)``, as ``CharLM`` and ``RWKV`` do. The
    prompt is read once; then each id is drawn and fed back alone, the state carried, so
    every new token costs the same work. The model checks the ids themselves.
    """
    if not isinstance(prompt, torch.Tensor):
        raise TypeError(
            f"prompt must be a tensor of token ids, got {type(prompt).__name__}"
        )
    if prompt.dim() != 1 or prompt.numel() == 0:
        raise ValueError(
            f"prompt must be a non-empty 1-D tensor of token ids, shape (T0,), "
            f"got shape {tuple(prompt.shape)}"
        )
    logits, state = model(prompt[None])
    out = []
    for _ in range(n):
        nxt = sample_next(logits[:, -1], temperature, generator)  # (1,)
        out.append(nxt)
        logits, state = model(nxt[None], state)
    return torch.cat(out)
