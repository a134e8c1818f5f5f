"""Chapter 8's checkers accept every right answer and reject planted wrong ones, each
with its own sentence: the usual mistakes, exponentials that overflow in float32, a tile
that computes all its scores at once, shapes and boundaries the answer forgot, shortcuts
and odd return values."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnncourse.exercises import (
    check_attention_tile,
    check_longest_naive,
    check_online_softmax_update,
)
from rnncourse.exercises.flash_attention import (
    longest_naive_reference,
    online_softmax_reference,
    tile_reference,
)
from rnncourse.ops import softmax_attention
from rnncourse.ops.softmax_attention import attention_naive, memory_naive, reference

from ._helpers import (
    _accepting,
    _each_its_own_message,
    _message,
    _not_solved,
    _rejecting,
    _shortcut_message,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# --- right answers, written independently of the references -------------------------


def _online_notebook(m, l, acc, s, v):
    m_new = torch.maximum(m, s.amax(dim=1))
    p = torch.exp(s - m_new[:, None])
    correction = torch.exp(m - m_new)
    return m_new, correction * l + p.sum(dim=1), correction[:, None] * acc + p @ v


def _online_via_logaddexp(m, l, acc, s, v):
    """log(e^m l + sum e^s) by logaddexp, the output rescaled to the new maximum."""
    m_new = torch.maximum(m, s.max(dim=1).values)
    log_total = torch.logaddexp(m + torch.log(l), torch.logsumexp(s, dim=1))
    return (
        m_new,
        torch.exp(log_total - m_new),
        torch.exp(m - m_new)[:, None] * acc + torch.exp(s - m_new[:, None]) @ v,
    )


def _online_in_place(m, l, acc, s, v):
    """Rescales the running sum and output in place, as a kernel would."""
    m_new = torch.maximum(m, s.amax(dim=1))
    p = torch.exp(s - m_new[:, None])
    c = torch.exp(m - m_new)
    l.mul_(c).add_(p.sum(dim=1))
    acc.mul_(c[:, None]).addmm_(p, v)
    return m_new, l, acc


def _tile_with(update, skip_after_diagonal=False, full_mask=False):
    """The tile loop over blocks of keys, folding each in with ``update``; with
    ``full_mask``, the causal mask as one additive float mask over all the keys (made
    of positions, not of scores)."""

    def tile(q_i, k, v, i0, block_size, causal, scale):
        R, T = q_i.shape[0], k.shape[0]
        rows = torch.arange(i0, i0 + R)
        hidden = torch.arange(T)[None, :] > rows[:, None]
        bias = torch.zeros(R, T, dtype=q_i.dtype).masked_fill(hidden, -math.inf)
        m = torch.full((R,), -math.inf, dtype=q_i.dtype)
        l, acc = torch.zeros(R, dtype=q_i.dtype), torch.zeros_like(q_i)
        for j0 in range(0, T, block_size):
            if causal and skip_after_diagonal and j0 > i0 + R - 1:
                continue
            j1 = min(j0 + block_size, T)
            s = scale * q_i @ k[j0:j1].T
            if causal and full_mask:
                s = s + bias[:, j0:j1]
            elif causal:
                s = s.masked_fill(
                    torch.arange(j0, j1)[None, :] > rows[:, None], -math.inf
                )
            m, l, acc = update(m, l, acc, s, v[j0:j1])
        return acc / l[:, None], m + torch.log(l)

    return tile


def _tile_by_logsumexp(q_i, k, v, i0, block_size, causal, scale):
    """Each block's softmax by logsumexp, blocks merged by their log-sum-exps."""
    rows = torch.arange(i0, i0 + q_i.shape[0])
    o, L = None, None
    for j0 in range(0, k.shape[0], block_size):
        cols = torch.arange(j0, min(j0 + block_size, k.shape[0]))
        s = scale * q_i @ k[cols].T
        if causal:
            s = torch.where(cols[None, :] > rows[:, None], -math.inf, s)
        L_b = torch.logsumexp(s, dim=1)
        seen = torch.isfinite(L_b)[:, None]
        o_b = torch.where(
            seen, torch.exp(s - L_b[:, None].where(seen, 0.0)) @ v[cols], 0
        )
        if o is None:
            o, L = o_b, L_b
            continue
        L_new = torch.logaddexp(L, L_b)
        o = torch.exp(L - L_new)[:, None] * o + torch.exp(L_b - L_new)[:, None] * o_b
        L = L_new
    return o, L


def _longest_by_search(memory_bytes, B, H, D, bytes_per_number=4):
    """Bisection on T with the memory formula."""
    low, high = 0, 1
    while (
        memory_naive(B, H, high, high, D, bytes_per_number=bytes_per_number)
        <= memory_bytes
    ):
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        fits = (
            memory_naive(B, H, mid, mid, D, bytes_per_number=bytes_per_number)
            <= memory_bytes
        )
        low, high = (mid, high) if fits else (low, mid)
    return low


def _longest_isqrt(memory_bytes, B, H, D, bytes_per_number=4):
    """Integer arithmetic throughout: the root by math.isqrt, then the boundary."""
    a, b, n = 2 * B * H, B * H * D, memory_bytes // bytes_per_number
    T = (math.isqrt(b * b + 4 * a * n) - b) // (2 * a)
    while a * (T + 1) ** 2 + b * (T + 1) <= n:
        T += 1
    return T


RIGHT = {
    "online, the notebook's": (check_online_softmax_update, _online_notebook),
    "online, by logaddexp": (check_online_softmax_update, _online_via_logaddexp),
    "online, in place": (check_online_softmax_update, _online_in_place),
    "tile, the notebook's": (check_attention_tile, _tile_with(_online_notebook)),
    "tile, logaddexp update, slices": (
        check_attention_tile,
        _tile_with(_online_via_logaddexp),
    ),
    "tile, blocks after the diagonal skipped, a mask for all keys": (
        check_attention_tile,
        _tile_with(_online_in_place, skip_after_diagonal=True, full_mask=True),
    ),
    "tile, logsumexp per block": (check_attention_tile, _tile_by_logsumexp),
    "longest, the notebook's": (
        check_longest_naive,
        lambda M, B, H, D, n=4: _longest_by_search(M, B, H, D, n),
    ),
    "longest, integers only": (check_longest_naive, _longest_isqrt),
    "longest, a NumPy integer": (
        check_longest_naive,
        lambda *a: np.int64(_longest_by_search(*a)),
    ),
    "longest, an integer tensor": (
        check_longest_naive,
        lambda *a: torch.tensor(_longest_isqrt(*a)),
    ),
}


test_right_answers_pass = _accepting(RIGHT)


# --- exercise 1: the online-softmax update --------------------------------------------


def _online(
    rescale_l=True,
    rescale_acc=True,
    flip=False,
    forget_old_max=False,
    old_max_in_p=False,
    divide=False,
):
    def fn(m, l, acc, s, v):
        m_new = s.amax(dim=1) if forget_old_max else torch.maximum(m, s.amax(dim=1))
        p = torch.exp(s - (m if old_max_in_p else m_new)[:, None])
        c = torch.exp(m_new - m) if flip else torch.exp(m - m_new)
        l_new = (c * l if rescale_l else l) + p.sum(dim=1)
        acc_new = (c[:, None] * acc if rescale_acc else acc) + p @ v
        return m_new, l_new, acc_new / l_new[:, None] if divide else acc_new

    return fn


def _online_unshifted(m, l, acc, s, v):
    """Exponentials taken as they stand, rescaled at the end: right on paper."""
    m_new = torch.maximum(m, s.amax(dim=1))
    scale = torch.exp(-m_new)
    l_new = (l * torch.exp(m) + torch.exp(s).sum(1)) * scale
    acc_new = (acc * torch.exp(m)[:, None] + torch.exp(s) @ v) * scale[:, None]
    return m_new, l_new, acc_new


def _online_softmax_per_block(m, l, acc, s, v):
    """The block's softmax times its own sum: NaN where a whole row is masked."""
    m_new = torch.maximum(m, s.amax(dim=1))
    block_sum = torch.exp(s - s.amax(1, keepdim=True)).sum(1)
    p = torch.softmax(s, dim=1) * (block_sum * torch.exp(s.amax(1) - m_new))[:, None]
    c = torch.exp(m - m_new)
    return m_new, c * l + p.sum(1), c[:, None] * acc + p @ v


ONLINE_PLANTED = {
    # the usual mistakes
    "sum not rescaled": (_online(rescale_l=False), "the running sum is not rescaled"),
    "output not rescaled": (
        _online(rescale_acc=False),
        "the running output is not rescaled",
    ),
    "neither rescaled": (
        _online(rescale_l=False, rescale_acc=False),
        "neither the running sum nor",
    ),
    "correction upside down": (_online(flip=True), "the correction is upside down"),
    "old maximum forgotten": (
        _online(forget_old_max=True),
        "the new maximum forgets the old one",
    ),
    "old maximum in p": (_online(old_max_in_p=True), "use the old maximum"),
    "normalised early": (_online(divide=True), "divided by l too early"),
    "detached": (
        lambda *a: tuple(x.detach() for x in _online_notebook(*a)),
        "no gradient flows",
    ),
    # range: exponentials not taken relative to the maximum
    "exponentials as they stand": (
        _online_unshifted,
        "contains NaN or infinity (in float32, for scores near +100",
    ),
    # shapes: rows whose scores are all masked
    "softmax per block": (
        _online_softmax_per_block,
        "(for a block in which rows 1 and 3 have every score masked",
    ),
    "transposed output": (
        lambda *a: (*_online_notebook(*a)[:2], _online_notebook(*a)[2].T),
        "acc has shape",
    ),
    # shortcuts
    "the reference": (online_softmax_reference, "online_softmax_reference"),
    # odd answers
    "a dict": (lambda *a: dict(enumerate(_online_notebook(*a))), "online_softmax"),
    "not solved": (_not_solved, "not solved yet"),
}


test_online_softmax_rejects = _rejecting(ONLINE_PLANTED, check_online_softmax_update)


# --- exercise 2: one tile -------------------------------------------------------------


def _tile(
    scale_of=lambda c: c,
    mask=lambda j, i: j > i,
    from_tile_start=False,
    normalise=True,
    lse_is_max=False,
    rescale=True,
):
    def fn(q_i, k, v, i0, block_size, causal, scale):
        R = q_i.shape[0]
        i = torch.arange(R) if from_tile_start else torch.arange(i0, i0 + R)
        m = torch.full((R,), float("-inf"), dtype=q_i.dtype)
        l, acc = torch.zeros(R, dtype=q_i.dtype), torch.zeros_like(q_i)
        for j0 in range(0, k.shape[0], block_size):
            j = torch.arange(j0, min(j0 + block_size, k.shape[0]))
            s = scale_of(scale) * q_i @ k[j].T
            if causal:
                s = torch.where(mask(j[None, :], i[:, None]), float("-inf"), s)
            m_new = torch.maximum(m, s.max(dim=1).values)
            p, c = torch.exp(s - m_new[:, None]), torch.exp(m - m_new)
            l = (c * l if rescale else l) + p.sum(dim=1)
            acc, m = c[:, None] * acc + p @ v[j], m_new
        return (acc / l[:, None] if normalise else acc), (
            m if lse_is_max else m + torch.log(l)
        )

    return fn


def _softmax_at_once(q_i, k, v, i0, block_size, causal, scale):
    """A plain softmax over all the keys: right values, no blocks."""
    rows = torch.arange(i0, i0 + q_i.shape[0])
    s = scale * (q_i @ k.T)
    if causal:
        s = s.masked_fill(torch.arange(k.shape[0])[None, :] > rows[:, None], -torch.inf)
    L = torch.logsumexp(s, dim=1)
    return torch.softmax(s, dim=1) @ v, L


def _scores_first(q_i, k, v, i0, block_size, causal, scale):
    """All the scores at once, then the online softmax over slices of them."""
    rows = torch.arange(i0, i0 + q_i.shape[0])
    scores = scale * (q_i @ k.T)
    m = torch.full((q_i.shape[0],), -math.inf, dtype=q_i.dtype)
    l, acc = torch.zeros_like(m), torch.zeros_like(q_i)
    for j0 in range(0, k.shape[0], block_size):
        cols = torch.arange(j0, min(j0 + block_size, k.shape[0]))
        s = scores[:, cols]
        if causal:
            s = s.masked_fill(cols[None, :] > rows[:, None], -math.inf)
        m, l, acc = _online_notebook(m, l, acc, s, v[cols])
    return acc / l[:, None], m + torch.log(l)


def _blocks_stacked(q_i, k, v, i0, block_size, causal, scale):
    """Every block's scores, stacked into one tensor before the softmax."""
    blocks = [scale * q_i @ kb.T for kb in k.split(block_size)]
    s = torch.cat(blocks, dim=1)
    if causal:
        rows = torch.arange(i0, i0 + q_i.shape[0])
        s = s.masked_fill(torch.arange(k.shape[0])[None, :] > rows[:, None], -math.inf)
    return torch.softmax(s, 1) @ v, torch.logsumexp(s, 1)


def _unstable_tile(q_i, k, v, i0, block_size, causal, scale):
    """Blocks visited, but the exponentials taken without any maximum."""
    rows = torch.arange(i0, i0 + q_i.shape[0])
    l, acc = torch.zeros(q_i.shape[0], dtype=q_i.dtype), torch.zeros_like(q_i)
    for j0 in range(0, k.shape[0], block_size):
        cols = torch.arange(j0, min(j0 + block_size, k.shape[0]))
        s = scale * q_i @ k[cols].T
        if causal:
            s = s.masked_fill(cols[None, :] > rows[:, None], -math.inf)
        l, acc = l + s.exp().sum(1), acc + s.exp() @ v[cols]
    return acc / l[:, None], torch.log(l)


def _whole_blocks_only(q_i, k, v, i0, block_size, causal, scale):
    """Forgets the last, shorter block when block_size does not divide T."""
    T = k.shape[0] - k.shape[0] % block_size
    if T == 0:
        T = k.shape[0]
    return _tile_with(_online_notebook)(
        q_i, k[:T], v[:T], i0, block_size, causal, scale
    )


def _via(attention):
    """A shortcut: whole-sequence attention by ``attention(q, k, v, causal, scale)``
    (B = H = 1), with the tile's rows taken; L by hand."""

    def tile(q_i, k, v, i0, block_size, causal, scale):
        T, R = k.shape[0], q_i.shape[0]
        rows = torch.arange(i0, i0 + R)
        q = torch.zeros(T, q_i.shape[1], dtype=q_i.dtype).index_copy(0, rows, q_i)
        o = attention(q[None, None], k[None, None], v[None, None], causal, scale)
        s = scale * (q_i @ k.T)
        if causal:
            s = s.masked_fill(torch.arange(T)[None, :] > rows[:, None], -torch.inf)
        return o[0, 0, rows], torch.logsumexp(s, dim=1)

    return tile


def _sdpa(q, k, v, causal, scale):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


TILE_SHORTCUTS = {
    "the package's attention_naive": (
        _via(attention_naive),
        "rnncourse.ops.softmax_attention.attention_naive",
    ),
    "the package's attention_tiled": (
        _via(lambda *a: reference.attention_tiled(*a, block_size=2)),
        "rnncourse.ops.softmax_attention.attention_tiled",
    ),
    "the package's softmax_attention": (
        _via(lambda *a: softmax_attention(*a, impl="naive")),
        "rnncourse.ops.softmax_attention.softmax_attention",
    ),
    "torch's scaled_dot_product_attention": (
        _via(_sdpa),
        "torch.nn.functional.scaled_dot_product_attention",
    ),
    "the checker's reference": (
        lambda *a: tile_reference(*a),
        "rnncourse.exercises.flash_attention.tile_reference",
    ),
}


def _tile_case():
    g = torch.Generator().manual_seed(4)
    q_i, k, v = (
        torch.randn(*s, generator=g, dtype=torch.float64)
        for s in [(3, 4), (9, 4), (9, 4)]
    )
    return q_i, k, v, 2, 4, True, 0.5


@pytest.mark.parametrize("name", TILE_SHORTCUTS)
def test_tile_rejects_whole_attention_implementations(name):
    fn, called = TILE_SHORTCUTS[name]
    _shortcut_message(check_attention_tile, fn, tile_reference, _tile_case(), called)


def test_tile_rejects_the_update_of_the_checker():
    tile = _tile_with(online_softmax_reference)
    assert "online_softmax_reference" in _message(check_attention_tile, tile)


TILE_PLANTED = {
    # the usual mistakes
    "scale twice": (_tile(scale_of=lambda c: c * c), "the scale is applied twice"),
    "no scale": (_tile(scale_of=lambda c: 1.0), "the scores are not scaled"),
    "diagonal masked": (_tile(mask=lambda j, i: j >= i), "query i sees key i itself"),
    "next key seen": (_tile(mask=lambda j, i: j > i + 1), "must not see key i + 1"),
    "tile start ignored": (
        _tile(from_tile_start=True),
        "ignores where the tile starts",
    ),
    "not normalised": (_tile(normalise=False), "the output is not normalised"),
    "L is the maximum": (_tile(lse_is_max=True), "L is the running maximum alone"),
    "sum not rescaled": (_tile(rescale=False), "the running sum is not rescaled"),
    # range: no maximum at all
    "no maximum": (_unstable_tile, "(in float32, for scores of size 50 to 200"),
    # the point: blocks, not all the scores at once
    "softmax over all keys": (_softmax_at_once, "computes the scores of all the keys"),
    "scores first, then blocks": (_scores_first, "a tensor of shape (8, 203)"),
    "blocks stacked": (_blocks_stacked, "computes the scores of all the keys"),
    # shapes: a last block shorter than the others
    "whole blocks only": (_whole_blocks_only, "attention_tile: "),
    # odd answers
    "L only": (lambda *a: _tile()(*a)[1], "expected 2 return value(s)"),
    "o and L swapped": (lambda *a: _tile()(*a)[::-1], "has shape"),
    "not solved": (_not_solved, "not solved yet"),
}


test_tile_rejects = _rejecting(TILE_PLANTED, check_attention_tile)


# --- exercise 3: the longest sequence -------------------------------------------------


def _root(memory_bytes, B, H, D, per=4, matrices=2, heads=True, out=True):
    """T from the quadratic formula, with one of the usual slips."""
    n, bh = memory_bytes / per, (B * H if heads else 1)
    a, b = matrices * bh, (B * H * D if out else 0)
    return int((-b + (b * b + 4 * a * n) ** 0.5) / (2 * a))


def _strict(memory_bytes, B, H, D, n=4):
    """A bisection that wants memory to spare: < instead of <=."""
    low, high = 0, 2**40
    while high - low > 1:
        mid = (low + high) // 2
        fits = memory_naive(B, H, mid, mid, D, bytes_per_number=n) < memory_bytes
        low, high = (mid, high) if fits else (low, mid)
    return low


def _from_one(memory_bytes, B, H, D, n=4):
    """A bisection that starts at T = 1, as if one step always fit."""
    return max(_longest_by_search(memory_bytes, B, H, D, n), 1)


LONGEST_PLANTED = {
    # the usual mistakes
    "one matrix": (
        lambda M, B, H, D, n: _root(M, B, H, D, n, matrices=1),
        "you counted one T x T matrix",
    ),
    "numbers not bytes": (
        lambda M, B, H, D, n: _root(M, B, H, D, per=1),
        "you counted numbers, not bytes",
    ),
    "bits": (
        lambda M, B, H, D, n: _root(M, B, H, D, per=32),
        "you counted bits per number",
    ),
    "one head": (
        lambda M, B, H, D, n: _root(M, B, H, D, n, heads=False),
        "you left out the batch and the heads",
    ),
    "output left out": (
        lambda M, B, H, D, n: _root(M, B, H, D, n, out=False),
        "you left out the output o",
    ),
    "first that fails": (
        lambda *a: _longest_by_search(*a) + 1,
        "that length just runs out",
    ),
    # boundaries: exactly the memory of T, and less than one step
    "memory to spare": (_strict, "but T = 16384 still fits"),
    "one step always fits": (_from_one, "got T = 1, expected T = 0"),
    # shortcuts
    "the reference": (longest_naive_reference, "longest_naive_reference"),
    # odd answers
    "a float": (
        lambda M, B, H, D, n: (M / n / (2 * B * H)) ** 0.5,
        "expected a whole number (an int), got a Python float",
    ),
    "a whole float": (
        lambda *a: float(_longest_by_search(*a)),
        "int(...) or // gives one",
    ),
    "a NumPy float": (
        lambda *a: np.float64(_longest_by_search(*a)),
        "got a NumPy number",
    ),
    "a bool": (lambda *a: True, "got a Python bool"),
    "a string": (lambda *a: str(_longest_by_search(*a)), "got a Python str"),
    "a float tensor": (
        lambda *a: torch.tensor(float(_longest_by_search(*a))),
        "got a Tensor",
    ),
    "None": (lambda *a: None, "your function returned None"),
    "not solved": (_not_solved, "not solved yet"),
}


test_longest_rejects = _rejecting(LONGEST_PLANTED, check_longest_naive)


# --- one sentence per mistake ---------------------------------------------------------

USUAL = [
    (check_online_softmax_update, ONLINE_PLANTED, list(ONLINE_PLANTED)[:7]),
    (check_attention_tile, TILE_PLANTED, list(TILE_PLANTED)[:8]),
    (check_longest_naive, LONGEST_PLANTED, list(LONGEST_PLANTED)[:6]),
]


@pytest.mark.parametrize("checker,planted,names", USUAL, ids=["online", "tile", "T"])
def test_each_usual_mistake_gets_its_own_message(checker, planted, names):
    _each_its_own_message(checker, [planted[name][0] for name in names])
