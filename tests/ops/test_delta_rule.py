"""delta_rule: every implementation against a float64 loop, in values and gradients.

The loop here is written apart from rnncourse/ops/delta_rule/reference.py, with the
K x K transition matrices of the definition spelled out,

    S_t = exp(g_t) (I - beta_t k_t k_t^T) S_(t-1) + beta_t k_t v_t^T,  o_t = S_t^T q_t,

and differentiated by autograd in float64. Each implementation runs on the same,
already rounded, inputs; outputs, final state and the gradients with respect to q,
k, v, beta, the log decays and the initial state (for random upstream gradients)
must stay within tests/ops/_compare.py's tolerance of the dtype computed in.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F

from rnncourse.measure import peak_memory
from rnncourse.ops import last_path
from rnncourse.ops.delta_rule import delta_rule

from ._compare import assert_close, relative_error
from ._device import DEVICE

IMPLS = ["recurrent", "chunk"]
STATE_DTYPE = {
    torch.float64: torch.float64,
    torch.float32: torch.float32,
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
}
NAMES = ("q", "k", "v", "beta", "log_decay", "S0")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors and many steps: one thread, not two taking turns on a busy CPU
    (ten times faster there); the setting is restored after this file."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _loop(q, k, v, beta, log_decay, S0):
    """The definition, one step at a time, with explicit K x K matrices."""
    B, H, T, K = q.shape
    eye = torch.eye(K, dtype=q.dtype, device=q.device)
    S = S0 if S0 is not None else q.new_zeros(B, H, K, v.shape[-1])
    outputs = []
    for t in range(T):
        k_t = k[:, :, t, :, None]  # (B, H, K, 1)
        b_t = beta[:, :, t, None, None]
        a_t = 1.0 if log_decay is None else torch.exp(log_decay[:, :, t, None, None])
        transition = a_t * (eye - b_t * (k_t @ k_t.mT))  # (B, H, K, K)
        S = transition @ S + b_t * (k_t @ v[:, :, t, None, :])
        outputs.append((S.mT @ q[:, :, t, :, None])[..., 0])
    return torch.stack(outputs, dim=2), S


def _inputs(B, H, T, K, V, dtype, decay=True, with_state=True, strong=False, seed=0):
    """q, k, v, beta, log_decay (or None), S_0 (or None), and the upstream gradients
    of o and S_T. Keys of unit norm (as the layer makes them), beta in (0, 1), log
    decays logsigmoid(N(3, 1)), mostly from -0.7 to -0.003, or with ``strong`` -8 at
    half the steps at random and a tenth of those elsewhere (strong decays with
    short gaps between)."""
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    q, k = draw(B, H, T, K, scale=K**-0.5), F.normalize(draw(B, H, T, K), dim=-1)
    v, do = draw(B, H, T, V), draw(B, H, T, V)
    beta = torch.sigmoid(draw(B, H, T, scale=2.0))
    log_decay = F.logsigmoid(draw(B, H, T) + 3) if decay else None
    if decay and strong:
        strong_step = torch.rand(B, H, T, generator=gen, dtype=torch.float64) < 0.5
        log_decay = torch.where(strong_step, -8.0, log_decay / 10)
    S0 = draw(B, H, K, V) if with_state else None
    dS = draw(B, H, K, V)
    state = STATE_DTYPE[dtype]
    return tuple(
        None if x is None else x.to(DEVICE, d)
        for x, d in zip(
            (q, k, v, beta, log_decay, S0, do, dS),
            (dtype, dtype, dtype, dtype, dtype, state, dtype, state),
        )
    )


def _forward_backward(fn, q, k, v, beta, log_decay, S0, do, dS):
    """(o, S_T) = fn(...) and the gradients of <do, o> + <dS, S_T> with respect to
    every tensor input given (None for one not given)."""
    args = [
        None if x is None else x.detach().requires_grad_()
        for x in (q, k, v, beta, log_decay, S0)
    ]
    o, S = fn(*args)
    leaves = [x for x in args if x is not None]
    grads = iter(torch.autograd.grad([o, S], leaves, [do, dS]))
    return (o, S), [None if x is None else next(grads) for x in args]


def _reference(*inputs):
    """The loop in float64 on the same, already rounded, inputs."""
    return _forward_backward(
        _loop, *(None if x is None else x.double() for x in inputs)
    )


def _call(impl, chunk_size=16):
    """delta_rule returning (o, S_T), with ``impl`` and ``chunk_size`` set."""
    return lambda *args: delta_rule(
        *args, output_final_state=True, impl=impl, chunk_size=chunk_size
    )


def _compare(impl, inputs, dtype, chunk_size=16):
    """Fails unless ``impl`` is within tolerance of the float64 loop; returns the
    relative errors of o, S_T and each gradient."""

    (o, S), grads = _forward_backward(_call(impl, chunk_size), *inputs)
    (o_ref, S_ref), grads_ref = _reference(*inputs)
    assert o.dtype == dtype and o.shape == o_ref.shape and S.dtype == STATE_DTYPE[dtype]
    errors = {
        "o": assert_close(o, o_ref, dtype, f"{impl} o"),
        "S_T": assert_close(S, S_ref, dtype, f"{impl} S_T"),
    }
    for name, x, g, g_ref in zip(NAMES, inputs, grads, grads_ref):
        if x is not None:
            assert g.dtype == x.dtype
            errors[f"d{name}"] = assert_close(g, g_ref, dtype, f"{impl} d{name}")
    return errors


CASES = [("recurrent", None), ("chunk", 16), ("chunk", 64)]


@pytest.mark.parametrize(
    "impl, chunk_size", CASES, ids=["recurrent", "chunk16", "chunk64"]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("decay", [True, False], ids=["gated", "plain"])
@pytest.mark.parametrize("T", [1, 63, 130])
def test_matches_float64_loop(impl, chunk_size, dtype, decay, T):
    """K != V; 63 and 130 steps end on a partial chunk of 16 and of 64 (and 63 is
    one chunk shorter than 64)."""
    inputs = _inputs(2, 2, T, 12, 10, dtype, decay=decay, seed=T)
    _compare(impl, inputs, dtype, chunk_size or 16)


@pytest.mark.parametrize("impl", IMPLS)
def test_without_initial_state(impl):
    inputs = _inputs(1, 3, 40, 8, 8, torch.float32, with_state=False)
    _compare(impl, inputs, torch.float32)


@pytest.mark.parametrize(
    "impl, chunk_size", CASES, ids=["recurrent", "chunk16", "chunk64"]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_strong_decay(impl, chunk_size, dtype):
    """Log decays of -8 at half the steps (-512 over a chunk of 64 if all were): no
    overflow, no NaN, in values or gradients, and still within tolerance; then
    -8 at every step."""
    inputs = _inputs(2, 2, 130, 12, 10, dtype, strong=True, seed=7)
    _compare(impl, inputs, dtype, chunk_size or 16)
    q, k, v, beta, log_decay, S0, do, dS = inputs
    everywhere = torch.full_like(log_decay, -8.0)
    _compare(impl, (q, k, v, beta, everywhere, S0, do, dS), dtype, chunk_size or 16)


@pytest.mark.parametrize("impl", IMPLS)
def test_keys_are_not_normalised(impl):
    """The op takes the keys as given: norms from 0.3 to 1.3 match the loop, and
    differ from what unit keys give."""
    q, k, v, beta, log_decay, S0, do, dS = _inputs(2, 2, 63, 8, 6, torch.float32)
    norms = torch.linspace(0.3, 1.3, 63, device=DEVICE)[:, None]
    scaled = (q, k * norms, v, beta, log_decay, S0, do, dS)
    _compare(impl, scaled, torch.float32)
    o_unit = delta_rule(q, k, v, beta, log_decay, S0, impl=impl)
    o_scaled = delta_rule(q, k * norms, v, beta, log_decay, S0, impl=impl)
    assert relative_error(o_scaled, o_unit) > 1e-2


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 64, 200])
def test_forms_agree_in_float64(chunk_size):
    """The chunkwise form is exact: in float64 it equals the loop to rounding, for
    any chunk size (1 step, 7 not dividing 130, longer than the sequence)."""
    inputs = _inputs(2, 2, 130, 12, 10, torch.float64, strong=chunk_size == 7)
    _compare("chunk", inputs, torch.float64, chunk_size)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("decay", [True, False], ids=["gated", "plain"])
def test_two_pieces_equal_one_pass(impl, decay):
    """Carrying the state: the output and final state of one pass, from pieces of 57
    and 73 steps, neither a multiple of the chunk."""
    q, k, v, beta, g, S0, _, _ = _inputs(2, 2, 130, 8, 6, torch.float64, decay=decay)
    run = _call(impl)
    o, S = run(q, k, v, beta, g, S0)
    first, second = slice(0, 57), slice(57, None)

    def piece(x, part):
        return None if x is None else x[:, :, part]

    o1, S1 = run(*(piece(x, first) for x in (q, k, v, beta, g)), S0)
    o2, S2 = run(*(piece(x, second) for x in (q, k, v, beta, g)), S1)
    assert relative_error(torch.cat([o1, o2], dim=2), o) < 1e-12
    assert relative_error(S2, S) < 1e-12


@pytest.mark.parametrize("impl", IMPLS)
def test_each_step_is_gradient_descent_on_the_regression_loss(impl):
    """S_t = S' - beta_t grad L(S') with S' = exp(g_t) S_(t-1) and
    L(S) = 1/2 ||S^T k_t - v_t||^2: online regression from keys to values."""
    q, k, v, beta, g, S0, _, _ = _inputs(1, 2, 20, 6, 5, torch.float64)
    _, S_op = _call(impl, chunk_size=8)(q, k, v, beta, g, S0)
    S = S0
    for t in range(20):
        decayed = (torch.exp(g[:, :, t, None, None]) * S).requires_grad_()
        recalled = (decayed.mT @ k[:, :, t, :, None])[..., 0]
        loss = 0.5 * ((recalled - v[:, :, t]) ** 2).sum()
        (grad,) = torch.autograd.grad(loss, decayed)
        step = (x[:, :, t : t + 1] for x in (q, k, v, beta, g))
        _, S_op_step = _call(impl)(*step, S)
        S = decayed.detach() - beta[:, :, t, None, None] * grad
        assert relative_error(S_op_step, S) < 1e-12
    assert relative_error(S_op, S) < 1e-12


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path")
def test_last_path_reports_the_implementation():
    q, k, v, beta, g, _, _, _ = _inputs(1, 1, 8, 2, 2, torch.float32)
    delta_rule(q, k, v, beta)
    assert last_path("delta_rule") == "reference:chunk"
    delta_rule(q, k, v, beta, g, impl="recurrent")
    assert last_path("delta_rule") == "reference:recurrent"
    delta_rule(q, k, v, beta, g, impl="chunk")
    assert last_path("delta_rule") == "reference:chunk"


def test_unknown_impl_names_the_choices():
    q, k, v, beta, _, _, _, _ = _inputs(1, 1, 4, 3, 3, torch.float32)
    for impl in ("fast", "triton"):
        with pytest.raises(
            ValueError, match=r"\['auto', 'recurrent', 'chunk'\] .*no Triton"
        ):
            delta_rule(q, k, v, beta, impl=impl)


def test_output_dtype_and_final_state():
    q, k, v, beta, g, _, _, _ = _inputs(2, 3, 20, 4, 5, torch.float16)
    o = delta_rule(q, k, v, beta, g)
    o2, S = delta_rule(q, k, v, beta, g, output_final_state=True)
    assert o.dtype == torch.float16 and o.shape == (2, 3, 20, 5)
    assert S.dtype == torch.float32 and S.shape == (2, 3, 4, 5)
    assert torch.equal(o, o2)
    # beta and the log decays may also come in float32 with half-precision inputs
    o3 = delta_rule(q, k, v, beta.float(), g.float())
    assert relative_error(o3, o) < 1e-3


@pytest.mark.skipif(DEVICE != "cpu", reason="counts CPU allocations")
def test_chunk_form_allocates_nothing_quadratic_in_T():
    """No T x T matrix and no (T, K, V) tensor of states: with chunks of 16, the
    largest single allocation is of the size of an input (T x 16 numbers per head)
    and grows with T, not T^2, as does the peak. One (T, K, V) tensor of states would
    be 16 times an input at K = V = 16; a T x T matrix 16 times at T = 256, 64 times
    at T = 1024."""
    B, H, K, V, C = 1, 2, 16, 16, 16
    used = {}
    for T in (256, 1024):
        q, k, v, beta, g, _, _, _ = _inputs(B, H, T, K, V, torch.float32)
        with torch.no_grad():
            _, used[T] = peak_memory(
                lambda: delta_rule(q, k, v, beta, g, impl="chunk", chunk_size=C)
            )
        one_input = B * H * T * K * 4
        assert used[T].largest <= one_input, used[T]
        assert 16 * used[T].largest <= min(B * H * T * K * V, B * H * T * T) * 4
    assert used[1024].largest <= 4 * used[256].largest
    assert used[1024].peak <= 4.5 * used[256].peak, used


def _fla(module: str):
    """Import one of fla's naive references (pip install fla-core), or skip."""
    try:
        with warnings.catch_warnings():  # fla warns that Triton cannot run on a CPU
            warnings.simplefilter("ignore")
            return __import__(module, fromlist=["_"])
    except Exception as err:  # ImportError, or a Triton problem at import
        pytest.skip(f"fla is not importable ({err!r}); pip install --no-deps fla-core")


@pytest.mark.parametrize("chunk_size", [16, 64])
def test_matches_fla_gated_naive_references(chunk_size):
    """fla-core's naive_recurrent_gated_delta_rule and naive_chunk_gated_delta_rule
    (Yang et al.'s own PyTorch references): (B, T, H, K) layout, float32, scale 1
    passed explicitly (theirs defaults to K^-1/2)."""
    naive = _fla("fla.ops.gated_delta_rule.naive")
    q, k, v, beta, g, S0, _, _ = _inputs(2, 3, 130, 16, 12, torch.float32, seed=3)
    o, S = delta_rule(
        q, k, v, beta, g, S0, output_final_state=True, chunk_size=chunk_size
    )
    o_rec, S_rec = delta_rule(
        q, k, v, beta, g, S0, output_final_state=True, impl="recurrent"
    )
    q_, k_, v_, beta_, g_ = (x.transpose(1, 2) for x in (q, k, v, beta, g))
    o_fla, S_fla = naive.naive_recurrent_gated_delta_rule(
        q_, k_, v_, beta_, g_, scale=1.0, initial_state=S0, output_final_state=True
    )
    # fmt: skip
    o_fla_chunk, S_fla_chunk = naive.naive_chunk_gated_delta_rule(
        q_,
        k_,
        v_,
        g_,
        beta_,
        chunk_size=chunk_size,
        scale=1.0,
        initial_state=S0,
        output_final_state=True,
    )
    for mine in (o, o_rec):
        assert relative_error(mine, o_fla.transpose(1, 2)) < 1e-5
        assert relative_error(mine, o_fla_chunk.transpose(1, 2)) < 1e-5
    for mine in (S, S_rec):
        assert relative_error(mine, S_fla) < 1e-5
        assert relative_error(mine, S_fla_chunk) < 1e-5


def test_matches_fla_delta_rule_naive_references():
    """fla-core's delta_rule_recurrence (float32) and delta_rule_chunkwise (here in
    float64, T a multiple of its chunk, no initial state): DeltaNet without a decay,
    (B, H, T, K) layout, queries scaled by K^-1/2 inside, so ours gets q K^-1/2."""
    naive = _fla("fla.ops.delta_rule.naive")
    K = 16
    q, k, v, beta, _, S0, _, _ = _inputs(2, 3, 128, K, 12, torch.float64, decay=False)
    scaled = q * K**-0.5
    o, S = delta_rule(scaled, k, v, beta, None, S0, output_final_state=True)
    o_fla, S_fla = naive.delta_rule_recurrence(
        q.float(), k.float(), v.float(), beta.float(), S0.float(), True
    )
    assert relative_error(o_fla, o) < 1e-5 and relative_error(S_fla, S) < 1e-5
    o, S = delta_rule(scaled, k, v, beta, output_final_state=True, chunk_size=64)
    o_fla, S_fla = naive.delta_rule_chunkwise(q, k, v, beta, chunk_size=32)
    assert relative_error(o_fla, o) < 1e-12 and relative_error(S_fla, S) < 1e-12


def test_registered_in_the_benchmark_harness():
    from benchmarks.registry import all_ops

    op = all_ops()["delta_rule"]
    assert op.kernels == set() and set(op.impls) == {"recurrent", "chunk"}
    size = dict(B=1, H=2, T=70, K=8, V=6)
    inputs = op.inputs(size, torch.float32, "cpu")
    expected = op.reference(*(x.detach().double() for x in inputs))
    for name in ("recurrent", "chunk"):
        assert relative_error(op.impls[name](*inputs), expected) < 1e-5
    assert op.flops(size, "backward") == 2 * op.flops(size, "forward") > 0


BAD = {
    "q is 3-D": (dict(q=lambda x: x[0]), r"q must have shape \(B, H, T, K\)"),
    "k shape": (
        dict(k=lambda x: x[..., :-1]),
        r"k must have the shape of q, \(B, H, T, K\) = \(2, 3, 4, 5\), got",
    ),
    "broadcastable k": (dict(k=lambda x: x[:1]), "k must have the shape of q"),
    "v time": (
        dict(v=lambda x: x[:, :, :-1]),
        r"v must have shape \(B, H, T, V\) = \(2, 3, 4, V\), got \(2, 3, 3, 6\)",
    ),
    "beta with a trailing 1": (
        dict(beta=lambda x: x[..., None]),
        r"beta must have shape \(B, H, T\) = \(2, 3, 4\), .* got \(2, 3, 4, 1\)",
    ),
    "broadcastable beta": (
        dict(beta=lambda x: x[:1]),
        r"beta must have shape \(B, H, T\) = \(2, 3, 4\)",
    ),
    "a decay per head": (
        dict(log_decay=lambda x: x[0, :, 0]),
        r"log_decay must have shape \(B, H, T\) = \(2, 3, 4\), .* got \(3,\)",
    ),
    "v dtype": (
        dict(v=lambda x: x.double()),
        "v must have the dtype of q, torch.float32, got torch.float64",
    ),
    "beta dtype": (
        dict(beta=lambda x: x.double()),
        r"beta must have the dtype of q .* \['torch.float32'\], got torch.float64",
    ),
    "log_decay dtype": (
        dict(log_decay=lambda x: x.half()),
        "log_decay must have the dtype of q .* got torch.float16",
    ),
    "v device": (dict(v=lambda x: x.to("meta")), "v must be on the device of q"),
    "beta device": (
        dict(beta=lambda x: x.to("meta")),
        "beta must be on the device of q",
    ),
    "state device": (
        dict(initial_state=lambda x: x.to("meta")),
        "initial_state must be on the device of q",
    ),
    "integers": (
        dict(q=lambda x: x.long(), k=lambda x: x.long(), v=lambda x: x.long()),
        "floating-point tensors, got torch.int64",
    ),
    "empty sequence": (
        {
            name: (lambda x: x[:, :, :0])
            for name in ("q", "k", "v", "beta", "log_decay")
        },
        "empty sequence .* expected T >= 1",
    ),
    "beta above 1": (
        dict(beta=lambda x: x + 1),
        r"beta .* must lie in \[0, 1\], got values from",
    ),
    "beta below 0": (dict(beta=lambda x: -x), r"beta .* must lie in \[0, 1\]"),
    "beta NaN": (
        dict(beta=lambda x: torch.full_like(x, float("nan"))),
        r"beta .* must lie in \[0, 1\]",
    ),
    "growth": (
        dict(log_decay=lambda x: -x),
        "log_decay .* must be <= 0 .* got a largest value of",
    ),
    "state shape": (
        dict(initial_state=lambda x: x[..., :-1]),
        r"initial_state must have shape \(B, H, K, V\) = \(2, 3, 5, 6\), "
        r"got \(2, 3, 5, 5\)",
    ),
    "state dtype": (
        dict(initial_state=lambda x: x.half()),
        "initial_state must have dtype torch.float32",
    ),
    "chunk size 0": (
        dict(chunk_size=lambda x: 0),
        "chunk_size must be a positive int, got 0",
    ),
    "chunk size 2.5": (
        dict(chunk_size=lambda x: 2.5),
        "chunk_size must be a positive int, got 2.5",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(case):
    changes, message = BAD[case]
    q, k, v, beta, g, S0, _, _ = _inputs(2, 3, 4, 5, 6, torch.float32)
    args = dict(q=q, k=k, v=v, beta=beta, log_decay=g, initial_state=S0, chunk_size=16)
    args.update({name: change(args[name]) for name, change in changes.items()})
    with pytest.raises(ValueError, match=message):
        delta_rule(**args)


def test_a_non_tensor_is_a_type_error():
    q, k, v, beta, _, _, _, _ = _inputs(1, 1, 4, 3, 3, torch.float32)
    with pytest.raises(TypeError, match="beta must be a torch.Tensor, got float"):
        delta_rule(q, k, v, 0.5)
