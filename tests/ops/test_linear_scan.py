"""linear_scan: every implementation against the float64 loop, in values and gradients.

The Triton kernel runs in Triton's interpreter on the CPU (tests/conftest.py sets
TRITON_INTERPRET=1), on a CUDA GPU when there is one; its outputs start as NaN
(RNNCOURSE_CHECK_OUTPUTS=1), so an element it never writes fails the comparison.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncourse.ops import backend, last_path, linear_scan
from rnncourse.ops.linear_scan import linear_scan_loop

from ._compare import assert_close, relative_error
from ._compile import compile_for_gpus
from ._device import DEVICE, needs_kernel, run_without_triton

IMPLS = ["loop", "parallel", pytest.param("triton", marks=needs_kernel)]


def _inputs(B, T, D, dtype, with_h0=True, seed=0):
    """a, b (B, T, D), h0 (B, D) or None, and an upstream gradient dh (B, T, D);
    |a| < 1."""
    gen = torch.Generator().manual_seed(seed)
    real = dtype.to_real() if dtype.is_complex else dtype

    def draw(*shape, unit=False):
        x = (
            torch.rand(*shape, generator=gen, dtype=torch.float64)
            if unit
            else torch.randn(*shape, generator=gen, dtype=torch.float64)
        )
        if dtype.is_complex:
            x = (
                torch.polar(
                    x, 6.3 * torch.rand(*shape, generator=gen, dtype=torch.float64)
                )
                if unit
                else torch.complex(
                    x, torch.randn(*shape, generator=gen, dtype=torch.float64)
                )
            )
        elif unit:
            x = 2 * x - 1
        return x.to(DEVICE, dtype if dtype.is_complex else real)

    a, b, dh = draw(B, T, D, unit=True), draw(B, T, D), draw(B, T, D)
    h0 = draw(B, D) if with_h0 else None
    return a, b, h0, dh


def _forward_backward(fn, a, b, h0, dh):
    """h = fn(a, b, h0) and the gradients of <dh, h> with respect to a, b
    (and h0 when given)."""
    leaves = [
        x.detach().requires_grad_() for x in (a, b) + ((h0,) if h0 is not None else ())
    ]
    h = fn(*leaves) if h0 is not None else fn(*leaves, None)
    return h, torch.autograd.grad(h, leaves, dh)


def _reference(a, b, h0, dh):
    """The loop in float64 (complex128) on the same, already rounded, inputs."""
    wide = torch.complex128 if a.is_complex() else torch.float64
    return _forward_backward(
        linear_scan_loop, *(None if x is None else x.to(wide) for x in (a, b, h0, dh))
    )


def _compare(impl, a, b, h0, dh, dtype):
    h, grads = _forward_backward(lambda *x: linear_scan(*x, impl=impl), a, b, h0, dh)
    h_ref, grads_ref = _reference(a, b, h0, dh)
    assert h.dtype == dtype and h.shape == a.shape
    assert_close(h, h_ref, dtype, f"{impl} h")
    for name, g, g_ref in zip(("da", "db", "dh0"), grads, grads_ref):
        assert g.dtype == dtype
        assert_close(g, g_ref, dtype, f"{impl} {name}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("T", [1, 63, 200])
@pytest.mark.parametrize("D", [1, 3, 17])
def test_matches_float64_loop(impl, dtype, T, D):
    _compare(impl, *_inputs(2, T, D, dtype, seed=T * 100 + D), dtype)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("T", [1, 63])
def test_without_initial_state(impl, T):
    _compare(impl, *_inputs(2, T, 3, torch.float32, with_h0=False), torch.float32)


@pytest.mark.parametrize("impl", ["loop", "parallel"])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=str)
@pytest.mark.parametrize("T", [1, 63, 200])
def test_complex_decay(impl, dtype, T):
    """Diagonal SSMs with complex eigenvalues: complex a, b and h0 (|a| < 1)."""
    _compare(impl, *_inputs(2, T, 3, dtype, seed=T), dtype)


@needs_kernel
def test_kernel_several_feature_blocks_and_bfloat16():
    # 40 features: two blocks of 32
    _compare("triton", *_inputs(2, 63, 40, torch.float32), torch.float32)
    _compare("triton", *_inputs(1, 63, 3, torch.bfloat16), torch.bfloat16)


@pytest.mark.parametrize("impl", IMPLS)
def test_non_contiguous_input(impl):
    a, b, h0, dh = _inputs(2, 20, 5, torch.float32)
    # every other element of a buffer
    strided = [torch.stack([x, x], dim=-1)[..., 0] for x in (a, b, h0)]
    assert not any(x.is_contiguous() for x in strided) and all(
        map(torch.equal, strided, (a, b, h0))
    )
    _compare(impl, *strided, dh, torch.float32)


@needs_kernel
def test_an_unwritten_element_fails(monkeypatch):
    """The NaN fill at work: a launch that skips the last feature block leaves NaN
    there."""
    from rnncourse.ops.linear_scan import kernel

    launch = kernel._launch

    def short_grid(B, T, D, dtype):
        run = launch(B, T, D, dtype)
        return {**run, "grid": (run["grid"][0] - 1, B)}

    monkeypatch.setattr(kernel, "_launch", short_grid)
    a, b, h0, dh = _inputs(1, 5, 40, torch.float32)
    h = linear_scan(a, b, h0, impl="triton")
    assert torch.isnan(h[..., 32:]).all() and not torch.isnan(h[..., :32]).any()
    assert relative_error(h, _reference(a, b, h0, dh)[0]) == float("inf")


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path")
def test_auto_on_cpu_runs_the_parallel_form():
    a, b, h0, _ = _inputs(1, 8, 2, torch.float32)
    linear_scan(a, b, h0)
    assert last_path("linear_scan") == "reference:parallel"
    linear_scan(a.to(torch.complex64), b.to(torch.complex64))
    assert last_path("linear_scan") == "reference:parallel"
    linear_scan(a, b, impl="loop")
    assert last_path("linear_scan") == "reference:loop"


@needs_kernel
def test_triton_path_is_recorded():
    a, b, h0, _ = _inputs(1, 8, 2, torch.float32)
    linear_scan(a, b, h0, impl="triton")
    assert last_path("linear_scan") == (
        "triton-gpu" if DEVICE == "cuda" else "triton-interpreter"
    )


@needs_kernel
def test_kernel_refuses_complex():
    a, b, h0, _ = _inputs(1, 4, 2, torch.complex64)
    with pytest.raises(
        ValueError, match="real .* got torch.complex64; use impl='parallel'"
    ):
        linear_scan(a, b, h0, impl="triton")


@pytest.mark.skipif(not backend.triton_available(), reason="triton is not installed")
@pytest.mark.parametrize(
    "kernel, pointers",
    [
        ("linear_scan_fwd_kernel", ("a_ptr", "b_ptr", "h0_ptr", "h_ptr")),
        (
            "linear_scan_bwd_kernel",
            ("a_ptr", "h0_ptr", "h_ptr", "dh_ptr", "da_ptr", "db_ptr", "dh0_ptr"),
        ),
    ],
)
def test_kernels_compile_for_t4_and_h100(kernel, pointers):
    """float16, with an initial state: what the interpreter cannot check, checked by the
    compiler."""
    types = {**{p: "*fp16" for p in pointers}, "T": "i32", "D": "i32"}
    lines = compile_for_gpus(
        "rnncourse.ops.linear_scan.kernel",
        kernel,
        types,
        "{'HAS_H0': True, 'ACC': tl.float32, 'CHUNK_T': 64, 'BLOCK_D': 32}",
    )
    assert [line.split(":")[0] for line in lines] == ["sm_75", "sm_90"]


def test_kernel_importable_by_name():
    if not backend.triton_available():
        pytest.skip("triton is not installed")
    from rnncourse.ops.linear_scan import linear_scan_triton

    assert linear_scan_triton.__name__ == "linear_scan_triton"


def test_package_works_without_triton():
    lines = run_without_triton("""
        import torch
        from rnncourse.ops import linear_scan, last_path
        h = linear_scan(torch.rand(1, 5, 2), torch.rand(1, 5, 2))
        print(last_path("linear_scan"), tuple(h.shape))
        try:
            linear_scan(torch.rand(1, 5, 2), torch.rand(1, 5, 2), impl="triton")
        except RuntimeError as err:
            print(err)
        """)
    path, error = lines
    assert path == "reference:parallel (1, 5, 2)"
    assert "needs the triton package" in error


BAD = {
    "a is 2-D": (
        lambda a, b, h0: (a[0], b[0], None),
        "a must have shape \\(B, T, D\\)",
    ),
    "b shape": (
        lambda a, b, h0: (a, b[:, :-1], h0),
        "b must have the shape of a, \\(B, T, D\\) = \\(2, 4, 3\\)",
    ),
    "broadcastable b": (lambda a, b, h0: (a, b[:1], h0), "b must have the shape of a"),
    "h0 shape": (
        lambda a, b, h0: (a, b, h0[:, :2]),
        "h0 must have shape \\(B, D\\) = \\(2, 3\\), got \\(2, 2\\)",
    ),
    "h0 with time": (lambda a, b, h0: (a, b, a), "h0 must have shape \\(B, D\\)"),
    "b dtype": (
        lambda a, b, h0: (a, b.double(), h0),
        "b must have the dtype of a, torch.float32, got torch.float64",
    ),
    "h0 dtype": (
        lambda a, b, h0: (a, b, h0.half()),
        "h0 must have the dtype of a, torch.float32, got torch.float16",
    ),
    "b device": (
        lambda a, b, h0: (a, b.to("meta"), h0),
        "b must be on the device of a",
    ),
    "integers": (
        lambda a, b, h0: (a.long(), b.long(), None),
        "floating-point or complex tensors, got torch.int64",
    ),
    "empty sequence": (
        lambda a, b, h0: (a[:, :0], b[:, :0], h0),
        "empty sequence .* expected T >= 1",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(case):
    make, message = BAD[case]
    a, b, h0, _ = _inputs(2, 4, 3, torch.float32)
    with pytest.raises(ValueError, match=message):
        linear_scan(*make(a, b, h0))


def test_unknown_impl_names_the_choices():
    a, b, h0, _ = _inputs(1, 4, 3, torch.float32)
    with pytest.raises(ValueError, match=r"\['auto', 'triton', 'loop', 'parallel'\]"):
        linear_scan(a, b, impl="fast")


@settings(max_examples=40, deadline=None)
@given(
    B=st.integers(1, 3),
    T=st.integers(1, 70),
    D=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_parallel_equals_loop_for_any_shape(B, T, D, seed):
    _compare(
        "parallel",
        *_inputs(B, T, D, torch.float64, with_h0=seed % 2 == 0, seed=seed),
        torch.float64,
    )


@needs_kernel
@settings(max_examples=8, deadline=None)
@given(T=st.integers(1, 40), D=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_kernel_equals_loop_for_any_shape(T, D, seed):
    _compare(
        "triton",
        *_inputs(2, T, D, torch.float32, with_h0=seed % 2 == 0, seed=seed),
        torch.float32,
    )
