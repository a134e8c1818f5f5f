"""Chapter 8's checkers accept the reference and independent solutions, and reject
planted mistakes, each with its own sentence."""

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

from ._helpers import _message, _not_solved, _shortcut_message


def _online_via_logaddexp(m, l, acc, s, v):
    """An independent solution: log(e^m l + sum e^s) by logaddexp, the output rescaled
    to the new maximum."""
    m_new = torch.maximum(m, s.amax(dim=1))
    log_total = torch.logaddexp(m + torch.log(l), torch.logsumexp(s, dim=1))
    return (
        m_new,
        torch.exp(log_total - m_new),
        torch.exp(m - m_new)[:, None] * acc + torch.exp(s - m_new[:, None]) @ v,
    )


def _tile_at_once(q_i, k, v, i0, block_size, causal, scale):
    """An independent solution: the tile's whole score matrix at once, no blocks."""
    rows = torch.arange(i0, i0 + q_i.shape[0])
    s = scale * (q_i @ k.T)
    if causal:
        s = s.masked_fill(torch.arange(k.shape[0])[None, :] > rows[:, None], -torch.inf)
    L = torch.logsumexp(s, dim=1)
    return torch.exp(s - L[:, None]) @ v, L


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


def _longest_by_search(memory_bytes, B, H, D, bytes_per_number=4):
    """An independent solution: bisection on T with the memory formula."""
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


def test_references_pass(capsys):
    for fn in (online_softmax_reference, _online_via_logaddexp):
        check_online_softmax_update(fn)
    for fn in (tile_reference, _tile_at_once):
        check_attention_tile(fn)
    for fn in (longest_naive_reference, _longest_by_search):
        check_longest_naive(fn)
    assert capsys.readouterr().out.count("correct on all") == 6


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


ONLINE_PLANTED = {
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
        lambda *a: tuple(x.detach() for x in online_softmax_reference(*a)),
        "no gradient flows",
    ),
    "transposed output": (
        lambda *a: (
            online_softmax_reference(*a)[:2] + (online_softmax_reference(*a)[2].T,)
        ),
        "acc has shape",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", ONLINE_PLANTED)
def test_online_softmax_rejects(name):
    fn, expected = ONLINE_PLANTED[name]
    assert expected in _message(check_online_softmax_update, fn)


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


TILE_PLANTED = {
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
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", TILE_PLANTED)
def test_tile_rejects(name):
    fn, expected = TILE_PLANTED[name]
    assert expected in _message(check_attention_tile, fn)


def _root(memory_bytes, B, H, D, per=4, matrices=2, heads=True, out=True):
    """T from the quadratic formula, with one of the usual slips."""
    n, bh = memory_bytes / per, (B * H if heads else 1)
    a, b = matrices * bh, (B * H * D if out else 0)
    return int((-b + (b * b + 4 * a * n) ** 0.5) / (2 * a))


LONGEST_PLANTED = {
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
    "a float": (
        lambda M, B, H, D, n: (M / n / (2 * B * H)) ** 0.5,
        "expected a whole number of steps",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", LONGEST_PLANTED)
def test_longest_rejects(name):
    fn, expected = LONGEST_PLANTED[name]
    assert expected in _message(check_longest_naive, fn)
