"""The delta rule of DeltaNet and Gated DeltaNet, in plain PyTorch: the state loop
and its chunkwise form.

For every batch element and head, with q_t, k_t of size K, v_t of size V, a
writing strength beta_t in [0, 1] and a log decay g_t <= 0 (g_t = 0 for DeltaNet),

    S_t = exp(g_t) (I - beta_t k_t k_t^T) S_(t-1) + beta_t k_t v_t^T      (K, V)
    o_t = S_t^T q_t                                                       (V,)

DeltaNet (Schlag et al. 2021; Yang et al. 2024) without the decay, Gated DeltaNet
(Yang, Kautz & Hatamizadeh 2025) with it. Read as learning: the state is a linear
map from keys to values, and each step is one step of gradient descent, with step
size beta_t, on the regression loss 1/2 ||S^T k_t - v_t||^2 from the decayed state
exp(g_t) S_(t-1): the state corrects what it recalls for k_t towards v_t instead of
adding v_t on top, as linear attention does.

- ``delta_rule_recurrent``: the state loop, one step per time step. O(T) steps.
- ``delta_rule_chunk``: chunks of C steps; inside a chunk the steps are solved at
  once by one triangular system (the WY representation, Yang et al. 2024), across
  chunks the state is carried. T/C steps, of matrix products.

Both take q, k (B, H, T, K), v (B, H, T, V), beta (B, H, T), log_decay (B, H, T) or
None and initial_state (B, H, K, V) or None, and return o (B, H, T, V) and the final
state S_T (B, H, K, V), so a sequence cut in pieces gives the result of one pass.
Neither normalises k: with ||k_t|| = 1 (the layer's job) every I - beta_t k_t k_t^T
has eigenvalues in [0, 1] and the state stays bounded. Half-precision inputs are
computed in float32 and the output rounded back; the state stays in that computing
dtype (float32 for halves). ``check_inputs`` is what the public
``rnncourse.ops.delta_rule`` checks before it calls either.
"""

from __future__ import annotations

import torch

from rnncourse.ops._checks import (
    check_chunk_size,
    check_device_of,
    check_dtype_of,
    check_floating,
    check_qkv,
    check_state,
    check_steps,
    check_tensors,
    compute_dtype,
)


def delta_rule_recurrent(q, k, v, beta, log_decay=None, initial_state=None):
    """One step per time step. Returns o (B, H, T, V) and S_T (B, H, K, V)."""
    dtype = q.dtype
    q, k, v, beta, g, S = _widen(q, k, v, beta, log_decay, initial_state)
    outputs = []
    # unbind, not q[:, :, t]: the backward of T indexings would write T full-size
    # gradients
    steps = zip(q.unbind(2), k.unbind(2), v.unbind(2), beta.unbind(2), g.unbind(2))
    for q_t, k_t, v_t, beta_t, g_t in steps:
        # the decayed state: exp(g_t) S_(t-1)
        S = torch.exp(g_t)[..., None, None] * S
        # what it recalls for the key k_t: (exp(g_t) S_(t-1))^T k_t   (B, H, V)
        recalled = (k_t[..., None, :] @ S)[..., 0, :]
        # the correction it writes: u_t = beta_t (v_t - recalled)
        u_t = beta_t[..., None] * (v_t - recalled)
        # S_t = exp(g_t) S_(t-1) + k_t u_t^T
        #     = exp(g_t) (I - beta_t k_t k_t^T) S_(t-1) + beta_t k_t v_t^T
        S = S + k_t[..., :, None] * u_t[..., None, :]
        # o_t = S_t^T q_t
        outputs.append((q_t[..., None, :] @ S)[..., 0, :])
    return torch.stack(outputs, dim=2).to(dtype), S


def delta_rule_chunk(q, k, v, beta, log_decay=None, initial_state=None, chunk_size=64):
    """Chunks of ``chunk_size`` steps, solved at once inside and carried across.
    Returns o (B, H, T, V) and S_T (B, H, K, V).

    The derivation (Yang et al. 2024, sec. 3; with the gate of Yang, Kautz &
    Hatamizadeh 2025, sec. 3.3). Write the step with the correction it writes,

        u_t = beta_t (v_t - exp(g_t) S_(t-1)^T k_t),
        S_t = exp(g_t) S_(t-1) + k_t u_t^T.

    Take one chunk, its steps numbered 1..C, S the state entering it, and
    G_i = g_1 + ... + g_i the log decay from its start to step i. Unrolling,

        S_i = exp(G_i) S + sum_(j <= i) exp(G_i - G_j) k_j u_j^T,

    so the corrections depend on each other only inside the chunk:

        u_i = beta_i v_i - beta_i exp(G_i) S^T k_i
              - sum_(j < i) beta_i (k_i . k_j) exp(G_i - G_j) u_j.

    Stacked as rows, with Gamma_ij = exp(G_i - G_j) and
    A = tril(diag(beta) K K^T ⊙ Gamma, -1) (strictly lower), that is the unit lower
    triangular system (I + A) U_new = diag(beta) V - diag(beta) (K ⊙ exp(G)) S, whose
    solution is linear in S:

        U_new = U - W S,   with  T = (I + A)^(-1) diag(beta),
                                 U = T V,   W = T (K ⊙ exp(G))   (the UT transform).

    T, U and W do not depend on S: every chunk's are computed at once, T by one
    triangular solve per chunk (torch.linalg.solve_triangular, with diag(beta) for
    right-hand side). Then the outputs, o_i = S_i^T q_i,

        O = (Q ⊙ exp(G)) S + tril(Q K^T ⊙ Gamma) U_new        (diagonal included)

    and the state handed to the next chunk, S_C,

        S' = exp(G_C) S + (K ⊙ exp(G_C - G))^T U_new,

    a loop of T/C steps of matrix products, against T steps for the loop.

    Decays without overflow or lost digits: every exponent is a sum of log decays
    <= 0 over the steps between two points (the reference point is the chunk's
    start for exp(G_i), its end for exp(G_C - G_j), step j for Gamma_ij), so every
    factor lies in [0, 1]: a strong decay (g = -8 per step, -512 over a chunk of 64)
    underflows to 0, its true value's nearest float, and nothing overflows, in the
    forward or the backward. Exp(G_j) is never divided by, as the factorisation
    Gamma_ij = exp(G_i) / exp(G_j) would, overflowing once G_j < -88 in float32. And
    G_i - G_j is not taken as the difference of two cumulative sums, which loses
    the digits of a short gap after a long, strong decay: it is summed directly
    over steps j+1..i (a cumulative sum along each row of a masked matrix, like
    Mamba-2's segsum). Above the diagonal that sum runs over no steps and is 0, so
    exp gives 1 there before tril zeroes it: no inf, and no inf * 0 = NaN in the
    backward.

    A chunk size that does not divide T leaves a shorter last chunk.
    """
    dtype = q.dtype
    q, k, v, beta, g, S = _widen(q, k, v, beta, log_decay, initial_state)
    T = q.shape[2]
    body = T - T % chunk_size
    pieces = []
    if body:  # all whole chunks at once, then the remainder as one shorter chunk
        o, S = _chunks(*(x[:, :, :body] for x in (q, k, v, beta, g)), S, chunk_size)
        pieces.append(o)
    if body < T:
        o, S = _chunks(*(x[:, :, body:] for x in (q, k, v, beta, g)), S, T - body)
        pieces.append(o)
    o = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)
    return o.to(dtype), S


def _chunks(q, k, v, beta, g, S, C):
    """The chunkwise form on a length that is a multiple of C: o (B, H, T, V) and
    the final state. The equations are those of ``delta_rule_chunk``'s docstring."""
    B, H, T, K = q.shape
    V = v.shape[-1]
    n = T // C
    # (B H, n, C, K or V), (B H, n, C) and (B H, K, V): sequence and head b, chunk c,
    # step i of the chunk (one batch dimension: the loop's products are plain bmm)
    q, k, v = (x.reshape(B * H, n, C, x.shape[-1]) for x in (q, k, v))
    beta, g, S = beta.reshape(B * H, n, C), g.reshape(B * H, n, C), S.reshape(-1, K, V)
    # G_i = g_1 + ... + g_i, the log decay from the chunk's start to step i
    G = g.cumsum(-1)
    # Gamma_ij = exp(G_i - G_j) = exp(g_(j+1) + ... + g_i) for j <= i, 0 above
    Gamma = _decay_matrix(g)  # (B H, n, C, C)
    # A = tril(diag(beta) K K^T ⊙ Gamma, -1); its diagonal is left in place, unread:
    # solve_triangular(unitriangular=True) reads only below it and takes I's ones on it
    A = (beta[..., None] * k) @ k.mT * Gamma
    # T = (I + A)^(-1) diag(beta), from (I + A) T = diag(beta)
    T_mat = torch.linalg.solve_triangular(
        A, torch.diag_embed(beta), upper=False, unitriangular=True
    )
    # U = T V
    U = T_mat @ v
    # W = T (K ⊙ exp(G))
    W = T_mat @ (k * torch.exp(G)[..., None])
    # tril(Q K^T ⊙ Gamma): Gamma is 0 above the diagonal
    P = q @ k.mT * Gamma
    # Q ⊙ exp(G), the queries reading the state that entered the chunk
    q_from_start = q * torch.exp(G)[..., None]
    # K ⊙ exp(G_C - G), the keys decayed to the chunk's end (Gamma's last row)
    k_to_end = k * Gamma[..., -1, :, None]
    # exp(G_C), the decay across the whole chunk
    decay_C = torch.exp(G[..., -1])[..., None, None]  # (B H, n, 1, 1)
    # across chunks, n steps: the state entering each chunk and its corrections
    entering, corrections = [], []
    for U_c, W_c, k_c, decay_c in zip(
        U.unbind(1), W.unbind(1), k_to_end.unbind(1), decay_C.unbind(1)
    ):
        entering.append(S)
        # U_new = U - W S
        U_new = U_c - W_c @ S
        corrections.append(U_new)
        # S' = exp(G_C) S + (K ⊙ exp(G_C - G))^T U_new
        S = decay_c * S + k_c.mT @ U_new
    entering = torch.stack(entering, dim=1)  # (B H, n, K, V)
    corrections = torch.stack(corrections, dim=1)  # (B H, n, C, V)
    # O = (Q ⊙ exp(G)) S + tril(Q K^T ⊙ Gamma) U_new, all chunks at once
    o = q_from_start @ entering + P @ corrections
    return o.reshape(B, H, T, V), S.reshape(B, H, K, V)


def _decay_matrix(g):
    """(..., C) log decays -> (..., C, C) Gamma: exp(g_(j+1) + ... + g_i) at (i, j)
    for j <= i (1 on the diagonal), 0 above it; each exponent summed over its own
    steps, with no subtraction."""
    C = g.shape[-1]
    above = torch.ones(C, C, dtype=torch.bool, device=g.device).triu(1)
    # row j, column m: g_m where m > j, else 0
    steps = torch.where(above, g[..., None, :], 0.0)
    # summed along the row up to column i: g_(j+1) + ... + g_i (0 for i <= j), at
    # (j, i); a sum along rows, which are contiguous in memory, hence (j, i) not (i, j)
    sums = steps.cumsum(-1)
    # exp, at (i, j), the entries above the diagonal (exp(0) = 1) set to 0
    return torch.exp(sums).transpose(-1, -2).tril()


def _widen(q, k, v, beta, log_decay, initial_state):
    """The inputs in the computing dtype, the log decays (B, H, T) (zeros without
    them) and S_0 (zeros without one)."""
    dtype = compute_dtype(q.dtype)
    B, H, T, K = q.shape
    V = v.shape[-1]
    g = (
        torch.zeros(B, H, T, dtype=dtype, device=q.device)
        if log_decay is None
        else log_decay.to(dtype)
    )
    S0 = (
        torch.zeros(B, H, K, V, dtype=dtype, device=q.device)
        if initial_state is None
        else initial_state.to(dtype)
    )
    return q.to(dtype), k.to(dtype), v.to(dtype), beta.to(dtype), g, S0


def check_inputs(q, k, v, beta, log_decay, initial_state, chunk_size) -> None:
    """Raise ValueError (TypeError for a non-tensor), naming what was expected, for
    inputs ``rnncourse.ops.delta_rule`` cannot take; nothing is broadcast."""
    op = "delta_rule"
    inputs = dict(
        q=q, k=k, v=v, beta=beta, log_decay=log_decay, initial_state=initial_state
    )
    check_tensors(op, inputs)
    if beta is None:
        raise TypeError(f"{op}: beta must be a torch.Tensor, got NoneType")
    check_qkv(op, q, k, v)
    B, H, T, K = q.shape
    for name, x in (("beta", beta), ("log_decay", log_decay)):
        if x is not None and tuple(x.shape) != (B, H, T):
            raise ValueError(
                f"{op}: {name} must have shape (B, H, T) = ({B}, {H}, {T}), "
                f"one value per head and step, got {tuple(x.shape)}"
            )
    check_steps(op, "q", q, dim=2)
    check_floating(op, "q, k and v", q)
    check_dtype_of(op, "q", q, {"k": k, "v": v})
    allowed = sorted({str(q.dtype), str(compute_dtype(q.dtype))})
    for name, x in (("beta", beta), ("log_decay", log_decay)):
        if x is not None and x.dtype not in (q.dtype, compute_dtype(q.dtype)):
            raise ValueError(
                f"{op}: {name} must have the dtype of q (or float32 for "
                f"half-precision q), one of {allowed}, got {x.dtype}"
            )
    check_device_of(op, "q", q, inputs)
    if not ((beta >= 0) & (beta <= 1)).all():  # NaN fails too
        raise ValueError(
            f"{op}: beta is a step size and must lie in [0, 1], got values "
            f"from {beta.min().item():.3g} to {beta.max().item():.3g}"
        )
    if log_decay is not None and not (log_decay <= 0).all():
        raise ValueError(
            f"{op}: log_decay holds log decays g_t and must be <= 0 (a decay "
            f"exp(g_t) <= 1), got a largest value of {log_decay.max().item():.3g}"
        )
    if initial_state is not None:
        check_state(op, "initial_state", initial_state, (B, H, K, v.shape[-1]), q.dtype)
    check_chunk_size(op, chunk_size)
