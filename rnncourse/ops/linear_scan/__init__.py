"""The linear recurrence h_t = a_t * h_{t-1} + b_t, the op beneath linear RNNs and
state-space models.

Three implementations, each importable on its own so a notebook can ``show()`` it:

- ``linear_scan_loop`` (``impl="loop"``): the reference, one step per time step;
- ``linear_scan_parallel`` (``impl="parallel"``): a log-depth scan in PyTorch, the
  fastest form on the CPU;
- ``linear_scan_triton`` (``impl="triton"``): a Triton kernel with its backward,
  real dtypes only (float16, bfloat16, float32, float64); importing it imports triton.
"""

from __future__ import annotations

import torch

from rnncourse.ops import backend
from rnncourse.ops._checks import (
    check_device_of,
    check_dtype_of,
    check_floating,
    check_steps,
    check_tensors,
)
from rnncourse.ops.linear_scan.reference import linear_scan_loop, linear_scan_parallel

__all__ = [
    "linear_scan",
    "linear_scan_loop",
    "linear_scan_parallel",
    "linear_scan_triton",
]

_REFERENCES = {"loop": linear_scan_loop, "parallel": linear_scan_parallel}


def linear_scan(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, impl: str = "auto"
) -> torch.Tensor:
    """Compute h_t = a_t * h_{t-1} + b_t elementwise for t = 1..T, from h_0 = h0.

    Args:

        - a: (B, T, D) the decay (gate, or the diagonal of the state matrix), real or
          complex.
        - b: (B, T, D) the input, same dtype and device as ``a``.
        - h0: (B, D) the initial state, or None for zeros.
        - impl: ``"auto"`` (the Triton kernel for real CUDA tensors when triton is
          installed, else ``"parallel"``), ``"loop"``, ``"parallel"`` or ``"triton"``.

    Returns:
        h: (B, T, D), h[:, t] the state after step t.
        ``rnncourse.ops.last_path("linear_scan")`` says which implementation ran.
    """
    _check_inputs(a, b, h0)
    if impl == "auto" and a.is_complex():
        impl = "parallel"  # the kernel is real-only
    impl = backend.choose(
        "linear_scan", impl, a, references=tuple(_REFERENCES), fastest="parallel"
    )
    if impl == "triton":
        from rnncourse.ops.linear_scan.kernel import (
            linear_scan_triton,  # imports triton, only now
        )

        return linear_scan_triton(a, b, h0)
    return _REFERENCES[impl](a, b, h0)


def _check_inputs(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> None:
    op = "linear_scan"
    check_tensors(op, {"a": a, "b": b, "h0": h0})
    if a.dim() != 3:
        raise ValueError(
            f"{op}: a must have shape (B, T, D), got a {a.dim()}-D tensor of shape "
            f"{tuple(a.shape)}"
        )
    if b.shape != a.shape:
        raise ValueError(
            f"{op}: b must have the shape of a, (B, T, D) = {tuple(a.shape)}, "
            f"got {tuple(b.shape)}"
        )
    check_steps(op, "a", a, dim=1)
    check_floating(op, "a and b", a, complex_ok=True)
    given = {"b": b} if h0 is None else {"b": b, "h0": h0}
    check_dtype_of(op, "a", a, given)
    check_device_of(op, "a", a, given)
    if h0 is not None and tuple(h0.shape) != (a.shape[0], a.shape[2]):
        raise ValueError(
            f"{op}: h0 must have shape (B, D) = {(a.shape[0], a.shape[2])}, "
            f"got {tuple(h0.shape)}"
        )


def __getattr__(name: str):
    # `from rnncourse.ops.linear_scan import linear_scan_triton` imports triton then,
    # and only then
    if name == "linear_scan_triton":
        from rnncourse.ops.linear_scan.kernel import linear_scan_triton

        return linear_scan_triton
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
