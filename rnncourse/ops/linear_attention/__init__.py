"""Causal linear attention with a decay per head: linear attention, RetNet's retention
and their state.

    o_t = sum_{s <= t} gamma^(t-s) (q_t . k_s) v_s,
    S_t = gamma S_(t-1) + k_t v_t^T,    o_t = S_t^T q_t

Four implementations, each importable on its own so a notebook can ``show()`` it:

- ``linear_attention_parallel`` (``impl="parallel"``): the masked T x T form;
- ``linear_attention_recurrent`` (``impl="recurrent"``): the state loop, one step per
  token;
- ``linear_attention_chunk`` (``impl="chunk"``): chunks of ``chunk_size`` steps,
  parallel inside and recurrent across, the fastest form on the CPU for long sequences;
- ``linear_attention_triton`` (``impl="triton"``): the chunkwise form as a Triton
  kernel with its backward (float16, bfloat16, float32); importing it imports triton.
"""

from __future__ import annotations

import torch

from rnncourse.ops import backend
from rnncourse.ops._checks import (
    check_chunk_size,
    check_device_of,
    check_dtype_of,
    check_floating,
    check_qkv,
    check_state,
    check_steps,
    check_tensors,
)
from rnncourse.ops.linear_attention.reference import (
    linear_attention_chunk,
    linear_attention_parallel,
    linear_attention_recurrent,
)

__all__ = [
    "linear_attention",
    "linear_attention_chunk",
    "linear_attention_parallel",
    "linear_attention_recurrent",
    "linear_attention_triton",
]

_IMPLS = ("parallel", "recurrent", "chunk")


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_decay: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    impl: str = "auto",
    chunk_size: int = 64,
):
    """o_t = sum_{s <= t} gamma^(t-s) (q_t . k_s) v_s for every batch element and head;
    no scaling, no normaliser.

    Args:

        - q, k: (B, H, T, K) queries and keys.
        - v: (B, H, T, V) values; q, k and v share dtype and device.
        - log_decay: (H,) log gamma <= 0 per head (RetNet's decay), or None for
          gamma = 1 (plain linear attention).
        - initial_state: (B, H, K, V) the state S_0 carried in from an earlier piece of
          the sequence, or None for zeros; in the computing dtype (float32 for
          float16/bfloat16 inputs, else the inputs' dtype).
        - output_final_state: also return S_T, to pass as ``initial_state`` with the
          next piece.
        - impl: ``"auto"`` (the Triton kernel for CUDA tensors when triton is
          installed, else ``"chunk"``), ``"parallel"``, ``"recurrent"``, ``"chunk"`` or
          ``"triton"``.
        - chunk_size: steps per chunk of the chunkwise forms (the kernel needs a power
          of two >= 16).

    Returns:
        o (B, H, T, V) in the inputs' dtype, and with ``output_final_state`` the pair
        (o, S_T), S_T of shape (B, H, K, V) in the computing dtype.
        ``rnncourse.ops.last_path("linear_attention")`` says what ran.
    """
    _check_inputs(q, k, v, log_decay, initial_state, chunk_size)
    impl = backend.choose(
        "linear_attention", impl, q, references=_IMPLS, fastest="chunk"
    )
    if impl == "triton":
        from rnncourse.ops.linear_attention.kernel import (
            linear_attention_triton,  # imports triton, only now
        )

        o, S = linear_attention_triton(q, k, v, log_decay, initial_state, chunk_size)
    elif impl == "chunk":
        o, S = linear_attention_chunk(q, k, v, log_decay, initial_state, chunk_size)
    else:
        o, S = {
            "parallel": linear_attention_parallel,
            "recurrent": linear_attention_recurrent,
        }[impl](q, k, v, log_decay, initial_state)
    return (o, S) if output_final_state else o


def _check_inputs(q, k, v, log_decay, initial_state, chunk_size) -> None:
    op = "linear_attention"
    inputs = dict(q=q, k=k, v=v, log_decay=log_decay, initial_state=initial_state)
    check_tensors(op, inputs)
    check_qkv(op, q, k, v)
    B, H, T, K = q.shape
    check_steps(op, "q", q, dim=2)
    check_floating(op, "q, k and v", q)
    check_dtype_of(op, "q", q, {"k": k, "v": v})
    check_device_of(op, "q", q, inputs)
    if log_decay is not None:
        if tuple(log_decay.shape) != (H,) or not log_decay.is_floating_point():
            raise ValueError(
                f"{op}: log_decay must be a floating-point tensor of shape (H,) = "
                f"({H},), got {log_decay.dtype} of shape {tuple(log_decay.shape)}"
            )
        if (log_decay > 0).any():
            raise ValueError(
                f"{op}: log_decay holds log gamma and must be <= 0 (a decay "
                f"gamma <= 1), got a largest value of {log_decay.max().item():.3g}"
            )
    if initial_state is not None:
        check_state(op, "initial_state", initial_state, (B, H, K, v.shape[-1]), q.dtype)
    check_chunk_size(op, chunk_size)
