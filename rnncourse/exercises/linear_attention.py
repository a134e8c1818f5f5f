"""Checkers for chapter 7 (linear attention, RetNet and RWKV): the recurrent form of
causal linear attention with a decay, one chunk of the chunkwise form, and one stable
step of RWKV-4's WKV.

Each ``check_<name>(student_fn)`` runs the student's function against the reference and
names the usual mistakes: the decay applied at the wrong step, the current token counted
twice or not at all, the running maximum not used. Beyond the small cases:

- the ranges real use reaches: long sequences with a decay near 1, float32 inputs on
  which powers gamma^-t overflow, keys of size 100 (float32) and 1000 (float64), on
  which e^k overflows without WKV's running maximum;
- the point of exercise 2: one chunk in matrix form, a few operations whatever its
  length, not a loop over its tokens (:class:`Dataflow` counts the operations that
  read the inputs);
- the package's own forms (``rnncourse.ops.linear_attention``, ``rnncourse.ops.wkv4``)
  and the checker's references are off limits while the student's function runs.
"""

from __future__ import annotations

import torch

from rnncourse.exercises.checker import (
    Case,
    Dataflow,
    Group,
    Guard,
    Mistake,
    Output,
    check_in_groups,
    comparing,
    fail,
    fresh_copies,
    kind_of,
    randn64,
    require_function,
)

# --- Exercise 1: the recurrent form of causal linear attention ---------------


def recurrent_reference(q, k, v, gamma):
    """q, k (T, K), v (T, V), gamma a float in (0, 1] -> o (T, V):
    S_t = gamma S_(t-1) + k_t v_t^T (S_0 = 0), o_t = S_t^T q_t."""
    S = torch.zeros(k.shape[1], v.shape[1], dtype=q.dtype)
    outputs = []
    for q_t, k_t, v_t in zip(q, k, v):
        S = gamma * S + torch.outer(k_t, v_t)
        outputs.append(S.T @ q_t)
    return torch.stack(outputs)


def _recurrent(q, k, v, gamma, update, read):
    S = torch.zeros(k.shape[1], v.shape[1], dtype=q.dtype)
    outputs = []
    for q_t, k_t, v_t in zip(q, k, v):
        S, o = read(S, q_t, k_t, v_t, gamma, update)
        outputs.append(o)
    return torch.stack(outputs)


def _write_then_read(S, q_t, k_t, v_t, gamma, update):
    S = update(S, k_t, v_t, gamma)
    return S, S.T @ q_t


def _read_then_write(S, q_t, k_t, v_t, gamma, update):
    return update(S, k_t, v_t, gamma), S.T @ q_t


def _good_update(S, k_t, v_t, gamma):
    return gamma * S + torch.outer(k_t, v_t)


RECURRENT_MISTAKES = [
    Mistake(
        lambda q, k, v, gamma: _recurrent(
            q,
            k,
            v,
            gamma,
            lambda S, k_t, v_t, g: g * (S + torch.outer(k_t, v_t)),
            _write_then_read,
        ),
        "the decay is applied at the wrong step: the current token enters undecayed, "
        "S_t = gamma S_(t-1) + k_t v_t^T, not gamma (S_(t-1) + k_t v_t^T)",
    ),
    Mistake(
        lambda q, k, v, gamma: _recurrent(
            q, k, v, gamma, _good_update, _read_then_write
        ),
        "the current token is not counted: read o_t = S_t^T q_t after adding k_t v_t^T "
        "to the state, not before",
    ),
    Mistake(
        lambda q, k, v, gamma: (
            recurrent_reference(q, k, v, gamma) + (q * k).sum(1, keepdim=True) * v
        ),
        "the current token is counted twice: S_t already holds k_t v_t^T, so o_t = "
        "S_t^T q_t needs no extra (q_t . k_t) v_t",
    ),
    Mistake(
        lambda q, k, v, gamma: recurrent_reference(q, k, v, 1.0),
        "the decay is missing: multiply the old state by gamma before adding k_t v_t^T",
    ),
    Mistake(
        lambda q, k, v, gamma: (
            recurrent_reference(q, k, v, gamma)
            / (q * torch.cumsum(k, 0)).sum(1, keepdim=True)
        ),
        "you divided by the normaliser q_t . sum_s k_s: this exercise asks for the sum "
        "alone, without normalising",
    ),
]


def _attention_args(
    T: int, K: int, V: int, gamma: float, seed: int, dtype=torch.float64
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    q, k, v = randn64(g, T, K), randn64(g, T, K), randn64(g, T, V)
    return q.to(dtype), k.to(dtype), v.to(dtype), gamma


#: The package's linear attention in every form, which would do exercises 1 and 2 for
#: the student, and the checker's own references (the helpers of its mistakes with
#: their default arguments among them).
LINEAR_ATTENTION_SHORTCUTS = [
    "rnncourse.ops.linear_attention.linear_attention",
    "rnncourse.ops.linear_attention.reference.linear_attention_parallel",
    "rnncourse.ops.linear_attention.reference.linear_attention_recurrent",
    "rnncourse.ops.linear_attention.reference.linear_attention_chunk",
    "rnncourse.ops.linear_attention.reference._chunks",
    "rnncourse.ops.linear_attention.kernel.linear_attention_triton",
    "rnncourse.exercises.linear_attention.recurrent_reference",
    "rnncourse.exercises.linear_attention._recurrent",
    "rnncourse.exercises.linear_attention.chunk_reference",
    "rnncourse.exercises.linear_attention._chunk",
]


def check_linear_attention_recurrent(fn) -> None:
    """Check ``linear_attention_recurrent(q, k, v, gamma) -> o`` against the
    reference.

    Accepted: the state loop in any order of operations (torch.outer or a broadcast
    product, S.T @ q_t or q_t @ S), or the parallel form ((Q K^T) * D) V with
    D_ts = gamma^(t - s) below the diagonal; float32 as well as float64. Rejected,
    beyond the usual mistakes: powers gamma^-s that overflow float32 on a long
    sequence (as in D_ts = gamma^t / gamma^s), and a sum cut short (a window), which a
    decay of 0.999 over 400 steps shows."""
    sizes = [
        (7, 3, 4, 0.9),
        (1, 2, 2, 0.5),
        (12, 4, 3, 1.0),
        (400, 3, 5, 0.999),
    ]
    cases = [
        Case(
            _attention_args(T, K, V, gamma, 90 + i),
            f"(for T={T}, K={K}, V={V}, gamma={gamma})",
        )
        for i, (T, K, V, gamma) in enumerate(sizes)
    ]
    overflow = [
        Case(
            _attention_args(200, 4, 3, 0.6, 95, torch.float32),
            "(in float32, for T=200, K=4, V=3 and gamma=0.6, where gamma^-t "
            "overflows float32 from t = 174 on: use only powers gamma^(t - s) with "
            "t >= s, or carry the state)",
            grad=False,
        )
    ]
    check_in_groups(
        "linear_attention_recurrent",
        fn,
        recurrent_reference,
        [Group(cases), Group(overflow, rtol=1e-4, atol=1e-4)],
        [Output("o", ("step", "value channel"))],
        RECURRENT_MISTAKES,
        forbidden=LINEAR_ATTENTION_SHORTCUTS,
    )


# --- Exercise 2: one chunk of the chunkwise form -----------------------------


def chunk_reference(q, k, v, S, gamma):
    """One chunk of C steps: q, k (C, K), v (C, V), S (K, V) the state before the chunk,
    gamma a float -> (o (C, V), the state after the chunk (K, V))."""
    C = q.shape[0]
    i = torch.arange(C, dtype=q.dtype)
    distance = i[:, None] - i[None, :]
    # gamma^(i-j) for j <= i
    D = torch.where(distance >= 0, gamma ** distance.clamp(min=0), 0.0)
    # inside the chunk, then from before it
    o = ((q @ k.T) * D) @ v + (gamma ** (i + 1.0))[:, None] * (q @ S)
    S_after = gamma**C * S + (k * (gamma ** (C - 1.0 - i))[:, None]).T @ v
    return o, S_after


def _chunk(
    q,
    k,
    v,
    S,
    gamma,
    mask=lambda d: d >= 0,
    cross_shift=1.0,
    old_power=0,
    key_shift=0.0,
    decay_old=True,
):
    C = q.shape[0]
    i = torch.arange(C, dtype=q.dtype)
    distance = i[:, None] - i[None, :]
    D = torch.where(mask(distance), gamma ** distance.abs(), 0.0)
    o = ((q @ k.T) * D) @ v + (gamma ** (i + cross_shift))[:, None] * (q @ S)
    old = gamma ** (C + old_power) if decay_old else 1.0
    S_after = old * S + (k * (gamma ** (C - 1.0 - i + key_shift))[:, None]).T @ v
    return o, S_after


CHUNK_MISTAKES = [
    Mistake(
        lambda q, k, v, S, gamma: _chunk(q, k, v, S, gamma, cross_shift=0.0),
        "the state from before the chunk is decayed one step too little: row i is i + "
        "1 steps after it, gamma^(i+1)",
    ),
    Mistake(
        lambda q, k, v, S, gamma: _chunk(q, k, v, S, gamma, mask=lambda d: d > 0),
        "the current token is not counted: the mask must keep the diagonal, j <= i",
    ),
    Mistake(
        lambda q, k, v, S, gamma: _chunk(q, k, v, S, gamma, mask=lambda d: d == d),
        "later tokens leak into earlier outputs: mask the upper triangle, keeping only "
        "j <= i",
    ),
    Mistake(
        lambda q, k, v, S, gamma: _chunk(q, k, v, S, gamma, decay_old=False),
        "the old state is not decayed: the state after the chunk is gamma^C S plus the "
        "chunk's own keys and values",
    ),
    Mistake(
        lambda q, k, v, S, gamma: _chunk(q, k, v, S, gamma, key_shift=1.0),
        "the chunk's keys are decayed one step too much: key j is C - 1 - j steps "
        "before the chunk's end",
    ),
    Mistake(
        lambda q, k, v, S, gamma: _chunk(q, k, v, S, gamma, old_power=-1),
        "the old state is decayed one step too little: the chunk has C steps, so it "
        "shrinks by gamma^C",
    ),
]


def _chunk_args(
    C: int, K: int, V: int, gamma: float, seed: int, dtype=torch.float64
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    tensors = (randn64(g, C, K), randn64(g, C, K), randn64(g, C, V), randn64(g, K, V))
    return (*(t.to(dtype) for t in tensors), gamma)


def _chunk_operations(fn, guard: Guard, C: int) -> int:
    """How many operators read q, k, v or S (or what was computed from them) in one
    call on a chunk of C tokens."""
    args = fresh_copies(_chunk_args(C, 3, 2, 0.9, 105))
    with torch.no_grad(), Dataflow(q=args[0], k=args[1], v=args[2], S=args[3]) as flow:
        guard.call(args, f"(for a chunk of C={C}, K=3, V=2, gamma=0.9)")
    return flow.ops


def check_linear_attention_chunk(fn) -> None:
    """Check ``linear_attention_chunk(q, k, v, S, gamma) -> (o, S_after)`` against the
    reference.

    Accepted: the matrix form in any arrangement (D by torch.where, torch.tril or a
    mask; the decays as vectors of powers or as diagonal matrices; einsum or @), float32
    as well as float64. The chunk must be computed in matrix form: the operators that
    read q, k, v and S may not grow with the chunk's length (building D or the powers
    of gamma with a loop is fine, a loop over the chunk's tokens is not). Rejected too:
    powers gamma^-j that overflow float32 in a chunk of 64 (as in D_ij = gamma^i /
    gamma^j, or gamma^(i - j) times a mask)."""
    sizes = [
        (6, 3, 4, 0.8),
        (1, 2, 3, 0.6),
        (9, 4, 2, 0.95),
        (24, 3, 2, 1.0),
        (5, 1, 1, 0.3),
    ]
    cases = [
        Case(
            _chunk_args(C, K, V, gamma, 100 + i),
            f"(for a chunk of C={C}, K={K}, V={V}, gamma={gamma})",
        )
        for i, (C, K, V, gamma) in enumerate(sizes)
    ]
    overflow = [
        Case(
            _chunk_args(64, 4, 3, 0.2, 106, torch.float32),
            "(in float32, for a chunk of C=64, K=4, V=3 and gamma=0.2, where "
            "gamma^-j overflows float32 from j = 56 on: compute only powers "
            "gamma^(i - j) with j <= i, as torch.where(i >= j, gamma ** (i - "
            "j).clamp(min=0), 0))",
            grad=False,
        )
    ]
    check_in_groups(
        "linear_attention_chunk",
        fn,
        chunk_reference,
        [Group(cases), Group(overflow, rtol=1e-4, atol=1e-4)],
        [
            Output("o", ("row", "value channel")),
            Output("S_after", ("key channel", "value channel")),
        ],
        CHUNK_MISTAKES,
        forbidden=LINEAR_ATTENTION_SHORTCUTS,
        quiet=True,
    )
    with Guard(
        "linear_attention_chunk", fn, forbidden=LINEAR_ATTENTION_SHORTCUTS
    ) as guard:
        short, long = (_chunk_operations(fn, guard, C) for C in (4, 24))
    if long - short >= 10:
        fail(
            "linear_attention_chunk",
            "the values are right, but your function works through the chunk one "
            f"token at a time ({short} operations on q, k, v and S for a chunk of 4 "
            f"tokens, {long} for 24): the chunkwise form computes the whole chunk at "
            "once with matrix products, O = ((Q K^T) * D) V + gamma^(i+1) Q S and S' = "
            "gamma^C S + (K * gamma^(C-1-j))^T V, the same few operations whatever C "
            "is",
        )
    print(
        f"\u2705 linear_attention_chunk: correct on all {len(cases) + len(overflow)} "
        "test cases, in matrix form."
    )


# --- Exercise 3: the stable WKV update ---------------------------------------


def wkv_step_reference(a, b, p, k, v, w, u):
    """One token of RWKV-4's WKV, all (C,): the state (a, b, p) with N = a e^p and
    D = b e^p, the token's k and v, the decay w > 0 and bonus u -> (wkv, a', b', p')."""
    q = torch.maximum(p, u + k)
    e_state, e_token = torch.exp(p - q), torch.exp(u + k - q)
    # (N + e^(u+k) v) / (D + e^(u+k))
    wkv = (e_state * a + e_token * v) / (e_state * b + e_token)
    q = torch.maximum(p - w, k)
    e_state, e_token = torch.exp(p - w - q), torch.exp(k - q)
    # N' = e^(-w) N + e^k v, p' = max(p - w, k)
    return (
        wkv,
        e_state * a + e_token * v,
        e_state * b + e_token,
        q,
    )


def _step(
    a, b, p, k, v, w, u, bonus_out=True, bonus_in=False, decay_out=False, decay_in=True
):
    q = torch.maximum(p - (w if decay_out else 0), u * bonus_out + k)
    e_state, e_token = (
        torch.exp(p - (w if decay_out else 0) - q),
        torch.exp(u * bonus_out + k - q),
    )
    wkv = (e_state * a + e_token * v) / (e_state * b + e_token)
    shift = w if decay_in else 0
    q = torch.maximum(p - shift, u * bonus_in + k)
    e_state, e_token = torch.exp(p - shift - q), torch.exp(u * bonus_in + k - q)
    return wkv, e_state * a + e_token * v, e_state * b + e_token, q


def _counted_twice(a, b, p, k, v, w, u):
    # the state already holding the token
    _, a2, b2, p2 = wkv_step_reference(a, b, p, k, v, w, u)
    q = torch.maximum(p2, u + k)
    e_state, e_token = torch.exp(p2 - q), torch.exp(u + k - q)
    wkv = (e_state * a2 + e_token * v) / (e_state * b2 + e_token)
    return wkv, a2, b2, p2


WKV_MISTAKES = [
    Mistake(
        lambda *args: _step(*args, bonus_out=False),
        "the bonus u is missing from the output: the current token enters wkv with "
        "weight e^(u + k)",
    ),
    Mistake(
        lambda *args: _step(*args, bonus_in=True),
        "the bonus u went into the state: it weights the current token in the output "
        "only, the state adds e^k v",
    ),
    Mistake(
        lambda *args: _step(*args, decay_out=True),
        "the decay is applied at the wrong step: the output uses the state as it is, N "
        "+ e^(u+k) v; e^(-w) acts when the state is updated",
    ),
    Mistake(
        lambda *args: _step(*args, decay_in=False),
        "the state is not decayed: N' = e^(-w) N + e^k v, so the old state's exponent "
        "drops by w",
    ),
    Mistake(
        _counted_twice,
        "the current token is counted twice: the output reads the state before the "
        "token is added to it, plus e^(u+k) v",
    ),
]


def _wkv_args(
    C: int, k_scale: float, seed: int, first: bool = False, dtype=torch.float64
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    k = randn64(g, C, scale=k_scale)
    if first:  # the first token: nothing seen yet
        a, b, p = (
            torch.zeros(C, dtype=torch.float64),
            torch.zeros(C, dtype=torch.float64),
            torch.full((C,), float("-inf"), dtype=torch.float64),
        )
    else:
        a, b = randn64(g, C), torch.rand(C, generator=g, dtype=torch.float64) + 0.5
        p = randn64(g, C, scale=k_scale)
    w = torch.rand(C, generator=g, dtype=torch.float64) + 0.1
    return tuple(x.to(dtype) for x in (a, b, p, k, randn64(g, C), w, randn64(g, C)))


#: What would do exercise 3 for the student: the package's WKV in every form, and the
#: checker's reference (and the helper of its mistakes, right with its defaults).
WKV_SHORTCUTS = [
    "rnncourse.ops.wkv4.wkv4",
    "rnncourse.ops.wkv4.reference.wkv4_loop",
    "rnncourse.ops.wkv4.reference.wkv4_naive",
    "rnncourse.ops.wkv4.reference.wkv4_parallel",
    "rnncourse.ops.wkv4.kernel.wkv4_triton",
    "rnncourse.exercises.linear_attention.wkv_step_reference",
    "rnncourse.exercises.linear_attention._step",
]

_WKV_NAMES = ("wkv", "a", "b", "p")


def _invariants(result: tuple, p_ref: torch.Tensor) -> tuple:
    """(wkv, N, D) in float64, N = a e^p and D = b e^p taken relative to the reference's
    exponent: the same whatever common scale (a e^c, b e^c, p - c) the state uses."""
    wkv, a, b, p = result
    scale = torch.exp(p.double() - p_ref)
    return wkv.double(), a.double() * scale, b.double() * scale


def _wkv_structure(result, args: tuple, where: str) -> tuple:
    """The four returned tensors, or the sentence that says why not."""
    if result is None:
        fail(
            "wkv_step",
            f"your function returned None {where}: end it with return wkv, a, b, p",
        )
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        got = len(result) if isinstance(result, (tuple, list)) else kind_of(result)
        fail(
            "wkv_step",
            f"expected 4 return values (wkv, a, b and p), got {got} {where}",
        )
    k = args[3]
    for name, x in zip(_WKV_NAMES, result):
        if not isinstance(x, torch.Tensor):
            fail(
                "wkv_step", f"{name} should be a torch.Tensor, got {kind_of(x)} {where}"
            )
        if x.device != k.device:
            fail(
                "wkv_step",
                f"{name} is on the device {x.device} but should be on {k.device}, like "
                f"the inputs {where}",
            )
        if x.shape != k.shape:
            fail(
                "wkv_step",
                f"{name} has shape {tuple(x.shape)} but should have shape "
                f"{tuple(k.shape)}, one number per channel {where}",
            )
        if x.dtype != k.dtype:
            fail(
                "wkv_step",
                f"{name} has dtype {x.dtype} but should have {k.dtype} like the inputs "
                f"{where}",
            )
    return tuple(result)


def _compare_wkv(result, case: Case, rtol: float, atol: float, large: bool) -> None:
    """Compare one step's wkv and the state it leaves, N = a e^p and D = b e^p, with
    the reference's (computed in float64); name a usual mistake or say what differs."""
    where = case.description
    got = _wkv_structure(result, case.args, where)
    wide = tuple(x.double() for x in case.args)
    expected = wkv_step_reference(*wide)
    p_ref = expected[3]
    finite = all(torch.isfinite(x).all() for x in got)
    if not finite:
        if large:
            fail(
                "wkv_step",
                f"your result holds inf or NaN {where}: the running maximum is not "
                "used, and e^k overflows; subtract q = max(p, u + k) before every "
                "exponential and keep p' = max(p - w, k)",
            )
        name = next(n for n, x in zip(_WKV_NAMES, got) if not torch.isfinite(x).all())
        fail("wkv_step", f"{name} contains NaN or infinity {where}")
    mine, right = _invariants(got, p_ref), _invariants(expected, p_ref)

    def close(x, y):
        return torch.isclose(x, y, rtol=rtol, atol=atol * (1 + y.abs().max()))

    if all(close(x, y).all() for x, y in zip(mine, right)):
        return
    for mistake in WKV_MISTAKES:
        try:
            theirs = _invariants(mistake.fn(*fresh_copies(wide)), p_ref)
        except Exception:  # a mistake that cannot run here explains nothing
            continue
        if all(close(x, y).all() for x, y in zip(mine, theirs)):
            fail("wkv_step", mistake.message)
    wrong = ~close(mine[0], right[0])
    if wrong.any():
        c = int(wrong.nonzero()[0, 0])
        fail(
            "wkv_step",
            f"wkv is wrong at channel {c} {where}: got {mine[0][c].item():.6g}, "
            f"expected {right[0][c].item():.6g}",
        )
    label, index = next(
        (label, i)
        for label, i in (
            ("a e^p (the numerator N')", 1),
            ("b e^p (the denominator D')", 2),
        )
        if not close(mine[i], right[i]).all()
    )
    c = int((~close(mine[index], right[index])).nonzero()[0, 0])
    fail(
        "wkv_step",
        f"wkv is right but the state after the token is wrong at channel {c} {where}: "
        f"{label} is {mine[index][c].item():.6g} e^q, expected "
        f"{right[index][c].item():.6g} e^q, q = max(p - w, k); a, b and p may share "
        "any scale (a e^c, b e^c, p - c), but N' = a e^p = e^(-w) N + e^k v and D' = "
        "b e^p = e^(-w) D + e^k are fixed",
    )


def _wkv_gradients(guard: Guard, case: Case) -> None:
    """Backpropagate one random weighting of wkv, a e^p and b e^p through both."""
    leaves_s = fresh_copies(case.args, grad=True)
    leaves_r = fresh_copies(case.args, grad=True)
    result = guard.call(tuple(x.clone() for x in leaves_s), case.description)
    expected = wkv_step_reference(*leaves_r)
    p_ref = expected[3].detach().double()
    g = torch.Generator().manual_seed(0)
    weights = [
        torch.randn(case.args[3].shape, generator=g, dtype=torch.float64)
        for _ in range(3)
    ]
    sum((x * w).sum() for x, w in zip(_invariants(expected, p_ref), weights)).backward()
    with comparing("wkv_step", case.description):
        mine = _invariants(tuple(result), p_ref)
        loss = sum(
            ((x * w).sum() for x, w in zip(mine, weights) if x.requires_grad),
            torch.zeros((), dtype=torch.float64),
        )
    if not loss.requires_grad:
        fail(
            "wkv_step",
            "the values are right but no gradient flows through your function "
            f"{case.description}: build the result from the inputs with torch "
            "operations, without .detach(), .item() or NumPy",
        )
    try:
        loss.backward()
    except Exception as err:
        fail(
            "wkv_step",
            "the values are right but backpropagating through your function failed "
            f"{case.description} ({type(err).__name__}): avoid changing in place a "
            "tensor that the gradient still needs",
        )
    with comparing("wkv_step", case.description):
        names = ("a", "b", "p", "k", "v", "w", "u")
        for name, x_s, x_r in zip(names, leaves_s, leaves_r):
            grad_s = x_s.grad if x_s.grad is not None else torch.zeros_like(x_r)
            if not torch.allclose(grad_s, x_r.grad, rtol=1e-5, atol=1e-7):
                fail(
                    "wkv_step",
                    "the values are right but the gradient with respect to "
                    f"{name} differs {case.description}: check for .detach(), "
                    "in-place changes or values copied out of the graph",
                )


def check_wkv_step(fn) -> None:
    """Check ``wkv_step(a, b, p, k, v, w, u) -> (wkv, a, b, p)`` against the
    reference.

    The state (a, b, p) stands for N = a e^p and D = b e^p, and any common scale
    represents it: (a e^c, b e^c, p - c) is the same state. So the checker compares
    wkv and the invariants a e^p, b e^p (in float64, relative to the reference's p),
    and their gradients, and accepts every stabilisation: p' = max(p - w, k), or
    max(p, k), or log D' with b' = 1, a max taken with .detach(). It rejects a step
    that overflows: keys of size 100 in float32 and 1000 in float64, where e^k is out
    of range, must give finite results."""
    require_function("wkv_step", fn)
    # (case, relative tolerance, absolute tolerance, keys that overflow e^k)
    cases = [
        (
            Case(
                _wkv_args(5, 1.0, 110), "(for C=5 channels with keys of size about 1)"
            ),
            1e-9,
            1e-12,
            False,
        ),
        (
            Case(
                _wkv_args(4, 30.0, 111),
                "(for keys and exponents of size about 30)",
            ),
            1e-9,
            1e-12,
            False,
        ),
        (
            Case(
                _wkv_args(3, 1.0, 112, first=True),
                "(for the first token: a = b = 0, p = -inf)",
                grad=False,
            ),
            1e-9,
            1e-12,
            False,
        ),
        (
            Case(
                _wkv_args(6, 100.0, 113, dtype=torch.float32),
                "(in float32, for keys and exponents of size about 100: e^k "
                "overflows float32 from k = 89 on)",
                grad=False,
            ),
            1e-4,
            1e-5,
            True,
        ),
        (
            Case(
                _wkv_args(4, 100.0, 114, first=True, dtype=torch.float32),
                "(in float32, for the first token, a = b = 0 and p = -inf, with keys "
                "of size about 100)",
                grad=False,
            ),
            1e-4,
            1e-5,
            True,
        ),
        (
            Case(
                _wkv_args(5, 1000.0, 115),
                "(for keys and exponents of size about 1000: e^k overflows even "
                "float64 from k = 710 on)",
            ),
            1e-9,
            1e-12,
            True,
        ),
    ]
    with Guard("wkv_step", fn, forbidden=WKV_SHORTCUTS) as guard:
        for case, rtol, atol, large in cases:
            result = guard.call(fresh_copies(case.args), case.description)
            with comparing("wkv_step", case.description):
                _compare_wkv(result, case, rtol, atol, large)
            if case.grad:
                _wkv_gradients(guard, case)
    print(f"\u2705 wkv_step: correct on all {len(cases)} test cases.")
