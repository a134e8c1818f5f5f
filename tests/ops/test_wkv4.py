"""wkv4: every implementation against the float64 stable loop, in values and gradients;
large keys; the state.

The Triton kernel runs in Triton's interpreter on the CPU (tests/conftest.py sets
TRITON_INTERPRET=1), one token per step, so its tests keep to short sequences; its
outputs start as NaN (RNNCOURSE_CHECK_OUTPUTS=1).
"""

import pytest
import torch

from rnncourse.ops import WKV4State, backend, last_path, wkv4
from rnncourse.ops.wkv4 import wkv4_loop

from ._compare import assert_close, relative_error
from ._compile import compile_for_gpus
from ._device import DEVICE, needs_kernel, run_without_triton

IMPLS = ["naive", "parallel", "loop", pytest.param("triton", marks=needs_kernel)]
# float32 holds an exponent near 1000 only to about 6e-5 (its spacing there), and the
# running maximum is rounded once per step: with |k| up to 1000 the error grows to a few
# 1e-4 after 63 steps.
LARGE_K_TOLERANCE = 2e-3


def _inputs(B, T, C, dtype, k_scale=1.0, seed=0):
    """w (C,) in (0.05, 2), u (C,), k, v (B, T, C) and an upstream gradient; k
    uniform in [-k_scale, k_scale] when k_scale > 10, standard normal times k_scale
    otherwise."""
    gen = torch.Generator().manual_seed(seed)
    w = 0.05 + 1.95 * torch.rand(C, generator=gen, dtype=torch.float64)
    u = torch.randn(C, generator=gen, dtype=torch.float64)
    if k_scale > 10:
        k = (2 * torch.rand(B, T, C, generator=gen, dtype=torch.float64) - 1) * k_scale
    else:
        k = torch.randn(B, T, C, generator=gen, dtype=torch.float64) * k_scale
    v, dy = (torch.randn(B, T, C, generator=gen, dtype=torch.float64) for _ in range(2))
    return tuple(x.to(DEVICE, dtype) for x in (w, u, k, v, dy))


def _forward_backward(fn, w, u, k, v, dy):
    leaves = [x.detach().requires_grad_() for x in (w, u, k, v)]
    y = fn(*leaves)
    # w is unused when T = 1
    grads = torch.autograd.grad(y, leaves, dy, allow_unused=True)
    return y, [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]


def _reference(w, u, k, v, dy):
    """The stable loop in float64 on the same, already rounded, inputs."""
    return _forward_backward(
        lambda *x: wkv4_loop(*x)[0], *(x.double() for x in (w, u, k, v, dy))
    )


def _compare(impl, inputs, dtype, tolerance=None):
    y, grads = _forward_backward(lambda *x: wkv4(*x, impl=impl), *inputs)
    y_ref, grads_ref = _reference(*inputs)
    assert y.dtype == dtype and y.shape == y_ref.shape
    errors = {}
    for name, x, ref in zip(
        ("wkv", "dw", "du", "dk", "dv"), (y, *grads), (y_ref, *grads_ref)
    ):
        assert x.dtype == dtype
        if tolerance is None:
            errors[name] = assert_close(x, ref, dtype, f"{impl} {name}")
        else:
            errors[name] = relative_error(x, ref)
            assert errors[name] <= tolerance, (
                f"{impl} {name}: relative error {errors[name]:.2e} > {tolerance:.0e}"
            )
    return errors


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("T", [1, 63, 200])
def test_matches_float64_loop(impl, dtype, T):
    _compare(impl, _inputs(2, T, 5, dtype, seed=T), dtype)


@pytest.mark.parametrize(
    "impl", ["parallel", "loop", pytest.param("triton", marks=needs_kernel)]
)
def test_large_keys_stay_finite_and_accurate(impl):
    """|k| up to 1000 in float32: e^k overflows at 88, the running maximum keeps
    everything finite."""
    inputs = _inputs(2, 63, 5, torch.float32, k_scale=1000.0, seed=7)
    assert inputs[2].abs().max() > 990
    _compare(impl, inputs, torch.float32, tolerance=LARGE_K_TOLERANCE)


def test_the_formula_as_written_overflows_for_large_keys():
    w, u, k, v, _ = _inputs(1, 20, 3, torch.float32, k_scale=1000.0)
    assert not torch.isfinite(wkv4(w, u, k, v, impl="naive")).all()
    assert torch.isfinite(wkv4(w, u, k, v, impl="loop")).all()
    assert torch.isfinite(wkv4(w, u, k, v, impl="parallel")).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_two_pieces_equal_one_pass(impl):
    """The state carried between calls: 25 + 15 tokens give the outputs of 40, token by
    token too."""
    w, u, k, v, _ = _inputs(2, 40, 6, torch.float32, k_scale=3.0, seed=1)
    y, state = wkv4(w, u, k, v, output_final_state=True, impl=impl)
    y1, s1 = wkv4(w, u, k[:, :25], v[:, :25], output_final_state=True, impl=impl)
    y2, s2 = wkv4(
        w, u, k[:, 25:], v[:, 25:], state=s1, output_final_state=True, impl=impl
    )
    assert isinstance(s2, WKV4State) and all(x.shape == (2, 6) for x in s2)
    assert relative_error(torch.cat([y1, y2], dim=1), y) < 1e-5
    # N = a e^p and D = b e^p agree, whatever largest exponent each implementation keeps
    for part in ("a", "b"):
        assert (
            relative_error(
                getattr(s2, part) * s2.p.exp(), getattr(state, part) * state.p.exp()
            )
            < 1e-5
        )
    if (
        impl != "triton"
    ):  # one token at a time, as in generation (40 interpreter launches would be slow)
        s, steps = None, []
        for t in range(40):
            out, s = wkv4(
                w,
                u,
                k[:, t : t + 1],
                v[:, t : t + 1],
                state=s,
                output_final_state=True,
                impl=impl,
            )
            steps.append(out)
        assert relative_error(torch.cat(steps, dim=1), y) < 1e-5


def test_state_through_the_loop_is_differentiable():
    """The PyTorch forms carry gradients through the state (the kernel carries values
    only)."""
    w, u, k, v, _ = _inputs(1, 10, 3, torch.float64)
    _, s1 = wkv4(w, u, k[:, :5], v[:, :5], output_final_state=True, impl="loop")
    s1 = WKV4State(*(x.detach().requires_grad_() for x in s1))
    y = wkv4(w, u, k[:, 5:], v[:, 5:], state=s1, impl="loop")
    ga, gb = torch.autograd.grad(y.sum(), [s1.a, s1.b])
    assert ga.abs().sum() > 0 and gb.abs().sum() > 0


@needs_kernel
def test_kernel_refuses_a_state_that_needs_gradients():
    w, u, k, v, _ = _inputs(1, 4, 3, torch.float32)
    _, s = wkv4(w, u, k, v, output_final_state=True, impl="loop")
    with pytest.raises(ValueError, match="carries the state's value but no gradient"):
        wkv4(
            w, u, k, v, state=WKV4State(*(x.requires_grad_() for x in s)), impl="triton"
        )


@needs_kernel
def test_kernel_several_channel_blocks_and_bfloat16():
    # 130 channels: two blocks of 128
    _compare("triton", _inputs(1, 9, 130, torch.float32), torch.float32)
    _compare("triton", _inputs(1, 9, 4, torch.bfloat16), torch.bfloat16)


@needs_kernel
def test_an_unwritten_element_fails(monkeypatch):
    """The NaN fill at work: a launch that skips the last channel block leaves NaN
    there."""
    from rnncourse.ops.wkv4 import kernel

    launch = kernel._launch
    monkeypatch.setattr(
        kernel,
        "_launch",
        lambda B, C: {**launch(B, C), "grid": (launch(B, C)["grid"][0] - 1, B)},
    )
    w, u, k, v, _ = _inputs(1, 3, 130, torch.float32)
    y = wkv4(w, u, k, v, impl="triton")
    assert torch.isnan(y[..., 128:]).all() and not torch.isnan(y[..., :128]).any()


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path")
def test_auto_on_cpu_runs_the_loop():
    w, u, k, v, _ = _inputs(1, 4, 3, torch.float32)
    wkv4(w, u, k, v)
    assert last_path("wkv4") == "reference:loop"
    wkv4(w, u, k, v, impl="naive")
    assert last_path("wkv4") == "reference:naive"


@needs_kernel
def test_triton_path_is_recorded_and_float64_refused():
    w, u, k, v, _ = _inputs(1, 4, 3, torch.float32)
    wkv4(w, u, k, v, impl="triton")
    assert last_path("wkv4") == (
        "triton-gpu" if DEVICE == "cuda" else "triton-interpreter"
    )
    with pytest.raises(ValueError, match="got torch.float64; use impl='loop'"):
        wkv4(w.double(), u.double(), k.double(), v.double(), impl="triton")


@pytest.mark.skipif(not backend.triton_available(), reason="triton is not installed")
@pytest.mark.parametrize(
    "kernel, pointers, floats",
    [
        (
            "wkv4_fwd_kernel",
            ("w_ptr", "u_ptr", "k_ptr", "v_ptr", "y_ptr"),
            (
                "a0_ptr",
                "b0_ptr",
                "p0_ptr",
                "sa_ptr",
                "sb_ptr",
                "sp_ptr",
                "aT_ptr",
                "bT_ptr",
                "pT_ptr",
            ),
        ),
        (
            "wkv4_bwd_kernel",
            ("w_ptr", "u_ptr", "k_ptr", "v_ptr", "gy_ptr", "dk_ptr", "dv_ptr"),
            (
                "a0_ptr",
                "b0_ptr",
                "p0_ptr",
                "sa_ptr",
                "sb_ptr",
                "sp_ptr",
                "dw_ptr",
                "du_ptr",
            ),
        ),
    ],
)
def test_kernels_compile_for_t4_and_h100(kernel, pointers, floats):
    types = {
        **{p: "*fp16" for p in pointers},
        **{p: "*fp32" for p in floats},
        "T": "i32",
        "C": "i32",
    }
    extra = ", 'SAVE': True" if kernel == "wkv4_fwd_kernel" else ""
    lines = compile_for_gpus(
        "rnncourse.ops.wkv4.kernel",
        kernel,
        types,
        "{'HAS_STATE': True%s, 'BLOCK_C': 128}" % extra,
    )
    assert [line.split(":")[0] for line in lines] == ["sm_75", "sm_90"]


def test_package_works_without_triton():
    lines = run_without_triton("""
        import torch
        from rnncourse.ops import wkv4, last_path
        k, v = torch.rand(1, 5, 3), torch.rand(1, 5, 3)
        y = wkv4(torch.rand(3) + 0.1, torch.rand(3), k, v)
        print(last_path("wkv4"), tuple(y.shape))
        """)
    assert lines == ["reference:loop (1, 5, 3)"]


BAD = {
    "k is 2-D": (dict(k=lambda x: x[0]), "k must have shape \\(B, T, C\\)"),
    "v shape": (
        dict(v=lambda x: x[:, :-1]),
        "v must have the shape of k, \\(B, T, C\\) = \\(2, 4, 3\\), got \\(2, 3, 3\\)",
    ),
    "broadcastable v": (dict(v=lambda x: x[:1]), "v must have the shape of k"),
    "w per batch": (
        dict(w=lambda x: x.expand(2, 3)),
        "w must have shape \\(C,\\) = \\(3,\\), got \\(2, 3\\)",
    ),
    "u too short": (
        dict(u=lambda x: x[:2]),
        "u must have shape \\(C,\\) = \\(3,\\), got \\(2,\\)",
    ),
    "u dtype": (
        dict(u=lambda x: x.double()),
        "u must have the dtype of k, torch.float32, got torch.float64",
    ),
    "v device": (dict(v=lambda x: x.to("meta")), "v must be on the device of k"),
    "integers": (
        dict(
            w=lambda x: x.long(),
            u=lambda x: x.long(),
            k=lambda x: x.long(),
            v=lambda x: x.long(),
        ),
        "floating-point tensors, got torch.int64",
    ),
    "empty sequence": (
        dict(k=lambda x: x[:, :0], v=lambda x: x[:, :0]),
        "empty sequence .* expected T >= 1",
    ),
    "state not a triple": (
        dict(state=lambda s: s[:2]),
        "state must be a WKV4State \\(a, b, p\\)",
    ),
    "state shape": (
        dict(state=lambda s: WKV4State(s.a[:1], s.b, s.p)),
        "state.a must have shape \\(B, C\\) = \\(2, 3\\), got \\(1, 3\\)",
    ),
    "state dtype": (
        dict(state=lambda s: WKV4State(s.a, s.b, s.p.half())),
        "state.p must have dtype torch.float32",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(case):
    changes, message = BAD[case]
    w, u, k, v, _ = _inputs(2, 4, 3, torch.float32)
    args = dict(w=w, u=u, k=k, v=v, state=WKV4State.zeros(2, 3, torch.float32, DEVICE))
    args.update({name: change(args[name]) for name, change in changes.items()})
    with pytest.raises(ValueError, match=message):
        wkv4(**args)


def test_unknown_impl_names_the_choices():
    w, u, k, v, _ = _inputs(1, 4, 3, torch.float32)
    with pytest.raises(
        ValueError, match=r"\['auto', 'triton', 'naive', 'parallel', 'loop'\]"
    ):
        wkv4(w, u, k, v, impl="fast")


def test_registered_in_the_benchmark_harness():
    from benchmarks.registry import all_ops

    op = all_ops()["wkv4"]
    assert op.kernels == {"triton"} and set(op.impls) == {
        "naive",
        "parallel",
        "loop",
        "triton",
    }
    size = dict(B=2, T=30, C=5)
    inputs = op.inputs(size, torch.float32, "cpu")
    expected = op.reference(*(x.detach().double() for x in inputs))
    for name in ("naive", "parallel", "loop"):
        assert relative_error(op.impls[name](*inputs), expected) < 1e-5
    assert op.skip("parallel", dict(B=1, T=1024, C=8), "cpu") and not op.skip(
        "loop", dict(B=1, T=1024, C=8), "cpu"
    )
