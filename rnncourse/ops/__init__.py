"""Functional ops: one folder per op, the PyTorch reference beside its Triton kernel.

See :mod:`rnncourse.ops.backend` for how an op chooses its implementation and
reports which path ran.
"""
from rnncourse.ops.backend import describe, last_path, triton_available, triton_interpreting

__all__ = ["describe", "last_path", "triton_available", "triton_interpreting"]
