"""linear_attention: every implementation against the float64 recurrent form, in values
and gradients.

The Triton kernel runs in Triton's interpreter on the CPU (tests/conftest.py sets
TRITON_INTERPRET=1), on a CUDA GPU when there is one; its outputs start as NaN
(RNNCOURSE_CHECK_OUTPUTS=1), so an element it never writes fails the comparison.
"""

import pytest
import torch

from rnncourse.ops import backend, last_path, linear_attention
from rnncourse.ops.linear_attention import linear_attention_recurrent

from ._compare import assert_close, relative_error
from ._compile import compile_for_gpus
from ._device import DEVICE, needs_kernel, run_without_triton

IMPLS = ["parallel", "recurrent", "chunk", pytest.param("triton", marks=needs_kernel)]
STATE_DTYPE = {
    torch.float64: torch.float64,
    torch.float32: torch.float32,
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
}


def _inputs(B, H, T, K, V, dtype, decay=True, with_state=True, seed=0):
    """q, k (B, H, T, K), v (B, H, T, V), log_decay (H,) or None, S_0 (B, H, K, V) or
    None, and upstream gradients for o and S_T; scaled so that o stays of order one."""
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(
            DEVICE
        )

    q, k = draw(B, H, T, K, scale=K**-0.5), draw(B, H, T, K, scale=K**-0.5)
    v, do = draw(B, H, T, V), draw(B, H, T, V)
    # RetNet's decays, 1 - 2^(-5 - h), and one much faster
    log_decay = (
        torch.log(1 - 2.0 ** (-5 - torch.arange(H, dtype=torch.float64))).to(DEVICE)
        if decay
        else None
    )
    if decay and H > 1:
        log_decay[-1] = -1.5
    S0 = draw(B, H, K, V) if with_state else None
    dS = draw(B, H, K, V)
    rounded = [x.to(dtype) for x in (q, k, v, do)]
    return (
        *rounded[:3],
        log_decay,
        None if S0 is None else S0.to(STATE_DTYPE[dtype]),
        rounded[3],
        dS.to(STATE_DTYPE[dtype]),
    )


def _forward_backward(fn, q, k, v, log_decay, S0, do, dS):
    """o, S_T = fn(...) and the gradients of <do, o> + <dS, S_T> with respect to every
    tensor input."""
    leaves = [
        x.detach().requires_grad_() for x in (q, k, v, log_decay, S0) if x is not None
    ]
    it = iter(leaves)
    args = [next(it) if x is not None else None for x in (q, k, v, log_decay, S0)]
    o, S = fn(*args)
    grads = torch.autograd.grad([o, S], leaves, [do, dS], allow_unused=True)
    return (o, S), [
        torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)
    ]


def _reference(q, k, v, log_decay, S0, do, dS):
    """The recurrent form in float64 on the same, already rounded, inputs."""
    wide = [None if x is None else x.double() for x in (q, k, v, log_decay, S0, do, dS)]
    return _forward_backward(lambda *x: linear_attention_recurrent(*x), *wide)


def _compare(impl, inputs, dtype, chunk_size=16):
    def fn(q, k, v, g, S0):
        return linear_attention(
            q,
            k,
            v,
            g,
            S0,
            output_final_state=True,
            impl=impl,  # noqa: E731
            chunk_size=chunk_size,
        )

    (o, S), grads = _forward_backward(fn, *inputs)
    (o_ref, S_ref), grads_ref = _reference(*inputs)
    assert o.dtype == dtype and o.shape == o_ref.shape and S.dtype == STATE_DTYPE[dtype]
    errors = {
        "o": assert_close(o, o_ref, dtype, f"{impl} o"),
        "S_T": assert_close(S, S_ref, dtype, f"{impl} S_T"),
    }
    names = [
        n
        for n, x in zip(("dq", "dk", "dv", "dlog_decay", "dS0"), inputs[:5])
        if x is not None
    ]
    for name, g, g_ref in zip(names, grads, grads_ref):
        errors[name] = assert_close(g, g_ref, dtype, f"{impl} {name}")
    return errors


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("T", [1, 63, 200])
def test_matches_float64_recurrence(impl, dtype, T):
    """K != V, T not a multiple of the chunk (16 here, so 63 and 200 end on a partial
    chunk)."""
    _compare(impl, _inputs(2, 3, T, 5, 17, dtype, seed=T), dtype)


@pytest.mark.parametrize("impl", IMPLS)
def test_without_decay_or_state(impl):
    _compare(
        impl,
        _inputs(1, 2, 40, 16, 8, torch.float32, decay=False, with_state=False),
        torch.float32,
    )


@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("impl", ["chunk", pytest.param("triton", marks=needs_kernel)])
def test_chunk_sizes(impl, chunk_size):
    """The chunk equal to, shorter than and longer than the sequence."""
    for T in (16, 100):
        _compare(
            impl,
            _inputs(1, 2, T, 20, 33, torch.float32, seed=T),
            torch.float32,
            chunk_size,
        )


@pytest.mark.parametrize("impl", IMPLS)
def test_two_pieces_equal_one_pass(impl):
    """Carrying the state: the output and final state of one pass, from two pieces of 37
    and 26 steps."""
    q, k, v, log_decay, S0, _, _ = _inputs(2, 2, 63, 8, 6, torch.float32)
    o, S = linear_attention(
        q, k, v, log_decay, S0, output_final_state=True, impl=impl, chunk_size=16
    )
    o1, S1 = linear_attention(
        q[:, :, :37],
        k[:, :, :37],
        v[:, :, :37],
        log_decay,
        S0,
        output_final_state=True,
        impl=impl,
        chunk_size=16,
    )
    o2, S2 = linear_attention(
        q[:, :, 37:],
        k[:, :, 37:],
        v[:, :, 37:],
        log_decay,
        S1,
        output_final_state=True,
        impl=impl,
        chunk_size=16,
    )
    assert (
        relative_error(torch.cat([o1, o2], dim=2), o) < 1e-6
        and relative_error(S2, S) < 1e-6
    )


@pytest.mark.parametrize("impl", ["parallel", "chunk"])
def test_forms_agree_in_float64(impl):
    _compare(impl, _inputs(2, 2, 70, 4, 3, torch.float64), torch.float64)


@needs_kernel
def test_kernel_large_heads_and_bfloat16():
    """K = 64, V = 80: two value blocks in the forward; bfloat16 (products in float32
    under the interpreter)."""
    _compare("triton", _inputs(1, 1, 40, 64, 80, torch.float32), torch.float32)
    _compare("triton", _inputs(1, 2, 40, 8, 8, torch.bfloat16), torch.bfloat16)


def test_chunk_is_linear_algebra_not_a_loop_over_steps():
    """The chunk form is exact with one chunk per 64 steps: its output equals the
    parallel form's."""
    q, k, v, log_decay, S0, _, _ = _inputs(1, 4, 256, 64, 64, torch.float64, seed=3)
    o_chunk = linear_attention(q, k, v, log_decay, S0, impl="chunk")
    o_parallel = linear_attention(q, k, v, log_decay, S0, impl="parallel")
    assert relative_error(o_chunk, o_parallel) < 1e-12


@needs_kernel
def test_an_unwritten_element_fails(monkeypatch):
    """The NaN fill at work: a forward launch that skips the last value block leaves NaN
    there."""
    from rnncourse.ops.linear_attention import kernel

    launch = kernel.linear_attention_fwd_kernel

    class ShortGrid:
        def __getitem__(self, grid):
            return launch[(grid[0] - 1, grid[1])]

    monkeypatch.setattr(kernel, "linear_attention_fwd_kernel", ShortGrid())
    q, k, v, log_decay, S0, _, _ = _inputs(1, 1, 5, 4, 80, torch.float32)
    o = linear_attention(q, k, v, log_decay, S0, impl="triton")
    assert torch.isnan(o[..., 64:]).all() and not torch.isnan(o[..., :64]).any()
    assert relative_error(
        o, linear_attention(q, k, v, log_decay, S0, impl="recurrent")
    ) == float("inf")


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path")
def test_auto_on_cpu_runs_the_chunk_form():
    q, k, v, log_decay, S0, _, _ = _inputs(1, 1, 8, 2, 2, torch.float32)
    linear_attention(q, k, v)
    assert last_path("linear_attention") == "reference:chunk"
    linear_attention(q, k, v, impl="parallel")
    assert last_path("linear_attention") == "reference:parallel"


@needs_kernel
def test_triton_path_is_recorded_and_float64_refused():
    q, k, v, _, _, _, _ = _inputs(1, 1, 8, 2, 2, torch.float32)
    linear_attention(q, k, v, impl="triton")
    assert last_path("linear_attention") == (
        "triton-gpu" if DEVICE == "cuda" else "triton-interpreter"
    )
    with pytest.raises(ValueError, match="got torch.float64; use impl='chunk'"):
        linear_attention(q.double(), k.double(), v.double(), impl="triton")
    with pytest.raises(ValueError, match="power of two >= 16, got 24"):
        linear_attention(q, k, v, impl="triton", chunk_size=24)


@pytest.mark.skipif(not backend.triton_available(), reason="triton is not installed")
@pytest.mark.parametrize(
    "kernel, pointers, constexprs",
    [
        (
            "linear_attention_fwd_kernel",
            ("q_ptr", "k_ptr", "v_ptr", "o_ptr"),
            "'HAS_S0': True",
        ),
        (
            "linear_attention_bwd_kernel",
            ("q_ptr", "k_ptr", "v_ptr", "do_ptr", "dq_ptr", "dk_ptr", "dv_ptr"),
            "'HAS_S0': True, 'HAS_DST': True, 'DECAY_GRAD': True",
        ),
    ],
)
def test_kernels_compile_for_t4_and_h100(kernel, pointers, constexprs):
    """float16 with a decay and states: what the interpreter cannot check, checked by
    the compiler (small blocks, to compile quickly; float32 and bfloat16 and the
    64 x 128 blocks of real runs compile too)."""
    states = ("log_decay_ptr", "s0_ptr", "st_ptr", "dst_ptr", "ds0_ptr", "dg_ptr")
    types = {
        **{p: "*fp16" for p in pointers},
        **{p: "*fp32" for p in states},
        "T": "i32",
        "H": "i32",
        "K": "i32",
        "V": "i32",
    }
    lines = compile_for_gpus(
        "rnncourse.ops.linear_attention.kernel",
        kernel,
        types,
        "{'HAS_DECAY': True, %s, 'DOT': tl.float16, 'CHUNK': 16, 'BK': 16, 'BV': 16}"
        % constexprs,
    )
    assert [line.split(":")[0] for line in lines] == ["sm_75", "sm_90"]


def test_package_works_without_triton():
    lines = run_without_triton("""
        import torch
        from rnncourse.ops import linear_attention, last_path
        q, k, v = torch.rand(1, 2, 5, 3), torch.rand(1, 2, 5, 3), torch.rand(1, 2, 5, 4)
        o = linear_attention(q, k, v)
        print(last_path("linear_attention"), tuple(o.shape))
        try:
            linear_attention(q, k, v, impl="triton")
        except RuntimeError as err:
            print(err)
        """)
    path, error = lines
    assert path == "reference:chunk (1, 2, 5, 4)"
    assert "needs the triton package" in error


BAD = {
    "q is 3-D": (dict(q=lambda x: x[0]), "q must have shape \\(B, H, T, K\\)"),
    "k shape": (
        dict(k=lambda x: x[..., :-1]),
        "k must have the shape of q, \\(B, H, T, K\\) = \\(2, 3, 4, 5\\)",
    ),
    "broadcastable k": (dict(k=lambda x: x[:1]), "k must have the shape of q"),
    "v time": (
        dict(v=lambda x: x[:, :, :-1]),
        "v must have shape \\(B, H, T, V\\) = \\(2, 3, 4, V\\), got \\(2, 3, 3, 6\\)",
    ),
    "v dtype": (
        dict(v=lambda x: x.double()),
        "v must have the dtype of q, torch.float32, got torch.float64",
    ),
    "v device": (dict(v=lambda x: x.to("meta")), "v must be on the device of q"),
    "integers": (
        dict(q=lambda x: x.long(), k=lambda x: x.long(), v=lambda x: x.long()),
        "floating-point tensors, got torch.int64",
    ),
    "empty sequence": (
        dict(q=lambda x: x[:, :, :0], k=lambda x: x[:, :, :0], v=lambda x: x[:, :, :0]),
        "empty sequence .* expected T >= 1",
    ),
    "decay per batch": (
        dict(log_decay=lambda x: x.expand(2, 3)),
        "log_decay must be a floating-point tensor of shape "
        "\\(H,\\) = \\(3,\\), got torch.float64 of shape \\(2, 3\\)",
    ),
    "growth": (dict(log_decay=lambda x: -x), "must be <= 0 .* got a largest value of"),
    "state shape": (
        dict(initial_state=lambda x: x[..., :-1]),
        "initial_state must have shape \\(B, H, K, V\\) = \\(2, 3, 5, 6\\), "
        "got \\(2, 3, 5, 5\\)",
    ),
    "state dtype": (
        dict(initial_state=lambda x: x.half()),
        "initial_state must have dtype torch.float32",
    ),
    "chunk size": (
        dict(chunk_size=lambda x: 0),
        "chunk_size must be a positive int, got 0",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(case):
    changes, message = BAD[case]
    q, k, v, log_decay, S0, _, _ = _inputs(2, 3, 4, 5, 6, torch.float32)
    args = dict(q=q, k=k, v=v, log_decay=log_decay, initial_state=S0, chunk_size=16)
    args.update({name: change(args[name]) for name, change in changes.items()})
    with pytest.raises(ValueError, match=message):
        linear_attention(**args)


def test_unknown_impl_names_the_choices():
    q, k, v, _, _, _, _ = _inputs(1, 1, 4, 3, 3, torch.float32)
    with pytest.raises(
        ValueError, match=r"\['auto', 'triton', 'parallel', 'recurrent', 'chunk'\]"
    ):
        linear_attention(q, k, v, impl="fast")


def test_registered_in_the_benchmark_harness():
    from benchmarks.registry import all_ops

    op = all_ops()["linear_attention"]
    assert op.kernels == {"triton"} and set(op.impls) == {
        "recurrent",
        "parallel",
        "chunk",
        "triton",
    }
    size = dict(B=1, H=2, T=70, K=4, V=3)
    inputs = op.inputs(size, torch.float32, "cpu")
    expected = op.reference(*(x.detach().double() for x in inputs))
    for name in ("recurrent", "parallel", "chunk"):
        assert relative_error(op.impls[name](*inputs), expected) < 1e-5
    assert op.flops(size, "backward") == 2 * op.flops(size, "forward") > 0
