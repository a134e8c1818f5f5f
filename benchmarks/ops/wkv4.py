"""wkv4: RWKV-4's WKV over (B, T, C) tensors, a recurrence along time, bound by memory
bandwidth."""

from __future__ import annotations

import torch

from benchmarks.registry import Op
from rnncourse.ops.wkv4 import wkv4


def _decay_and_bonus(C: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed w in (0.1, 5) and u in (-1, 1), one per channel
    (the inputs timed are k and v)."""
    c = torch.linspace(0, 1, C, device=device, dtype=dtype)
    return 0.1 * 50**c, torch.cos(7 * c)


def _inputs(size: dict, dtype: torch.dtype, device: str) -> tuple:
    B, T, C = size["B"], size["T"], size["C"]
    gen = torch.Generator(device=device).manual_seed(0)
    k = torch.randn(B, T, C, generator=gen, device=device, dtype=dtype)
    v = torch.randn(B, T, C, generator=gen, device=device, dtype=dtype)
    return k.requires_grad_(), v.requires_grad_()


def _bytes(size: dict, dtype: torch.dtype, pass_: str) -> float:
    # forward: read k, v, write wkv; backward: read k, v, dL/dwkv, write dk, dv
    tensors = 3 if pass_ == "forward" else 5
    return tensors * size["B"] * size["T"] * size["C"] * torch.finfo(dtype).bits / 8


def _flops(size: dict, pass_: str) -> float:
    # about 20 operations per element forward (two maxima, four exponentials, the
    # quotient, the update), 40 back
    return (20 if pass_ == "forward" else 40) * size["B"] * size["T"] * size["C"]


def _impl(name: str):
    return lambda k, v: wkv4(
        *_decay_and_bonus(k.shape[-1], k.device, k.dtype), k, v, impl=name
    )


OP = Op(
    name="wkv4",
    impls={name: _impl(name) for name in ("naive", "parallel", "loop", "triton")},
    kernels={"triton"},
    sizes={
        "cpu": [dict(B=1, T=256, C=256), dict(B=4, T=1024, C=512)],
        "cuda": [dict(B=8, T=1024, C=1024), dict(B=8, T=4096, C=2048)],
    },
    dtypes={"cpu": [torch.float32], "cuda": [torch.float32, torch.float16]},
    inputs=_inputs,
    bytes=_bytes,
    flops=_flops,
    bound="memory",
    reference=lambda k, v: wkv4(
        *_decay_and_bonus(k.shape[-1], k.device, k.dtype), k, v, impl="loop"
    ),
    # the (T x T) forms build a (T, T, C) weight per sequence: short sequences only
    skip=lambda impl, size, device: impl in ("naive", "parallel") and size["T"] > 256,
)
