"""The linear recurrence h_t = a_t * h_{t-1} + b_t, the op beneath linear RNNs and state-space models.

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

        - a: (B, T, D) the decay (gate, or the diagonal of the state matrix), real or complex.
        - b: (B, T, D) the input, same dtype and device as ``a``.
        - h0: (B, D) the initial state, or None for zeros.
        - impl: ``"auto"`` (the Triton kernel for real CUDA tensors when triton is installed,
          else ``"parallel"``), ``"loop"``, ``"parallel"`` or ``"triton"``.

    Returns:
        h: (B, T, D), h[:, t] the state after step t. ``rnncourse.ops.last_path("linear_scan")``
        says which implementation ran.
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
    for name, x in (("a", a), ("b", b), ("h0", h0)):
        if x is not None and not isinstance(x, torch.Tensor):
            raise TypeError(
                f"linear_scan: {name} must be a torch.Tensor, got {type(x).__name__}"
            )
    if a.dim() != 3:
        raise ValueError(
            f"linear_scan: a must have shape (B, T, D), got a {a.dim()}-D tensor of shape {tuple(a.shape)}"
        )
    if b.shape != a.shape:
        raise ValueError(
            f"linear_scan: b must have the shape of a, (B, T, D) = {tuple(a.shape)}, got {tuple(b.shape)}"
        )
    if a.shape[1] == 0:
        raise ValueError(
            f"linear_scan: empty sequence (shape {tuple(a.shape)}): expected T >= 1 time steps"
        )
    if not (a.is_floating_point() or a.is_complex()):
        raise ValueError(
            f"linear_scan: a and b must be floating-point or complex tensors, got {a.dtype} "
            f"(convert with .float())"
        )
    expected = [("b", b)] + ([("h0", h0)] if h0 is not None else [])
    for name, x in expected:
        if x.dtype != a.dtype:
            raise ValueError(
                f"linear_scan: {name} must have the dtype of a, {a.dtype}, got {x.dtype}"
            )
        if x.device != a.device:
            raise ValueError(
                f"linear_scan: {name} must be on the device of a, {a.device}, got {x.device}"
            )
    if h0 is not None and tuple(h0.shape) != (a.shape[0], a.shape[2]):
        raise ValueError(
            f"linear_scan: h0 must have shape (B, D) = {(a.shape[0], a.shape[2])}, got {tuple(h0.shape)}"
        )


def __getattr__(name: str):
    # `from rnncourse.ops.linear_scan import linear_scan_triton` imports triton then, and only then
    if name == "linear_scan_triton":
        from rnncourse.ops.linear_scan.kernel import linear_scan_triton

        return linear_scan_triton
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
