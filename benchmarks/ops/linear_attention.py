"""linear_attention: causal linear attention with RetNet's decays over (B, H, T, K) and
(B, H, T, V) tensors.

Compute-bound in its chunkwise form: per token and head, 2 C (K + V) multiply-adds
inside its chunk of C steps and 4 K V for the state, against reading and writing
2 (K + V) numbers.
"""

from __future__ import annotations

import torch

from benchmarks.registry import Op
from rnncourse.ops.linear_attention import linear_attention

CHUNK = 64


def _log_decay(H: int, device) -> torch.Tensor:
    """RetNet's decays: gamma_h = 1 - 2^(-5 - h * 3 / H) (the multi-scale heads of
    rnncourse.nn.retnet)."""
    return torch.log(
        1 - 2.0 ** (-5 - torch.arange(H, device=device, dtype=torch.float32) * 3 / H)
    )


def _inputs(size: dict, dtype: torch.dtype, device: str) -> tuple:
    B, H, T, K, V = size["B"], size["H"], size["T"], size["K"], size["V"]
    gen = torch.Generator(device=device).manual_seed(0)
    q = torch.randn(B, H, T, K, generator=gen, device=device, dtype=dtype) * K**-0.5
    k = torch.randn(B, H, T, K, generator=gen, device=device, dtype=dtype) * K**-0.5
    v = torch.randn(B, H, T, V, generator=gen, device=device, dtype=dtype)
    return q.requires_grad_(), k.requires_grad_(), v.requires_grad_()


def _bytes(size: dict, dtype: torch.dtype, pass_: str) -> float:
    # forward: read q, k, v, write o; backward: read q, k, v, dL/do, write dq, dk, dv
    numbers = (
        2 * size["K"] + 2 * size["V"]
        if pass_ == "forward"
        else 4 * size["K"] + 4 * size["V"]
    )
    return numbers * size["B"] * size["H"] * size["T"] * torch.finfo(dtype).bits / 8


def _flops(size: dict, pass_: str) -> float:
    # the chunkwise form, per token: Q K^T and (.)V inside the chunk, 2 C (K + V); Q S
    # and K^T V, 4 K V; multiply-adds count 2. The backward does these products about
    # twice over.
    per_token = 2 * (CHUNK * (size["K"] + size["V"]) + 2 * size["K"] * size["V"])
    return (
        (1 if pass_ == "forward" else 2) * per_token * size["B"] * size["H"] * size["T"]
    )


def _impl(name: str):
    return lambda q, k, v: linear_attention(
        q, k, v, _log_decay(q.shape[1], q.device), impl=name, chunk_size=CHUNK
    )


OP = Op(
    name="linear_attention",
    impls={name: _impl(name) for name in ("recurrent", "parallel", "chunk", "triton")},
    kernels={"triton"},
    sizes={
        "cpu": [dict(B=1, H=4, T=1024, K=64, V=64), dict(B=1, H=4, T=4096, K=64, V=64)],
        "cuda": [
            dict(B=8, H=16, T=4096, K=128, V=128),
            dict(B=8, H=16, T=16384, K=128, V=128),
        ],
    },
    dtypes={"cpu": [torch.float32], "cuda": [torch.bfloat16, torch.float32]},
    inputs=_inputs,
    bytes=_bytes,
    flops=_flops,
    bound="compute",
    reference=lambda q, k, v: linear_attention(
        q, k, v, _log_decay(q.shape[1], q.device).double(), impl="chunk"
    ),
    # the state loop launches a few kernels per token and the T x T form needs T^2
    # memory per head: on a GPU they are left out at these lengths
    skip=lambda impl, size, device: (
        device == "cuda"
        and (impl == "recurrent" or (impl == "parallel" and size["T"] > 4096))
    ),
)
