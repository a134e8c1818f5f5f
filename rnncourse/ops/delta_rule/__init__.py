"""The delta rule of DeltaNet and Gated DeltaNet: a state corrected towards each
value instead of added to.

    S_t = exp(g_t) (I - beta_t k_t k_t^T) S_(t-1) + beta_t k_t v_t^T,    o_t = S_t^T q_t

Two implementations, each importable on its own so a notebook can ``show()`` it:

- ``delta_rule_recurrent`` (``impl="recurrent"``): the state loop, one step per
  token;
- ``delta_rule_chunk`` (``impl="chunk"``): chunks of ``chunk_size`` steps, each
  solved at once by a triangular system (the WY representation) and carried across,
  the fastest form on the CPU.

A Triton kernel is future work: it would go in ``kernel.py`` beside
``reference.py``, as the other ops' kernels do, imported in ``delta_rule`` only when
it runs; the two checks there that keep ``impl="triton"`` and ``"auto"`` away from
``backend.choose``'s kernel path would then go.
"""

from __future__ import annotations

import torch

from rnncourse.ops import backend
from rnncourse.ops.delta_rule.reference import (
    check_inputs,
    delta_rule_chunk,
    delta_rule_recurrent,
)

__all__ = ["delta_rule", "delta_rule_chunk", "delta_rule_recurrent"]

_IMPLS = ("recurrent", "chunk")


def delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    log_decay: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    impl: str = "auto",
    chunk_size: int = 64,
):
    """o_t = S_t^T q_t with S_t = exp(g_t) (I - beta_t k_t k_t^T) S_(t-1)
    + beta_t k_t v_t^T, for every batch element and head; no scaling, and k is not
    normalised (the layer normalises it).

    Args:

        - q, k: (B, H, T, K) queries and keys.
        - v: (B, H, T, V) values; q, k and v share dtype and device.
        - beta: (B, H, T) step sizes in [0, 1], in q's dtype (or float32 for
          half-precision q).
        - log_decay: (B, H, T) log decays g_t <= 0 (Gated DeltaNet), same dtype rule
          as beta, or None for g_t = 0 (DeltaNet).
        - initial_state: (B, H, K, V) the state S_0 carried in from an earlier piece
          of the sequence, or None for zeros; in the computing dtype (float32 for
          float16/bfloat16 inputs, else the inputs' dtype).
        - output_final_state: also return S_T, to pass as ``initial_state`` with the
          next piece.
        - impl: ``"auto"`` (``"chunk"``, on every device until there is a Triton
          kernel), ``"recurrent"`` or ``"chunk"``.
        - chunk_size: steps per chunk of the chunkwise form; need not divide T.

    Returns:
        o (B, H, T, V) in the inputs' dtype, and with ``output_final_state`` the
        pair (o, S_T), S_T of shape (B, H, K, V) in the computing dtype.
        ``rnncourse.ops.last_path("delta_rule")`` says what ran.
    """
    check_inputs(q, k, v, beta, log_decay, initial_state, chunk_size)
    if impl not in ("auto", *_IMPLS):
        raise ValueError(
            f"delta_rule: impl must be one of {['auto', *_IMPLS]} (there is no Triton "
            f"kernel yet), got {impl!r}"
        )
    # backend.choose sends "auto" to the kernel for CUDA tensors; until there is one,
    # "auto" is the chunkwise form everywhere (drop this line when kernel.py comes)
    impl = "chunk" if impl == "auto" else impl
    impl = backend.choose("delta_rule", impl, q, references=_IMPLS, fastest="chunk")
    if impl == "chunk":
        o, S = delta_rule_chunk(q, k, v, beta, log_decay, initial_state, chunk_size)
    else:
        o, S = delta_rule_recurrent(q, k, v, beta, log_decay, initial_state)
    return (o, S) if output_final_state else o
