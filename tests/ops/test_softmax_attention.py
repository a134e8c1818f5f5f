"""attention: every implementation against float64 softmax attention, in values and
gradients; the tiled forms never hold a T x T matrix.

The Triton kernels run in Triton's interpreter on the CPU (tests/conftest.py sets
TRITON_INTERPRET=1), on a CUDA GPU when there is one; their outputs start as NaN
(RNNCOURSE_CHECK_OUTPUTS=1), so an element they never write fails the comparison.
"""

import pytest
import torch

from rnncourse.measure import peak_memory
from rnncourse.ops import backend, last_path, softmax_attention
from rnncourse.ops.softmax_attention import attention_naive, flops, memory_naive

from ._compare import TOLERANCE, assert_close, relative_error
from ._compile import compile_for_gpus
from ._device import DEVICE, needs_kernel, run_without_triton

IMPLS = ["naive", "tiled", "sdpa", pytest.param("triton", marks=needs_kernel)]
# (T_q, T_k, D, causal): odd lengths, a partial last block, T_q != T_k, head sizes 16 to
# 128 (40: not a power of two)
SHAPES = [
    (1, 1, 16, True),
    (37, 37, 16, True),
    (70, 45, 40, False),
    (65, 130, 64, False),
    (33, 33, 128, True),
]


def _inputs(B, H, T_q, T_k, D, seed=0):
    """q (B, H, T_q, D), k, v (B, H, T_k, D) and an upstream gradient do (B, H, T_q, D),
    in float64."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(*shape, generator=gen, dtype=torch.float64).to(DEVICE)
        for shape in ((B, H, T_q, D), (B, H, T_k, D), (B, H, T_k, D), (B, H, T_q, D))
    )


def _forward_backward(fn, q, k, v, do):
    """o = fn(q, k, v) and the gradients of <do, o> with respect to q, k and v."""
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    o = fn(*leaves)
    return [o, *torch.autograd.grad(o, leaves, do)]


def _errors(impl, dtype, T_q, T_k, D, causal, seed=0, scale=None):
    """Relative errors of o, dq, dk, dv of ``impl`` in ``dtype`` against float64 on the
    same rounded inputs."""
    rounded = [x.to(dtype) for x in _inputs(2, 3, T_q, T_k, D, seed)]
    got = _forward_backward(
        lambda q, k, v: softmax_attention(q, k, v, causal, scale, impl=impl), *rounded
    )
    ref = _forward_backward(
        lambda q, k, v: attention_naive(q, k, v, causal, scale),
        *(x.double() for x in rounded),
    )
    assert all(g.dtype == dtype for g in got) and got[0].shape == (2, 3, T_q, D)
    return {
        name: relative_error(g, r)
        for name, g, r in zip(("o", "dq", "dk", "dv"), got, ref)
    }


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize(
    "shape",
    SHAPES,
    ids=lambda s: "Tq{}-Tk{}-D{}-{}".format(*s[:3], "causal" if s[3] else "full"),
)
def test_matches_float64(impl, dtype, shape):
    for name, error in _errors(impl, dtype, *shape).items():
        assert error <= TOLERANCE[dtype], f"{impl} {name}: {error:.2e}"


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_kernel_error_at_most_twice_the_naive_forms(dtype):
    """The issue's bar: against float64, the kernel's error is at most twice that of the
    naive form in the same dtype (outputs and each gradient, the worst over three draws
    of the inputs)."""
    for shape in ((64, 64, 64, True), (100, 77, 32, False)):
        kernel = [_errors("triton", dtype, *shape, seed=s) for s in range(3)]
        naive = [_errors("naive", dtype, *shape, seed=s) for s in range(3)]
        for name in ("o", "dq", "dk", "dv"):
            worst_kernel, worst_naive = (
                max(e[name] for e in kernel),
                max(e[name] for e in naive),
            )
            assert worst_kernel <= 2 * worst_naive, (
                f"{name} {shape}: {worst_kernel:.2e} > 2 x {worst_naive:.2e}"
            )


@pytest.mark.parametrize("impl", ["tiled", pytest.param("triton", marks=needs_kernel)])
def test_bfloat16_and_a_given_scale(impl):
    errors = _errors(impl, torch.bfloat16, 50, 50, 32, True)
    assert max(errors.values()) <= 3e-2, errors
    errors = _errors(impl, torch.float32, 40, 24, 16, False, scale=0.3)
    assert max(errors.values()) <= 1e-5, errors


@pytest.mark.parametrize("block_size", [1, 16, 64, 200])
def test_tiled_any_block_size(block_size):
    """One key per block, blocks that end mid-sequence, and one block longer than the
    sequence."""
    from rnncourse.ops.softmax_attention import attention_tiled

    q, k, v, do = _inputs(1, 2, 45, 45, 8)
    for causal in (False, True):
        got = _forward_backward(
            lambda q, k, v: attention_tiled(q, k, v, causal, block_size=block_size),
            q,
            k,
            v,
            do,
        )
        ref = _forward_backward(
            lambda q, k, v: attention_naive(q, k, v, causal), q, k, v, do
        )
        for g, r in zip(got, ref):
            assert_close(g, r, torch.float64, f"block {block_size}")


@pytest.mark.skipif(DEVICE != "cpu", reason="counts CPU allocations")
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_never_allocates_the_score_matrix(causal):
    """At T = 2048 one T x T float32 matrix is 16 MiB. The tiled forward and backward
    together stay under 1/4 of that: their largest tensors are blocks of (T, 32) scores.
    The naive form needs two matrices."""
    from rnncourse.ops.softmax_attention import attention_tiled

    T, D, block = 2048, 16, 32
    q, k, v, do = (x.float() for x in _inputs(1, 1, T, T, D))
    matrix = T * T * 4
    q.requires_grad_()

    def step():
        o = attention_tiled(q, k, v, causal, block_size=block)
        o.backward(do)

    _, used = peak_memory(step)
    assert used.peak < matrix / 4 and used.largest <= T * block * 4, used
    with torch.no_grad():
        _, used = peak_memory(
            lambda: attention_naive(
                q[..., :1024, :], k[..., :1024, :], v[..., :1024, :], causal
            )
        )
    # the measurement sees a full matrix where there is one
    assert used.largest >= 1024 * 1024 * 4


@pytest.mark.skipif(DEVICE != "cpu", reason="counts CPU allocations")
@pytest.mark.parametrize("causal", [False, True])
def test_memory_formula_is_what_naive_attention_allocates(causal):
    q, k, v, _ = (x.float() for x in _inputs(2, 3, 300, 300, 16))
    with torch.no_grad():
        _, used = peak_memory(lambda: attention_naive(q, k, v, causal))
    assert used.peak == memory_naive(2, 3, 300, 300, 16, causal)


def test_flops_convention():
    assert flops(1, 1, 1024, 1024, 64, causal=False) == 4 * 1024 * 1024 * 64
    assert flops(2, 4, 1024, 512, 64, causal=False) == 2 * flops(
        2, 4, 1024, 512, 64, causal=True
    )


@needs_kernel
def test_an_unwritten_element_fails(monkeypatch):
    """The NaN fill at work: a forward launch one query block short leaves NaN in the
    last block's rows."""
    from rnncourse.ops.softmax_attention import kernel

    launch = kernel.attention_fwd_kernel

    class ShortGrid:
        def __getitem__(self, grid):
            return launch[(grid[0] - 1, grid[1])]

    monkeypatch.setattr(kernel, "attention_fwd_kernel", ShortGrid())
    q, k, v, _ = (x.float() for x in _inputs(1, 1, 70, 70, 16))
    o = softmax_attention(q, k, v, impl="triton")
    assert torch.isnan(o[:, :, 64:]).all() and not torch.isnan(o[:, :, :64]).any()


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path")
def test_auto_on_cpu_runs_sdpa_and_each_path_is_recorded():
    q, k, v, _ = (x.float() for x in _inputs(1, 1, 8, 8, 16))
    softmax_attention(q, k, v)
    assert last_path("softmax_attention") == "reference:sdpa"
    for impl in ("naive", "tiled"):
        softmax_attention(q, k, v, impl=impl)
        assert last_path("softmax_attention") == f"reference:{impl}"


@needs_kernel
def test_triton_path_is_recorded_and_what_it_refuses():
    q, k, v, _ = (x.float() for x in _inputs(1, 1, 8, 8, 16))
    softmax_attention(q, k, v, impl="triton")
    assert last_path("softmax_attention") == (
        "triton-gpu" if DEVICE == "cuda" else "triton-interpreter"
    )
    with pytest.raises(ValueError, match="got torch.float64; use impl='tiled'"):
        softmax_attention(q.double(), k.double(), v.double(), impl="triton")
    q, k, v, _ = (x.float() for x in _inputs(1, 1, 8, 8, 8))
    with pytest.raises(ValueError, match="head sizes D from 16 to 128, got D = 8"):
        softmax_attention(q, k, v, impl="triton")


@pytest.mark.skipif(not backend.triton_available(), reason="triton is not installed")
@pytest.mark.parametrize(
    "gpu, capability, limit", [("T4", (7, 5), 64), ("H100", (9, 0), 227)]
)
@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str
)
@pytest.mark.parametrize(
    "kernel",
    ["attention_fwd_kernel", "attention_bwd_dkdv_kernel", "attention_bwd_dq_kernel"],
)
def test_kernels_compile_and_fit_in_shared_memory(
    kernel, dtype, gpu, capability, limit
):
    """D = 128, the largest head, with the blocks, warps and stages the kernels launch
    with on that GPU, compiled for it: a program must fit the shared memory the GPU
    gives one (64 KiB on a T4, 227 KiB on an H100)."""
    from rnncourse.ops.softmax_attention.kernel import blocks

    if dtype == torch.bfloat16 and gpu == "T4":
        pytest.skip(
            "a T4 has no bfloat16 tensor cores: students use float16 or float32 there"
        )
    config = blocks(
        "forward" if "fwd" in kernel else "backward", dtype, 128, capability
    )
    options = {name: config.pop(name) for name in ("num_warps", "num_stages")}
    ty = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}[dtype]
    pointers = (
        "q_ptr",
        "k_ptr",
        "v_ptr",
        "o_ptr",
        "do_ptr",
        "dq_ptr",
        "dk_ptr",
        "dv_ptr",
    )
    types = {
        **{p: f"*{ty}" for p in pointers},
        "lse_ptr": "*fp32",
        "delta_ptr": "*fp32",
        "T_q": "i32",
        "T_k": "i32",
        "D": "i32",
        "scale": "fp32",
        "scale_log2": "fp32",
    }
    constexprs = (
        "{'CAUSAL': True, %s, 'BLOCK_D': 128, 'DOT': tl.%s, 'PRECISION': 'ieee'}"
        % (
            ", ".join(f"'{name}': {value}" for name, value in config.items()),
            str(dtype).split(".")[1],
        )
    )
    (line,) = compile_for_gpus(
        "rnncourse.ops.softmax_attention.kernel",
        kernel,
        types,
        constexprs,
        (capability[0] * 10 + capability[1],),
        options,
    )
    shared = int(line.split(", ")[1].split()[0])
    assert shared <= limit * 1024, f"{gpu}: {line}"


def test_package_works_without_triton():
    lines = run_without_triton("""
        import torch
        from rnncourse.ops import softmax_attention, last_path
        q = torch.rand(1, 2, 5, 16)
        o = softmax_attention(q, q, q, causal=True)
        print(last_path("softmax_attention"), tuple(o.shape))
        try:
            softmax_attention(q, q, q, impl="triton")
        except RuntimeError as err:
            print(err)
        """)
    path, error = lines
    assert path == "reference:sdpa (1, 2, 5, 16)"
    assert "needs the triton package" in error


BAD = {
    "q is 3-D": (dict(q=lambda x: x[0]), r"q must have shape \(B, H, T_q, D\)"),
    "k head size": (
        dict(k=lambda x: x[..., :-1]),
        r"k must have shape \(B, H, T_k, D\) = \(2, 3, T_k, 16\), "
        r"got \(2, 3, 4, 15\)",
    ),
    "broadcastable k": (dict(k=lambda x: x[:1]), r"k must have shape \(B, H, T_k, D\)"),
    "v length": (
        dict(v=lambda x: x[:, :, :-1]),
        r"v must have the shape of k, \(B, H, T_k, D\) = \(2, 3, 4, 16\), "
        r"got \(2, 3, 3, 16\)",
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
        dict(q=lambda x: x[:, :, :0]),
        r"empty sequence \(q of shape .*\): expected T_q >= 1",
    ),
    "empty keys": (
        dict(k=lambda x: x[:, :, :0], v=lambda x: x[:, :, :0]),
        r"empty sequence \(k of shape .*\): expected T_k >= 1",
    ),
    "causal lengths": (
        dict(k=lambda x: x[:, :, :3], v=lambda x: x[:, :, :3], causal=lambda x: True),
        "causal attention needs as many keys as queries, T_k = T_q = 4, got T_k = 3",
    ),
    "scale": (dict(scale=lambda x: -1.0), "scale must be a positive number or None"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(case):
    changes, message = BAD[case]
    q, k, v, _ = (x.float() for x in _inputs(2, 3, 4, 4, 16))
    args = dict(q=q, k=k, v=v, causal=False, scale=None)
    args.update({name: change(args[name]) for name, change in changes.items()})
    with pytest.raises(ValueError, match=message):
        softmax_attention(**args)


def test_unknown_impl_names_the_choices():
    q, k, v, _ = (x.float() for x in _inputs(1, 1, 4, 4, 16))
    with pytest.raises(
        ValueError, match=r"\['auto', 'triton', 'naive', 'tiled', 'sdpa'\]"
    ):
        softmax_attention(q, k, v, impl="flash")
