"""How every op in ``rnncourse.ops`` picks an implementation and says which one ran.

The convention for kernels (chapter 6 sets the first one): ``rnncourse/ops/<op>/``
holds the readable PyTorch reference beside its Triton kernel, and the op's
public function takes ``impl=`` with ``"auto"`` as the default. Triton is
imported only when a kernel is about to run, so the package imports and works
without it. After a call, ``last_path(op)`` tells what ran:

- ``"triton-gpu"``: the Triton kernel, compiled for the GPU;
- ``"triton-interpreter"``: the same kernel run on the CPU by Triton's
  interpreter (``TRITON_INTERPRET=1``, which the tests use);
- ``"reference:<name>"``: a PyTorch implementation, e.g. ``"reference:loop"``.

``"auto"`` picks the kernel for CUDA tensors when Triton is installed and the
fastest PyTorch form otherwise; the interpreter runs only when asked for by name,
since it is slow.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
from functools import lru_cache

import torch

log = logging.getLogger("rnncourse.ops")
_last_path: dict[str, str] = {}


@lru_cache(maxsize=None)
def triton_available() -> bool:
    """Whether Triton can be imported (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


def triton_interpreting() -> bool:
    """Whether Triton kernels run on the CPU through Triton's interpreter."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def choose(
    op: str, impl: str, x: torch.Tensor, references: tuple[str, ...], fastest: str
) -> str:
    """Resolve ``impl`` for a call of ``op`` on tensor ``x`` and record the path that
    will run.

    ``references`` names the op's PyTorch implementations, ``fastest`` the one
    ``"auto"`` uses when the kernel cannot run. Returns ``"triton"`` or a
    reference name.
    """
    if impl not in ("auto", "triton", *references):
        raise ValueError(
            f"{op}: impl must be one of {['auto', 'triton', *references]}, got {impl!r}"
        )
    if impl == "auto":
        impl = "triton" if (x.is_cuda and triton_available()) else fastest
    if impl == "triton":
        if not triton_available():
            raise RuntimeError(
                f"{op}: impl='triton' needs the triton package (pip install triton); "
                f"impl='auto' falls back to the PyTorch reference"
            )
        if x.is_cuda:
            path = "triton-gpu"
        elif triton_interpreting():
            path = "triton-interpreter"
        else:
            raise RuntimeError(
                f"{op}: the Triton kernel needs CUDA tensors, or TRITON_INTERPRET=1 "
                f"set before triton is first imported to run it on the CPU; got a "
                f"tensor on {x.device}"
            )
    else:
        path = f"reference:{impl}"
    _last_path[op] = path
    log.info("%s ran %s", op, path)
    return impl


def interpreter_problem() -> str | None:
    """Why Triton's interpreter cannot run a kernel that loops to a bound given at run
    time, or None.

    One pairing is known broken: Triton before 3.7 turns such a bound into a
    1-element array and calls int() on it, which NumPy 2.4 made an error (Triton
    3.7 fixed it). A kernel with such a loop calls this before it runs in the
    interpreter; the compiled GPU path is not affected.
    """
    import numpy

    triton_version = importlib.metadata.version("triton")
    if _release(triton_version) < (3, 7) and _release(numpy.__version__) >= (2, 4):
        return (
            f"Triton {triton_version}'s interpreter cannot run a loop with a run-time "
            f"bound under NumPy {numpy.__version__}: install 'numpy<2.4' or triton>=3.7"
        )
    return None


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def last_path(op: str) -> str:
    """The path the last call of ``op`` took (see the module docstring)."""
    if op not in _last_path:
        raise KeyError(f"{op} has not been called yet in this process")
    return _last_path[op]


def describe() -> str:
    """One line on what this machine can run: GPU, Triton, interpreter."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU"
    triton = "triton installed" if triton_available() else "no triton"
    mode = ", TRITON_INTERPRET=1" if triton_interpreting() else ""
    return f"torch {torch.__version__}, {gpu}, {triton}{mode}"


def checking_outputs() -> bool:
    """Whether kernels fill their output buffers with NaN first (under the
    interpreter, or RNNCOURSE_CHECK_OUTPUTS=1)."""
    return triton_interpreting() or os.environ.get("RNNCOURSE_CHECK_OUTPUTS") == "1"


def output_buffer(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Memory for a kernel to write, with the dtype and device of ``like``.

    When checking (the tests set RNNCOURSE_CHECK_OUTPUTS=1; the interpreter always
    checks) it is filled with NaN, so an element the kernel forgets to write makes
    the comparison with the reference fail. Otherwise it is left uninitialised, as
    ``torch.empty`` leaves it: the fill is a full extra pass over memory, which the
    benchmarks would otherwise count against the kernel.
    """
    if checking_outputs():
        return torch.full(shape, float("nan"), dtype=like.dtype, device=like.device)
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def dot_dtype(x: torch.Tensor):
    """The Triton dtype a kernel multiplies matrices of ``x``'s dtype in (``tl.dot``).

    The inputs' own dtype (float16, bfloat16 or float32, the products accumulating in
    float32), except bfloat16 in the interpreter, which cannot multiply bfloat16
    matrices: there the products run in float32.
    """
    import triton.language as tl  # only a kernel about to run asks

    return {
        torch.float16: tl.float16,
        torch.float32: tl.float32,
        torch.bfloat16: tl.bfloat16 if x.is_cuda else tl.float32,
    }[x.dtype]
