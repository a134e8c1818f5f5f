"""RWKV-4's time mixing operator WKV: a weighted average of past values with exponential
decay per channel.

    wkv_t = (sum_{i<t} e^(-(t-1-i) w + k_i) v_i + e^(u + k_t) v_t)
            / (sum_{i<t} e^(-(t-1-i) w + k_i)     + e^(u + k_t))

Four implementations, each importable on its own so a notebook can ``show()`` it:

- ``wkv4_naive`` (``impl="naive"``): the formula as written, a (T x T) weight per
  channel; overflows once k passes ~88 in float32;
- ``wkv4_parallel`` (``impl="parallel"``): the same (T x T) weights with each output's
  largest exponent subtracted first: finite for any k, O(T^2 C) memory, the fastest CPU
  form for training windows of a few hundred tokens;
- ``wkv4_loop`` (``impl="loop"``): the recurrence with a running maximum, finite for |k|
  up to float32's range (tested to 1000);
- ``wkv4_triton`` (``impl="triton"``): the same recurrence as a Triton kernel with its
  backward (float16, bfloat16, float32); importing it imports triton.

Token-by-token generation carries the state between calls::

    out, state = wkv4(w, u, k[:, :1], v[:, :1], output_final_state=True)
    out, state = wkv4(w, u, k[:, 1:2], v[:, 1:2], state=state, output_final_state=True)

gives the outputs of one call on k[:, :2], v[:, :2].
"""

from __future__ import annotations

import torch

from rnncourse.ops import backend
from rnncourse.ops._checks import (
    check_device_of,
    check_dtype_of,
    check_floating,
    check_state_dtype,
    check_steps,
    check_tensors,
)
from rnncourse.ops.wkv4.reference import (
    WKV4State,
    wkv4_loop,
    wkv4_naive,
    wkv4_parallel,
)

__all__ = [
    "WKV4State",
    "wkv4",
    "wkv4_loop",
    "wkv4_naive",
    "wkv4_parallel",
    "wkv4_triton",
]

_REFERENCES = {"naive": wkv4_naive, "parallel": wkv4_parallel, "loop": wkv4_loop}


def wkv4(
    w: torch.Tensor,
    u: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    state: WKV4State | None = None,
    output_final_state: bool = False,
    impl: str = "auto",
):
    """RWKV-4's WKV over a batch of sequences.

    Args:

        - w: (C,) the decay rate per channel, w > 0 (RWKV-4 learns its logarithm,
          w = exp(time_decay)).
        - u: (C,) the bonus of the current token per channel.
        - k, v: (B, T, C) keys and values; w, u, k and v share dtype and device.
        - state: a ``WKV4State`` (a, b, p), each (B, C), carried from an earlier call,
          or None to start afresh; in the computing dtype (float32 for float16/bfloat16
          inputs, else the inputs' dtype).
        - output_final_state: also return the state after the last token.
        - impl: ``"auto"`` (the Triton kernel for CUDA tensors when triton is installed,
          else ``"loop"``), ``"naive"``, ``"parallel"``, ``"loop"`` or ``"triton"``.

    Returns:
        wkv (B, T, C) in the inputs' dtype, and with ``output_final_state`` the pair
        (wkv, state). ``rnncourse.ops.last_path("wkv4")`` says which implementation ran.
        The Triton kernel carries the state's values but not gradients through it (with
        a state given, it must not require grad).
    """
    state = _check_inputs(w, u, k, v, state)
    impl = backend.choose(
        "wkv4", impl, k, references=tuple(_REFERENCES), fastest="loop"
    )
    if impl == "triton":
        from rnncourse.ops.wkv4.kernel import wkv4_triton  # imports triton, only now

        out, final = wkv4_triton(w, u, k, v, state)
    else:
        out, final = _REFERENCES[impl](w, u, k, v, state)
    return (out, final) if output_final_state else out


def _check_inputs(w, u, k, v, state) -> WKV4State | None:
    op = "wkv4"
    check_tensors(op, {"w": w, "u": u, "k": k, "v": v})
    if k.dim() != 3:
        raise ValueError(
            f"{op}: k must have shape (B, T, C), got a {k.dim()}-D tensor of shape "
            f"{tuple(k.shape)}"
        )
    B, T, C = k.shape
    if v.shape != k.shape:
        raise ValueError(
            f"{op}: v must have the shape of k, (B, T, C) = {tuple(k.shape)}, "
            f"got {tuple(v.shape)}"
        )
    for name, x in (("w", w), ("u", u)):
        if tuple(x.shape) != (C,):
            raise ValueError(
                f"{op}: {name} must have shape (C,) = ({C},), got {tuple(x.shape)}"
            )
    check_steps(op, "k", k, dim=1)
    check_floating(op, "w, u, k and v", k)
    check_dtype_of(op, "k", k, {"w": w, "u": u, "v": v})
    check_device_of(op, "k", k, {"w": w, "u": u, "v": v})
    if state is None:
        return None
    if not (
        isinstance(state, tuple)
        and len(state) == 3
        and all(isinstance(x, torch.Tensor) for x in state)
    ):
        raise ValueError(
            f"{op}: state must be a WKV4State (a, b, p) of three (B, C) tensors, "
            f"got {type(state).__name__}"
        )
    for name, x in zip(WKV4State._fields, state):
        if tuple(x.shape) != (B, C):
            raise ValueError(
                f"{op}: state.{name} must have shape (B, C) = ({B}, {C}), "
                f"got {tuple(x.shape)}"
            )
        check_state_dtype(op, f"state.{name}", x, k.dtype)
    check_device_of(op, "k", k, dict(zip(("state.a", "state.b", "state.p"), state)))
    return WKV4State(*state)


def __getattr__(name: str):
    # `from rnncourse.ops.wkv4 import wkv4_triton` imports triton then, and only then
    if name == "wkv4_triton":
        from rnncourse.ops.wkv4.kernel import wkv4_triton

        return wkv4_triton
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
