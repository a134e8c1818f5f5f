"""linear_scan: h_t = a_t * h_{t-1} + b_t over (B, T, D) tensors, bound by memory
bandwidth."""

from __future__ import annotations

import torch

from benchmarks.registry import Op
from rnncourse.ops.linear_scan import linear_scan


def _inputs(size: dict, dtype: torch.dtype, device: str) -> tuple:
    B, T, D = size["B"], size["T"], size["D"]
    gen = torch.Generator(device=device).manual_seed(0)
    # decays in (0, 1)
    a = torch.rand(B, T, D, generator=gen, device=device, dtype=dtype)
    b = torch.randn(B, T, D, generator=gen, device=device, dtype=dtype)
    return a.requires_grad_(), b.requires_grad_()


def _bytes(size: dict, dtype: torch.dtype, pass_: str) -> float:
    # forward: read a, b, write h; backward: read a, h, dL/dh, write da, db
    tensors = 3 if pass_ == "forward" else 5
    return tensors * size["B"] * size["T"] * size["D"] * torch.finfo(dtype).bits / 8


def _flops(size: dict, pass_: str) -> float:
    # forward: a multiply and an add per element; backward: the same for g, one multiply
    # for da
    return (2 if pass_ == "forward" else 3) * size["B"] * size["T"] * size["D"]


def _impl(name: str):
    return lambda a, b: linear_scan(a, b, impl=name)


OP = Op(
    name="linear_scan",
    impls={name: _impl(name) for name in ("loop", "parallel", "triton")},
    kernels={"triton"},
    sizes={
        "cpu": [
            dict(B=1, T=1024, D=64),
            dict(B=1, T=8192, D=64),
            dict(B=4, T=2048, D=256),
        ],
        "cuda": [
            dict(B=1, T=2048, D=256),
            dict(B=8, T=4096, D=1536),
            dict(B=8, T=16384, D=1536),
        ],
    },
    dtypes={"cpu": [torch.float32], "cuda": [torch.float32, torch.float16]},
    inputs=_inputs,
    bytes=_bytes,
    flops=_flops,
    bound="memory",
    reference=lambda a, b: linear_scan(a, b, impl="parallel"),
    # the loop launches a few kernels per step: on a GPU it is timed on the shorter
    # sequences only
    skip=lambda impl, size, device: (
        impl == "loop" and device == "cuda" and size["T"] > 4096
    ),
)
