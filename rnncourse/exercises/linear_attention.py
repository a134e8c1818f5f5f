"""Checkers for chapter 7 (linear attention, RetNet and RWKV): the recurrent form of
causal linear attention with a decay, one chunk of the chunkwise form, and one stable
step of RWKV-4's WKV.

Each ``check_<name>(student_fn)`` runs the student's function against the reference and
names the usual mistakes: the decay applied at the wrong step, the current token counted
twice or not at all, the running maximum not used.
"""

from __future__ import annotations

import torch

from rnncourse.exercises.checker import Case, Mistake, Output, check


def _randn(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


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


def _attention_args(T: int, K: int, V: int, gamma: float, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return _randn(g, T, K), _randn(g, T, K), _randn(g, T, V), gamma


def check_linear_attention_recurrent(fn) -> None:
    """Check ``linear_attention_recurrent(q, k, v, gamma) -> o`` against the
    reference."""
    sizes = [(7, 3, 4, 0.9), (1, 2, 2, 0.5), (12, 4, 3, 1.0)]
    cases = [
        Case(
            _attention_args(T, K, V, gamma, 90 + i),
            f"(for T={T}, K={K}, V={V}, gamma={gamma})",
        )
        for i, (T, K, V, gamma) in enumerate(sizes)
    ]
    check(
        "linear_attention_recurrent",
        fn,
        recurrent_reference,
        cases,
        [Output("o", ("step", "value channel"))],
        RECURRENT_MISTAKES,
    )


# --- Exercise 2: one chunk of the chunkwise form -----------------------------


def chunk_reference(q, k, v, S, gamma):
    """One chunk of C steps: q, k (C, K), v (C, V), S (K, V) the state before the chunk,
    gamma a float -> (o (C, V), the state after the chunk (K, V))."""
    C = q.shape[0]
    i = torch.arange(C, dtype=torch.float64)
    distance = i[:, None] - i[None, :]
    D = torch.where(
        distance >= 0, gamma ** distance.clamp(min=0), 0.0
    )  # gamma^(i-j) for j <= i
    o = ((q @ k.T) * D) @ v + (gamma ** (i + 1.0))[:, None] * (
        q @ S
    )  # inside the chunk, then from before it
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
    i = torch.arange(C, dtype=torch.float64)
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


def _chunk_args(C: int, K: int, V: int, gamma: float, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return _randn(g, C, K), _randn(g, C, K), _randn(g, C, V), _randn(g, K, V), gamma


def check_linear_attention_chunk(fn) -> None:
    """Check ``linear_attention_chunk(q, k, v, S, gamma) -> (o, S_after)`` against the
    reference."""
    sizes = [(6, 3, 4, 0.8), (1, 2, 3, 0.6), (9, 4, 2, 0.95)]
    cases = [
        Case(
            _chunk_args(C, K, V, gamma, 100 + i),
            f"(for a chunk of C={C}, K={K}, V={V}, gamma={gamma})",
        )
        for i, (C, K, V, gamma) in enumerate(sizes)
    ]
    check(
        "linear_attention_chunk",
        fn,
        chunk_reference,
        cases,
        [
            Output("o", ("row", "value channel")),
            Output("S_after", ("key channel", "value channel")),
        ],
        CHUNK_MISTAKES,
    )


# --- Exercise 3: the stable WKV update ---------------------------------------


def wkv_step_reference(a, b, p, k, v, w, u):
    """One token of RWKV-4's WKV, all (C,): the state (a, b, p) with N = a e^p and
    D = b e^p, the token's k and v, the decay w > 0 and bonus u -> (wkv, a', b', p')."""
    q = torch.maximum(p, u + k)
    e_state, e_token = torch.exp(p - q), torch.exp(u + k - q)
    wkv = (e_state * a + e_token * v) / (
        e_state * b + e_token
    )  # (N + e^(u+k) v) / (D + e^(u+k))
    q = torch.maximum(p - w, k)
    e_state, e_token = torch.exp(p - w - q), torch.exp(k - q)
    return (
        wkv,
        e_state * a + e_token * v,
        e_state * b + e_token,
        q,
    )  # N' = e^(-w) N + e^k v, p' = max(p - w, k)


def _unstable(a, b, p, k, v, w, u):
    N, D = a * torch.exp(p), b * torch.exp(p)
    wkv = (N + torch.exp(u + k) * v) / (D + torch.exp(u + k))
    N, D = torch.exp(-w) * N + torch.exp(k) * v, torch.exp(-w) * D + torch.exp(k)
    return wkv, N, D, torch.zeros_like(p)


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
    _, a2, b2, p2 = wkv_step_reference(
        a, b, p, k, v, w, u
    )  # the state already holding the token
    q = torch.maximum(p2, u + k)
    e_state, e_token = torch.exp(p2 - q), torch.exp(u + k - q)
    wkv = (e_state * a2 + e_token * v) / (e_state * b2 + e_token)
    return wkv, a2, b2, p2


WKV_MISTAKES = [
    Mistake(
        _unstable,
        "the running maximum is not used: with large keys e^k overflows; subtract q = "
        "max(p, u + k) before every exponential and keep p' = max(p - w, k)",
    ),
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


def _wkv_args(C: int, k_scale: float, seed: int, first: bool = False) -> tuple:
    g = torch.Generator().manual_seed(seed)
    k = _randn(g, C, scale=k_scale)
    if first:  # the first token: nothing seen yet
        a, b, p = (
            torch.zeros(C, dtype=torch.float64),
            torch.zeros(C, dtype=torch.float64),
            torch.full((C,), float("-inf"), dtype=torch.float64),
        )
    else:
        a, b = _randn(g, C), torch.rand(C, generator=g, dtype=torch.float64) + 0.5
        p = _randn(g, C, scale=k_scale)
    w = torch.rand(C, generator=g, dtype=torch.float64) + 0.1
    return a, b, p, k, _randn(g, C), w, _randn(g, C)


def check_wkv_step(fn) -> None:
    """Check ``wkv_step(a, b, p, k, v, w, u) -> (wkv, a, b, p)`` against the
    reference."""
    cases = [
        Case(_wkv_args(5, 1.0, 110), "(for C=5 channels with keys of size about 1)"),
        Case(
            _wkv_args(4, 500.0, 111),
            "(for keys and exponents of size about 500, where e^k overflows)",
        ),
        Case(
            _wkv_args(3, 1.0, 112, first=True),
            "(for the first token: a = b = 0, p = -inf)",
            grad=False,
        ),
    ]
    outputs = [Output(name, ("channel",)) for name in ("wkv", "a", "b", "p")]
    check("wkv_step", fn, wkv_step_reference, cases, outputs, WKV_MISTAKES)
