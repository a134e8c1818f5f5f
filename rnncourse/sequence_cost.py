"""The cost of one forward pass over T tokens, for every way of mixing a sequence the course built.

Chapter 8 measures what the earlier chapters claimed: softmax attention's time and memory grow with T^2
(the naive form) or its time does and its memory does not (FlashAttention's tiles), while the recurrent
forms grow with T in both. Each mixer below gets one head or channel group of width ``d`` (B = 1, H = 1),
causal, in float32, on the CPU:

- ``attention (naive)``, ``attention (tiled)``, ``attention (SDPA)``: ``rnncourse.ops.attention``;
- ``linear attention (chunk)``: ``rnncourse.ops.linear_attention`` with a RetNet decay, chunks of 64;
- ``WKV (loop)``: RWKV-4's ``rnncourse.ops.wkv4``, the recurrence with a running maximum;
- ``linear scan (parallel)``: ``rnncourse.ops.linear_scan``, a diagonal linear RNN of width d.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch

from rnncourse.memory import MemoryUse, peak_memory
from rnncourse.ops import attention, linear_attention, linear_scan, wkv4


def _attention(impl: str, block_size: int = 256) -> Callable:
    def make(T: int, d: int, g: torch.Generator) -> Callable:
        q, k, v = (torch.randn(1, 1, T, d, generator=g) for _ in range(3))
        if impl == "tiled":
            from rnncourse.ops.attention import attention_tiled
            return lambda: attention_tiled(q, k, v, causal=True, block_size=block_size)
        return lambda: attention(q, k, v, causal=True, impl=impl)
    return make


def _linear_attention(T: int, d: int, g: torch.Generator) -> Callable:
    q, k, v = (torch.randn(1, 1, T, d, generator=g) / math.sqrt(d) for _ in range(3))
    log_decay = torch.tensor([math.log(1 - 2 ** -5)])
    return lambda: linear_attention(q, k, v, log_decay, impl="chunk", chunk_size=64)


def _wkv(T: int, d: int, g: torch.Generator) -> Callable:
    k, v = torch.randn(1, T, d, generator=g), torch.randn(1, T, d, generator=g)
    w, u = torch.rand(d, generator=g), torch.randn(d, generator=g)
    return lambda: wkv4(w, u, k, v, impl="loop")


def _scan(T: int, d: int, g: torch.Generator) -> Callable:
    a, b = torch.rand(1, T, d, generator=g), torch.randn(1, T, d, generator=g)
    return lambda: linear_scan(a, b, impl="parallel")


MIXERS: dict[str, Callable[[int, int, torch.Generator], Callable]] = {
    "attention (naive)": _attention("naive"),
    "attention (tiled)": _attention("tiled"),
    "attention (SDPA)": _attention("sdpa"),
    "linear attention (chunk)": _linear_attention,
    "WKV (loop)": _wkv,
    "linear scan (parallel)": _scan,
}


def forward_cost(mixer: str, T: int, d: int = 64, seed: int = 0) -> tuple[float, MemoryUse]:
    """(seconds, memory) of one forward pass of ``mixer`` (a key of ``MIXERS``) over T tokens of width d.

    The memory is the peak beyond the inputs, counted by ``rnncourse.memory.peak_memory``. Counting costs a
    few microseconds per operator call, so the counted run's time is kept only when it made at most a
    thousand calls and took over half a second; otherwise the time is the fastest of up to three runs
    without counting (fewer once they add up to a second). No gradients are kept.
    """
    run = MIXERS[mixer](T, d, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        start = time.perf_counter()
        _, memory = peak_memory(run)
        counted = time.perf_counter() - start
        if memory.calls <= 1000 and counted > 0.5:
            return counted, memory
        times = []
        while len(times) < 3 and sum(times) < 1.0:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return min(times), memory
