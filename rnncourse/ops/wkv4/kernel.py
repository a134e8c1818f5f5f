"""RWKV-4's WKV as Triton kernels: the recurrence with a running maximum, forward and
backward.

float16, bfloat16 and float32, computed in float32. One program per (block of
BLOCK_C channels, sequence in the batch) walks along time, one token per step;
channels are independent and consecutive in memory, so every load coalesces.

Forward, with the state N = a e^p, D = b e^p (``reference.py``):

    q = max(p, u + k_t)      wkv_t = (e^(p-q) a + e^(u+k_t-q) v_t)
                                     / (e^(p-q) b + e^(u+k_t-q))
    q = max(p - w, k_t)      a = e^(p-w-q) a + e^(k_t-q) v_t,
                             b = e^(p-w-q) b + e^(k_t-q),    p = q

and, for the backward, the state after every token is written out (3 float32 tensors of
the input's shape). The backward walks from the last token to the first carrying the
gradients of N_t and D_t scaled by e^(p_t), gN and gD, which stay finite:

    with den = e^(p-q) b + e^(u+k_t-q) (the state before t, q = max(p, u + k_t)):
    dv_t = g_t e^(u+k_t-q) / den + gN e^(k_t - p_t)
    dk_t = g_t e^(u+k_t-q) (v_t - wkv_t) / den + e^(k_t - p_t) (gN v_t + gD),
           du += the first term
    dw  -= (gN a + gD b) e^(p - w - p_t)
    gN   = g_t e^(p-q) / den + gN e^(p - w - p_t),
    gD   = -g_t wkv_t e^(p-q) / den + gD e^(p - w - p_t)

(from N_t = e^(-w) N_(t-1) + e^(k_t) v_t and wkv_t's quotient; e^(p - w - p_t) <= 1
since p_t >= p - w). The state given to the forward is a constant here: the kernels
carry its value, not a gradient through it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from rnncourse.ops import backend
from rnncourse.ops._checks import KERNEL_DTYPES, check_kernel_can_run
from rnncourse.ops.wkv4.reference import WKV4State


@triton.jit
def wkv4_fwd_kernel(
    w_ptr,
    u_ptr,
    k_ptr,
    v_ptr,
    a0_ptr,
    b0_ptr,
    p0_ptr,
    y_ptr,
    sa_ptr,
    sb_ptr,
    sp_ptr,
    aT_ptr,
    bT_ptr,
    pT_ptr,
    T,
    C,
    HAS_STATE: tl.constexpr,
    SAVE: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    seq = tl.program_id(1).to(tl.int64)
    ok = c < C
    w = tl.load(w_ptr + c, mask=ok, other=1.0).to(tl.float32)
    u = tl.load(u_ptr + c, mask=ok, other=0.0).to(tl.float32)
    if HAS_STATE:
        a = tl.load(a0_ptr + seq * C + c, mask=ok, other=0.0)
        b = tl.load(b0_ptr + seq * C + c, mask=ok, other=0.0)
        p = tl.load(p0_ptr + seq * C + c, mask=ok, other=float("-inf"))
    else:
        a = tl.zeros([BLOCK_C], dtype=tl.float32)
        b = tl.zeros([BLOCK_C], dtype=tl.float32)
        p = tl.full([BLOCK_C], float("-inf"), dtype=tl.float32)
    for t in range(0, T):
        offs = (seq * T + t) * C + c
        k = tl.load(k_ptr + offs, mask=ok, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + offs, mask=ok, other=0.0).to(tl.float32)
        # wkv_t = (N_(t-1) + e^(u + k_t) v_t) / (D_(t-1) + e^(u + k_t)), each term
        # divided by e^q
        q = tl.maximum(p, u + k)
        e_state, e_token = tl.exp(p - q), tl.exp(u + k - q)
        tl.store(
            y_ptr + offs,
            ((e_state * a + e_token * v) / (e_state * b + e_token)).to(
                y_ptr.dtype.element_ty
            ),
            mask=ok,
        )
        # N_t = e^(-w) N_(t-1) + e^(k_t) v_t, D_t likewise, with the new largest
        # exponent max(p - w, k_t)
        q = tl.maximum(p - w, k)
        e_state, e_token = tl.exp(p - w - q), tl.exp(k - q)
        a, b, p = e_state * a + e_token * v, e_state * b + e_token, q
        if SAVE:
            tl.store(sa_ptr + offs, a, mask=ok)
            tl.store(sb_ptr + offs, b, mask=ok)
            tl.store(sp_ptr + offs, p, mask=ok)
    tl.store(aT_ptr + seq * C + c, a, mask=ok)
    tl.store(bT_ptr + seq * C + c, b, mask=ok)
    tl.store(pT_ptr + seq * C + c, p, mask=ok)


@triton.jit
def wkv4_bwd_kernel(
    w_ptr,
    u_ptr,
    k_ptr,
    v_ptr,
    a0_ptr,
    b0_ptr,
    p0_ptr,
    sa_ptr,
    sb_ptr,
    sp_ptr,
    gy_ptr,
    dk_ptr,
    dv_ptr,
    dw_ptr,
    du_ptr,
    T,
    C,
    HAS_STATE: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    seq = tl.program_id(1).to(tl.int64)
    ok = c < C
    w = tl.load(w_ptr + c, mask=ok, other=1.0).to(tl.float32)
    u = tl.load(u_ptr + c, mask=ok, other=0.0).to(tl.float32)
    gN = tl.zeros([BLOCK_C], dtype=tl.float32)  # dL/dN_t e^(p_t)
    gD = tl.zeros([BLOCK_C], dtype=tl.float32)  # dL/dD_t e^(p_t)
    dw = tl.zeros([BLOCK_C], dtype=tl.float32)
    du = tl.zeros([BLOCK_C], dtype=tl.float32)
    if HAS_STATE:
        a0 = tl.load(a0_ptr + seq * C + c, mask=ok, other=0.0)
        b0 = tl.load(b0_ptr + seq * C + c, mask=ok, other=0.0)
        p0 = tl.load(p0_ptr + seq * C + c, mask=ok, other=float("-inf"))
    else:
        a0 = tl.zeros([BLOCK_C], dtype=tl.float32)
        b0 = tl.zeros([BLOCK_C], dtype=tl.float32)
        p0 = tl.full([BLOCK_C], float("-inf"), dtype=tl.float32)
    for step in range(0, T):
        t = T - 1 - step
        offs = (seq * T + t) * C + c
        k = tl.load(k_ptr + offs, mask=ok, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + offs, mask=ok, other=0.0).to(tl.float32)
        g = tl.load(gy_ptr + offs, mask=ok, other=0.0).to(tl.float32)
        p_t = tl.load(sp_ptr + offs, mask=ok, other=0.0)
        # the state before token t: saved after token t-1, or the initial one
        first = t == 0
        a = tl.where(
            first, a0, tl.load(sa_ptr + offs - C, mask=ok & (t > 0), other=0.0)
        )
        b = tl.where(
            first, b0, tl.load(sb_ptr + offs - C, mask=ok & (t > 0), other=0.0)
        )
        p = tl.where(
            first, p0, tl.load(sp_ptr + offs - C, mask=ok & (t > 0), other=0.0)
        )
        q = tl.maximum(p, u + k)
        e_state, e_token = tl.exp(p - q), tl.exp(u + k - q)
        den = e_state * b + e_token
        y = (e_state * a + e_token * v) / den
        # e^(-w) between N_(t-1) and N_t, in the scaled units
        decay = tl.exp(p - w - p_t)
        direct = g * e_token / den
        dk = direct * (v - y) + tl.exp(k - p_t) * (gN * v + gD)
        dv = direct + gN * tl.exp(k - p_t)
        du += direct * (v - y)
        dw -= (gN * a + gD * b) * decay
        tl.store(dk_ptr + offs, dk.to(dk_ptr.dtype.element_ty), mask=ok)
        tl.store(dv_ptr + offs, dv.to(dv_ptr.dtype.element_ty), mask=ok)
        gN = g * e_state / den + gN * decay
        gD = -g * y * e_state / den + gD * decay
    tl.store(dw_ptr + seq * C + c, dw, mask=ok)
    tl.store(du_ptr + seq * C + c, du, mask=ok)


def _launch(B: int, C: int) -> dict:
    block_c = min(triton.next_power_of_2(C), 128)
    return dict(grid=(triton.cdiv(C, block_c), B), BLOCK_C=block_c)


class WKV4(torch.autograd.Function):
    """(wkv, a_T, b_T, p_T) = WKV over k, v (B, T, C) with the Triton kernels; the state
    in is a constant."""

    @staticmethod
    def forward(ctx, w, u, k, v, a0, b0, p0):
        B, T, C = k.shape
        run = _launch(B, C)
        f32 = torch.empty(0, dtype=torch.float32, device=k.device)
        y = backend.output_buffer(k.shape, k)
        save = any(ctx.needs_input_grad[:4])
        saved = (
            [backend.output_buffer(k.shape, f32) for _ in range(3)]
            if save
            else [None] * 3
        )
        final = [backend.output_buffer((B, C), f32) for _ in range(3)]
        wkv4_fwd_kernel[run["grid"]](
            w,
            u,
            k,
            v,
            a0,
            b0,
            p0,
            y,
            *saved,
            *final,
            T,
            C,
            HAS_STATE=a0 is not None,
            SAVE=save,
            BLOCK_C=run["BLOCK_C"],
        )
        ctx.mark_non_differentiable(*final)
        if save:
            ctx.save_for_backward(w, u, k, v, a0, b0, p0, *saved)
        return (y, *final)

    @staticmethod
    def backward(ctx, gy, *_):
        w, u, k, v, a0, b0, p0, sa, sb, sp = ctx.saved_tensors
        B, T, C = k.shape
        run = _launch(B, C)
        f32 = torch.empty(0, dtype=torch.float32, device=k.device)
        dk, dv = backend.output_buffer(k.shape, k), backend.output_buffer(v.shape, v)
        dw, du = backend.output_buffer((B, C), f32), backend.output_buffer((B, C), f32)
        wkv4_bwd_kernel[run["grid"]](
            w,
            u,
            k,
            v,
            a0,
            b0,
            p0,
            sa,
            sb,
            sp,
            gy.contiguous(),
            dk,
            dv,
            dw,
            du,
            T,
            C,
            HAS_STATE=a0 is not None,
            BLOCK_C=run["BLOCK_C"],
        )
        return dw.sum(0).to(w.dtype), du.sum(0).to(u.dtype), dk, dv, None, None, None


def wkv4_triton(w, u, k, v, state: WKV4State | None = None):
    """The Triton kernels, differentiable in w, u, k and v. w, u (C,), k, v (B, T, C) ->
    (wkv, final state)."""
    if state is not None and any(x.requires_grad for x in state):
        raise ValueError(
            "wkv4: the Triton kernel carries the state's value but no gradient through "
            "it; detach the state, or use impl='loop'"
        )
    check_kernel_can_run("wkv4", k, KERNEL_DTYPES, instead="loop")
    w, u, k, v = (x.contiguous() for x in (w, u, k, v))
    a0, b0, p0 = (
        (None, None, None) if state is None else (x.contiguous() for x in state)
    )
    y, a, b, p = WKV4.apply(w, u, k, v, a0, b0, p0)
    return y, WKV4State(a, b, p)
