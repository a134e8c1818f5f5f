"""The input checks every op in ``rnncourse.ops`` shares, and their rule for half
precision.

Each op checks its inputs before it picks an implementation, so a mistake gets the
same clear message whichever form would have run. The shapes are each op's own (its
``_check_inputs``); what the ops have in common is here: inputs that are tensors,
floating-point, of one dtype and on one device, a sequence with at least one step, a
carried state in the computing dtype, and what a Triton kernel needs before launch.

Half precision: float16 and bfloat16 inputs are computed in float32 and the outputs
rounded back, by the kernels and by the PyTorch forms that mirror them (softmax
attention's naive form alone computes in the inputs' dtype); a state carried from one
call to the next stays in float32.
"""

from __future__ import annotations

import torch

from rnncourse.ops import backend

HALF = (torch.float16, torch.bfloat16)
# the dtypes the Triton kernels are written for (linear_scan's also takes float64)
KERNEL_DTYPES = (*HALF, torch.float32)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype an op computes and keeps its state in: float32 for half precision,
    else ``dtype``."""
    return torch.float32 if dtype in HALF else dtype


def check_tensors(op: str, tensors: dict[str, torch.Tensor | None]) -> None:
    """Each named input must be a tensor; None stands for an optional one left out."""
    for name, x in tensors.items():
        if x is not None and not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{op}: {name} must be a torch.Tensor, got {type(x).__name__}"
            )


def check_qkv(op: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """The shapes of attention-like inputs: q and k (B, H, T, K), v (B, H, T, V)."""
    if q.dim() != 4:
        raise ValueError(
            f"{op}: q must have shape (B, H, T, K), got a {q.dim()}-D tensor of shape "
            f"{tuple(q.shape)}"
        )
    B, H, T, K = q.shape
    if k.shape != q.shape:
        raise ValueError(
            f"{op}: k must have the shape of q, (B, H, T, K) = {tuple(q.shape)}, "
            f"got {tuple(k.shape)}"
        )
    if v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"{op}: v must have shape (B, H, T, V) = ({B}, {H}, {T}, V), "
            f"got {tuple(v.shape)}"
        )


def check_state(
    op: str, name: str, state: torch.Tensor, shape: tuple, inputs_dtype: torch.dtype
) -> None:
    """A carried state (B, H, K, V): its shape, and the computing dtype of inputs of
    ``inputs_dtype``."""
    if tuple(state.shape) != shape:
        raise ValueError(
            f"{op}: {name} must have shape (B, H, K, V) = {shape}, "
            f"got {tuple(state.shape)}"
        )
    check_state_dtype(op, name, state, inputs_dtype)


def check_chunk_size(op: str, chunk_size) -> None:
    """Steps per chunk of a chunkwise form: a positive int."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise ValueError(f"{op}: chunk_size must be a positive int, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"{op}: chunk_size must be a positive int, got {chunk_size!r}")


def check_steps(op: str, name: str, x: torch.Tensor, dim: int, T: str = "T") -> None:
    """The sequence along ``dim`` of ``x`` must have a first step: every form starts
    from one."""
    if x.shape[dim] == 0:
        raise ValueError(
            f"{op}: empty sequence ({name} of shape {tuple(x.shape)}): "
            f"expected {T} >= 1 time steps"
        )


def check_floating(
    op: str, names: str, x: torch.Tensor, complex_ok: bool = False
) -> None:
    """``x`` (standing for the inputs ``names``) must be floating-point, or complex
    where ``complex_ok``."""
    if not (x.is_floating_point() or (complex_ok and x.is_complex())):
        kinds = "floating-point or complex" if complex_ok else "floating-point"
        raise ValueError(
            f"{op}: {names} must be {kinds} tensors, got {x.dtype} "
            f"(convert with .float())"
        )


def check_dtype_of(
    op: str, ref_name: str, ref: torch.Tensor, tensors: dict[str, torch.Tensor]
) -> None:
    """Each named tensor must have the dtype of ``ref``, the input named
    ``ref_name``."""
    for name, x in tensors.items():
        if x.dtype != ref.dtype:
            raise ValueError(
                f"{op}: {name} must have the dtype of {ref_name}, {ref.dtype}, "
                f"got {x.dtype}"
            )


def check_device_of(
    op: str, ref_name: str, ref: torch.Tensor, tensors: dict[str, torch.Tensor | None]
) -> None:
    """Each named tensor (None: left out) must be on the device of ``ref``."""
    for name, x in tensors.items():
        if x is not None and x.device != ref.device:
            raise ValueError(
                f"{op}: {name} must be on the device of {ref_name}, {ref.device}, "
                f"got {x.device}"
            )


def check_state_dtype(
    op: str, name: str, state: torch.Tensor, inputs_dtype: torch.dtype
) -> None:
    """A carried state must be in the computing dtype of inputs of ``inputs_dtype``."""
    expected = compute_dtype(inputs_dtype)
    if state.dtype != expected:
        raise ValueError(
            f"{op}: {name} must have dtype {expected} (the state is kept in float32 "
            f"for half-precision inputs), got {state.dtype}"
        )


def check_kernel_can_run(
    op: str, x: torch.Tensor, dtypes: tuple[torch.dtype, ...], instead: str
) -> None:
    """Before a Triton kernel launches on inputs like ``x``: a dtype it was written
    for (``instead`` names the PyTorch form to use otherwise), and, on the CPU, an
    interpreter able to run its loops (``backend.interpreter_problem``)."""
    if x.dtype not in dtypes:
        raise ValueError(
            f"{op}: the Triton kernel takes real {[str(t) for t in dtypes]} tensors, "
            f"got {x.dtype}; use impl={instead!r}"
        )
    # every kernel loops (over time, chunks or blocks) to a bound known at run time
    problem = None if x.is_cuda else backend.interpreter_problem()
    if problem:
        raise RuntimeError(f"{op}: {problem}")
