"""What the harness needs to know about an op: how to call it, on what, and what it must
move and compute."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

import torch

PASSES = ("forward", "backward")


@dataclass
class Op:
    """One op to benchmark.

    ``impls`` maps an implementation's name to a function of the op's inputs;
    ``kernels`` names those that need a CUDA GPU (a CPU run times the others).
    ``sizes`` and ``dtypes`` give the grid per device type (``"cpu"``, ``"cuda"``).
    ``inputs(size, dtype, device)`` returns the inputs, the differentiable ones
    requiring grad. ``bytes(size, dtype, pass_)`` and ``flops(size, pass_)`` are the
    least memory traffic and arithmetic one call needs (the achieved rates use
    them); ``bound`` says which peak the op is measured against, ``"memory"``
    (the measured copy bandwidth) or ``"compute"`` (the measured matrix-product
    rate). ``reference`` computes the output in float64 to check each result;
    ``skip(impl, size, device)`` leaves out the runs too slow to be worth it (or
    too large to fit). ``keywords`` names the entries of a size that are options
    rather than dimensions (attention's ``causal``): they are passed to every
    implementation and to the reference as keyword arguments.
    """

    name: str
    impls: dict[str, Callable]
    kernels: set[str]
    sizes: dict[str, list[dict]]
    dtypes: dict[str, list[torch.dtype]]
    inputs: Callable[[dict, torch.dtype, str], tuple]
    bytes: Callable[[dict, torch.dtype, str], float]
    flops: Callable[[dict, str], float]
    bound: str
    reference: Callable
    skip: Callable[[str, dict, str], bool] = field(
        default=lambda impl, size, device: False
    )
    keywords: tuple[str, ...] = ()


def all_ops() -> dict[str, Op]:
    """Every op with a module in ``benchmarks/ops/``, by name."""
    import benchmarks.ops as package

    ops = {}
    for info in pkgutil.iter_modules(package.__path__):
        op = importlib.import_module(f"benchmarks.ops.{info.name}").OP
        ops[op.name] = op
    return ops
