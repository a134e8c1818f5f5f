"""Where the kernel tests run, shared by every tests/ops/test_<op>.py: on a CUDA GPU
when there is one, else in Triton's interpreter on the CPU; ``needs_kernel`` skips a
test, with the reason, where neither can run the kernel."""

import pytest
import torch

from rnncourse.ops import backend

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if not backend.triton_available():
    CANNOT_RUN_KERNEL = "triton is not installed"
elif DEVICE == "cpu" and not backend.triton_interpreting():
    CANNOT_RUN_KERNEL = "needs a GPU or TRITON_INTERPRET=1"
else:
    CANNOT_RUN_KERNEL = backend.interpreter_problem() if DEVICE == "cpu" else None
needs_kernel = pytest.mark.skipif(
    bool(CANNOT_RUN_KERNEL), reason=str(CANNOT_RUN_KERNEL)
)


def run_without_triton(code: str) -> list[str]:
    """Run ``code`` in a fresh Python in which importing triton fails, as if it were not
    installed; returns the lines it printed."""
    import os
    import subprocess
    import sys
    import textwrap

    code = (
        'import sys\nsys.modules["triton"] = None  # as if it were not installed\n'
        + textwrap.dedent(code)
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TRITON_INTERPRET": "0"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()
