"""Softmax attention in plain PyTorch: the T x T form, and FlashAttention's tiles with
an online softmax.

For every batch element and head, with queries q_i, keys k_j and values v_j of size D,

    s_ij = scale * q_i . k_j,    P_ij = exp(s_ij) / sum_j' exp(s_ij'),
    o_i = sum_j P_ij v_j

(Vaswani et al. 2017, eq. 1, scale = 1/sqrt(D)); with ``causal`` only j <= i take part.

- ``attention_naive``: S = scale Q K^T of shape (T_q, T_k), its softmax and P V, in the
  inputs' dtype. O(T_q T_k) memory: the matrix S is what makes attention quadratic.
- ``attention_tiled``: FlashAttention's algorithm (Dao et al. 2022, Algorithm 1): keys
  and values in blocks of B_c; each query keeps a running maximum m, a running sum l and
  an unnormalised output, and rescales them as each key block arrives (the online
  softmax, Milakov & Gimelshein 2018). All queries step together, so (T_q, B_c) scores
  exist at a time, never (T_q, T_k). Its backward recomputes the scores block by block
  from the saved log-sum-exp L_i = m_i + log l_i (Dao 2023, Algorithm 2) instead of
  keeping P.

Both take q (B, H, T_q, D), k and v (B, H, T_k, D); ``attention_tiled`` computes half
precision in float32 and rounds the output back, as the Triton kernel does.
"""

from __future__ import annotations

import torch

from rnncourse.ops._checks import compute_dtype


def attention_naive(q, k, v, causal=False, scale=None):
    """softmax(scale Q K^T) V with the full (T_q, T_k) score matrix. Returns o
    (B, H, T_q, D)."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    # s_ij = scale q_i . k_j      (B, H, T_q, T_k)
    S = scale * (q @ k.transpose(-1, -2))
    if causal:
        T = q.shape[2]
        above = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)  # j > i
        S = S.masked_fill(above, float("-inf"))
    P = torch.softmax(S, dim=-1)  # P_ij = exp(s_ij) / sum_j' exp(s_ij')
    return P @ v  # o_i = sum_j P_ij v_j


def attention_tiled(q, k, v, causal=False, scale=None, block_size=128):
    """FlashAttention in PyTorch: blocks of ``block_size`` keys and an online softmax,
    never the full matrix.

    Differentiable; its backward is tiled too. Returns o (B, H, T_q, D) in the inputs'
    dtype.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    return TiledAttention.apply(q, k, v, causal, scale, block_size)


def tiled_forward(q, k, v, causal, scale, block_size):
    """o (B, H, T_q, D) and the log-sum-exp L (B, H, T_q) of each row of scores, in
    float32 for halves.

    The outer loop runs over blocks of keys and values; every query takes its next step
    at once (the Triton kernel gives each block of queries its own program instead), so
    at most (T_q, B_c) scores exist.
    """
    T_q, T_k = q.shape[2], k.shape[2]
    # running maximum per query
    m = torch.full(q.shape[:3], float("-inf"), dtype=q.dtype, device=q.device)
    l = torch.zeros_like(m)  # running sum of exp(s - m)
    acc = torch.zeros_like(q)  # running sum of exp(s - m) v
    for j0 in range(0, T_k, block_size):
        j1 = min(j0 + block_size, T_k)
        i0 = j0 if causal else 0  # causal: queries before the block see none of it
        # (B, H, T_q - i0, j1 - j0)
        S = scale * (q[:, :, i0:] @ k[:, :, j0:j1].transpose(-1, -2))
        if causal:
            S = S.masked_fill(_above_diagonal(i0, T_q, j0, j1, q.device), float("-inf"))
        m_old = m[:, :, i0:]
        # m^(j) = max(m^(j-1), rowmax(S^(j)))
        m_new = torch.maximum(m_old, S.amax(dim=-1))
        P = torch.exp(S - m_new[..., None])  # P~^(j) = exp(S^(j) - m^(j))
        # the old terms' correction e^(m^(j-1) - m^(j))
        alpha = torch.exp(m_old - m_new)
        # l^(j) = e^(m^(j-1) - m^(j)) l^(j-1) + rowsum(P~^(j))
        l[:, :, i0:] = alpha * l[:, :, i0:] + P.sum(dim=-1)
        # O^(j) = e^(m^(j-1) - m^(j)) O^(j-1) + P~ V_j
        acc[:, :, i0:] = alpha[..., None] * acc[:, :, i0:] + P @ v[:, :, j0:j1]
        m[:, :, i0:] = m_new
    # O = diag(l)^-1 O^(last);  L = m + log l, all the backward needs
    return acc / l[..., None], m + torch.log(l)


def tiled_backward(q, k, v, o, L, do, causal, scale, block_size):
    """dq, dk, dv from the saved o and L, recomputing each block of P
    (Dao 2023, Algorithm 2)."""
    T_q, T_k = q.shape[2], k.shape[2]
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    delta = (do * o).sum(dim=-1)  # D_i = do_i . o_i = sum_j P_ij dP_ij
    for j0 in range(0, T_k, block_size):
        j1 = min(j0 + block_size, T_k)
        i0 = j0 if causal else 0
        k_j, v_j, q_i, do_i = (
            k[:, :, j0:j1],
            v[:, :, j0:j1],
            q[:, :, i0:],
            do[:, :, i0:],
        )
        S = scale * (q_i @ k_j.transpose(-1, -2))
        if causal:
            S = S.masked_fill(_above_diagonal(i0, T_q, j0, j1, q.device), float("-inf"))
        P = torch.exp(S - L[:, :, i0:, None])  # P_ij = exp(s_ij - L_i)
        dv[:, :, j0:j1] = P.transpose(-1, -2) @ do_i  # dV_j = P^T dO
        dP = do_i @ v_j.transpose(-1, -2)  # dP_ij = do_i . v_j
        dS = P * (dP - delta[:, :, i0:, None])  # dS_ij = P_ij (dP_ij - D_i)
        dq[:, :, i0:] += scale * (dS @ k_j)  # dQ += scale dS K_j
        dk[:, :, j0:j1] = scale * (dS.transpose(-1, -2) @ q_i)  # dK_j = scale dS^T Q
    return dq, dk, dv


def _above_diagonal(i0, i1, j0, j1, device) -> torch.Tensor:
    """(i1 - i0, j1 - j0) mask of the pairs with key j > query i."""
    i = torch.arange(i0, i1, device=device)[:, None]
    j = torch.arange(j0, j1, device=device)[None, :]
    return j > i


class TiledAttention(torch.autograd.Function):
    """o = softmax_attention(q, k, v) with the tiled forward and backward; saves o and
    L, not P."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, block_size):
        dtype = q.dtype
        q, k, v = (x.to(compute_dtype(dtype)) for x in (q, k, v))
        o, L = tiled_forward(q, k, v, causal, scale, block_size)
        ctx.save_for_backward(q, k, v, o, L)
        ctx.causal, ctx.scale, ctx.block_size, ctx.dtype = (
            causal,
            scale,
            block_size,
            dtype,
        )
        return o.to(dtype)

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, L = ctx.saved_tensors
        grads = tiled_backward(
            q, k, v, o, L, do.to(q.dtype), ctx.causal, ctx.scale, ctx.block_size
        )
        return (*(g.to(ctx.dtype) for g in grads), None, None, None)


def flops(B: int, H: int, T_q: int, T_k: int, D: int, causal: bool) -> float:
    """Multiply-adds x 2 of one forward pass: Q K^T and P V, 4 B H T_q T_k D, halved
    when causal (the convention of Dao 2023, section 4.1)."""
    return 4 * B * H * T_q * T_k * D / (2 if causal else 1)


def memory_naive(
    B: int,
    H: int,
    T_q: int,
    T_k: int,
    D: int,
    causal: bool = False,
    bytes_per_number: int = 4,
) -> int:
    """Bytes one forward pass of ``attention_naive`` allocates at its peak, beyond its
    inputs: the scores S and their softmax P, (B, H, T_q, T_k) each, alive together, the
    output o, (B, H, T_q, D), and when ``causal`` the (T, T) mask of booleans, a byte
    each."""
    return bytes_per_number * (2 * B * H * T_q * T_k + B * H * T_q * D) + (
        T_q * T_k if causal else 0
    )
