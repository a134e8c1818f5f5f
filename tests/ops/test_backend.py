"""The kernel convention: lazy Triton, a reference fallback, and a record of which path
ran.

A toy op (doubling a tensor) with a real Triton kernel exercises every path;
chapter 6 onwards use the same machinery for real ops.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from rnncourse.ops import backend

# The toy op's kernel lives in its own module, imported only when the kernel runs,
# as rnncourse/ops/<op>/ keeps its Triton kernel beside the reference.
TOY_KERNEL = textwrap.dedent("""
    import torch
    import triton
    import triton.language as tl


    @triton.jit
    def double_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(y_ptr + offs, 2 * tl.load(x_ptr + offs, mask=mask), mask=mask)


    def double_triton(x):
        y = torch.full_like(x, float("nan"))  # an element the kernel misses stays NaN
        double_kernel[(triton.cdiv(x.numel(), 32),)](x, y, x.numel(), BLOCK=32)
        return y
""")

TOY_OP = textwrap.dedent("""
    import torch
    from rnncourse.ops import backend

    def double(x, impl="auto"):
        impl = backend.choose(
            "double", impl, x, references=("reference",), fastest="reference"
        )
        if impl == "reference":
            return 2 * x
        # triton is imported here, not before
        from toy_double_triton import double_triton
        return double_triton(x)
""")


@pytest.fixture
def run(tmp_path):
    """Run the toy op and ``code`` in a fresh interpreter (TRITON_INTERPRET must be set
    before triton loads)."""
    (tmp_path / "toy_double_triton.py").write_text(TOY_KERNEL)

    def _run(code: str, **env) -> str:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(tmp_path), os.environ.get("PYTHONPATH", "")]
            ),
            **env,
        }
        result = subprocess.run(
            [sys.executable, "-c", TOY_OP + textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    return _run


@pytest.mark.skipif(not backend.triton_available(), reason="triton is not installed")
def test_kernel_runs_in_the_interpreter_and_says_so(run):
    out = run(
        """
        x = torch.randn(63)  # not a multiple of the block
        assert torch.equal(double(x, impl="triton"), 2 * x)
        print(backend.last_path("double"))
        double(x)  # auto on a CPU tensor: the reference, even with the interpreter on
        print(backend.last_path("double"))
    """,
        TRITON_INTERPRET="1",
    )
    assert out.splitlines() == ["triton-interpreter", "reference:reference"]


def test_package_works_without_triton(run):
    out = run("""
        import sys
        assert "triton" not in sys.modules
        sys.modules["triton"] = None  # as if it were not installed
        import rnncourse, rnncourse.nn, rnncourse.exercises
        assert not backend.triton_available()
        x = torch.randn(5)
        assert torch.equal(double(x), 2 * x)
        print(backend.last_path("double"))
        try:
            double(x, impl="triton")
        except RuntimeError as err:
            print(err)
    """)
    path, error = out.splitlines()
    assert path == "reference:reference"
    assert "needs the triton package" in error


def test_triton_on_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    if not backend.triton_available():
        pytest.skip("triton is not installed")
    with pytest.raises(RuntimeError, match="needs CUDA tensors, or TRITON_INTERPRET=1"):
        backend.choose("toy", "triton", torch.zeros(1), ("loop",), "loop")


def test_unknown_impl_names_the_choices():
    with pytest.raises(ValueError, match=r"\['auto', 'triton', 'loop', 'parallel'\]"):
        backend.choose("toy", "fast", torch.zeros(1), ("loop", "parallel"), "parallel")


def test_last_path_before_any_call():
    with pytest.raises(KeyError, match="not been called"):
        backend.last_path("never-called")


def test_describe_mentions_torch():
    assert torch.__version__ in backend.describe()


@pytest.mark.parametrize(
    "triton_version, numpy_version, broken",
    [
        ("3.6.0", "2.4.6", True),
        ("3.6.0", "2.3.5", False),
        ("3.7.1", "2.4.6", False),
        ("3.10.0", "2.4.0", False),
    ],
)
def test_interpreter_problem_names_triton_36_with_numpy_24(
    monkeypatch, triton_version, numpy_version, broken
):
    import numpy

    monkeypatch.setattr(
        backend.importlib.metadata, "version", lambda name: triton_version
    )
    monkeypatch.setattr(numpy, "__version__", numpy_version)
    problem = backend.interpreter_problem()
    if broken:
        assert problem == (
            f"Triton {triton_version}'s interpreter cannot run a loop with a run-time "
            f"bound under NumPy {numpy_version}: install 'numpy<2.4' or triton>=3.7"
        )
    else:
        assert problem is None


def test_output_buffer_is_nan_when_checking(monkeypatch):
    like = torch.zeros(2, dtype=torch.float16)
    monkeypatch.setenv("RNNCOURSE_CHECK_OUTPUTS", "1")
    out = backend.output_buffer((3, 4), like)
    assert out.shape == (3, 4) and out.dtype == torch.float16 and torch.isnan(out).all()
    monkeypatch.setenv("RNNCOURSE_CHECK_OUTPUTS", "0")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert backend.output_buffer((3, 4), like).shape == (3, 4)
