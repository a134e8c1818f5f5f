"""Checkers for chapter 8 (FlashAttention): the online-softmax update, one query tile of
the forward pass, and the longest sequence naive attention can hold in a given memory.

Each ``check_<name>(student_fn)`` runs the student's function against the reference and
names the usual mistakes: the running sum not rescaled when the maximum grows, the scale
applied twice, the causal mask off by one, the factor of two in the memory formula
forgotten.
"""

from __future__ import annotations

import torch

from rnncourse.exercises.checker import (
    Case,
    Mistake,
    Output,
    call_student,
    check,
    comparing,
    fail,
    kind_of,
    require_function,
)
from rnncourse.ops.softmax_attention import memory_naive


def _randn(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


# --- Exercise 1: the online-softmax update ------------------------------------


def online_softmax_reference(m, l, acc, s, v):
    """One block of scores s (R, N) and values v (N, D) folded into the running maximum
    m (R,), sum l (R,) and unnormalised output acc (R, D) -> (m, l, acc) after the
    block."""
    m_new = torch.maximum(m, s.amax(dim=1))  # m' = max(m, rowmax(s))
    p = torch.exp(s - m_new[:, None])  # exp(s - m')
    alpha = torch.exp(
        m - m_new
    )  # the old terms were taken relative to m: rescale them to m'
    return m_new, alpha * l + p.sum(dim=1), alpha[:, None] * acc + p @ v


def _update(
    m,
    l,
    acc,
    s,
    v,
    max_fn=lambda m, s: torch.maximum(m, s.amax(dim=1)),
    rescale_l=True,
    rescale_acc=True,
    sign=1.0,
    p_from_old=False,
):
    m_new = max_fn(m, s)
    p = torch.exp(s - (m if p_from_old else m_new)[:, None])
    alpha = torch.exp(sign * (m - m_new))
    return (
        m_new,
        (alpha * l if rescale_l else l) + p.sum(dim=1),
        (alpha[:, None] * acc if rescale_acc else acc) + p @ v,
    )


ONLINE_MISTAKES = [
    Mistake(
        lambda *a: _update(*a, rescale_l=False),
        "the running sum is not rescaled: when the maximum grows from m to m', "
        "multiply l by exp(m - m') before adding the new block's exponentials",
    ),
    Mistake(
        lambda *a: _update(*a, rescale_acc=False),
        "the running output is not rescaled: when the maximum grows from m to m', "
        "multiply acc by exp(m - m') before adding exp(s - m') v",
    ),
    Mistake(
        lambda *a: _update(*a, rescale_l=False, rescale_acc=False),
        "neither the running sum nor the running output is rescaled: both were taken "
        "relative to the old maximum m and need the factor exp(m - m')",
    ),
    Mistake(
        lambda *a: _update(*a, sign=-1.0),
        "the correction is upside down: the old terms shrink by exp(m - m') (at most "
        "1), not exp(m' - m)",
    ),
    Mistake(
        lambda *a: _update(*a, max_fn=lambda m, s: s.amax(dim=1)),
        "the new maximum forgets the old one: m' = max(m, rowmax(s)), not rowmax(s) "
        "alone, or exp(m - m') can overflow",
    ),
    Mistake(
        lambda *a: _update(*a, p_from_old=True),
        "the new block's exponentials use the old maximum: take exp(s - m') with the "
        "new maximum m'",
    ),
    Mistake(
        lambda m, l, acc, s, v: (lambda r: (r[0], r[1], r[2] / r[1][:, None]))(
            online_softmax_reference(m, l, acc, s, v)
        ),
        "acc is divided by l too early: keep the running output unnormalised and "
        "divide once, after the last block",
    ),
]


def _online_args(R: int, N: int, D: int, first: bool, seed: int) -> tuple:
    """A running state built from an earlier block of scores, then a block whose scores
    are larger in some rows and smaller in others, so that the maximum both grows and
    stays."""
    g = torch.Generator().manual_seed(seed)
    if first:
        m, l, acc = (
            torch.full((R,), float("-inf"), dtype=torch.float64),
            torch.zeros(R, dtype=torch.float64),
            torch.zeros(R, D, dtype=torch.float64),
        )
    else:
        m = _randn(g, R) * 2
        l = torch.rand(R, generator=g, dtype=torch.float64) * 3 + 1
        acc = _randn(g, R, D)
    s = (
        _randn(g, R, N, scale=2.0)
        + torch.linspace(-3, 3, R, dtype=torch.float64)[:, None]
    )
    return m, l, acc, s, _randn(g, N, D)


def check_online_softmax_update(fn) -> None:
    """Check ``online_softmax_update(m, l, acc, s, v) -> (m, l, acc)`` against the
    reference."""
    sizes = [(6, 4, 3, False), (5, 8, 2, True), (1, 1, 1, False)]
    cases = [
        Case(
            _online_args(R, N, D, first, 100 + i),
            f"(for R={R} rows, N={N} keys, D={D}"
            + (", the first block" if first else "")
            + ")",
            grad=not first,
        )
        for i, (R, N, D, first) in enumerate(sizes)
    ]
    check(
        "online_softmax_update",
        fn,
        online_softmax_reference,
        cases,
        [
            Output("m", ("row",)),
            Output("l", ("row",)),
            Output("acc", ("row", "channel")),
        ],
        ONLINE_MISTAKES,
    )


# --- Exercise 2: one query tile of the forward pass ----------------------------


def tile_reference(q_i, k, v, i0, block_size, causal, scale):
    """The rows i0 .. i0 + R - 1 of softmax attention for the query tile q_i (R, D) over
    keys and values k, v (T, D), visiting the keys in blocks of ``block_size``
    -> (o_i (R, D), L_i (R,)), L the log-sum-exp."""
    R, T = q_i.shape[0], k.shape[0]
    rows = torch.arange(i0, i0 + R)
    m = torch.full((R,), float("-inf"), dtype=q_i.dtype)
    l = torch.zeros(R, dtype=q_i.dtype)
    acc = torch.zeros_like(q_i)
    for j0 in range(0, T, block_size):
        cols = torch.arange(j0, min(j0 + block_size, T))
        s = scale * (q_i @ k[cols].T)
        if causal:
            s = s.masked_fill(
                cols[None, :] > rows[:, None], float("-inf")
            )  # key j > query i is masked
        m, l, acc = online_softmax_reference(m, l, acc, s, v[cols])
    return acc / l[:, None], m + torch.log(l)


def _tile(
    q_i,
    k,
    v,
    i0,
    block_size,
    causal,
    scale,
    masked=lambda cols, rows: cols > rows,
    score_scale=None,
    normalise=True,
    lse=lambda m, l: m + torch.log(l),
    rescale=True,
):
    R, T = q_i.shape[0], k.shape[0]
    rows = torch.arange(i0, i0 + R)
    m = torch.full((R,), float("-inf"), dtype=q_i.dtype)
    l, acc = torch.zeros(R, dtype=q_i.dtype), torch.zeros_like(q_i)
    for j0 in range(0, T, block_size):
        cols = torch.arange(j0, min(j0 + block_size, T))
        s = (scale if score_scale is None else score_scale(scale)) * (q_i @ k[cols].T)
        if causal:
            s = s.masked_fill(masked(cols[None, :], rows[:, None]), float("-inf"))
        m, l, acc = (
            online_softmax_reference(m, l, acc, s, v[cols])
            if rescale
            else _update(m, l, acc, s, v[cols], rescale_l=False)
        )
    return (acc / l[:, None] if normalise else acc), lse(m, l)


TILE_MISTAKES = [
    Mistake(
        lambda *a: _tile(*a, score_scale=lambda c: c * c),
        "the scale is applied twice: multiply the scores q_i . k_j by the scale once",
    ),
    Mistake(
        lambda *a: _tile(*a, score_scale=lambda c: 1.0),
        "the scores are not scaled: multiply q_i . k_j by the scale (1/sqrt(D) by "
        "default)",
    ),
    Mistake(
        lambda *a: _tile(*a, masked=lambda cols, rows: cols >= rows),
        "the causal mask is off by one: query i sees key i itself; mask only the keys "
        "j > i",
    ),
    Mistake(
        lambda *a: _tile(*a, masked=lambda cols, rows: cols > rows + 1),
        "the causal mask is off by one: query i must not see key i + 1; mask every key "
        "j > i",
    ),
    Mistake(
        lambda *a: _tile(*a, masked=lambda cols, rows: cols > rows - a[3]),
        "the causal mask ignores where the tile starts: the tile's row r is query i0 + "
        "r, so compare keys with i0 + r",
    ),
    Mistake(
        lambda *a: _tile(*a, normalise=False),
        "the output is not normalised: divide the running output by the running sum l "
        "after the last block",
    ),
    Mistake(
        lambda *a: _tile(*a, lse=lambda m, l: m),
        "L is the running maximum alone: the log-sum-exp is m + log l",
    ),
    Mistake(
        lambda *a: _tile(*a, rescale=False),
        "the running sum is not rescaled when the maximum grows: multiply l by exp(m - "
        "m') before adding the new block's exponentials",
    ),
]


def _tile_args(
    R: int, T: int, D: int, i0: int, block_size: int, causal: bool, seed: int
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    # growing keys make later blocks hold larger scores, so the running maximum changes
    # between blocks
    k = _randn(g, T, D) * torch.linspace(0.5, 2.0, T, dtype=torch.float64)[:, None]
    return _randn(g, R, D), k, _randn(g, T, D), i0, block_size, causal, 0.7


#: What would do exercise 2 for the student: the package's softmax attention, in
#: every implementation, and PyTorch's own.
ATTENTION_SHORTCUTS = [
    "rnncourse.ops.softmax_attention.softmax_attention",
    "rnncourse.ops.softmax_attention.attention_naive",
    "rnncourse.ops.softmax_attention.attention_tiled",
    "rnncourse.ops.softmax_attention._sdpa",
    "rnncourse.ops.softmax_attention.reference.attention_naive",
    "rnncourse.ops.softmax_attention.reference.attention_tiled",
    "rnncourse.ops.softmax_attention.reference.tiled_forward",
    "rnncourse.ops.softmax_attention.kernel.attention_triton",
    "torch.nn.functional.scaled_dot_product_attention",
]


def check_attention_tile(fn) -> None:
    """Check ``attention_tile(q_i, k, v, i0, block_size, causal, scale) -> (o_i, L_i)``
    against the reference."""
    sizes = [
        (4, 11, 3, 4, 3, True),
        (5, 9, 2, 0, 4, False),
        (3, 7, 4, 2, 2, True),
        (1, 1, 1, 0, 1, True),
    ]
    cases = [
        Case(
            _tile_args(*size, 200 + i),
            "(for a tile of {} queries from i0={} over T={} keys in blocks of {}, "
            "causal={})".format(size[0], size[3], size[1], size[4], size[5]),
        )
        for i, size in enumerate(sizes)
    ]
    check(
        "attention_tile",
        fn,
        tile_reference,
        cases,
        [Output("o_i", ("row", "channel")), Output("L_i", ("row",))],
        TILE_MISTAKES,
        forbidden=ATTENTION_SHORTCUTS,
    )


# --- Exercise 3: how long a sequence naive attention can hold ------------------


def longest_naive_reference(
    memory_bytes: int, B: int, H: int, D: int, bytes_per_number: int = 4
) -> int:
    """The largest T whose forward pass of naive attention (T_q = T_k = T, not causal)
    allocates at most ``memory_bytes``, by the formula ``memory_naive``:
    2 B H T^2 + B H T D numbers."""
    a, b = 2 * B * H, B * H * D
    T = int(
        (-b + (b * b + 4 * a * memory_bytes / bytes_per_number) ** 0.5) / (2 * a)
    )  # the positive root
    while (
        memory_naive(B, H, T + 1, T + 1, D, bytes_per_number=bytes_per_number)
        <= memory_bytes
    ):
        T += 1  # float rounding in the root, either way
    while (
        T > 0
        and memory_naive(B, H, T, T, D, bytes_per_number=bytes_per_number)
        > memory_bytes
    ):
        T -= 1
    return T


def _longest(
    memory_bytes,
    B,
    H,
    D,
    bytes_per_number=4,
    matrices=2,
    per_number=None,
    heads=True,
    out=True,
    shift=0,
):
    n = memory_bytes / (bytes_per_number if per_number is None else per_number)
    a, b = matrices * (B * H if heads else 1), (B * H * D if out else 0)
    return int((-b + (b * b + 4 * a * n) ** 0.5) / (2 * a)) + shift


LONGEST_MISTAKES = [
    Mistake(
        lambda *a: _longest(*a, matrices=1),
        "you counted one T x T matrix: the scores S and their softmax P are both alive "
        "at the peak, 2 B H T^2 numbers",
    ),
    Mistake(
        lambda *a: _longest(*a, per_number=1),
        "you counted numbers, not bytes: each number takes bytes_per_number bytes (4 "
        "for float32)",
    ),
    Mistake(
        lambda *a: _longest(*a, per_number=32),
        "you counted bits per number: a float32 number takes 4 bytes",
    ),
    Mistake(
        lambda *a: _longest(*a, heads=False),
        "you left out the batch and the heads: every one of the B H heads holds its "
        "own T x T scores",
    ),
    Mistake(
        lambda *a: _longest(*a, out=False),
        "you left out the output o, B H T D numbers: small beside the T x T matrices, "
        "but it moves T by about D/4",
    ),
    Mistake(
        lambda *a: longest_naive_reference(*a) + 1,
        "that length just runs out: return the largest T that still fits, one less",
    ),
]


def check_longest_naive(fn) -> None:
    """Check ``longest_naive(memory_bytes, B, H, D, bytes_per_number) -> T`` (an int)
    against the reference."""
    cases = [
        (16 * 2**30, 1, 12, 64, 4),
        (2**30, 4, 8, 128, 2),
        (80 * 2**30, 8, 16, 128, 2),
        (10**6, 1, 1, 16, 4),
    ]
    require_function("longest_naive", fn)
    for args in cases:
        where = "(for {} bytes, B={}, H={}, D={}, {} bytes per number)".format(*args)
        got = call_student("longest_naive", fn, args, where)
        expected = longest_naive_reference(*args)
        with comparing("longest_naive", where):
            _compare_length(got, expected, args, where)
    print(f"\u2705 longest_naive: correct on all {len(cases)} test cases.")


def _compare_length(got, expected: int, args: tuple, where: str) -> None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int):
        fail(
            "longest_naive",
            f"expected a whole number of steps (an int), got {kind_of(got)} {where}",
        )
    if got != expected:
        for mistake in LONGEST_MISTAKES:
            if mistake.fn(*args) == got:
                fail("longest_naive", mistake.message)
        fail(
            "longest_naive",
            f"got T = {got}, expected T = {expected} {where}: the forward pass needs 2 "
            "B H T^2 + B H T D numbers of bytes_per_number bytes each",
        )
