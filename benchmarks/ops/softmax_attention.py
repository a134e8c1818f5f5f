"""softmax_attention: softmax attention over (B, H, T, D) tensors, compute-bound,
measured in TFLOP/s against SDPA.

FLOPs follow FlashAttention-2's convention (Dao, "FlashAttention-2: Faster
Attention with Better Parallelism and Work Partitioning", arXiv 2023, ICLR 2024,
section 4.1): the two matrix products Q K^T and P V make 4 B H T_q T_k D
operations forward, half of that with a causal mask, and the backward's five
products (S recomputed, dV, dP, dQ, dK) 2.5 times the forward's. The sizes on
a GPU keep B T = 16384 tokens and H D = 2048, as that paper's benchmarks do, so
that q, k and v hold as many numbers at every length (and the work grows with T).
"""

from __future__ import annotations

import os

import torch

from benchmarks.registry import Op
from rnncourse.ops.softmax_attention import flops, memory_naive, softmax_attention

GPU_TOKENS, GPU_WIDTH = 16384, 2048  # B * T and H * D of every GPU size


def _inputs(size: dict, dtype: torch.dtype, device: str) -> tuple:
    B, H, T, D = size["B"], size["H"], size["T"], size["D"]
    gen = torch.Generator(device=device).manual_seed(0)
    q, k, v = (
        torch.randn(B, H, T, D, generator=gen, device=device, dtype=dtype)
        for _ in range(3)
    )
    return q.requires_grad_(), k.requires_grad_(), v.requires_grad_()


def _bytes(size: dict, dtype: torch.dtype, pass_: str) -> float:
    # forward: read q, k, v, write o; backward: read q, k, v, o, dL/do, write dq, dk, dv
    tensors = 4 if pass_ == "forward" else 8
    return (
        tensors
        * size["B"]
        * size["H"]
        * size["T"]
        * size["D"]
        * torch.finfo(dtype).bits
        / 8
    )


def _flops(size: dict, pass_: str) -> float:
    # S = Q K^T and O = P V, 4 B H T^2 D, halved when causal (Dao 2023, 4.1); the
    # backward 2.5 times that
    forward = flops(
        size["B"], size["H"], size["T"], size["T"], size["D"], size["causal"]
    )
    return forward if pass_ == "forward" else 2.5 * forward


def naive_bytes(size: dict, bytes_per_number: int = 4) -> int:
    """Memory the naive form holds at its peak: its forward's (the scores and their
    softmax, (B, H, T, T) each) and as much again for their gradients in the
    backward."""
    return 2 * memory_naive(
        size["B"],
        size["H"],
        size["T"],
        size["T"],
        size["D"],
        size.get("causal", False),
        bytes_per_number,
    )


def available_bytes(device: str) -> int:
    """Free memory on the device (the GPU's), or the machine's available memory for the
    CPU."""
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _skip(impl: str, size: dict, device: str) -> bool:
    # The readable forms are CPU lessons; on a GPU the kernel is measured against
    # SDPA's. The naive form is left out wherever its T x T matrices (counted in
    # float32, the widest dtype timed) would not fit.
    if device == "cuda" and impl in ("naive", "tiled"):
        return True
    return impl == "naive" and naive_bytes(size) > available_bytes(device) / 2


def _reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool
) -> torch.Tensor:
    """The float64 output of one batch element: the naive form where it fits, else the
    tiled one (which tests/ops/test_softmax_attention.py checks against the naive
    form)."""
    size = dict(B=q.shape[0], H=q.shape[1], T=q.shape[2], D=q.shape[3])
    fits = naive_bytes(size, bytes_per_number=8) <= available_bytes(q.device.type) / 2
    return softmax_attention(q, k, v, causal=causal, impl="naive" if fits else "tiled")


def _sdpa_flash(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool
) -> torch.Tensor:
    """torch's scaled_dot_product_attention held to its FlashAttention backend (an
    error, not a fallback, where that backend cannot run); its backward is the same
    backend's."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=causal
        )


def _impl(name: str):
    return lambda q, k, v, causal: softmax_attention(q, k, v, causal=causal, impl=name)


def _gpu_sizes() -> list[dict]:
    return [
        dict(B=GPU_TOKENS // T, H=GPU_WIDTH // D, T=T, D=D, causal=causal)
        for D in (64, 128)
        for causal in (False, True)
        for T in (1024, 2048, 4096, 8192, 16384)
    ]


OP = Op(
    name="softmax_attention",
    impls={
        **{name: _impl(name) for name in ("naive", "tiled", "sdpa", "triton")},
        "sdpa_flash": _sdpa_flash,
    },
    kernels={"triton", "sdpa_flash"},
    sizes={
        "cpu": [
            dict(B=1, H=4, T=T, D=64, causal=causal)
            for T in (1024, 4096)
            for causal in (False, True)
        ],
        "cuda": _gpu_sizes(),
    },
    dtypes={"cpu": [torch.float32], "cuda": [torch.bfloat16]},
    inputs=_inputs,
    bytes=_bytes,
    flops=_flops,
    bound="compute",
    reference=_reference,
    skip=_skip,
    keywords=("causal",),
)
