"""What one training step costs: its time, and the memory autograd keeps for the backward pass.

Backpropagation needs the forward pass's intermediate values (for BPTT, every
state h_t and more), so autograd saves them until ``backward`` runs. A
``saved_tensors_hooks`` context sees each tensor as it is saved; adding up the
sizes of the distinct storages gives the activation memory of the step.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch


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


def step_cost(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor], batch: Any,
              repeats: int = 3) -> tuple[float, int]:
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
