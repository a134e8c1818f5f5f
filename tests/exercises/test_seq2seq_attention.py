"""Chapter 5's checkers accept right answers written in many ways and reject planted
wrong ones, each with its own sentence.

The planted answers are written here, independently of the checkers' lists of usual
mistakes, and grouped by the loophole they try: 1 numerical range (float32 scores of
size 100, beam scores of -1000), 3 the legal input shapes (padding anywhere, beams at
-inf, k up to K V, ties), 4 the tolerance (answers that are nearly right), 5
shortcuts (the package's implementations), 6 odd return values (a checker never
crashes). Right variants (7) are accepted.
"""

import pytest
import torch

import rnncourse.nn.cross_attention
from rnncourse.exercises import (
    check_additive_score,
    check_beam_step,
    check_masked_softmax,
)
from rnncourse.exercises.seq2seq_attention import (
    _beam_cases,
    additive_score_reference,
    beam_step_reference,
    masked_softmax_reference,
)
from rnncourse.nn import CrossAttention, beam_step, masked_softmax
from rnncourse.nn.cross_attention import AdditiveScore

from ._helpers import (
    ODD_RETURNS,
    _accepting,
    _cached_message,
    _distinct_usual_mistakes,
    _message,
    _not_solved,
    _refusing_non_functions,
    _rejecting,
    _shortcut_message,
)

NEG_INF = float("-inf")
E = torch.exp


def test_references_pass(capsys):
    check_additive_score(additive_score_reference)
    check_masked_softmax(masked_softmax_reference)
    check_beam_step(beam_step_reference)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 3 and out.count("\n") == 3


def test_the_references_are_the_package_s():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(3, 5, generator=g, dtype=torch.float64) * 2
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [0, 0, 1, 0, 0]]).bool()
    torch.testing.assert_close(
        masked_softmax_reference(scores, mask), masked_softmax(scores, mask)
    )
    for args, _ in _beam_cases():
        expected = beam_step(*args)
        for got, want in zip(beam_step_reference(*args), expected):
            torch.testing.assert_close(got, want)


# --- class 6: odd answers, for every checker -----------------------------------------

ODD = {
    **ODD_RETURNS,
    "a tuple of two": (lambda *a: (torch.zeros(3),) * 2, "."),
    "a dict": (lambda *a: {"scores": 0}, "dict"),
}

CHECKERS = [check_additive_score, check_masked_softmax, check_beam_step]


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("odd", ODD)
def test_odd_answers_get_a_sentence(checker, odd):
    fn, expected = ODD[odd]
    assert expected in _message(checker, fn)


def _beam_step_on_meta(scores, log_probs, k):
    return tuple(t.to("meta") for t in beam_step_reference(scores, log_probs, k))


def _beam_step_nan(scores, log_probs, k):
    top, beam, token = beam_step_reference(scores, log_probs, k)
    return torch.full_like(top, float("nan")), beam, token


BEAM_ODD = {
    "three tensors on another device": (_beam_step_on_meta, "on the device meta"),
    "NaN scores": (_beam_step_nan, "top_scores contains NaN (for B=2"),
    "a tuple of four": (
        lambda *a: (*beam_step_reference(*a), None),
        "got 4 values",
    ),
    "a float index": (
        lambda *a: (lambda t, b, v: (t, b.double(), v))(*beam_step_reference(*a)),
        "beam has dtype torch.float64",
    ),
}


test_odd_beam_steps_get_a_sentence = _rejecting(BEAM_ODD, check_beam_step)


test_an_answer_that_is_not_a_function_gets_a_sentence = _refusing_non_functions(
    CHECKERS, None, "expected a function, got None"
)


# --- the additive score ------------------------------------------------------------


def _score(q, k, W_q, W_k, v, tanh=torch.tanh):
    return tanh((q @ W_q.T)[:, None, :] + k @ W_k.T) @ v


def _score_by_einsum(query, keys, W_q, W_k, v):
    return torch.einsum(
        "a,bsa->bs",
        v,
        torch.tanh(
            torch.einsum("aq,bq->ba", W_q, query)[:, None]
            + torch.einsum("ak,bsk->bsa", W_k, keys)
        ),
    )


def _score_by_linear(query, keys, W_q, W_k, v):
    F = torch.nn.functional
    hidden = torch.tanh(F.linear(query, W_q).unsqueeze(1) + F.linear(keys, W_k))
    return (hidden * v).sum(-1)


def _score_in_place(query, keys, W_q, W_k, v):
    hidden = keys @ W_k.T
    hidden += (query @ W_q.T)[:, None]
    return hidden.tanh_() @ v


ADDITIVE_RIGHT = {
    "einsum": _score_by_einsum,
    "F.linear and a weighted sum": _score_by_linear,
    "in place": _score_in_place,
    "tanh as 2 sigmoid(2a) - 1": lambda *a: _score(
        *a, tanh=lambda z: 2 * torch.sigmoid(2 * z) - 1
    ),
    "keys first, unsqueeze": lambda q, k, Wq, Wk, v: torch.tanh(
        torch.matmul(k, Wk.T) + torch.matmul(q, Wq.T).unsqueeze(-2)
    ).matmul(v),
}


test_additive_score_accepts = _accepting(
    ADDITIVE_RIGHT, check_additive_score, "correct on all 6 test cases"
)


def _score_by_the_package(query, keys, W_q, W_k, v):
    module = AdditiveScore(query.shape[1], keys.shape[2], v.shape[0]).to(query.dtype)
    params = {"W_q.weight": W_q, "W_k.weight": W_k, "v.weight": v[None]}
    return torch.func.functional_call(module, params, (query, keys @ W_k.T))


def _score_by_cross_attention_s_module(query, keys, W_q, W_k, v):
    """The score module inside the package's CrossAttention: its AdditiveScore."""
    layer = CrossAttention(query.shape[1], keys.shape[2], v.shape[0], "additive")
    params = {
        "score.W_q.weight": W_q,
        "score.W_k.weight": W_k,
        "score.v.weight": v[None],
    }
    layer = layer.to(query.dtype)
    return torch.func.functional_call(
        layer.score, {k[6:]: p for k, p in params.items()}, (query, keys @ W_k.T)
    )


def _weights_by_cross_attention(query, keys, W_q, W_k, v):
    """Runs the package's CrossAttention (to compare with), then returns the right
    scores."""
    layer = CrossAttention(query.shape[1], keys.shape[2], v.shape[0]).to(query.dtype)
    layer(query, keys, torch.ones(keys.shape[:2], dtype=torch.bool))
    return _score(query, keys, W_q, W_k, v)


ADDITIVE_PLANTED = {
    # 1: numerical range
    "tanh as (exp(2a) - 1) / (exp(2a) + 1)": (
        lambda *a: _score(*a, tanh=lambda z: (E(2 * z) - 1) / (E(2 * z) + 1)),
        "a tanh written with exp",
        1,
    ),
    "tanh as (exp(a) - exp(-a)) / (exp(a) + exp(-a))": (
        lambda *a: _score(*a, tanh=lambda z: (E(z) - E(-z)) / (E(z) + E(-z))),
        "queries and keys of size about 100",
        1,
    ),
    # 3: every legal shape
    "W_q q without an axis for the positions": (
        lambda q, k, Wq, Wk, v: torch.tanh(q @ Wq.T + k @ Wk.T) @ v,
        "give the first an axis of length 1",
        3,
    ),
    "squeezed": (
        lambda *a: additive_score_reference(*a).squeeze(),
        "should have shape (1, 1)",
        3,
    ),
    "W_q for the keys too": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] + k @ Wq.T) @ v,
        "cannot be multiplied",
        3,
    ),
    "float64 whatever the inputs": (
        lambda *a: additive_score_reference(*(t.double() for t in a)),
        "dtype torch.float64",
        3,
    ),
    # 4: nearly right
    "hard tanh": (
        lambda *a: _score(*a, tanh=lambda z: torch.clamp(z, -1, 1)),
        "is wrong at",
        4,
    ),
    "scaled by 1 / sqrt(A)": (
        lambda q, k, Wq, Wk, v: _score(q, k, Wq, Wk, v) / v.shape[0] ** 0.5,
        "is wrong at",
        4,
    ),
    # 5: shortcuts
    "the package's AdditiveScore": (
        _score_by_the_package,
        "calls rnncourse.nn.cross_attention.AdditiveScore",
        5,
    ),
    "the score module of CrossAttention": (
        _score_by_cross_attention_s_module,
        "calls rnncourse.nn.cross_attention.AdditiveScore",
        5,
    ),
    "the package's CrossAttention": (
        _weights_by_cross_attention,
        "calls rnncourse.nn.cross_attention.CrossAttention",
        5,
    ),
    # the usual mistakes
    "no tanh": (
        lambda q, k, Wq, Wk, v: ((q @ Wq.T)[:, None] + k @ Wk.T) @ v,
        "without its tanh",
        0,
    ),
    "query ignored": (
        lambda q, k, Wq, Wk, v: torch.tanh(k @ Wk.T) @ v,
        "ignore the query",
        0,
    ),
    "v ignored": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] + k @ Wk.T).sum(-1),
        "weight them with v",
        0,
    ),
    "softmax returned": (
        lambda q, k, Wq, Wk, v: torch.softmax(
            additive_score_reference(q, k, Wq, Wk, v), 1
        ),
        "returned alignment weights",
        0,
    ),
    "multiplicative": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] * (k @ Wk.T)) @ v,
        "multiplied",
        0,
    ),
    "W_k not transposed": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] + k @ Wk) @ v,
        "keys @ W_k.T",
        0,
    ),
    "detached": (
        lambda q, k, Wq, Wk, v: additive_score_reference(q, k, Wq, Wk, v).detach(),
        "no gradient flows",
        0,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_additive_score_rejects = _rejecting(
    ADDITIVE_PLANTED, check_additive_score, _cached_message
)


def test_the_shortcuts_give_the_right_scores():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 4, generator=g), torch.randn(2, 3, 5, generator=g)
    W_q, W_k, v = (torch.randn(*s, generator=g) for s in [(6, 4), (6, 5), (6,)])
    expected = additive_score_reference(q, k, W_q, W_k, v)
    torch.testing.assert_close(_score_by_the_package(q, k, W_q, W_k, v), expected)


# --- the masked softmax --------------------------------------------------------------


def _renormalised(scores, mask, over_all=False):
    """exp(e - max) times the mask, divided by its sum."""
    where = scores if over_all else scores.masked_fill(~mask, NEG_INF)
    w = E(scores - where.amax(-1, keepdim=True)) * mask
    return w / w.sum(-1, keepdim=True)


def _by_log_sum_exp(scores, mask):
    masked = torch.where(mask, scores, torch.full_like(scores, NEG_INF))
    return E(masked - torch.logsumexp(masked, -1, keepdim=True))


def _in_place(scores, mask):
    scores.masked_fill_(~mask, NEG_INF)  # changes the caller's tensor
    return torch.softmax(scores, dim=-1)


MASKED_RIGHT = {
    "masked_fill": lambda e, m: torch.softmax(e.masked_fill(~m, NEG_INF), -1),
    "torch.where": lambda e, m: torch.softmax(
        torch.where(m, e, torch.tensor(NEG_INF, dtype=e.dtype)), -1
    ),
    "adding -inf": lambda e, m: torch.softmax(
        e + torch.zeros_like(e).masked_fill(~m, NEG_INF), -1
    ),
    "adding -1e9": lambda e, m: torch.nn.functional.softmax(e - 1e9 * (~m), dim=1),
    "the dtype's lowest number": lambda e, m: torch.softmax(
        e.masked_fill(~m, torch.finfo(e.dtype).min), -1
    ),
    "renormalised, max over the real positions": _renormalised,
    "renormalised, max over all positions": lambda e, m: _renormalised(e, m, True),
    "log-sum-exp": _by_log_sum_exp,
    "log_softmax, then exp": lambda e, m: torch.log_softmax(
        e.masked_fill(~m, NEG_INF), -1
    ).exp(),
    "in place on the scores": _in_place,
}


test_masked_softmax_accepts = _accepting(
    MASKED_RIGHT, check_masked_softmax, "correct on all 9 test cases"
)


def _as_if_padding_at_the_end(scores, mask):
    """Keeps the first L positions, L the number of True in each row."""
    lengths = mask.sum(-1)
    prefix = torch.arange(scores.shape[-1])[None, :] < lengths[:, None]
    return torch.softmax(scores.masked_fill(~prefix, NEG_INF), -1)


def _padding_from_the_last_true(scores, mask):
    """Keeps every position up to the last True: the holes keep their weight."""
    last = (mask * torch.arange(1, scores.shape[-1] + 1)).amax(-1, keepdim=True)
    prefix = torch.arange(1, scores.shape[-1] + 1) <= last
    return torch.softmax(scores.masked_fill(~prefix, NEG_INF), -1)


def _detached_fill(scores, mask):
    e = scores.clone()
    e[~mask] = -1e9
    return torch.softmax(e, -1).detach()


MASKED_PLANTED = {
    # 1: numerical range
    "exp without the maximum": (
        lambda e, m: (lambda w: w / w.sum(-1, keepdim=True))(E(e) * m),
        "exp overflows float32",
        1,
    ),
    "exp of the masked scores without the maximum": (
        lambda e, m: (lambda w: w / w.sum(-1, keepdim=True))(
            E(e.masked_fill(~m, NEG_INF))
        ),
        "subtract the row's largest real score",
        1,
    ),
    # 3: padding anywhere
    "padding assumed at the end": (
        _as_if_padding_at_the_end,
        "as if the padding were always at the end",
        3,
    ),
    "holes in the mask ignored": (
        _padding_from_the_last_true,
        "padded positions get weight",
        3,
    ),
    "float64 whatever the inputs": (
        lambda e, m: masked_softmax_reference(e.double(), m),
        "dtype torch.float64",
        3,
    ),
    # 4: nearly right
    "padding filled with -5": (
        lambda e, m: torch.softmax(e.masked_fill(~m, -5.0), -1),
        "is wrong at",
        4,
    ),
    "a floor of 1e-6 in the normaliser": (
        lambda e, m: (lambda w: w / (w.sum(-1, keepdim=True) + 1e-6))(
            E(e - e.amax(-1, keepdim=True)) * m
        ),
        "is wrong at",
        4,
    ),
    # the usual mistakes
    "padding not masked": (
        lambda e, m: torch.softmax(e, -1),
        "padded positions get weight",
        0,
    ),
    "wrong axis": (
        lambda e, m: torch.softmax(e.masked_fill(~m, NEG_INF), 0),
        "wrong axis",
        0,
    ),
    "not renormalised": (
        lambda e, m: torch.softmax(e, -1) * m,
        "no longer sum to 1",
        0,
    ),
    "padding set to zero": (
        lambda e, m: torch.softmax(e * m, -1),
        "exp(0) still gives them weight",
        0,
    ),
    "mask inverted": (
        lambda e, m: torch.softmax(e.masked_fill(m, NEG_INF), -1),
        "wrong way round",
        0,
    ),
    "not normalised": (lambda e, m: E(e) * m, "not normalised", 0),
    "detached": (_detached_fill, "no gradient flows", 0),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_masked_softmax_rejects = _rejecting(
    MASKED_PLANTED, check_masked_softmax, _cached_message
)


def _masked_case():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(3, 5, generator=g, dtype=torch.float64) * 2
    return scores, torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [1, 0, 0, 0, 0]])


MASKED_SOFTMAX_SHORTCUTS = {
    "the package's function itself": masked_softmax,
    "imported by name": lambda e, m: masked_softmax(e, m),
    "through its module": lambda e, m: rnncourse.nn.cross_attention.masked_softmax(
        e, m
    ),
}


@pytest.mark.parametrize("name", MASKED_SOFTMAX_SHORTCUTS)
def test_masked_softmax_rejects_the_package_s(name):
    scores, mask = _masked_case()
    _shortcut_message(
        check_masked_softmax,
        MASKED_SOFTMAX_SHORTCUTS[name],
        masked_softmax_reference,
        (scores, mask.bool()),
        "rnncourse.nn.cross_attention.masked_softmax",
    )


def test_a_prefix_only_softmax_is_right_on_prefix_masks():
    scores, _ = _masked_case()
    prefix = torch.arange(5)[None, :] < torch.tensor([[5], [2], [1]])
    torch.testing.assert_close(
        _as_if_padding_at_the_end(scores, prefix),
        masked_softmax_reference(scores, prefix),
    )


# --- one step of beam search ---------------------------------------------------------


def _topk(scores, log_probs, k):
    B, K, V = log_probs.shape
    top, flat = torch.topk((scores.unsqueeze(-1) + log_probs).view(B, -1), k)
    return top, torch.div(flat, V, rounding_mode="floor"), torch.remainder(flat, V)


def _by_sort(scores, log_probs, k):
    """Right: a stable descending sort, which may order ties unlike topk."""
    B, K, V = log_probs.shape
    flat = (scores[..., None] + log_probs).flatten(1)
    top, index = flat.sort(dim=-1, descending=True, stable=True)
    return top[:, :k], index[:, :k] // V, index[:, :k] % V


def _by_argsort_flipped(scores, log_probs, k):
    """Right: an ascending stable argsort read from the end (ties come last index
    first)."""
    B, K, V = log_probs.shape
    flat = (scores[..., None] + log_probs).flatten(1)
    index = flat.argsort(dim=-1, stable=True).flip(-1)[:, :k]
    return flat.gather(1, index), index // V, index % V


def _by_repeated_argmax(scores, log_probs, k):
    """Right: k times the arg-max, each winner then set to -inf (so the dead candidates
    at the end may repeat an index)."""
    B, K, V = log_probs.shape
    flat = (scores[..., None] + log_probs).flatten(1).clone()
    tops, indices = [], []
    for _ in range(k):
        top, index = flat.max(-1)
        tops.append(top)
        indices.append(index)
        flat[torch.arange(B), index] = NEG_INF
    index = torch.stack(indices, 1)
    return torch.stack(tops, 1), index // V, index % V


def _in_place_on_log_probs(scores, log_probs, k):
    B, K, V = log_probs.shape
    log_probs += scores[..., None]  # changes the caller's tensor
    top, index = log_probs.reshape(B, K * V).topk(k)
    return top, index // V, index % V


BEAM_RIGHT = {
    "topk, div and remainder": _topk,
    "a stable sort": _by_sort,
    "an argsort read from the end": _by_argsort_flipped,
    "repeated arg-max": _by_repeated_argmax,
    "in place on log_probs": _in_place_on_log_probs,
    "as a list": lambda *a: list(_topk(*a)),
}


test_beam_step_accepts = _accepting(
    BEAM_RIGHT, check_beam_step, "correct on all 12 test cases"
)


def test_the_cases_have_ties_that_right_answers_order_differently():
    """The right variants above differ from torch.topk's order on the tied beams and
    on the dead candidates at -inf, yet they pass."""
    cases = {where: args for args, where in _beam_cases()}
    tied = next(args for where, args in cases.items() if "identical" in where)
    dead = next(args for where, args in cases.items() if "finite candidates" in where)
    for args, variants in [
        (tied, [_by_sort, _by_argsort_flipped, _by_repeated_argmax]),
        (dead, [_by_sort, _by_repeated_argmax]),
    ]:
        expected = beam_step_reference(*args)
        for variant in variants:
            got = variant(*args)
            torch.testing.assert_close(got[0], expected[0])
            assert not (
                torch.equal(got[1], expected[1]) and torch.equal(got[2], expected[2])
            )


def _probabilities_multiplied(scores, log_probs, k):
    B, K, V = log_probs.shape
    flat = torch.log(scores.exp()[..., None] * log_probs.exp()).reshape(B, K * V)
    top, index = flat.topk(k)
    return top, index // V, index % V


def _finite_only(scores, log_probs, k):
    """Replaces -inf by -1e4 first, so that dead beams compete with finite scores."""
    return _topk(scores.clamp(min=-1e4), log_probs.clamp(min=-1e4), k)


def _clamped_k(scores, log_probs, k):
    """Never more than K results."""
    return _topk(scores, log_probs, min(k, log_probs.shape[1]))


def _same_pair_for_ties(scores, log_probs, k):
    """Picks the first of tied candidates for each of them: a pair repeated."""
    top, beam, token = _topk(scores, log_probs, k)
    flat = (scores[..., None] + log_probs).flatten(1)
    first = (flat[:, None, :] == top[:, :, None]).float().argmax(-1)  # (B, k)
    V = log_probs.shape[2]
    return top, first // V, first % V


def _decoded_by_K(scores, log_probs, k):
    """beam = index % K and token = index // K."""
    B, K, V = log_probs.shape
    top, index = (scores[..., None] + log_probs).reshape(B, -1).topk(k)
    return top, index % K, index // K


def _ascending(scores, log_probs, k):
    top, beam, token = _topk(scores, log_probs, k)
    return top.flip(-1), beam.flip(-1), token.flip(-1)


def _float32_scores(scores, log_probs, k):
    top, beam, token = _topk(scores, log_probs, k)
    return top.float(), beam, token


BEAM_PLANTED = {
    # 1: numerical range
    "probabilities multiplied, then the log": (
        _probabilities_multiplied,
        "exp(-1000) is 0 even in float64",
        1,
    ),
    # 3: every legal shape
    "dead beams given -1e4 instead of -inf": (_finite_only, "is wrong at batch", 3),
    "k clamped to K": (_clamped_k, "should have shape (2, 3)", 3),
    "a tied candidate picked twice": (
        _same_pair_for_ties,
        "picks the same continuation (beam, token) twice",
        3,
    ),
    "float32 scores whatever the inputs": (
        _float32_scores,
        "top_scores has dtype torch.float32",
        3,
    ),
    # 4: nearly right
    "worst first": (_ascending, "not in order", 4),
    "token shifted by one": (
        lambda *a: (lambda t, b, v: (t, b, (v + 1) % a[1].shape[2]))(*_topk(*a)),
        "do not give its score",
        4,
    ),
    # 5: shortcuts
    "the package's beam_step": (beam_step, "calls rnncourse.nn.seq2seq.beam_step", 5),
    "the package's beam_step, called by name": (
        lambda s, lp, k: beam_step(s, lp, k),
        "calls rnncourse.nn.seq2seq.beam_step",
        5,
    ),
    # the usual mistakes
    "not accumulated": (lambda s, lp, k: _topk(0 * s, lp, k), "history", 0),
    "multiplied in log space": (
        lambda s, lp, k: _topk(torch.zeros_like(s), s[..., None] * lp, k),
        "log-probabilities add",
        0,
    ),
    "probabilities added": (
        lambda s, lp, k: _topk(s, lp.exp(), k),
        "added probabilities",
        0,
    ),
    "index decoded wrongly": (_decoded_by_K, "the wrong way", 0),
    "lowest kept": (
        lambda s, lp, k: (lambda t: (t[0].neg(), t[1], t[2]))(_topk(-s, -lp, k)),
        "lowest scores",
        0,
    ),
    "tuple of two": (
        lambda s, lp, k: _topk(s, lp, k)[:2],
        "expected 3 return values",
        0,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_beam_step_rejects = _rejecting(BEAM_PLANTED, check_beam_step, _cached_message)


# --- every checker -------------------------------------------------------------------

PLANTED = {
    check_additive_score: ADDITIVE_PLANTED,
    check_masked_softmax: MASKED_PLANTED,
    check_beam_step: BEAM_PLANTED,
}


# The planted versions of the usual mistakes (class 0) each get their own sentence.
# (Planted answers of the other classes may share one: two tanh written with exp both
# overflow, two ways to call the same function both name it, padding given weight in
# the holes of a mask is padding given weight.)
test_each_usual_mistake_gets_its_own_message = _distinct_usual_mistakes(
    PLANTED, 0, _cached_message
)
