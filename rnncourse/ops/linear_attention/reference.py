"""Causal linear attention with an optional decay per head, in plain PyTorch: three
forms of one sum.

For every batch element and head, with q_t, k_t of size K, v_t of size V and a
decay gamma = exp(log_decay) in (0, 1] (gamma = 1 without a decay),

    o_t = sum_{s <= t} gamma^(t-s) (q_t . k_s) v_s                        (V,)

which is causal linear attention (Katharopoulos et al. 2020, eq. 9, here without
the feature map and the normaliser, which the layer applies) and, with gamma < 1,
RetNet's retention (Sun et al. 2023, eqs. 1-6). The same sum is computed three ways:

- ``linear_attention_parallel``: the T x T matrix (Q K^T) * D with D_ts = gamma^(t-s)
  for s <= t and 0 above the diagonal, times V (Sun et al. 2023, eq. 5). O(T^2) time.
- ``linear_attention_recurrent``: the state S_t = gamma S_(t-1) + k_t v_t^T of shape
  (K, V) and o_t = S_t^T q_t, one step per time step (Sun et al. 2023, eq. 6). O(T)
  steps.
- ``linear_attention_chunk``: chunks of C steps, the parallel form inside a chunk and
  the recurrent form across chunks (Sun et al. 2023, eq. 7). O(T C) time, T/C
  steps.

All three take q, k (B, H, T, K), v (B, H, T, V), log_decay (H,) or None and
initial_state (B, H, K, V) or None, and return o (B, H, T, V) and the final state
S_T (B, H, K, V), so a sequence cut in pieces gives the result of one pass.
Half-precision inputs are computed in float32 and the output rounded back, as the
Triton kernel does; the state stays in that computing dtype (float32 for halves).
"""

from __future__ import annotations

import torch

from rnncourse.ops._checks import compute_dtype


def linear_attention_parallel(q, k, v, log_decay=None, initial_state=None):
    """The masked T x T form. Returns o (B, H, T, V) and S_T (B, H, K, V)."""
    dtype = q.dtype
    q, k, v, log_gamma, S0 = _widen(q, k, v, log_decay, initial_state)
    T = q.shape[2]
    t = torch.arange(T, device=q.device)
    distance = t[:, None] - t[None, :]  # t - s
    # D_ts = gamma^(t-s) for s <= t, else 0 (the exponent is clamped so the masked
    # half cannot overflow), (H, T, T)
    decay = torch.exp(distance.clamp(min=0) * log_gamma[:, None, None])
    D = torch.where(distance >= 0, decay, 0.0)
    o = ((q @ k.transpose(-1, -2)) * D) @ v  # o = (Q K^T ⊙ D) V
    # the initial state, decayed to each step: o_t += gamma^(t+1) S_0^T q_t
    # (t counted from 0)
    o = o + torch.exp((t + 1) * log_gamma[:, None])[..., None] * (q @ S0)
    # S_T = gamma^T S_0 + sum_s gamma^(T-1-s) k_s v_s^T
    k_to_end = k * torch.exp((T - 1 - t) * log_gamma[:, None])[..., None]
    S = torch.exp(T * log_gamma)[:, None, None] * S0 + k_to_end.transpose(-1, -2) @ v
    return o.to(dtype), S


def linear_attention_recurrent(q, k, v, log_decay=None, initial_state=None):
    """One step per time step. Returns o (B, H, T, V) and S_T (B, H, K, V)."""
    dtype = q.dtype
    q, k, v, log_gamma, S = _widen(q, k, v, log_decay, initial_state)
    gamma = torch.exp(log_gamma)[:, None, None]  # (H, 1, 1)
    outputs = []
    # unbind, not q[:, :, t]: the backward of T indexings would write T full-size
    # gradients
    for q_t, k_t, v_t in zip(q.unbind(2), k.unbind(2), v.unbind(2)):
        # S_t = gamma S_(t-1) + k_t v_t^T
        S = gamma * S + k_t[..., :, None] * v_t[..., None, :]
        outputs.append((q_t[..., None, :] @ S)[..., 0, :])  # o_t = S_t^T q_t
    return torch.stack(outputs, dim=2).to(dtype), S


def linear_attention_chunk(q, k, v, log_decay=None, initial_state=None, chunk_size=64):
    """Chunks of ``chunk_size`` steps: parallel inside, recurrent across.

    Returns o (B, H, T, V) and S_T (B, H, K, V).
    """
    dtype = q.dtype
    q, k, v, log_gamma, S = _widen(q, k, v, log_decay, initial_state)
    T = q.shape[2]
    body = T - T % chunk_size
    pieces = []
    if body:  # all whole chunks at once, then the remainder as one shorter chunk
        o, S = _chunks(
            q[:, :, :body], k[:, :, :body], v[:, :, :body], log_gamma, S, chunk_size
        )
        pieces.append(o)
    if body < T:
        o, S = _chunks(
            q[:, :, body:], k[:, :, body:], v[:, :, body:], log_gamma, S, T - body
        )
        pieces.append(o)
    return torch.cat(pieces, dim=2).to(dtype), S


def _chunks(q, k, v, log_gamma, S, C):
    """The chunkwise form on a length that is a multiple of C: o (B, H, T, V) and the
    final state."""
    B, H, T, K = q.shape
    V = v.shape[-1]
    n = T // C
    # (B, H, n, C, K or V)
    q, k, v = (x.reshape(B, H, n, C, x.shape[-1]) for x in (q, k, v))
    i = torch.arange(C, device=q.device)
    g = log_gamma[:, None, None]  # (H, 1, 1): broadcasts over (n, C)
    distance = i[:, None] - i[None, :]
    # (H, 1, C, C)
    D = torch.where(distance >= 0, torch.exp(distance.clamp(min=0) * g[..., None]), 0.0)
    # inside each chunk, the parallel form: (Q K^T ⊙ D) V, all chunks at once
    inner = ((q @ k.transpose(-1, -2)) * D) @ v
    # what each chunk adds to the state: sum_j gamma^(C-1-j) k_j v_j^T, all chunks at
    # once, (B, H, n, K, V)
    k_to_end = k * torch.exp((C - 1 - i)[:, None] * g[..., None])
    added = k_to_end.transpose(-1, -2) @ v
    # across chunks, the recurrence S_c = gamma^C S_(c-1) + added_c: n steps of one
    # multiply-add each
    gamma_C = torch.exp(C * log_gamma)[:, None, None]
    before = []
    for added_c in added.unbind(2):
        before.append(S)
        S = gamma_C * S + added_c
    # (B, H, n, K, V): the state entering each chunk
    before = torch.stack(before, dim=2)
    # from earlier chunks: o_i += gamma^(i+1) S^T q_i
    cross = (q * torch.exp((i + 1)[:, None] * g[..., None])) @ before
    return (inner + cross).reshape(B, H, T, V), S


def _widen(q, k, v, log_decay, initial_state):
    """The inputs in the computing dtype, log gamma (H,) (zeros without a decay) and
    S_0 (zeros without one)."""
    dtype = compute_dtype(q.dtype)
    B, H, _, K = q.shape
    V = v.shape[-1]
    log_gamma = (
        torch.zeros(H, dtype=dtype, device=q.device)
        if log_decay is None
        else log_decay.to(dtype)
    )
    S0 = (
        torch.zeros(B, H, K, V, dtype=dtype, device=q.device)
        if initial_state is None
        else initial_state.to(dtype)
    )
    return q.to(dtype), k.to(dtype), v.to(dtype), log_gamma, S0
