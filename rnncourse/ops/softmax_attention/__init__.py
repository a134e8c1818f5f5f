"""Softmax attention, o = softmax(scale Q K^T) V, four ways: the quadratic form,
FlashAttention's tiles, a Triton kernel and PyTorch's own.

- ``attention_naive`` (``impl="naive"``): the full (T_q, T_k) score matrix, in the
  inputs' dtype;
- ``attention_tiled`` (``impl="tiled"``): FlashAttention in readable PyTorch, blocks of
  keys and an online softmax, forward and backward, never the full matrix;
- ``attention_triton`` (``impl="triton"``): the same algorithm as Triton kernels,
  forward and backward (float16, bfloat16, float32); importing it imports triton;
- ``impl="sdpa"``: ``torch.nn.functional.scaled_dot_product_attention``, which picks
  its own backend (FlashAttention-2 on recent GPUs, a blocked kernel on the CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnncourse.ops import backend
from rnncourse.ops._checks import (
    check_device_of,
    check_dtype_of,
    check_floating,
    check_steps,
    check_tensors,
)
from rnncourse.ops.softmax_attention.reference import (
    attention_naive,
    attention_tiled,
    flops,
    memory_naive,
)

__all__ = [
    "softmax_attention",
    "attention_naive",
    "attention_tiled",
    "attention_triton",
    "flops",
    "memory_naive",
]


def _sdpa(q, k, v, causal, scale):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


_REFERENCES = {"naive": attention_naive, "tiled": attention_tiled, "sdpa": _sdpa}


def softmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    """o_i = sum_j softmax_j(scale q_i . k_j) v_j for every batch element and head.

    Args:

        - q: (B, H, T_q, D) queries.
        - k, v: (B, H, T_k, D) keys and values; q, k and v share dtype and device.
        - causal: query i sees keys j <= i only; needs T_q = T_k.
        - scale: the factor of the scores, 1/sqrt(D) when None.
        - impl: ``"auto"`` (the Triton kernel for CUDA tensors when triton is
          installed, else ``"sdpa"``), ``"naive"``, ``"tiled"``, ``"triton"`` or
          ``"sdpa"``.

    Returns:
        o (B, H, T_q, D) in the inputs' dtype.
        ``rnncourse.ops.last_path("softmax_attention")`` says what ran.
    """
    _check_inputs(q, k, v, causal, scale)
    impl = backend.choose(
        "softmax_attention", impl, q, references=tuple(_REFERENCES), fastest="sdpa"
    )
    if impl == "triton":
        from rnncourse.ops.softmax_attention.kernel import (
            attention_triton,  # imports triton, only now
        )

        return attention_triton(q, k, v, causal, scale)
    return _REFERENCES[impl](q, k, v, causal, scale)


def _check_inputs(q, k, v, causal, scale) -> None:
    op = "softmax_attention"
    check_tensors(op, {"q": q, "k": k, "v": v})
    if q.dim() != 4:
        raise ValueError(
            f"{op}: q must have shape (B, H, T_q, D), got a {q.dim()}-D tensor of "
            f"shape {tuple(q.shape)}"
        )
    B, H, T_q, D = q.shape
    if k.dim() != 4 or k.shape[:2] != q.shape[:2] or k.shape[3] != D:
        raise ValueError(
            f"{op}: k must have shape (B, H, T_k, D) = ({B}, {H}, T_k, {D}), "
            f"got {tuple(k.shape)}"
        )
    if v.shape != k.shape:
        raise ValueError(
            f"{op}: v must have the shape of k, (B, H, T_k, D) = {tuple(k.shape)}, "
            f"got {tuple(v.shape)}"
        )
    check_steps(op, "q", q, dim=2, T="T_q")
    check_steps(op, "k", k, dim=2, T="T_k")
    if causal and k.shape[2] != T_q:
        raise ValueError(
            f"{op}: causal attention needs as many keys as queries, T_k = T_q = {T_q}, "
            f"got T_k = {k.shape[2]}"
        )
    check_floating(op, "q, k and v", q)
    check_dtype_of(op, "q", q, {"k": k, "v": v})
    check_device_of(op, "q", q, {"k": k, "v": v})
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(
            f"{op}: scale must be a positive number or None (for 1/sqrt(D)), "
            f"got {scale!r}"
        )


def __getattr__(name: str):
    # `from rnncourse.ops.softmax_attention import attention_triton` imports triton
    # then, and only then
    if name == "attention_triton":
        from rnncourse.ops.softmax_attention.kernel import attention_triton

        return attention_triton
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
