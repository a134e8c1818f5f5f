"""RWKV-4's WKV operator in plain PyTorch: the formula as written, and the recurrence
with a running maximum.

For every batch element and channel (Peng et al. 2023, "RWKV: reinventing RNNs for the
transformer era", eq. 14), with w > 0 the channel's decay rate and u its bonus for the
current token:

    wkv_t = (sum_{i<t} e^(-(t-1-i) w + k_i) v_i + e^(u + k_t) v_t)
            / (sum_{i<t} e^(-(t-1-i) w + k_i)     + e^(u + k_t))

The weights of one output can also be taken all at once, like attention scores, with
the largest exponent subtracted first (``wkv4_parallel``, RWKV's "transformer mode").

The sums are a numerator N and a denominator D that follow the recurrence

    N_t = e^(-w) N_(t-1) + e^(k_t) v_t,    D_t = e^(-w) D_(t-1) + e^(k_t),
    wkv_t = (N_(t-1) + e^(u + k_t) v_t) / (D_(t-1) + e^(u + k_t)),

an RNN whose state is (N, D). e^(k) overflows float32 for k > 88, so the stable
form keeps N = a e^p and D = b e^p with p the largest exponent seen so far and
divides every exponential by e^(max) before taking it (the trick of the RWKV-4
CUDA kernel; see also Johan Wind's walkthrough "How the RWKV language model works",
2023). The state passed between calls is that triple, ``WKV4State(a, b, p)``.

Half-precision inputs are computed in float32 and the output rounded back, as the
Triton kernel does; the state stays in float32 (p reaches magnitudes where float16
cannot resolve fractions).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from rnncourse.ops._checks import compute_dtype


class WKV4State(NamedTuple):
    """What WKV carries from one token to the next, per batch element and channel, each
    (B, C): the numerator N = a e^p and denominator D = b e^p of the weighted average,
    and p, the largest exponent seen so far (-inf before the first token)."""

    a: torch.Tensor
    b: torch.Tensor
    p: torch.Tensor

    @classmethod
    def zeros(cls, B: int, C: int, dtype: torch.dtype, device) -> "WKV4State":
        """The state before the first token: N = D = 0, p = -inf."""
        zeros = torch.zeros(B, C, dtype=dtype, device=device)
        return cls(zeros, zeros.clone(), torch.full_like(zeros, float("-inf")))


def wkv4_naive(w, u, k, v, state: WKV4State | None = None):
    """The formula as written, every exponential taken as it is: overflows for k above
    ~88 in float32. w, u (C,), k, v (B, T, C) -> wkv (B, T, C) and the final state
    (with p = 0)."""
    dtype = k.dtype
    w, u, k, v, state = _widen(w, u, k, v, state)
    T = k.shape[1]
    t = torch.arange(T, device=k.device)
    gap = (t[:, None] - 1 - t[None, :]).clamp(min=0)  # t - 1 - i, for i < t
    # weight of token i in the average at t: e^(-(t-1-i) w + k_i) for i < t,
    # e^(u + k_t) for i = t
    # (B, T, T, C): [b, t, i, c]
    earlier = torch.exp(-gap[None, :, :, None] * w + k[:, None, :, :])
    current = torch.exp(u + k)  # (B, T, C)
    causal = (t[None, :] < t[:, None])[None, :, :, None]
    weights = torch.where(causal, earlier, 0.0)
    # the state's N and D, decayed by e^(-t w)
    N0, D0 = (
        state.a * torch.exp(state.p),
        state.b * torch.exp(state.p),
    )
    carried = torch.exp(-t[:, None] * w)  # (T, C)
    numerator = (weights * v[:, None]).sum(2) + carried * N0[:, None] + current * v
    denominator = weights.sum(2) + carried * D0[:, None] + current
    wkv = numerator / denominator
    # N_T = sum_{i<T} e^(-(T-1-i) w + k_i) v_i + e^(-T w) N_0, likewise D_T
    to_end = torch.exp(-(T - 1 - t)[:, None] * w + k)  # (B, T, C)
    N = (to_end * v).sum(1) + torch.exp(-T * w) * N0
    D = to_end.sum(1) + torch.exp(-T * w) * D0
    return wkv.to(dtype), WKV4State(N, D, torch.zeros_like(N))


def wkv4_parallel(w, u, k, v, state: WKV4State | None = None):
    """All tokens at once, stabilised: the (T x T) weights of ``wkv4_naive`` with each
    output's largest exponent subtracted before the exponentials are taken
    (the softmax trick). Finite for any k; O(T^2 C) memory, so for training windows of
    moderate length. w, u (C,), k, v (B, T, C) -> wkv, final state."""
    dtype = k.dtype
    w, u, k, v, state = _widen(w, u, k, v, state)
    T = k.shape[1]
    t = torch.arange(T, device=k.device)
    gap = (t[:, None] - 1 - t[None, :]).clamp(min=0)
    # exponent of token i in the average at t: -(t-1-i) w + k_i for i < t,
    # u + k_t for i = t, -inf after t
    # (B, T, T, C): [b, t, i, c]
    exponents = torch.where(
        (t[None, :] < t[:, None])[None, :, :, None],
        -gap[None, :, :, None] * w + k[:, None],
        float("-inf"),
    )
    exponents = torch.where(
        (t[None, :] == t[:, None])[None, :, :, None], (u + k)[:, None], exponents
    )
    # (B, T, C): the state's exponent, decayed by e^(-t w)
    carried = state.p[:, None] - t[:, None] * w
    # the largest exponent per output; a constant shift, so it carries no gradient
    m = torch.maximum(exponents.amax(2), carried).detach()
    weights = torch.exp(exponents - m[:, :, None])
    e_state = torch.exp(carried - m)
    wkv = ((weights * v[:, None]).sum(2) + e_state * state.a[:, None]) / (
        weights.sum(2) + e_state * state.b[:, None]
    )
    # the final state: exponents -(T-1-i) w + k_i and the old state's p - T w, scaled by
    # their maximum
    to_end = -(T - 1 - t)[:, None] * w + k  # (B, T, C)
    old = state.p - T * w
    p = torch.maximum(to_end.amax(1), old)
    e_tokens, e_old = torch.exp(to_end - p[:, None]), torch.exp(old - p)
    a = (e_tokens * v).sum(1) + e_old * state.a
    b = e_tokens.sum(1) + e_old * state.b
    return wkv.to(dtype), WKV4State(a, b, p)


def wkv4_loop(w, u, k, v, state: WKV4State | None = None):
    """The recurrence with a running maximum, one step per token: finite for any k that
    float32 holds. w, u (C,), k, v (B, T, C) -> wkv (B, T, C) and the final state."""
    dtype = k.dtype
    w, u, k, v, (a, b, p) = _widen(w, u, k, v, state)
    outputs = []
    # unbind, not k[:, t]: the backward of T indexings would write T full-size gradients
    for k_t, v_t in zip(k.unbind(1), v.unbind(1)):
        # wkv_t = (N_(t-1) + e^(u + k_t) v_t) / (D_(t-1) + e^(u + k_t)), every term
        # divided by e^q
        q = torch.maximum(p, u + k_t)
        e_state, e_token = torch.exp(p - q), torch.exp(u + k_t - q)
        outputs.append((e_state * a + e_token * v_t) / (e_state * b + e_token))
        # N_t = e^(-w) N_(t-1) + e^(k_t) v_t, and the same for D: the new largest
        # exponent is max(p - w, k_t)
        q = torch.maximum(p - w, k_t)
        e_state, e_token = torch.exp(p - w - q), torch.exp(k_t - q)
        a, b, p = e_state * a + e_token * v_t, e_state * b + e_token, q
    return torch.stack(outputs, dim=1).to(dtype), WKV4State(a, b, p)


def _widen(w, u, k, v, state):
    """Everything in the computing dtype, and the state before the first token when
    there is none."""
    dtype = compute_dtype(k.dtype)
    B, _, C = k.shape
    state = (
        WKV4State.zeros(B, C, dtype, k.device)
        if state is None
        else WKV4State(*(x.to(dtype) for x in state))
    )
    return w.to(dtype), u.to(dtype), k.to(dtype), v.to(dtype), state
