"""Checkers for chapter 5 (sequence to sequence with attention): the additive
attention score, the masked softmax, and one step of beam search.

Each ``check_<name>(student_fn)`` tests the student's function on several
shapes and edge cases against the reference, and names the usual mistakes.

Beyond the usual mistakes, the checkers close the loopholes a plausible answer could
slip through: float32 inputs at the scale of real use, where a tanh or a softmax
written with an ``exp`` that overflows gives NaN (named as such), and beam scores of
about -1000, where probabilities underflow; masks with padding anywhere, not only at
the end; beams already at -inf, k up to K * V, ties. While the student's function
runs, the package's own implementation of the exercise is off limits.
"""

from __future__ import annotations

import torch

import rnncourse.nn.cross_attention
import rnncourse.nn.seq2seq
from rnncourse.exercises.checker import (
    Case,
    Group,
    Guard,
    Mistake,
    Output,
    check_in_groups,
    comparing,
    fail,
    fresh_copies,
    kind_of,
    require_function,
)

NEG_INF = float("-inf")

# --- Exercise 1: the additive score --------------------------------------


def additive_score_reference(query, keys, W_q, W_k, v):
    """query: (B, D_q), keys: (B, S, D_k), W_q: (A, D_q), W_k: (A, D_k), v: (A,)
    -> scores (B, S)."""
    # e_j = v^T tanh(W_q q + W_k k_j), in row-vector form
    return torch.tanh((query @ W_q.T)[:, None, :] + keys @ W_k.T) @ v


def _additive_args(B: int, S: int, D_q: int, D_k: int, A: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    return r(B, D_q), r(B, S, D_k), r(A, D_q) / D_q**0.5, r(A, D_k) / D_k**0.5, r(A)


def _large_additive_args(B: int, S: int, D_q: int, D_k: int, A: int, seed: int):
    """float32 queries and keys of size about 100: W_q q + W_k k_j reaches a few
    hundred, where exp overflows float32. The first seed from ``seed`` on where every
    unit is saturated (|W_q q + W_k k_j| > 10, tanh = +-1 in float32), so that every
    right order of operations gives the same scores to float32's precision."""
    while True:
        q, k, W_q, W_k, v = _additive_args(B, S, D_q, D_k, A, seed)
        q, k = 100 * q, 100 * k
        if ((q @ W_q.T)[:, None, :] + k @ W_k.T).abs().min() > 10:
            return tuple(t.float() for t in (q, k, W_q, W_k, v))
        seed += 1


ADDITIVE_MISTAKES = [
    Mistake(
        lambda q, k, W_q, W_k, v: ((q @ W_q.T)[:, None] + k @ W_k.T) @ v,
        "your scores equal the additive score without its tanh: apply torch.tanh "
        "before the product with v",
    ),
    Mistake(
        lambda q, k, W_q, W_k, v: torch.tanh(k @ W_k.T) @ v,
        "your scores ignore the query: add W_q q to every W_k k_j (the same vector, "
        "broadcast over the source positions)",
    ),
    Mistake(
        lambda q, k, W_q, W_k, v: torch.tanh((q @ W_q.T)[:, None] + k @ W_k.T).sum(-1),
        "you summed the units of tanh(W_q q + W_k k_j): weight them with v instead (a "
        "dot product with v)",
    ),
    Mistake(
        lambda q, k, W_q, W_k, v: torch.softmax(
            additive_score_reference(q, k, W_q, W_k, v), dim=-1
        ),
        "you returned alignment weights (a softmax of the scores): return the raw "
        "scores e_j, the softmax comes afterwards",
    ),
    Mistake(
        lambda q, k, W_q, W_k, v: torch.tanh((q @ W_q.T)[:, None] * (k @ W_k.T)) @ v,
        "you multiplied W_q q and W_k k_j: the additive score adds them inside the "
        "tanh",
    ),
]

#: The package's own score, and the attention module that contains it.
ADDITIVE_SHORTCUTS = [
    (rnncourse.nn.cross_attention, "AdditiveScore"),
    (rnncourse.nn.cross_attention, "CrossAttention"),
]


def _additive_hint(err: Exception) -> str | None:
    """A hint for the two shape errors of this exercise."""
    text = str(err)
    if "cannot be multiplied" in text:
        return (
            "the weights have shapes W_q (A, D_q) and W_k (A, D_k), so in row-vector "
            "form the products are query @ W_q.T and keys @ W_k.T"
        )
    if "must match the size of tensor" in text:
        return (
            "W_q q has shape (B, A) and the W_k k_j (B, S, A): give the first an axis "
            "of length 1 for the source positions, (query @ W_q.T)[:, None, :], so "
            "that it broadcasts over them"
        )
    return None


def check_additive_score(additive_score) -> None:
    """Check ``additive_score(query, keys, W_q, W_k, v) -> scores`` against the
    reference.

    Cases: float64 inputs where D_q, D_k and A differ (a batch of one, a single
    source position, A = 1 among them), values and gradients compared to 1e-6; then
    float32 queries and keys of size about 100, compared to 1e-5, where a tanh
    written with an exp that overflows gives NaN and is named. Accepted: any order of
    operations (matmul, einsum, torch.nn.functional.linear, W_k k_j computed first),
    torch.tanh or a stable formula, changing the arguments in place. Off limits: the
    package's AdditiveScore and CrossAttention."""
    sizes = [(2, 5, 4, 6, 3), (1, 1, 2, 3, 4), (3, 7, 5, 5, 8), (4, 2, 3, 1, 2)]
    sizes += [(1, 3, 2, 5, 1)]
    describe = "(for B={}, S={}, D_q={}, D_k={}, A={})".format
    groups = [
        Group(
            [
                Case(_additive_args(*size, seed=30 + i), describe(*size))
                for i, size in enumerate(sizes)
            ]
        ),
        Group(
            [
                Case(
                    _large_additive_args(2, 6, 5, 3, 4, seed=300),
                    "(for B=2, S=6, D_q=5, D_k=3, A=4, in float32, with queries and "
                    "keys of size about 100)",
                )
            ],
            rtol=1e-5,
            atol=1e-5,
            overflow=(
                "W_q q + W_k k_j reaches a few hundred there, and exp overflows "
                "float32 beyond 88.7, so a tanh written with exp, such as "
                "(exp(2a) - 1) / (exp(2a) + 1), gives inf / inf = NaN; use torch.tanh"
            ),
        ),
    ]
    check_in_groups(
        "additive_score",
        additive_score,
        additive_score_reference,
        groups,
        [Output("scores", ("batch", "source position"))],
        ADDITIVE_MISTAKES,
        forbidden=ADDITIVE_SHORTCUTS,
        explain=_additive_hint,
    )


# --- Exercise 2: the masked softmax ---------------------------------------


def _mask(rows: list[str]) -> torch.Tensor:
    """A mask from strings such as "1101": True on the real positions."""
    return torch.tensor([[c == "1" for c in row] for row in rows])


def _masked_softmax_args(rows: list[str], seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    mask = _mask(rows)
    scores = torch.randn(*mask.shape, generator=g, dtype=torch.float64) * 2
    return scores, mask


def _large_masked_softmax_args() -> tuple:
    """float32 scores of size about 100, as scores of large vectors reach: a row
    around +100 (exp overflows float32 beyond 88.7), one around -110 (exp underflows
    to 0) and one spread over [-100, 100]; padding anywhere, its scores never above
    the row's largest real score."""
    g = torch.Generator().manual_seed(47)
    mask = _mask(["0110110", "1011101", "0100011"])
    u = torch.rand(3, 7, generator=g, dtype=torch.float64)
    scores = torch.stack([80 + 20 * u[0], -120 + 15 * u[1], -100 + 200 * u[2]])
    real_max = scores.masked_fill(~mask, NEG_INF).amax(-1, keepdim=True)
    scores = torch.where(mask, scores, torch.minimum(scores, real_max - 1))
    return scores.float(), mask


def masked_softmax_reference(scores, mask):
    """scores: (B, S), mask: (B, S) bool, True on real positions -> weights (B, S),
    0 on padding, each row summing to 1 over its real positions."""
    # alpha_j = m_j exp(e_j - max) / sum_k m_k exp(e_k - max), the max over real e_k
    masked = scores.masked_fill(~mask, NEG_INF)  # exp(-inf) = 0: no weight
    e = torch.exp(masked - masked.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


#: The package's own answer to exercise 2 (torch.softmax itself is allowed: the
#: exercise is the mask).
MASKED_SOFTMAX_SHORTCUTS = [(rnncourse.nn.cross_attention, "masked_softmax")]


def _as_if_prefix(e, m):
    """The softmax over the first L positions of each row, L the number of True."""
    prefix = torch.arange(m.shape[-1]) < m.sum(-1, keepdim=True)
    return masked_softmax_reference(e, prefix)


MASKED_SOFTMAX_MISTAKES = [
    Mistake(
        lambda e, m: torch.softmax(e, dim=-1),
        "padded positions get weight: set their scores to -inf "
        "(scores.masked_fill(~mask, float('-inf'))) before the softmax",
    ),
    Mistake(
        lambda e, m: torch.softmax(e.masked_fill(~m, NEG_INF), dim=0),
        "your softmax runs over the wrong axis (the batch): normalise over the source "
        "positions, the last axis, so that each row sums to 1",
    ),
    Mistake(
        lambda e, m: torch.softmax(e, dim=-1) * m,
        "your weights are zero on the padding but no longer sum to 1: remove the "
        "padding before the softmax, or renormalise after it",
    ),
    Mistake(
        lambda e, m: torch.softmax(e * m, dim=-1),
        "you set the padded scores to 0, and exp(0) still gives them weight: set them "
        "to -inf",
    ),
    Mistake(
        lambda e, m: torch.softmax(e.masked_fill(m, NEG_INF), dim=-1),
        "your mask is the wrong way round: True marks the real positions, which keep "
        "their scores, and the False ones (padding) get weight 0",
    ),
    Mistake(
        lambda e, m: e.exp() * m,
        "your weights are not normalised: divide exp(e_j) by its sum over the real "
        "positions (a softmax)",
    ),
    Mistake(
        _as_if_prefix,
        "your weights go to the first L positions of each row, L the number of real "
        "ones, as if the padding were always at the end: the mask can mark padding "
        "anywhere, so keep exactly the positions where it is True",
    ),
]


def check_masked_softmax(masked_softmax_fn) -> None:
    """Check ``masked_softmax(scores, mask) -> weights`` against the reference.

    Cases: float64 scores with masks that are True on a prefix, on a suffix, with
    holes and on a single position anywhere (a batch of one and a single source
    position among them), values and gradients compared to 1e-6; then float32 scores
    of size about 100 (rows around +100, around -110 and spread over [-100, 100],
    padding anywhere), compared to 1e-5, where a softmax that does not subtract the
    largest score overflows (or underflows to 0 / 0) and is named. Padded scores are
    finite and never above the row's largest real score.

    Accepted: masked_fill, torch.where or adding -inf (or a large negative number
    such as -1e9) before torch.softmax; exp(e - max) times the mask, renormalised,
    with the max over the real positions or over all of them; log-sum-exp; changing
    the scores in place. Off limits: the package's masked_softmax."""
    rows = [
        ["11111", "11100", "10000"],  # padding at the end
        ["1100000", "1111000"],
        ["1", "1", "1", "1"],  # one source position
        ["111111"],  # a batch of one, no padding
        ["111000", "111111", "110000"],
        ["00111", "01101", "10101"],  # padding at the start, holes
        ["0001000", "0000001", "1000000"],  # a single real position anywhere
        ["0110"],
    ]
    groups = [
        Group(
            [
                Case(
                    _masked_softmax_args(mask, 40 + i),
                    f"(for scores of shape ({len(mask)}, {len(mask[0])}) and the "
                    f"mask {', '.join(mask)})",
                )
                for i, mask in enumerate(rows)
            ]
        ),
        Group(
            [
                Case(
                    _large_masked_softmax_args(),
                    "(for float32 scores of size about 100 and the mask 0110110, "
                    "1011101, 0100011)",
                )
            ],
            rtol=1e-5,
            atol=1e-7,
            overflow=(
                "exp overflows float32 beyond 88.7 and underflows to 0 below -103, so "
                "exp(e_j) / sum_k exp(e_k) gives inf / inf or 0 / 0 = NaN; subtract "
                "the row's largest real score first, exp(e_j - max), or use "
                "torch.softmax on the masked scores, which does"
            ),
        ),
    ]
    check_in_groups(
        "masked_softmax",
        masked_softmax_fn,
        masked_softmax_reference,
        groups,
        [Output("weights", ("batch", "source position"))],
        MASKED_SOFTMAX_MISTAKES,
        forbidden=MASKED_SOFTMAX_SHORTCUTS,
    )


# --- Exercise 3: one step of beam search ------------------------------------


def beam_step_reference(scores, log_probs, k):
    """scores: (B, K), log_probs: (B, K, V), 1 <= k <= K V -> the k best new scores
    (B, k), best first, and the beam (B, k) and the token (B, k), int64, of each."""
    B, K, V = log_probs.shape
    # log p(y_1..y_i | x) = log p(y_1..y_{i-1} | x) + log p(y_i | y_<i, x)
    candidates = (scores[:, :, None] + log_probs).reshape(B, K * V)
    top, index = candidates.topk(k, dim=-1)
    return top, index // V, index % V


def _beam_args(B: int, K: int, V: int, k: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    # log-probabilities so far: <= 0
    scores = -torch.rand(B, K, generator=g, dtype=torch.float64) * 4
    log_probs = torch.log_softmax(
        torch.randn(B, K, V, generator=g, dtype=torch.float64) * 2, dim=-1
    )
    return scores, log_probs, k


def _first_step_args(B: int, K: int, V: int, k: int, seed: int) -> tuple:
    """The first step of a beam search: one live beam, the K - 1 others at -inf."""
    scores, log_probs, k = _beam_args(B, K, V, k, seed)
    scores[:, 0], scores[:, 1:] = 0.0, NEG_INF
    return scores, log_probs, k


def _finished_beams_args(seed: int) -> tuple:
    """Beams that produced <eos>: a single continuation, token 0 (padding), at
    log-probability 0, as the package's beam search gives them; and one dead beam."""
    scores, log_probs, k = _beam_args(2, 4, 5, 4, seed)
    for b, beam in [(0, 1), (1, 0), (1, 3)]:
        log_probs[b, beam] = NEG_INF
        log_probs[b, beam, 0] = 0.0
    scores[0, 2] = NEG_INF
    return scores, log_probs, k


def _tied_args(seed: int) -> tuple:
    """Two identical beams in each sentence: every candidate of one is tied with one
    of the other."""
    scores, log_probs, k = _beam_args(2, 3, 4, 4, seed)
    scores[:, 2], log_probs[:, 2] = scores[:, 0], log_probs[:, 0]
    return scores, log_probs, k


def _long_output_args(seed: int) -> tuple:
    """float32 beams after a few hundred tokens: scores of about -1000."""
    scores, log_probs, k = _beam_args(2, 4, 30, 4, seed)
    return (-1000 + 20 * scores).float(), log_probs.float(), k


def _flat_topk(candidates: torch.Tensor, k: int, largest: bool = True):
    B, K, V = candidates.shape
    top, index = candidates.reshape(B, K * V).topk(k, dim=-1, largest=largest)
    return top, index // V, index % V


def _best_token_per_beam(scores, log_probs, k):
    # (B, K): each beam's one best continuation
    best, token = (scores[:, :, None] + log_probs).max(-1)
    top, beam = best.topk(min(k, best.shape[1]), dim=-1)
    return top, beam, token.gather(1, beam)


def _index_decoded_wrongly(scores, log_probs, k):
    B, K, V = log_probs.shape
    top, index = (scores[:, :, None] + log_probs).reshape(B, K * V).topk(k, dim=-1)
    return top, index % K, index // K


BEAM_STEP_MISTAKES = [
    Mistake(
        lambda s, lp, k: _flat_topk(lp, k),
        "your scores forget each beam's history: add the beam's accumulated score to "
        "the log-probabilities of its next tokens before choosing",
    ),
    Mistake(
        lambda s, lp, k: _flat_topk(s[:, :, None] * lp, k),
        "you multiplied the scores by the log-probabilities: probabilities multiply, "
        "so log-probabilities add",
    ),
    Mistake(
        lambda s, lp, k: _flat_topk(s[:, :, None] + lp.exp(), k),
        "you added probabilities to log-probability scores: accumulate in log space, "
        "adding log_probs, not their exp",
    ),
    Mistake(
        lambda s, lp, k: _flat_topk(s.exp()[:, :, None] * lp.exp(), k),
        "your scores are probabilities, not log-probabilities: accumulate in log "
        "space, where long products of small probabilities do not underflow",
    ),
    Mistake(
        _best_token_per_beam,
        "you kept the best token of each beam: choose the k best among all K x V "
        "continuations together, so that a strong beam can continue in several ways",
    ),
    Mistake(
        _index_decoded_wrongly,
        "you decoded the flat index the wrong way: with the candidates flattened as "
        "(K, V), beam = index // V and token = index % V",
    ),
    Mistake(
        lambda s, lp, k: _flat_topk(s[:, :, None] + lp, k, largest=False),
        "you kept the k lowest scores: keep the highest (the most likely "
        "continuations)",
    ),
]

#: The package's own beam step (also exported as rnncourse.nn.beam_step).
BEAM_STEP_SHORTCUTS = [(rnncourse.nn.seq2seq, "beam_step")]


def _beam_cases() -> list[tuple[tuple, str]]:
    describe = "(for B={}, K={} beams, V={} tokens, k={})".format
    sizes = [(2, 3, 5, 3), (1, 1, 6, 1), (2, 1, 5, 3), (3, 4, 7, 4), (2, 5, 4, 2)]
    cases = [
        (_beam_args(*size, seed=50 + i), describe(*size))
        for i, size in enumerate(sizes)
    ]
    cases += [
        (_beam_args(2, 2, 3, 6, seed=56), describe(2, 2, 3, 6) + ", every candidate"),
        (_beam_args(1, 3, 1, 2, seed=57), describe(1, 3, 1, 2)),
        (
            _first_step_args(2, 3, 4, 3, seed=58),
            "(for B=2, K=3 beams of which 2 are at -inf, as at the first step, V=4 "
            "tokens, k=3)",
        ),
        (
            _first_step_args(1, 3, 2, 4, seed=59),
            "(for B=1, K=3 beams of which 2 are at -inf, V=2 tokens, k=4: more than "
            "the 2 finite candidates)",
        ),
        (
            _finished_beams_args(seed=60),
            "(for B=2, K=4 beams, some finished (one continuation, padding, at "
            "log-probability 0) and one at -inf, V=5 tokens, k=4)",
        ),
        (
            _tied_args(seed=61),
            "(for B=2, K=3 beams, two of them identical, so that scores tie, V=4 "
            "tokens, k=4)",
        ),
        (
            _long_output_args(seed=62),
            "(for float32 scores of about -1000, as after a few hundred tokens, B=2, "
            "K=4 beams, V=30 tokens, k=4)",
        ),
    ]
    return cases


def _tensor_form(name: str, value, shape, dtype, device, where: str, what: str):
    """Fail unless ``value`` is a tensor of this shape, dtype and device."""
    if not isinstance(value, torch.Tensor):
        fail(
            "beam_step",
            f"{name} should be a torch.Tensor, got {kind_of(value)} {where}",
        )
    if value.device != device:
        fail(
            "beam_step",
            f"{name} is on the device {value.device} but should be on {device}, like "
            f"the inputs {where}",
        )
    if tuple(value.shape) != tuple(shape):
        fail(
            "beam_step",
            f"{name} has shape {tuple(value.shape)} but should have shape "
            f"{tuple(shape)} {where}",
        )
    if value.dtype != dtype:
        fail(
            "beam_step",
            f"{name} has dtype {value.dtype} but should have {dtype}, {what} {where}",
        )


def _same(got: tuple, planted: tuple, rtol: float, atol: float) -> bool:
    return (
        len(planted) == 3
        and all(
            isinstance(p, torch.Tensor) and p.shape == g.shape
            for g, p in zip(got, planted)
        )
        and torch.allclose(
            got[0], planted[0].to(got[0].dtype), rtol, atol, equal_nan=True
        )
        and torch.equal(got[1], planted[1].to(got[1].dtype))
        and torch.equal(got[2], planted[2].to(got[2].dtype))
    )


def _name_mistake(got: tuple, args: tuple, rtol: float, atol: float) -> None:
    for mistake in BEAM_STEP_MISTAKES:
        try:
            planted = mistake.fn(*fresh_copies(args))
        except Exception:  # a mistake that cannot run here explains nothing
            continue
        if isinstance(planted, tuple) and _same(got, planted, rtol, atol):
            fail("beam_step", mistake.message)


def _judge_beam_step(got, args: tuple, where: str, rtol: float, atol: float) -> None:
    """Fail unless ``got`` is a right answer: the k best scores, best first, and for
    each finite one a distinct (beam, token) whose candidate has that score. Ties may
    come in any order; the beam and token of a score at -inf may be any valid
    indices (such a candidate is dead)."""
    scores, log_probs, k = args
    B, K, V = log_probs.shape
    expected = beam_step_reference(*fresh_copies(args))
    if isinstance(got, list):
        got = tuple(got)
    if got is None:
        fail(
            "beam_step",
            f"your function returned None {where}: end it with a return statement that "
            "returns (top_scores, beam, token)",
        )
    if not isinstance(got, tuple) or len(got) != 3:
        count = (
            f"{len(got)} value{'' if len(got) == 1 else 's'}"
            if isinstance(got, tuple)
            else kind_of(got)
        )
        fail(
            "beam_step",
            f"expected 3 return values (top_scores, beam, token), got {count} {where}",
        )
    top, beam, token = got
    _tensor_form(
        "top_scores", top, (B, k), scores.dtype, scores.device, where, "like the inputs"
    )
    for name, value in (("beam", beam), ("token", token)):
        _tensor_form(
            name, value, (B, k), torch.int64, scores.device, where, "indices are int64"
        )
    candidates = scores[:, :, None] + log_probs  # (B, K, V)
    right_scores = torch.allclose(top, expected[0], rtol, atol, equal_nan=True)
    if (
        right_scores
        and torch.equal(beam, expected[1])
        and torch.equal(token, expected[2])
    ):
        return
    finite = torch.isfinite(expected[0])
    valid = right_scores and bool(
        ((beam >= 0) & (beam < K) & (token >= 0) & (token < V)).all()
    )
    if valid:
        pointed = candidates[torch.arange(B)[:, None], beam, token]  # (B, k)
        valid = bool(torch.isclose(pointed, top, rtol, atol)[finite].all())
    if valid:
        pairs = beam * V + token
        valid = all(
            len(set(pairs[b][finite[b]].tolist())) == int(finite[b].sum())
            for b in range(B)
        )
    if valid:
        return
    _name_mistake(got, args, rtol, atol)
    _describe_beam_step(got, expected, candidates, finite, where, rtol, atol)


def _describe_beam_step(got, expected, candidates, finite, where, rtol, atol):
    top, beam, token = got
    B, K, V = candidates.shape
    if top.isnan().any():
        fail("beam_step", f"top_scores contains NaN {where}")
    if (top[finite] == NEG_INF).any():
        fail(
            "beam_step",
            f"top_scores contains -inf where the best candidates have finite "
            f"log-probabilities {where}: multiplying probabilities and taking the log "
            "afterwards underflows (exp(-1000) is 0 even in float64); stay in log "
            "space, adding log_probs to the scores",
        )
    if not torch.allclose(top, expected[0], rtol, atol, equal_nan=True):
        if torch.allclose(
            top.sort(-1, descending=True).values,
            expected[0],
            rtol,
            atol,
            equal_nan=True,
        ):
            fail(
                "beam_step",
                f"your k best scores are right but not in order {where}: return them "
                "best first, as torch.topk does",
            )
        b, r = (
            (~torch.isclose(top, expected[0], rtol, atol, equal_nan=True))
            .nonzero()[0]
            .tolist()
        )
        fail(
            "beam_step",
            f"top_scores is wrong at batch {b}, rank {r} {where}: got "
            f"{top[b, r].item():.6g}, expected {expected[0][b, r].item():.6g}",
        )
    for name, value, size in (("beam", beam, K), ("token", token, V)):
        bad = (value < 0) | (value >= size)
        if bad.any():
            b, r = bad.nonzero()[0].tolist()
            fail(
                "beam_step",
                f"{name} is {value[b, r].item()} at batch {b}, rank {r} {where}, but "
                f"there are only {size} {name}s (0 to {size - 1})",
            )
    pointed = candidates[torch.arange(B)[:, None], beam, token]
    off = finite & ~torch.isclose(pointed, top, rtol, atol)
    if off.any():
        b, r = off.nonzero()[0].tolist()
        fail(
            "beam_step",
            f"the beam and token at batch {b}, rank {r} do not give its score {where}: "
            f"scores[{b}, {beam[b, r].item()}] + log_probs[{b}, {beam[b, r].item()}, "
            f"{token[b, r].item()}] = {pointed[b, r].item():.6g}, but top_scores says "
            f"{top[b, r].item():.6g}; with the candidates flattened as (K, V), beam = "
            "index // V and token = index % V",
        )
    fail(
        "beam_step",
        f"your function picks the same continuation (beam, token) twice {where}: each "
        "of the k must be a different candidate, as torch.topk gives them",
    )


def check_beam_step(beam_step_fn) -> None:
    """Check ``beam_step(scores, log_probs, k) -> (top_scores, beam, token)``.

    Cases (float64 unless said): several sizes with k below, equal to and above K,
    k = K V (every candidate), V = 1, beams at -inf as at the first step (with k
    larger than the number of finite candidates), finished beams with a single
    continuation at log-probability 0, tied beams, and float32 scores of about
    -1000 where probabilities underflow. k ranges from 1 to K V; larger k is not
    asked for.

    Accepted: the reference's answer, or any answer with the same top scores, best
    first, whose (beam, token) pairs are distinct and each give its score (ties in
    any order: torch.topk, sort or argsort); for a score at -inf the beam and token
    may be any valid indices. Scores compared to 1e-6. Off limits: the package's
    beam_step."""
    name = "beam_step"
    require_function(name, beam_step_fn)
    rtol, atol = 1e-6, 1e-8
    cases = _beam_cases()
    with Guard(name, beam_step_fn, forbidden=BEAM_STEP_SHORTCUTS) as guard:
        for args, where in cases:
            got = guard.call(fresh_copies(args), where)
            with comparing(name, where):
                _judge_beam_step(got, args, where, rtol, atol)
    print(f"\u2705 {name}: correct on all {len(cases)} test cases.")
