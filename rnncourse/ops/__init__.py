"""Functional ops: one folder per op, the PyTorch reference beside its Triton kernel.

See :mod:`rnncourse.ops.backend` for how an op chooses its implementation and
reports which path ran.
"""

from rnncourse.ops.backend import (
    describe,
    last_path,
    triton_available,
    triton_interpreting,
)
from rnncourse.ops.linear_attention import linear_attention
from rnncourse.ops.linear_scan import linear_scan
from rnncourse.ops.softmax_attention import softmax_attention
from rnncourse.ops.wkv4 import WKV4State, wkv4

__all__ = [
    "WKV4State",
    "describe",
    "last_path",
    "linear_attention",
    "linear_scan",
    "softmax_attention",
    "triton_available",
    "triton_interpreting",
    "wkv4",
]
