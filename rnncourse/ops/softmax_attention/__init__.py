"""Softmax attention, o = softmax(scale Q K^T) V, four ways: the quadratic form, FlashAttention's tiles, a
Triton kernel and PyTorch's own.

- ``attention_naive`` (``impl="naive"``): the full (T_q, T_k) score matrix, in the inputs' dtype;
- ``attention_tiled`` (``impl="tiled"``): FlashAttention in readable PyTorch, blocks of keys and an
  online softmax, forward and backward, never the full matrix;
- ``attention_triton`` (``impl="triton"``): the same algorithm as Triton kernels, forward and backward
  (float16, bfloat16, float32); importing it imports triton;
- ``impl="sdpa"``: ``torch.nn.functional.scaled_dot_product_attention``, which picks its own
  backend (FlashAttention-2 on recent GPUs, a blocked kernel on the CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnncourse.ops import backend
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
        - impl: ``"auto"`` (the Triton kernel for CUDA tensors when triton is installed, else ``"sdpa"``),
          ``"naive"``, ``"tiled"``, ``"triton"`` or ``"sdpa"``.

    Returns:
        o (B, H, T_q, D) in the inputs' dtype. ``rnncourse.ops.last_path("softmax_attention")`` says what ran.
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
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"attention: {name} must be a torch.Tensor, got {type(x).__name__}"
            )
    if q.dim() != 4:
        raise ValueError(
            f"attention: q must have shape (B, H, T_q, D), got a {q.dim()}-D tensor of shape "
            f"{tuple(q.shape)}"
        )
    B, H, T_q, D = q.shape
    if k.dim() != 4 or k.shape[:2] != q.shape[:2] or k.shape[3] != D:
        raise ValueError(
            f"attention: k must have shape (B, H, T_k, D) = ({B}, {H}, T_k, {D}), got {tuple(k.shape)}"
        )
    if v.shape != k.shape:
        raise ValueError(
            f"attention: v must have the shape of k, (B, H, T_k, D) = {tuple(k.shape)}, "
            f"got {tuple(v.shape)}"
        )
    if T_q == 0 or k.shape[2] == 0:
        raise ValueError(
            f"attention: empty sequence (q of shape {tuple(q.shape)}, k of shape {tuple(k.shape)}): "
            f"expected T_q >= 1 and T_k >= 1"
        )
    if causal and k.shape[2] != T_q:
        raise ValueError(
            f"attention: causal attention needs as many keys as queries, T_k = T_q = {T_q}, "
            f"got T_k = {k.shape[2]}"
        )
    if not q.is_floating_point():
        raise ValueError(
            f"attention: q, k and v must be floating-point tensors, got {q.dtype} (convert with .float())"
        )
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise ValueError(
                f"attention: {name} must have the dtype of q, {q.dtype}, got {x.dtype}"
            )
        if x.device != q.device:
            raise ValueError(
                f"attention: {name} must be on the device of q, {q.device}, got {x.device}"
            )
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(
            f"attention: scale must be a positive number or None (for 1/sqrt(D)), got {scale!r}"
        )


def __getattr__(name: str):
    # `from rnncourse.ops.softmax_attention import attention_triton` imports triton then, and only then
    if name == "attention_triton":
        from rnncourse.ops.softmax_attention.kernel import attention_triton

        return attention_triton
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
