"""Measurements: the time and memory of a call, of a training step, of every sequence
mixer, and of a state.

- ``peak_memory``: how much memory a call allocates at its peak, on any device,
  counted tensor by tensor. A ``TorchDispatchMode`` sees every tensor an operator
  returns; it adds up the bytes of the distinct storages that are alive, follows
  each until its last tensor is freed, and keeps the largest total: the call's
  peak beyond the memory that existed before it (its inputs). It also keeps the
  largest single allocation, which is how the tests show that tiled attention
  never builds a T x T matrix. Workspace an operator allocates inside C++ and
  frees before it returns is not seen
  (``torch.nn.functional.scaled_dot_product_attention`` on the CPU keeps a few blocks
  per thread there); on a GPU, ``torch.cuda.max_memory_allocated`` counts everything.
- ``saved_bytes`` and ``step_cost``: what one training step costs, its time and
  the memory autograd keeps for the backward pass. Backpropagation needs the
  forward pass's intermediate values (for BPTT, every state h_t and more), so
  autograd saves them until ``backward`` runs; a ``saved_tensors_hooks`` context
  sees each tensor as it is saved, and adding up the sizes of the distinct
  storages gives the activation memory of the step.
- ``forward_cost``: the cost of one forward pass over T tokens, for every way of
  mixing a sequence the course built. Chapter 8 measures what the earlier chapters
  claimed: softmax attention's time and memory grow with T^2 (the naive form) or
  its time does and its memory does not (FlashAttention's tiles), while the
  recurrent forms grow with T in both. Each mixer gets one head or channel group
  of width ``d`` (B = 1, H = 1), causal, in float32, on the CPU:
  ``attention (naive)``, ``attention (tiled)``, ``attention (SDPA)``
  (``rnncourse.ops.softmax_attention``); ``linear attention (chunk)``
  (``rnncourse.ops.linear_attention`` with a RetNet decay, chunks of 64);
  ``WKV (loop)`` (RWKV-4's ``rnncourse.ops.wkv4``, the recurrence with a running
  maximum); ``linear scan (parallel)`` (``rnncourse.ops.linear_scan``, a diagonal
  linear RNN of width d).
- ``n_params``, ``state_tensors`` and ``state_bytes``: what a model holds, in
  parameters and in the state it carries between tokens.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from rnncourse.ops import linear_attention, linear_scan, softmax_attention, wkv4


@dataclass
class MemoryUse:
    """What ``peak_memory`` measured: ``peak`` bytes alive at once, the ``largest``
    single allocation (bytes) and its ``largest_shape``, and the number of operator
    ``calls`` counted."""

    peak: int
    largest: int
    largest_shape: tuple[int, ...]
    calls: int


class _Tracker(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.owners: dict[int, int] = {}  # storage address -> tensors alive that use it
        self.bytes: dict[int, int] = {}
        # kept, by id, so that their callbacks run
        self.refs: dict[int, weakref.ref] = {}
        self.live = self.peak = self.largest = self.calls = 0
        self.largest_shape: tuple[int, ...] = ()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.calls += 1
        for t in (out,) if isinstance(out, torch.Tensor) else tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t, aliases=func.is_view or func._schema.is_mutable)
        return out

    def _track(self, t: torch.Tensor, aliases: bool) -> None:
        storage = t.untyped_storage()
        address, size = storage.data_ptr(), storage.nbytes()
        if address not in self.owners:
            if (
                aliases or size == 0
            ):  # a view of, or a write into, memory from before the call
                return
            self.owners[address], self.bytes[address] = 0, size  # a new allocation
            self.live += size
            self.peak = max(self.peak, self.live)
            if size > self.largest:
                self.largest, self.largest_shape = size, tuple(t.shape)
        self.owners[address] += 1
        ref = weakref.ref(t, lambda ref, address=address: self._release(ref, address))
        self.refs[id(ref)] = ref

    def _release(self, ref: weakref.ref, address: int) -> None:
        del self.refs[id(ref)]
        self.owners[address] -= 1
        if self.owners[address] == 0:  # its last tensor is gone, and the memory with it
            self.live -= self.bytes.pop(address)
            del self.owners[address]


def peak_memory(fn: Callable[[], Any]) -> tuple[Any, MemoryUse]:
    """Run ``fn()`` and return (its result, ``MemoryUse``): the bytes its operators
    allocate at their peak, beyond the tensors that existed before (run it under
    ``torch.no_grad()`` for an inference pass)."""
    tracker = _Tracker()
    with tracker:
        result = fn()
    return result, MemoryUse(
        tracker.peak, tracker.largest, tracker.largest_shape, tracker.calls
    )


def saved_bytes(loss_fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Run ``loss_fn()`` and count the bytes autograd saves for its backward pass.

    Returns (loss, bytes). A storage saved twice (a state used by two
    operations) is counted once; parameters saved by a matrix product count too.
    """
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn()
    return loss, sum(storages.values())


def step_cost(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    batch: Any,
    repeats: int = 3,
) -> tuple[float, int]:
    """(seconds, bytes) of one forward and backward pass of ``loss_fn(model, batch)``.

    The time is the fastest of ``repeats`` runs (the least disturbed by other
    work on the machine); the bytes are those of :func:`saved_bytes`.
    """
    times = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss, nbytes = saved_bytes(lambda: loss_fn(model, batch))
        loss.backward()
        times.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return min(times), nbytes


def _attention(impl: str, block_size: int = 256) -> Callable:
    def make(T: int, d: int, g: torch.Generator) -> Callable:
        q, k, v = (torch.randn(1, 1, T, d, generator=g) for _ in range(3))
        if impl == "tiled":
            from rnncourse.ops.softmax_attention import attention_tiled

            return lambda: attention_tiled(q, k, v, causal=True, block_size=block_size)
        return lambda: softmax_attention(q, k, v, causal=True, impl=impl)

    return make


def _linear_attention(T: int, d: int, g: torch.Generator) -> Callable:
    q, k, v = (torch.randn(1, 1, T, d, generator=g) / math.sqrt(d) for _ in range(3))
    log_decay = torch.tensor([math.log(1 - 2**-5)])
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


def forward_cost(
    mixer: str, T: int, d: int = 64, seed: int = 0
) -> tuple[float, MemoryUse]:
    """(seconds, memory) of one forward pass of ``mixer`` (a key of ``MIXERS``) over T
    tokens of width d.

    The memory is the peak beyond the inputs, counted by
    ``peak_memory``. Counting costs a few microseconds per operator
    call, so the counted run's time is kept only when it made at most a thousand calls
    and took over half a second; otherwise the time is the fastest of up to three runs
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


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_tensors(state: Any) -> list[torch.Tensor]:
    """Every tensor in a (nested) state: tuples, lists, named tuples; ints such as a
    position are left out."""
    if isinstance(state, torch.Tensor):
        return [state]
    return (
        [t for s in state for t in state_tensors(s)]
        if isinstance(state, (tuple, list))
        else []
    )


def state_bytes(state: Any) -> int:
    """The bytes of every tensor in a (nested) state."""
    return sum(t.numel() * t.element_size() for t in state_tensors(state))
