"""Checkers for chapter 5 (sequence to sequence with attention): the additive
attention score, the masked softmax, and one step of beam search.

Each ``check_<name>(student_fn)`` tests the student's function on several
shapes and edge cases against the reference, and names the usual mistakes.
"""

from __future__ import annotations

import torch

import rnncourse.nn.cross_attention
from rnncourse.exercises.checker import Case, Mistake, Output, check
from rnncourse.nn.seq2seq import beam_step

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


def check_additive_score(additive_score) -> None:
    """Check ``additive_score(query, keys, W_q, W_k, v) -> scores`` against the
    reference."""
    sizes = [(2, 5, 4, 6, 3), (1, 1, 2, 3, 4), (3, 7, 5, 5, 8), (4, 2, 3, 1, 2)]
    cases = [
        Case(
            _additive_args(*size, seed=30 + i),
            "(for B={}, S={}, D_q={}, D_k={}, A={})".format(*size),
        )
        for i, size in enumerate(sizes)
    ]
    check(
        "additive_score",
        additive_score,
        additive_score_reference,
        cases,
        [Output("scores", ("batch", "source position"))],
        ADDITIVE_MISTAKES,
    )


# --- Exercise 2: the masked softmax ---------------------------------------


def _masked_softmax_args(lengths: list[int], S: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(len(lengths), S, generator=g, dtype=torch.float64) * 2
    mask = (
        torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
    )  # (B, S), True on a prefix
    return scores, mask


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
]


def check_masked_softmax(masked_softmax_fn) -> None:
    """Check ``masked_softmax(scores, mask) -> weights`` against the reference."""
    settings = [
        ([5, 3, 1], 5),
        ([2, 4], 7),
        ([1, 1, 1, 1], 1),
        ([6], 6),
        ([3, 6, 2], 6),
    ]
    cases = [
        Case(
            _masked_softmax_args(lengths, S, 40 + i),
            f"(for scores of shape ({len(lengths)}, {S}) and source lengths {lengths})",
        )
        for i, (lengths, S) in enumerate(settings)
    ]
    check(
        "masked_softmax",
        masked_softmax_fn,
        masked_softmax_reference,
        cases,
        [Output("weights", ("batch", "source position"))],
        MASKED_SOFTMAX_MISTAKES,
        forbidden=MASKED_SOFTMAX_SHORTCUTS,
    )


# --- Exercise 3: one step of beam search ------------------------------------


def _beam_args(B: int, K: int, V: int, k: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    scores = (
        -torch.rand(B, K, generator=g, dtype=torch.float64) * 4
    )  # log-probabilities so far: <= 0
    log_probs = torch.log_softmax(
        torch.randn(B, K, V, generator=g, dtype=torch.float64) * 2, dim=-1
    )
    return scores, log_probs, k


def _flat_topk(candidates: torch.Tensor, k: int, largest: bool = True):
    B, K, V = candidates.shape
    top, index = candidates.reshape(B, K * V).topk(k, dim=-1, largest=largest)
    return top, index // V, index % V


def _best_token_per_beam(scores, log_probs, k):
    best, token = (scores[:, :, None] + log_probs).max(
        -1
    )  # (B, K): each beam's one best continuation
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


def check_beam_step(beam_step_fn) -> None:
    """Check ``beam_step(scores, log_probs, k) -> (top_scores, beam, token)`` against
    the reference."""
    sizes = [(2, 3, 5, 3), (1, 1, 6, 1), (2, 1, 5, 3), (3, 4, 7, 4), (2, 5, 4, 2)]
    cases = [
        Case(
            _beam_args(*size, seed=50 + i),
            "(for B={}, K={} beams, V={} tokens, k={})".format(*size),
            grad=False,
        )
        for i, size in enumerate(sizes)
    ]
    check(
        "beam_step",
        beam_step_fn,
        beam_step,
        cases,
        [
            Output("top_scores", ("batch", "rank")),
            Output("beam", ("batch", "rank")),
            Output("token", ("batch", "rank")),
        ],
        BEAM_STEP_MISTAKES,
    )
