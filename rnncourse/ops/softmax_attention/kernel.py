"""FlashAttention as Triton kernels: the forward with an online softmax, and the
backward from the saved log-sum-exp (Dao et al. 2022; the work partitioning of
FlashAttention-2, Dao 2023).

float16, bfloat16 and float32; scores, softmax statistics and accumulators in float32.

Forward, one program per (block of BLOCK_M queries, batch element and head): the block
of Q stays in registers while blocks of BLOCK_N keys and values stream past; per query
row it keeps the running maximum m, the running sum l and the unnormalised output acc
(``reference.tiled_forward`` is the same loop in PyTorch). Exponentials are taken in
base 2, exp(x) = 2^(x log2 e), with log2 e folded into the scale: one multiply fewer per
score. It writes o and L = m + log l (natural log) for the backward.

Backward, two kernels that need no atomics (``reference.tiled_backward``):

- ``attention_bwd_dkdv_kernel``, one program per block of keys: K_j and V_j stay while
  the blocks of queries stream past, dV_j += P^T dO_i and dK_j += scale dS^T Q_i;
- ``attention_bwd_dq_kernel``, one program per block of queries: dQ_i += scale dS K_j;

with P_ij = exp(s_ij - L_i) recomputed from the scores and dS_ij = P_ij (dP_ij - D_i),
D_i = do_i . o_i computed first in PyTorch.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from rnncourse.ops import backend
from rnncourse.ops._checks import KERNEL_DTYPES, check_kernel_can_run

LOG2E = 1.4426950408889634  # log2(e): exp(x) = 2^(x log2 e)


@triton.jit
def attention_fwd_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
    lse_ptr,
    T_q,
    T_k,
    D,
    scale_log2,
    CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    bh = tl.program_id(1).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    d = tl.arange(0, BLOCK_D)
    row_ok, d_ok = rows < T_q, d < D
    q = tl.load(
        q_ptr + (bh * T_q + rows[:, None]) * D + d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    # running maximum, in units of log2
    m = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of 2^(s - m)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # running sum of 2^(s - m) v
    # causal: stop at the diagonal
    end = tl.minimum((tl.program_id(0) + 1) * BLOCK_M, T_k) if CAUSAL else T_k
    for j0 in range(0, end, BLOCK_N):
        cols = j0 + tl.arange(0, BLOCK_N)
        kv_mask = (cols[:, None] < T_k) & d_ok[None, :]
        k = tl.load(
            k_ptr + (bh * T_k + cols[:, None]) * D + d[None, :], mask=kv_mask, other=0.0
        )
        v = tl.load(
            v_ptr + (bh * T_k + cols[:, None]) * D + d[None, :], mask=kv_mask, other=0.0
        )
        # s_ij log2 e
        s = (
            tl.dot(q.to(DOT), tl.trans(k.to(DOT)), input_precision=PRECISION)
            * scale_log2
        )
        valid = cols[None, :] < T_k
        if CAUSAL:
            valid = valid & (cols[None, :] <= rows[:, None])
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=1))  # m^(j) = max(m^(j-1), rowmax(S^(j)))
        p = tl.exp2(s - m_new[:, None])  # P~ = exp(S^(j) - m^(j))
        alpha = tl.exp2(m - m_new)  # e^(m^(j-1) - m^(j))
        # l^(j) = e^(m^(j-1) - m^(j)) l^(j-1) + rowsum(P~)
        l = alpha * l + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + tl.dot(
            p.to(DOT), v.to(DOT), input_precision=PRECISION
        )
        m = m_new
    o = acc / l[:, None]  # O = diag(l)^-1 O^(last)
    tl.store(
        o_ptr + (bh * T_q + rows[:, None]) * D + d[None, :],
        o.to(o_ptr.dtype.element_ty),
        mask=row_ok[:, None] & d_ok[None, :],
    )
    # L = (m + log2 l) ln 2
    tl.store(
        lse_ptr + bh * T_q + rows, (m + tl.log2(l)) * 0.6931471805599453, mask=row_ok
    )


@triton.jit
def _recompute_p(
    q,
    k,
    lse,
    rows,
    cols,
    T_k,
    scale_log2,
    CAUSAL: tl.constexpr,
    DOT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """P_ij = exp(s_ij - L_i) for a (BLOCK_M, BLOCK_N) block, zero where key j is
    masked."""
    s = tl.dot(q.to(DOT), tl.trans(k.to(DOT)), input_precision=PRECISION) * scale_log2
    p = tl.exp2(s - lse[:, None] * 1.4426950408889634)  # 2^((s_ij - L_i) log2 e)
    valid = cols[None, :] < T_k
    if CAUSAL:
        valid = valid & (cols[None, :] <= rows[:, None])
    return tl.where(valid, p, 0.0)


@triton.jit
def attention_bwd_dkdv_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    do_ptr,
    lse_ptr,
    delta_ptr,
    dk_ptr,
    dv_ptr,
    T_q,
    T_k,
    D,
    scale,
    scale_log2,
    CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    bh = tl.program_id(1).to(tl.int64)
    j0 = tl.program_id(0) * BLOCK_N
    cols = j0 + tl.arange(0, BLOCK_N)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < D
    kv_mask = (cols[:, None] < T_k) & d_ok[None, :]
    k = tl.load(
        k_ptr + (bh * T_k + cols[:, None]) * D + d[None, :], mask=kv_mask, other=0.0
    )
    v = tl.load(
        v_ptr + (bh * T_k + cols[:, None]) * D + d[None, :], mask=kv_mask, other=0.0
    )
    dk = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    # causal: no query block above the diagonal
    start = (j0 // BLOCK_M) * BLOCK_M if CAUSAL else 0
    for i0 in range(start, T_q, BLOCK_M):
        rows = i0 + tl.arange(0, BLOCK_M)
        row_ok = rows < T_q
        q_mask = row_ok[:, None] & d_ok[None, :]
        q = tl.load(
            q_ptr + (bh * T_q + rows[:, None]) * D + d[None, :], mask=q_mask, other=0.0
        )
        do = tl.load(
            do_ptr + (bh * T_q + rows[:, None]) * D + d[None, :], mask=q_mask, other=0.0
        )
        lse = tl.load(lse_ptr + bh * T_q + rows, mask=row_ok, other=0.0)
        delta = tl.load(delta_ptr + bh * T_q + rows, mask=row_ok, other=0.0)
        p = _recompute_p(q, k, lse, rows, cols, T_k, scale_log2, CAUSAL, DOT, PRECISION)
        p = tl.where(row_ok[:, None], p, 0.0)
        # dV_j += P^T dO_i
        dv += tl.dot(tl.trans(p.to(DOT)), do.to(DOT), input_precision=PRECISION)
        # dP_ij = do_i . v_j
        dp = tl.dot(do.to(DOT), tl.trans(v.to(DOT)), input_precision=PRECISION)
        ds = p * (dp - delta[:, None])  # dS_ij = P_ij (dP_ij - D_i)
        # dK_j += dS^T Q_i (x scale)
        dk += tl.dot(tl.trans(ds.to(DOT)), q.to(DOT), input_precision=PRECISION)
    tl.store(
        dk_ptr + (bh * T_k + cols[:, None]) * D + d[None, :],
        (dk * scale).to(dk_ptr.dtype.element_ty),
        mask=kv_mask,
    )
    tl.store(
        dv_ptr + (bh * T_k + cols[:, None]) * D + d[None, :],
        dv.to(dv_ptr.dtype.element_ty),
        mask=kv_mask,
    )


@triton.jit
def attention_bwd_dq_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    do_ptr,
    lse_ptr,
    delta_ptr,
    dq_ptr,
    T_q,
    T_k,
    D,
    scale,
    scale_log2,
    CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    bh = tl.program_id(1).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    d = tl.arange(0, BLOCK_D)
    row_ok, d_ok = rows < T_q, d < D
    q_mask = row_ok[:, None] & d_ok[None, :]
    q = tl.load(
        q_ptr + (bh * T_q + rows[:, None]) * D + d[None, :], mask=q_mask, other=0.0
    )
    do = tl.load(
        do_ptr + (bh * T_q + rows[:, None]) * D + d[None, :], mask=q_mask, other=0.0
    )
    lse = tl.load(lse_ptr + bh * T_q + rows, mask=row_ok, other=0.0)
    delta = tl.load(delta_ptr + bh * T_q + rows, mask=row_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    end = tl.minimum((tl.program_id(0) + 1) * BLOCK_M, T_k) if CAUSAL else T_k
    for j0 in range(0, end, BLOCK_N):
        cols = j0 + tl.arange(0, BLOCK_N)
        kv_mask = (cols[:, None] < T_k) & d_ok[None, :]
        k = tl.load(
            k_ptr + (bh * T_k + cols[:, None]) * D + d[None, :], mask=kv_mask, other=0.0
        )
        v = tl.load(
            v_ptr + (bh * T_k + cols[:, None]) * D + d[None, :], mask=kv_mask, other=0.0
        )
        p = _recompute_p(q, k, lse, rows, cols, T_k, scale_log2, CAUSAL, DOT, PRECISION)
        dp = tl.dot(do.to(DOT), tl.trans(v.to(DOT)), input_precision=PRECISION)
        ds = p * (dp - delta[:, None])
        # dQ_i += dS K_j (x scale)
        dq += tl.dot(ds.to(DOT), k.to(DOT), input_precision=PRECISION)
    tl.store(
        dq_ptr + (bh * T_q + rows[:, None]) * D + d[None, :],
        (dq * scale).to(dq_ptr.dtype.element_ty),
        mask=q_mask,
    )


def blocks(
    pass_: str, dtype: torch.dtype, D: int, capability: tuple[int, int] | None
) -> dict:
    """Block sizes, warps and pipeline stages for ``pass_`` ("forward" or "backward") on
    a GPU of compute ``capability`` (None: the interpreter, sized as a T4).

    A T4 (7.5) gives a program 64 KiB of shared memory; the blocks below are the largest
    that fit it at D = 128 (tests/ops/test_softmax_attention.py compiles them and
    checks). Ampere and later (8.0+) have 164 to 228 KiB: larger query blocks in the
    forward, and three stages of loads in flight.
    """
    big_head, half = D > 64, dtype != torch.float32
    if capability is not None and capability[0] >= 8:
        if pass_ == "forward":
            return dict(
                BLOCK_M=128 if half else 64,
                BLOCK_N=64,
                num_warps=8 if big_head else 4,
                num_stages=3,
            )
        return dict(
            BLOCK_M=64,
            BLOCK_N=64,
            num_warps=4 if half else 8,
            num_stages=3 if half else 2,
        )
    stages = {} if capability is None else dict(num_warps=4, num_stages=1)
    if pass_ == "forward":
        return dict(BLOCK_M=64, BLOCK_N=32 if (big_head and not half) else 64, **stages)
    if half:
        return dict(
            BLOCK_M=32 if big_head else 64, BLOCK_N=32 if big_head else 64, **stages
        )
    return dict(BLOCK_M=16 if big_head else 32, BLOCK_N=32, **stages)


def _launch(q: torch.Tensor, pass_: str) -> dict:
    """The kernels' compile-time arguments for ``q``: blocks, the padded head size, the
    products' dtype.

    D is padded to a power of two >= 16. On the GPU float32 products use IEEE float32,
    not TF32, so that the kernel's error stays that of a float32 computation; the
    interpreter cannot multiply bfloat16 matrices, so there bfloat16 products run in
    float32.
    """
    capability = torch.cuda.get_device_capability(q.device) if q.is_cuda else None
    return dict(
        **blocks(pass_, q.dtype, q.shape[-1], capability),
        BLOCK_D=max(16, triton.next_power_of_2(q.shape[-1])),
        DOT=backend.dot_dtype(q),
        PRECISION="ieee",
    )


class FlashAttention(torch.autograd.Function):
    """o = softmax_attention(q, k, v) with the Triton kernels; saves o and the
    log-sum-exp L per query, not P."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale):
        B, H, T_q, D = q.shape
        T_k = k.shape[2]
        meta = _launch(q, "forward")
        o = backend.output_buffer((B, H, T_q, D), q)
        lse = backend.output_buffer(
            (B, H, T_q), torch.empty(0, dtype=torch.float32, device=q.device)
        )
        grid = (triton.cdiv(T_q, meta["BLOCK_M"]), B * H)
        attention_fwd_kernel[grid](
            q, k, v, o, lse, T_q, T_k, D, scale * LOG2E, CAUSAL=causal, **meta
        )
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.scale = causal, scale
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        B, H, T_q, D = q.shape
        T_k = k.shape[2]
        do = do.contiguous()
        delta = (do.float() * o.float()).sum(dim=-1)  # D_i = do_i . o_i     (B, H, T_q)
        dq, dk, dv = (backend.output_buffer(x.shape, x) for x in (q, k, v))
        meta = _launch(q, "backward")
        args = (ctx.scale, ctx.scale * LOG2E)
        attention_bwd_dkdv_kernel[(triton.cdiv(T_k, meta["BLOCK_N"]), B * H)](
            q,
            k,
            v,
            do,
            lse,
            delta,
            dk,
            dv,
            T_q,
            T_k,
            D,
            *args,
            CAUSAL=ctx.causal,
            **meta,
        )
        attention_bwd_dq_kernel[(triton.cdiv(T_q, meta["BLOCK_M"]), B * H)](
            q, k, v, do, lse, delta, dq, T_q, T_k, D, *args, CAUSAL=ctx.causal, **meta
        )
        return dq, dk, dv, None, None


def attention_triton(q, k, v, causal=False, scale=None):
    """The Triton kernels, differentiable. Shapes as ``softmax_attention``; returns o
    (B, H, T_q, D)."""
    if not 16 <= q.shape[-1] <= 128:
        raise ValueError(
            f"softmax_attention: the Triton kernel takes head sizes D from 16 to 128, "
            f"got D = {q.shape[-1]}; use impl='tiled'"
        )
    check_kernel_can_run("softmax_attention", q, KERNEL_DTYPES, instead="tiled")
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    # the kernels address memory as contiguous (B, H, T, D) arrays
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    return FlashAttention.apply(q, k, v, causal, scale)
