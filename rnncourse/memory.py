"""How much memory a call allocates at its peak, on any device, counted tensor by tensor.

A ``TorchDispatchMode`` sees every tensor an operator returns. ``peak_memory``
adds up the bytes of the distinct storages that are alive, follows each until
its last tensor is freed, and keeps the largest total: the call's peak beyond the
memory that existed before it (its inputs). It also keeps the largest single
allocation, which is how the tests show that tiled attention never builds a
T x T matrix. Workspace an operator allocates inside C++ and frees before it
returns is not seen (``torch.nn.functional.scaled_dot_product_attention`` on the
CPU keeps a few blocks per thread there); on a GPU,
``torch.cuda.max_memory_allocated`` counts everything.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


@dataclass
class MemoryUse:
    """What ``peak_memory`` measured: ``peak`` bytes alive at once, the ``largest`` single allocation
    (bytes) and its ``largest_shape``, and the number of operator ``calls`` counted."""

    peak: int
    largest: int
    largest_shape: tuple[int, ...]
    calls: int


class _Tracker(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.owners: dict[int, int] = {}  # storage address -> tensors alive that use it
        self.bytes: dict[int, int] = {}
        self.refs: dict[int, weakref.ref] = {}  # kept, by id, so that their callbacks run
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
            if aliases or size == 0:  # a view of, or a write into, memory from before the call
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
    """Run ``fn()`` and return (its result, ``MemoryUse``): the bytes its operators allocate at their peak,
    beyond the tensors that existed before (run it under ``torch.no_grad()`` for an inference pass)."""
    tracker = _Tracker()
    with tracker:
        result = fn()
    return result, MemoryUse(tracker.peak, tracker.largest, tracker.largest_shape, tracker.calls)
