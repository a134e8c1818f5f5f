"""Timing on the current device, and the device's own peaks to compare against.

On a GPU a run is timed with CUDA events (``torch.cuda.Event``) recorded on the
stream around it, which measure the GPU's time and not the Python overhead of
waiting; on the CPU with ``time.perf_counter``. Either way: a few warm-up calls
first (Triton compiles on the first), then the median of repeated runs; the
device's peaks take the fastest run instead.
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Callable

import torch


def median_seconds(
    fn: Callable[[], object],
    device: str,
    warmup: int = 2,
    reps: int = 10,
    budget_s: float = 5.0,
) -> tuple[float, int]:
    """Median wall time of ``fn()`` in seconds and the number of runs timed (at least 3,
    fewer than ``reps`` when they would take longer than ``budget_s``)."""
    times = _times(fn, device, warmup, reps, budget_s)
    return statistics.median(times), len(times)


def fastest_seconds(
    fn: Callable[[], object], device: str, warmup: int = 2, reps: int = 10
) -> float:
    """The shortest of ``reps`` runs of ``fn()``: a peak is what the device reaches at
    best, and on a shared machine the fastest run is the one least slowed by the others'
    work."""
    return min(_times(fn, device, warmup, reps, budget_s=float("inf")))


def _times(
    fn: Callable[[], object], device: str, warmup: int, reps: int, budget_s: float
) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    spent = time.perf_counter()
    while len(times) < reps and (
        len(times) < 3 or time.perf_counter() - spent < budget_s
    ):
        times.append(_time_once(fn, device))
    return times


def _time_once(fn: Callable[[], object], device: str) -> float:
    if device == "cuda":
        start, end = (
            torch.cuda.Event(enable_timing=True),
            torch.cuda.Event(enable_timing=True),
        )
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def copy_bandwidth(device: str) -> float:
    """Measured bytes per second of a device-to-device copy of a large tensor
    (read + write)."""
    # 1 GiB on a GPU, 128 MiB on the CPU, of float32
    n = 2**28 if device == "cuda" else 2**25
    x = torch.rand(n, device=device)
    y = torch.empty_like(x)
    return 2 * x.nbytes / fastest_seconds(lambda: y.copy_(x), device)


def matmul_rate(device: str, dtype: torch.dtype) -> float:
    """Measured floating-point operations per second of a large square matrix
    product."""
    n = 8192 if device == "cuda" else 1024
    x, y = (
        torch.randn(n, n, device=device, dtype=dtype),
        torch.randn(n, n, device=device, dtype=dtype),
    )
    return 2 * n**3 / fastest_seconds(lambda: x @ y, device)


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model with the number of threads torch uses."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                line.split(":", 1)[1].strip()
                for line in info
                if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    threads = torch.get_num_threads()
    return f"{model} ({threads} thread{'s' if threads > 1 else ''})"
