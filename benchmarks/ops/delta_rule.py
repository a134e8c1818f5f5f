"""delta_rule: Gated DeltaNet's delta rule over (B, H, T, K) and (B, H, T, V) tensors.

Compute-bound in its chunkwise form: per token and head, about C (3 K + 2 V) + C^2 / 2
multiply-adds inside its chunk of C steps (K K^T, Q K^T, the triangular solve, T V,
T K and the two products with the corrections) and 3 K V for the state (W S, Q S,
K^T U), against reading and writing 2 (K + V) + 2 numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.registry import Op
from rnncourse.ops.delta_rule import delta_rule

CHUNK = 64


def _inputs(size: dict, dtype: torch.dtype, device: str) -> tuple:
    """q, k (unit keys, as the layer makes them), v, beta in (0, 1) and log decays
    logsigmoid(N(3, 1)), mostly from -0.7 to -0.003 (Gated DeltaNet's gates), all
    requiring grad."""
    B, H, T, K, V = size["B"], size["H"], size["T"], size["K"], size["V"]
    gen = torch.Generator(device=device).manual_seed(0)

    def draw(*shape):
        return torch.randn(*shape, generator=gen, device=device, dtype=torch.float32)

    q = draw(B, H, T, K) * K**-0.5
    k = F.normalize(draw(B, H, T, K), dim=-1)
    v = draw(B, H, T, V)
    beta = torch.sigmoid(draw(B, H, T))
    log_decay = F.logsigmoid(draw(B, H, T) + 3)
    return tuple(x.to(dtype).requires_grad_() for x in (q, k, v, beta, log_decay))


def _bytes(size: dict, dtype: torch.dtype, pass_: str) -> float:
    # forward: read q, k, v, beta, g, write o; backward: read them and dL/do, write
    # dq, dk, dv, dbeta, dg
    K, V = size["K"], size["V"]
    numbers = 2 * K + 2 * V + 2 if pass_ == "forward" else 4 * K + 4 * V + 4
    return numbers * size["B"] * size["H"] * size["T"] * torch.finfo(dtype).bits / 8


def _flops(size: dict, pass_: str) -> float:
    # the chunkwise form, per token (multiply-adds count 2); the backward does these
    # products about twice over
    K, V = size["K"], size["V"]
    per_token = 2 * (CHUNK * (3 * K + 2 * V) + CHUNK**2 // 2 + 3 * K * V)
    return (
        (1 if pass_ == "forward" else 2) * per_token * size["B"] * size["H"] * size["T"]
    )


def _impl(name: str):
    return lambda q, k, v, beta, log_decay: delta_rule(
        q, k, v, beta, log_decay, impl=name, chunk_size=CHUNK
    )


OP = Op(
    name="delta_rule",
    impls={name: _impl(name) for name in ("recurrent", "chunk")},
    kernels=set(),
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
    reference=lambda q, k, v, beta, log_decay: delta_rule(
        q, k, v, beta, log_decay, impl="chunk"
    ),
    # the state loop launches a few kernels per token: on a GPU it is left out
    skip=lambda impl, size, device: device == "cuda" and impl == "recurrent",
)
