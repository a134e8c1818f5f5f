"""How every op's tests compare an implementation with its float64 reference
(chapters 6 to 8).

The error of a tensor ``x`` against its reference ``ref`` is

    relative_error(x, ref) = max |x - ref| / max |ref|,

the largest error measured against the largest value, so that elements near zero
do not dominate it (max |x - ref| itself when ``ref`` is all zeros; infinite when
``x`` holds a NaN, e.g. an output element a kernel never wrote). It must stay
below ``TOLERANCE`` for the dtype the implementation computed in.
"""

from __future__ import annotations

import torch

TOLERANCE = {
    torch.float64: 1e-12,
    torch.complex128: 1e-12,
    torch.float32: 1e-5,
    torch.complex64: 1e-5,
    torch.float16: 5e-3,
    torch.bfloat16: 3e-2,
}


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    """max |x - ref| / max |ref| over all elements, computed in float64
    (complex128 for complex)."""
    if x.shape != ref.shape:
        raise AssertionError(
            f"shape {tuple(x.shape)} differs from the reference's {tuple(ref.shape)}"
        )
    wide = torch.complex128 if (x.is_complex() or ref.is_complex()) else torch.float64
    x, ref = x.detach().to("cpu", wide), ref.detach().to("cpu", wide)
    if not torch.isfinite(x).all():
        return float("inf")
    error = (x - ref).abs().max().item()
    scale = ref.abs().max().item()
    return error / scale if scale > 0 else error


def assert_close(
    x: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, what: str
) -> float:
    """Fail unless ``x`` is within the tolerance of ``dtype`` of ``ref``; returns the
    error."""
    error = relative_error(x, ref)
    assert error <= TOLERANCE[dtype], (
        f"{what}: relative error {error:.2e} > {TOLERANCE[dtype]:.0e} for {dtype}"
    )
    return error
