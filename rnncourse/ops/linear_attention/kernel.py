"""Chunkwise causal linear attention with a decay per head as Triton kernels, forward
and backward.

float16, bfloat16 and float32; float64 goes to the PyTorch forms in ``reference.py``.
Matrix products take their operands in the inputs' dtype (float32 ones in full
IEEE precision, not TF32) and accumulate in float32; the state is kept in float32.

Forward design: one program per (block of BV value columns, batch element and head).
It walks along time in chunks of CHUNK steps (a power of two >= 16, so that tl.dot
gets tiles of at least 16 x 16), holding the state S (K x BV) in registers:

    O_c = (Q_c K_c^T ⊙ D) V_c + (Q_c ⊙ gamma^(i+1)) S    inside the chunk, then from
                                                          the past
    S   = gamma^L S + (K_c ⊙ gamma^(L-1-j))^T V_c         the state after the chunk's
                                                          L steps

(Sun et al. 2023, eq. 7), D_ij = gamma^(i-j) for j <= i and 0 above. K and V are
padded to powers of two >= 16 with masked loads (zeros), and so is the last chunk:
a padded row has q = k = v = 0 and adds nothing, and its decay is masked to 0.

Backward design: one program per (batch element, head) with the whole K x V state.
A forward sweep recomputes the state entering each chunk for

    dQ_c = (dO_c V_c^T ⊙ D) K_c + (dO_c S^T) ⊙ gamma^(i+1),

and a backward sweep carries dS, the gradient of the state after the chunk
(starting from the gradient of S_T):

    dK_c = (dO_c V_c^T ⊙ D)^T Q_c + (V_c dS^T) ⊙ gamma^(L-1-j)
    dV_c = (Q_c K_c^T ⊙ D)^T dO_c + (K_c dS) ⊙ gamma^(L-1-j)
    dS   = gamma^L dS + (Q_c ⊙ gamma^(i+1))^T dO_c     (after the first chunk: dS_0)

The gradient of log gamma (only when asked for): every term of the output carries a
power gamma^n, and d/d log gamma multiplies it by n, the age of its source. The forward
sweep sums, per chunk, the terms inside it weighted by i - j, those from the state
before it weighted by i + 1 plus the age of the state's own terms; that age-weighted
state is carried beside S,

    S' = gamma^L (S' + L S) + (K_c ⊙ (L-1-j) gamma^(L-1-j))^T V_c,

so d log gamma = sum over chunks [ sum_ij (i-j) D_ij (q_i.k_j)(do_i.v_j)
+ sum_i gamma^(i+1) q_i . ((i+1) S + S') do_i ] + <S'_T, dS_T>, each term computed where
it arises (no large sums cancelling).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from rnncourse.ops import backend
from rnncourse.ops._checks import KERNEL_DTYPES, check_kernel_can_run, compute_dtype


@triton.jit
def _decay_inside(i, g):
    # D_ij = gamma^(i-j) for j <= i, else 0; gamma = exp(g)
    distance = i[:, None] - i[None, :]
    return tl.where(
        distance >= 0, tl.exp(tl.maximum(distance, 0).to(tl.float32) * g), 0.0
    )


@triton.jit
def _decay_to_end(i, L, g):
    # gamma^(L-1-j) for the chunk's L real rows, 0 for the padding
    return tl.where(i < L, tl.exp((L - 1 - i).to(tl.float32) * g), 0.0)


@triton.jit
def linear_attention_fwd_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    log_decay_ptr,
    s0_ptr,
    o_ptr,
    st_ptr,
    T,
    H,
    K,
    V,
    HAS_DECAY: tl.constexpr,
    HAS_S0: tl.constexpr,
    DOT: tl.constexpr,
    CHUNK: tl.constexpr,
    BK: tl.constexpr,
    BV: tl.constexpr,
):
    cv = tl.program_id(0) * BV + tl.arange(0, BV)  # this program's value columns
    bh = tl.program_id(1).to(tl.int64)  # batch element * H + head
    ck = tl.arange(0, BK)
    i = tl.arange(0, CHUNK)
    k_ok, v_ok = ck < K, cv < V
    if HAS_DECAY:
        g = tl.load(log_decay_ptr + bh % H).to(tl.float32)
    else:
        g = 0.0
    state = (bh * K + ck[:, None]) * V + cv[None, :]
    if HAS_S0:
        S = tl.load(s0_ptr + state, mask=k_ok[:, None] & v_ok[None, :], other=0.0).to(
            tl.float32
        )
    else:
        S = tl.zeros([BK, BV], dtype=tl.float32)
    D = _decay_inside(i, g)
    # gamma^(i+1): from the state before the chunk to row i
    decay_q = tl.exp((i + 1).to(tl.float32) * g)
    for t0 in range(0, T, CHUNK):
        t = t0 + i
        L = tl.minimum(T - t0, CHUNK)
        rows_k = (bh * T + t[:, None]) * K + ck[None, :]
        rows_v = (bh * T + t[:, None]) * V + cv[None, :]
        mask_k, mask_v = (
            (t[:, None] < T) & k_ok[None, :],
            (t[:, None] < T) & v_ok[None, :],
        )
        q = tl.load(q_ptr + rows_k, mask=mask_k, other=0.0)
        k = tl.load(k_ptr + rows_k, mask=mask_k, other=0.0)
        v = tl.load(v_ptr + rows_v, mask=mask_v, other=0.0)
        # Q K^T ⊙ D
        A = tl.dot(q.to(DOT), tl.trans(k.to(DOT)), input_precision="ieee") * D
        o = tl.dot(A.to(DOT), v.to(DOT), input_precision="ieee")
        o += tl.dot(
            (q.to(tl.float32) * decay_q[:, None]).to(DOT),
            S.to(DOT),
            input_precision="ieee",
        )
        tl.store(o_ptr + rows_v, o.to(o_ptr.dtype.element_ty), mask=mask_v)
        k_to_end = (k.to(tl.float32) * _decay_to_end(i, L, g)[:, None]).to(DOT)
        S = S * tl.exp(L.to(tl.float32) * g) + tl.dot(
            tl.trans(k_to_end), v.to(DOT), input_precision="ieee"
        )
    tl.store(st_ptr + state, S, mask=k_ok[:, None] & v_ok[None, :])


@triton.jit
def linear_attention_bwd_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    log_decay_ptr,
    s0_ptr,
    do_ptr,
    dst_ptr,
    dq_ptr,
    dk_ptr,
    dv_ptr,
    ds0_ptr,
    dg_ptr,
    T,
    H,
    K,
    V,
    HAS_DECAY: tl.constexpr,
    HAS_S0: tl.constexpr,
    HAS_DST: tl.constexpr,
    DECAY_GRAD: tl.constexpr,
    DOT: tl.constexpr,
    CHUNK: tl.constexpr,
    BK: tl.constexpr,
    BV: tl.constexpr,
):
    bh = tl.program_id(0).to(tl.int64)
    ck, cv = tl.arange(0, BK), tl.arange(0, BV)
    i = tl.arange(0, CHUNK)
    k_ok, v_ok = ck < K, cv < V
    if HAS_DECAY:
        g = tl.load(log_decay_ptr + bh % H).to(tl.float32)
    else:
        g = 0.0
    state = (bh * K + ck[:, None]) * V + cv[None, :]
    state_ok = k_ok[:, None] & v_ok[None, :]
    D = _decay_inside(i, g)
    decay_q = tl.exp((i + 1).to(tl.float32) * g)
    # forward sweep: dQ_c = (dO V^T ⊙ D) K + (dO S^T) ⊙ gamma^(i+1), with S recomputed
    if HAS_S0:
        S = tl.load(s0_ptr + state, mask=state_ok, other=0.0).to(tl.float32)
    else:
        S = tl.zeros([BK, BV], dtype=tl.float32)
    # S': the state's terms weighted by their age
    S_age = tl.zeros([BK, BV], dtype=tl.float32)
    dg = 0.0
    for t0 in range(0, T, CHUNK):
        t = t0 + i
        L = tl.minimum(T - t0, CHUNK)
        rows_k = (bh * T + t[:, None]) * K + ck[None, :]
        rows_v = (bh * T + t[:, None]) * V + cv[None, :]
        mask_k, mask_v = (
            (t[:, None] < T) & k_ok[None, :],
            (t[:, None] < T) & v_ok[None, :],
        )
        k = tl.load(k_ptr + rows_k, mask=mask_k, other=0.0)
        v = tl.load(v_ptr + rows_v, mask=mask_v, other=0.0)
        do = tl.load(do_ptr + rows_v, mask=mask_v, other=0.0)
        # dO V^T ⊙ D
        dA = tl.dot(do.to(DOT), tl.trans(v.to(DOT)), input_precision="ieee") * D
        # row i: S do_i
        dS_q = tl.dot(do.to(DOT), tl.trans(S.to(DOT)), input_precision="ieee")
        dq = (
            tl.dot(dA.to(DOT), k.to(DOT), input_precision="ieee")
            + dS_q * decay_q[:, None]
        )
        tl.store(dq_ptr + rows_k, dq.to(dq_ptr.dtype.element_ty), mask=mask_k)
        to_end = _decay_to_end(i, L, g)
        if DECAY_GRAD:
            q = tl.load(q_ptr + rows_k, mask=mask_k, other=0.0)
            A = tl.dot(q.to(DOT), tl.trans(k.to(DOT)), input_precision="ieee")
            age = tl.maximum(i[:, None] - i[None, :], 0).to(tl.float32)
            dS_age_q = tl.dot(
                do.to(DOT), tl.trans(S_age.to(DOT)), input_precision="ieee"
            )
            from_state = (i + 1).to(tl.float32)[:, None] * dS_q + dS_age_q
            dg += tl.sum(age * A * dA) + tl.sum(
                q.to(tl.float32) * decay_q[:, None] * from_state
            )
            k_aged = (
                k.to(tl.float32) * ((L - 1 - i).to(tl.float32) * to_end)[:, None]
            ).to(DOT)
            S_age = tl.exp(L.to(tl.float32) * g) * (
                S_age + L.to(tl.float32) * S
            ) + tl.dot(tl.trans(k_aged), v.to(DOT), input_precision="ieee")
        k_to_end = (k.to(tl.float32) * to_end[:, None]).to(DOT)
        S = S * tl.exp(L.to(tl.float32) * g) + tl.dot(
            tl.trans(k_to_end), v.to(DOT), input_precision="ieee"
        )
    # backward sweep over the chunks, last first, carrying dS (the gradient of the state
    # after the chunk)
    if HAS_DST:
        dS = tl.load(dst_ptr + state, mask=state_ok, other=0.0).to(tl.float32)
    else:
        dS = tl.zeros([BK, BV], dtype=tl.float32)
    if DECAY_GRAD:
        tl.store(dg_ptr + bh, dg + tl.sum(S_age * dS))  # + <S'_T, dS_T>
    n_chunks = tl.cdiv(T, CHUNK)
    for c in range(0, n_chunks):
        t0 = (n_chunks - 1 - c) * CHUNK
        t = t0 + i
        L = tl.minimum(T - t0, CHUNK)
        rows_k = (bh * T + t[:, None]) * K + ck[None, :]
        rows_v = (bh * T + t[:, None]) * V + cv[None, :]
        mask_k, mask_v = (
            (t[:, None] < T) & k_ok[None, :],
            (t[:, None] < T) & v_ok[None, :],
        )
        q = tl.load(q_ptr + rows_k, mask=mask_k, other=0.0)
        k = tl.load(k_ptr + rows_k, mask=mask_k, other=0.0)
        v = tl.load(v_ptr + rows_v, mask=mask_v, other=0.0)
        do = tl.load(do_ptr + rows_v, mask=mask_v, other=0.0)
        A = tl.dot(q.to(DOT), tl.trans(k.to(DOT)), input_precision="ieee") * D
        dA = tl.dot(do.to(DOT), tl.trans(v.to(DOT)), input_precision="ieee") * D
        to_end = _decay_to_end(i, L, g)[:, None]
        dk = tl.dot(tl.trans(dA.to(DOT)), q.to(DOT), input_precision="ieee")
        dk += tl.dot(v.to(DOT), tl.trans(dS.to(DOT)), input_precision="ieee") * to_end
        dv = tl.dot(tl.trans(A.to(DOT)), do.to(DOT), input_precision="ieee")
        dv += tl.dot(k.to(DOT), dS.to(DOT), input_precision="ieee") * to_end
        tl.store(dk_ptr + rows_k, dk.to(dk_ptr.dtype.element_ty), mask=mask_k)
        tl.store(dv_ptr + rows_v, dv.to(dv_ptr.dtype.element_ty), mask=mask_v)
        q_from_start = (q.to(tl.float32) * decay_q[:, None]).to(DOT)
        dS = dS * tl.exp(L.to(tl.float32) * g) + tl.dot(
            tl.trans(q_from_start), do.to(DOT), input_precision="ieee"
        )
    if HAS_S0:
        tl.store(ds0_ptr + state, dS, mask=state_ok)  # dS_0


def _launch(q: torch.Tensor, V: int, chunk_size: int) -> dict:
    """Block sizes: K and V padded to powers of two >= 16; the chunk no longer than the
    sequence needs; the products' dtype."""
    T, K = q.shape[2], q.shape[3]
    block_k, block_v = (
        max(16, triton.next_power_of_2(K)),
        max(16, triton.next_power_of_2(V)),
    )
    chunk = min(chunk_size, max(16, triton.next_power_of_2(T)))
    return dict(DOT=backend.dot_dtype(q), CHUNK=chunk, BK=block_k, BV=block_v)


class LinearAttention(torch.autograd.Function):
    """(o, S_T) = linear_attention(q, k, v, log_decay, S_0) with the Triton kernels."""

    @staticmethod
    def forward(ctx, q, k, v, log_decay, S0, chunk_size):
        B, H, T, K = q.shape
        V = v.shape[-1]
        meta = _launch(q, V, chunk_size)
        # forward programs split the value columns into blocks of 64
        fwd_v = min(meta["BV"], 64)
        o = backend.output_buffer((B, H, T, V), q)
        state_like = torch.empty(0, dtype=compute_dtype(q.dtype), device=q.device)
        ST = backend.output_buffer((B, H, K, V), state_like)
        grid = (triton.cdiv(V, fwd_v), B * H)
        linear_attention_fwd_kernel[grid](
            q,
            k,
            v,
            log_decay,
            S0,
            o,
            ST,
            T,
            H,
            K,
            V,
            HAS_DECAY=log_decay is not None,
            HAS_S0=S0 is not None,
            **{**meta, "BV": fwd_v},
            num_warps=4,
        )
        ctx.save_for_backward(q, k, v, log_decay, S0)
        ctx.chunk_size = chunk_size
        ctx.set_materialize_grads(False)
        return o, ST

    @staticmethod
    def backward(ctx, do, dST):
        q, k, v, log_decay, S0 = ctx.saved_tensors
        B, H, T, K = q.shape
        V = v.shape[-1]
        meta = _launch(q, V, ctx.chunk_size)
        do = torch.zeros_like(v) if do is None else do.contiguous()
        dq, dk, dv = (backend.output_buffer(x.shape, x) for x in (q, k, v))
        dS0 = None if S0 is None else backend.output_buffer(S0.shape, S0)
        decay_grad = log_decay is not None and ctx.needs_input_grad[3]
        dg = (
            backend.output_buffer(
                (B, H), torch.empty(0, dtype=torch.float32, device=q.device)
            )
            if decay_grad
            else None
        )
        num_warps = 8 if meta["BK"] * meta["BV"] >= 128 * 64 else 4
        linear_attention_bwd_kernel[(B * H,)](
            q,
            k,
            v,
            log_decay,
            S0,
            do,
            None if dST is None else dST.contiguous(),
            dq,
            dk,
            dv,
            dS0,
            dg,
            T,
            H,
            K,
            V,
            HAS_DECAY=log_decay is not None,
            HAS_S0=S0 is not None,
            HAS_DST=dST is not None,
            DECAY_GRAD=decay_grad,
            **meta,
            num_warps=num_warps,
        )
        # summed over the batch
        dlog_decay = dg.sum(0).to(log_decay.dtype) if decay_grad else None
        return dq, dk, dv, dlog_decay, dS0, None


def linear_attention_triton(q, k, v, log_decay=None, initial_state=None, chunk_size=64):
    """The Triton kernels, differentiable (log_decay included). Shapes as
    ``linear_attention``; returns (o, S_T)."""
    if chunk_size < 16 or chunk_size & (chunk_size - 1):
        raise ValueError(
            f"linear_attention: the Triton kernel needs chunk_size a power of two "
            f">= 16, got {chunk_size}"
        )
    check_kernel_can_run("linear_attention", q, KERNEL_DTYPES, instead="chunk")
    # the kernels address memory as contiguous (B, H, T, K) and (B, H, K, V) arrays
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    log_decay = None if log_decay is None else log_decay.contiguous()
    initial_state = None if initial_state is None else initial_state.contiguous()
    return LinearAttention.apply(q, k, v, log_decay, initial_state, chunk_size)
