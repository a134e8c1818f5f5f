"""Checkers for chapter 8 (FlashAttention): the online-softmax update, one query tile of
the forward pass, and the longest sequence naive attention can hold in a given memory.

Each ``check_<name>(student_fn)`` runs the student's function against the reference and
names the usual mistakes: the running sum not rescaled when the maximum grows, the scale
applied twice, the causal mask off by one, the factor of two in the memory formula
forgotten. Beyond the small cases:

- float32 scores near +100 and -110, where exp overflows (or underflows to 0) unless
  it is taken relative to the running maximum;
- the point of exercise 2: the tile visits the keys in blocks, never all the scores of
  its queries at once (``Dataflow`` measures the largest tensor computed from the
  queries and the keys);
- rows whose scores are all masked in a block, blocks that do not divide T, tiles that
  start at i0 > 0;
- the package's softmax attention in every form, PyTorch's own and the checker's
  references are off limits while the student's function runs.
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
    randn64,
    require_function,
    whole_number,
)
from rnncourse.ops.softmax_attention import memory_naive

# --- Exercise 1: the online-softmax update ------------------------------------


def online_softmax_reference(m, l, acc, s, v):
    """One block of scores s (R, N) and values v (N, D) folded into the running maximum
    m (R,), sum l (R,) and unnormalised output acc (R, D) -> (m, l, acc) after the
    block."""
    m_new = torch.maximum(m, s.amax(dim=1))  # m' = max(m, rowmax(s))
    p = torch.exp(s - m_new[:, None])  # exp(s - m')
    # the old terms were taken relative to m: rescale them to m'
    alpha = torch.exp(m - m_new)
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
        m = randn64(g, R) * 2
        l = torch.rand(R, generator=g, dtype=torch.float64) * 3 + 1
        acc = randn64(g, R, D)
    s = (
        randn64(g, R, N, scale=2.0)
        + torch.linspace(-3, 3, R, dtype=torch.float64)[:, None]
    )
    return m, l, acc, s, randn64(g, N, D)


def _masked_rows_args(seed: int) -> tuple:
    """A causal tile's later block: rows 1 and 3 have every score masked (-inf), the
    others some."""
    m, l, acc, s, v = _online_args(4, 3, 2, False, seed)
    s[1], s[3] = float("-inf"), float("-inf")
    s[0, 2], s[2, 1:] = float("-inf"), float("-inf")
    return m, l, acc, s, v


def _large_scores_args(first: bool, seed: int) -> tuple:
    """Float32 scores near +100 in some rows and -110 in others (the running maximum
    there too): exp overflows at 89 and underflows to 0 below -104."""
    g = torch.Generator().manual_seed(seed)
    offset = torch.tensor(
        [100.0, 100.0, -110.0, -110.0, 60.0, -60.0], dtype=torch.float64
    )
    R, N, D = 6, 5, 3
    if first:
        m = torch.full((R,), float("-inf"), dtype=torch.float64)
        l, acc = (
            torch.zeros(R, dtype=torch.float64),
            torch.zeros(R, D, dtype=torch.float64),
        )
    else:
        m = offset + randn64(g, R, scale=3.0)
        l = torch.rand(R, generator=g, dtype=torch.float64) * 3 + 1
        acc = randn64(g, R, D)
    s = offset[:, None] + randn64(g, R, N, scale=3.0)
    return tuple(x.float() for x in (m, l, acc, s, randn64(g, N, D)))


#: What would do exercise 1 for the student: the checker's reference (and the helper
#: of its mistakes, right with its defaults).
ONLINE_SHORTCUTS = [
    "rnncourse.exercises.flash_attention.online_softmax_reference",
    "rnncourse.exercises.flash_attention._update",
]


def check_online_softmax_update(fn) -> None:
    """Check ``online_softmax_update(m, l, acc, s, v) -> (m, l, acc)`` against the
    reference.

    Accepted: every way to write m' = max(m, rowmax(s)), l' = e^(m - m') l + sum
    e^(s - m') and acc' = e^(m - m') acc + e^(s - m') v (torch.maximum, amax or max,
    logsumexp and logaddexp for l', in place or not), for float32 and float64, the first
    block (m = -inf) and rows whose scores are all masked (-inf) included. Rejected: an
    update whose exponentials are not taken relative to the new maximum, which
    overflows (or underflows) in float32 for scores near +100 or -110."""
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
    ] + [
        Case(
            _masked_rows_args(103),
            "(for a block in which rows 1 and 3 have every score masked, -inf)",
            grad=False,
        )
    ]
    large = [
        Case(
            _large_scores_args(first, 104 + first),
            "(in float32, for scores near +100 in rows 0 and 1 and near -110 in rows "
            "2 and 3"
            + (", the first block" if first else "")
            + ": exp(s) overflows float32 above 88 and is 0 below -104, so take every "
            "exponential relative to the new maximum, exp(s - m') and exp(m - m'))",
            grad=False,
        )
        for first in (False, True)
    ]
    check_in_groups(
        "online_softmax_update",
        fn,
        online_softmax_reference,
        [Group(cases), Group(large, rtol=1e-4, atol=1e-5)],
        [
            Output("m", ("row",)),
            Output("l", ("row",)),
            Output("acc", ("row", "channel")),
        ],
        ONLINE_MISTAKES,
        forbidden=ONLINE_SHORTCUTS,
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
            # key j > query i is masked
            s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
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
    R: int,
    T: int,
    D: int,
    i0: int,
    block_size: int,
    causal: bool,
    seed: int,
    size: float = 1.0,
    dtype=torch.float64,
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    # growing keys make later blocks hold larger scores, so the running maximum changes
    # between blocks
    k = randn64(g, T, D) * torch.linspace(0.5, 2.0, T, dtype=torch.float64)[:, None]
    q, v = randn64(g, R, D), randn64(g, T, D)
    q, k, v = ((x * size).to(dtype) for x in (q, k, v))
    return q, k, v, i0, block_size, causal, 0.7


#: What would do exercise 2 for the student: the package's softmax attention, in
#: every implementation, PyTorch's own, and the checker's references (and the helpers
#: of its mistakes, right with their defaults).
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
    "rnncourse.exercises.flash_attention.tile_reference",
    "rnncourse.exercises.flash_attention._tile",
    *ONLINE_SHORTCUTS,
]


def _largest_scores(guard: Guard, args: tuple, where: str) -> tuple:
    """The shape of the largest tensor the student's function computes from both the
    queries and the keys (the scores, or what is made of them)."""
    args = fresh_copies(args)
    with torch.no_grad(), Dataflow(q=args[0], k=args[1]) as flow:
        guard.call(args, where)
    return flow.largest("q", "k")


def _check_in_blocks(guard: Guard) -> None:
    """Fail when the tile computes more scores at once than one block's, on a long row
    of keys (non-causal, and causal at the end of the sequence)."""
    R, T, D, block_size = 8, 203, 2, 16
    for i0, causal in ((0, False), (T - R, True)):
        where = (
            f"(for a tile of {R} queries from i0={i0} over T={T} keys in blocks of "
            f"{block_size}, causal={causal})"
        )
        args = _tile_args(R, T, D, i0, block_size, causal, 220)
        shape = _largest_scores(guard, args, where)
        if torch.Size(shape).numel() > R * block_size * D:
            fail(
                "attention_tile",
                f"your function computes the scores of all the keys at once {where}: "
                f"it builds a tensor of shape {shape} from q_i and k, where one "
                f"block's scores are {R} x {block_size}; visit the keys a block at a "
                "time, s = scale q_i k[j0:j0 + block_size]^T, and fold each block in "
                "with online_softmax_update, so that memory does not grow with T",
            )


def check_attention_tile(fn) -> None:
    """Check ``attention_tile(q_i, k, v, i0, block_size, causal, scale) -> (o_i, L_i)``
    against the reference.

    Accepted: any way to visit the keys block by block and fold each block in (the
    student's online_softmax_update, logsumexp per block, blocks after the diagonal
    skipped when causal, a causal mask built for all keys at once), float32 and
    float64, block sizes that do not divide T or exceed it, tiles that start at
    i0 > 0. The tile must work in blocks: no tensor computed from the queries and the
    keys may be larger than R x block_size x D numbers (so the scores of all T keys at
    once, a plain softmax over the row, are rejected); and float32 scores of size 100
    must not overflow."""
    sizes = [
        (4, 11, 3, 4, 3, True),
        (5, 9, 2, 0, 4, False),
        (3, 7, 4, 2, 2, True),
        (1, 1, 1, 0, 1, True),
        (3, 9, 2, 6, 16, True),
        (2, 5, 3, 0, 1, False),
    ]
    cases = [
        Case(
            _tile_args(*size, 200 + i),
            "(for a tile of {} queries from i0={} over T={} keys in blocks of {}, "
            "causal={})".format(size[0], size[3], size[1], size[4], size[5]),
        )
        for i, size in enumerate(sizes)
    ]
    large = [
        Case(
            _tile_args(4, 13, 4, 5, 4, causal, 210 + causal, 6.0, torch.float32),
            f"(in float32, for scores of size 50 to 200, causal={causal}: exp(s) "
            "overflows float32 above 88, so take every exponential relative to the "
            "running maximum)",
            grad=False,
        )
        for causal in (False, True)
    ]
    check_in_groups(
        "attention_tile",
        fn,
        tile_reference,
        [Group(cases), Group(large, rtol=1e-4, atol=1e-4)],
        [Output("o_i", ("row", "channel")), Output("L_i", ("row",))],
        TILE_MISTAKES,
        forbidden=ATTENTION_SHORTCUTS,
        quiet=True,
    )
    with Guard("attention_tile", fn, forbidden=ATTENTION_SHORTCUTS) as guard:
        _check_in_blocks(guard)
    print(
        f"\u2705 attention_tile: correct on all {len(cases) + len(large)} test cases, "
        "in blocks."
    )


# --- Exercise 3: how long a sequence naive attention can hold ------------------


def longest_naive_reference(
    memory_bytes: int, B: int, H: int, D: int, bytes_per_number: int = 4
) -> int:
    """The largest T whose forward pass of naive attention (T_q = T_k = T, not causal)
    allocates at most ``memory_bytes``, by the formula ``memory_naive``:
    2 B H T^2 + B H T D numbers."""
    a, b = 2 * B * H, B * H * D
    # the positive root
    T = int((-b + (b * b + 4 * a * memory_bytes / bytes_per_number) ** 0.5) / (2 * a))
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


#: What would do exercise 3 for the student: the checker's reference (and the helper
#: of its mistakes). ``memory_naive``, the formula of section 8.1, stays allowed.
LONGEST_SHORTCUTS = [
    "rnncourse.exercises.flash_attention.longest_naive_reference",
    "rnncourse.exercises.flash_attention._longest",
]


def check_longest_naive(fn) -> None:
    """Check ``longest_naive(memory_bytes, B, H, D, bytes_per_number) -> T`` (an int)
    against the reference.

    Accepted: a Python int, a NumPy integer or a one-element integer tensor; the
    quadratic formula (with the check that T fits and T + 1 does not), a bisection or
    a search, with ``memory_naive`` or the formula written out. The cases include a
    memory exactly at the boundary (the notebook's own use: T fits with not a byte to
    spare), one byte less, and a memory too small for a single step (T = 0)."""
    boundary = memory_naive(1, 1, 16384, 16384, 64)
    cases = [
        (16 * 2**30, 1, 12, 64, 4),
        (2**30, 4, 8, 128, 2),
        (80 * 2**30, 8, 16, 128, 2),
        (10**6, 1, 1, 16, 4),
        (boundary, 1, 1, 64, 4),
        (boundary - 1, 1, 1, 64, 4),
        (memory_naive(3, 5, 1, 1, 7, bytes_per_number=2), 3, 5, 7, 2),
        (100, 1, 1, 64, 4),
    ]
    require_function("longest_naive", fn)
    with Guard("longest_naive", fn, forbidden=LONGEST_SHORTCUTS) as guard:
        for args in cases:
            where = "(for {} bytes, B={}, H={}, D={}, {} bytes per number)".format(
                *args
            )
            got = guard.call(args, where)
            expected = longest_naive_reference(*args)
            with comparing("longest_naive", where):
                _compare_length(got, expected, args, where)
    print(f"\u2705 longest_naive: correct on all {len(cases)} test cases.")


def _compare_length(got, expected: int, args: tuple, where: str) -> None:
    got = whole_number("longest_naive", got, where)
    if got == expected:
        return
    memory_bytes, B, H, D, per = args
    if expected == 0:
        fail(
            "longest_naive",
            f"got T = {got}, expected T = 0 {where}: not even one step fits, T = 1 "
            f"needs {memory_naive(B, H, 1, 1, D, bytes_per_number=per)} bytes; return "
            "0 when no length fits",
        )
    for mistake in LONGEST_MISTAKES:
        if mistake.fn(*args) == got:
            fail("longest_naive", mistake.message)
    if got == expected - 1:
        fail(
            "longest_naive",
            f"got T = {got}, but T = {expected} still fits {where}: it needs "
            f"{memory_naive(B, H, expected, expected, D, bytes_per_number=per)} bytes, "
            "at most the memory given; a length fits when its memory is <= "
            "memory_bytes, so check T + 1 after rounding the root",
        )
    fail(
        "longest_naive",
        f"got T = {got}, expected T = {expected} {where}: the forward pass needs 2 "
        "B H T^2 + B H T D numbers of bytes_per_number bytes each",
    )
