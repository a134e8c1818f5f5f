"""The linear scan h_t = a_t * h_{t-1} + b_t as a Triton kernel, forward and backward.

Real dtypes only (float16, bfloat16, float32, float64); complex a and b go to the
PyTorch forms in ``reference.py``. Half precision is computed in float32 and
rounded once when stored.

Design: one program per (block of BLOCK_D features, sequence in the batch). It
walks along time in chunks of CHUNK_T steps: it loads a (CHUNK_T, BLOCK_D) tile
of a and b (consecutive features are consecutive in memory, so loads coalesce),
scans the tile with the associative operator

    (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2),

applies the state carried in from the previous chunk, stores the tile of h, and
carries its last row on. Every element is read and written once, so the kernel
is bound by memory bandwidth.

The backward is the same scan run backwards in time. With g_t = dL/dh_t in total,

    g_t = dh_t + a_{t+1} g_{t+1},   db_t = g_t,   da_t = g_t h_{t-1},   dh0 = a_1 g_1,

(1-based t, as in the equations; h_0 = h0). The kernel reads the chunks from the end
and each tile upside down, so the same forward scan computes g.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from rnncourse.ops import backend
from rnncourse.ops._checks import KERNEL_DTYPES, check_kernel_can_run

_DTYPES = (*KERNEL_DTYPES, torch.float64)


@triton.jit
def _combine(a1, b1, a2, b2):
    # (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2): the step h -> a1 h + b1, then
    # h -> a2 h + b2
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _last_row(x, rows, CHUNK_T: tl.constexpr):
    return tl.sum(tl.where(rows[:, None] == CHUNK_T - 1, x, 0.0), axis=0)


@triton.jit
def linear_scan_fwd_kernel(
    a_ptr,
    b_ptr,
    h0_ptr,
    h_ptr,
    T,
    D,
    HAS_H0: tl.constexpr,
    ACC: tl.constexpr,
    CHUNK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    seq = tl.program_id(1).to(tl.int64)
    rows = tl.arange(0, CHUNK_T)
    if HAS_H0:
        h = tl.load(h0_ptr + seq * D + d, mask=d < D, other=0.0).to(ACC)
    else:
        h = tl.zeros([BLOCK_D], dtype=ACC)
    for t0 in range(0, T, CHUNK_T):
        t = t0 + rows
        offs = (seq * T + t[:, None]) * D + d[None, :]
        mask = (t[:, None] < T) & (d[None, :] < D)
        # steps past the end are the identity (a = 1, b = 0), so the last row is the
        # state to carry on
        a = tl.load(a_ptr + offs, mask=mask, other=1.0).to(ACC)
        b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(ACC)
        # the chunk's steps composed from its start
        a_in, b_in = tl.associative_scan((a, b), 0, _combine)
        # h_t = (a_t ... a_t0) h_{t0-1} + (the chunk's inputs up to t)
        h_chunk = a_in * h[None, :] + b_in
        tl.store(h_ptr + offs, h_chunk.to(h_ptr.dtype.element_ty), mask=mask)
        h = _last_row(h_chunk, rows, CHUNK_T)


@triton.jit
def linear_scan_bwd_kernel(
    a_ptr,
    h0_ptr,
    h_ptr,
    dh_ptr,
    da_ptr,
    db_ptr,
    dh0_ptr,
    T,
    D,
    HAS_H0: tl.constexpr,
    ACC: tl.constexpr,
    CHUNK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    seq = tl.program_id(1).to(tl.int64)
    rows = tl.arange(0, CHUNK_T)
    d_ok = d[None, :] < D
    if HAS_H0:
        h0 = tl.load(h0_ptr + seq * D + d, mask=d < D, other=0.0).to(ACC)
    g = tl.zeros([BLOCK_D], dtype=ACC)
    for t0 in range(0, T, CHUNK_T):
        # row r of the tile holds time T-1-t0-r: the tile runs backwards in time
        t = T - 1 - t0 - rows
        offs = (seq * T + t[:, None]) * D + d[None, :]
        ok = (t[:, None] >= 0) & d_ok
        # g_t = a_{t+1} g_{t+1} + dh_t; steps before the start are the identity (1, 0)
        a_next = tl.load(
            a_ptr + offs + D, mask=ok & (t[:, None] + 1 < T), other=0.0
        ).to(ACC)
        a_next = tl.where(t[:, None] >= 0, a_next, 1.0)
        dh = tl.load(dh_ptr + offs, mask=ok, other=0.0).to(ACC)
        c_in, dh_in = tl.associative_scan((a_next, dh), 0, _combine)
        g_chunk = c_in * g[None, :] + dh_in
        h_prev = tl.load(h_ptr + offs - D, mask=ok & (t[:, None] >= 1), other=0.0).to(
            ACC
        )
        if HAS_H0:
            h_prev = tl.where(t[:, None] == 0, h0[None, :], h_prev)
        # db_t = g_t
        tl.store(db_ptr + offs, g_chunk.to(db_ptr.dtype.element_ty), mask=ok)
        # da_t = g_t h_{t-1}
        tl.store(da_ptr + offs, (g_chunk * h_prev).to(da_ptr.dtype.element_ty), mask=ok)
        g = _last_row(g_chunk, rows, CHUNK_T)
    if HAS_H0:
        a_first = tl.load(a_ptr + seq * T * D + d, mask=d < D, other=0.0).to(ACC)
        # dh0 = a_1 g_1
        dh0 = (a_first * g).to(dh0_ptr.dtype.element_ty)
        tl.store(dh0_ptr + seq * D + d, dh0, mask=d < D)


def _launch(B: int, T: int, D: int, dtype: torch.dtype) -> dict:
    """Grid and block sizes: BLOCK_D features per program (coalesced), CHUNK_T steps
    per tile."""
    block_d = min(triton.next_power_of_2(D), 32)
    chunk_t = min(triton.next_power_of_2(T), 64)
    acc = tl.float64 if dtype == torch.float64 else tl.float32
    return dict(
        grid=(triton.cdiv(D, block_d), B),
        meta=dict(ACC=acc, CHUNK_T=chunk_t, BLOCK_D=block_d, num_warps=4),
    )


class LinearScan(torch.autograd.Function):
    """h = linear_scan(a, b, h0) with the Triton kernels; a, b (B, T, D), h0 (B, D) or
    None."""

    @staticmethod
    def forward(ctx, a, b, h0):
        B, T, D = a.shape
        run = _launch(B, T, D, a.dtype)
        h = backend.output_buffer(a.shape, a)
        linear_scan_fwd_kernel[run["grid"]](
            a, b, h0, h, T, D, HAS_H0=h0 is not None, **run["meta"]
        )
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx, dh):
        a, h0, h = ctx.saved_tensors
        B, T, D = a.shape
        run = _launch(B, T, D, a.dtype)
        da, db = backend.output_buffer(a.shape, a), backend.output_buffer(a.shape, a)
        dh0 = None if h0 is None else backend.output_buffer(h0.shape, h0)
        linear_scan_bwd_kernel[run["grid"]](
            a,
            h0,
            h,
            dh.contiguous(),
            da,
            db,
            dh0,
            T,
            D,
            HAS_H0=h0 is not None,
            **run["meta"],
        )
        return da, db, dh0


def linear_scan_triton(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """The Triton kernel, differentiable; real dtypes only.

    a, b (B, T, D), h0 (B, D) or None -> h (B, T, D).
    """
    check_kernel_can_run("linear_scan", a, _DTYPES, instead="parallel")
    # the kernel addresses memory as a contiguous (B, T, D) array
    a, b = a.contiguous(), b.contiguous()
    h0 = None if h0 is None else h0.contiguous()
    return LinearScan.apply(a, b, h0)
