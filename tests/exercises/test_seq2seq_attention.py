"""Chapter 5's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import pytest
import torch

import rnncourse.nn.cross_attention
from rnncourse.exercises import (
    check_additive_score,
    check_beam_step,
    check_masked_softmax,
)
from rnncourse.exercises.seq2seq_attention import (
    additive_score_reference,
    masked_softmax_reference,
)
from rnncourse.nn import beam_step, masked_softmax

from ._helpers import _message, _not_solved, _shortcut_message


def test_references_pass(capsys):
    check_additive_score(additive_score_reference)
    check_masked_softmax(masked_softmax_reference)
    check_beam_step(beam_step)
    assert capsys.readouterr().out.count("correct on all") == 3


def _masked_case():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(3, 5, generator=g, dtype=torch.float64) * 2
    return scores, torch.arange(5)[None, :] < torch.tensor([[5], [2], [1]])


def test_the_masked_softmax_reference_is_the_package_s():
    args = _masked_case()
    torch.testing.assert_close(masked_softmax_reference(*args), masked_softmax(*args))


def test_an_answer_that_masks_its_argument_in_place_passes(capsys):
    def masked_softmax_in_place(scores, mask):
        scores.masked_fill_(~mask, float("-inf"))  # changes the caller's tensor
        return torch.softmax(scores, dim=-1)

    check_masked_softmax(masked_softmax_in_place)
    assert "correct on all" in capsys.readouterr().out


MASKED_SOFTMAX_SHORTCUTS = {
    "the package's function itself": masked_softmax,
    "imported by name": lambda e, m: masked_softmax(e, m),
    "through its module": lambda e, m: rnncourse.nn.cross_attention.masked_softmax(
        e, m
    ),
}


@pytest.mark.parametrize("name", MASKED_SOFTMAX_SHORTCUTS)
def test_masked_softmax_rejects_the_package_s(name):
    _shortcut_message(
        check_masked_softmax,
        MASKED_SOFTMAX_SHORTCUTS[name],
        masked_softmax_reference,
        _masked_case(),
        "rnncourse.nn.cross_attention.masked_softmax",
    )


def test_solutions_written_differently_pass(capsys):
    def additive_score(query, keys, W_q, W_k, v):
        return torch.einsum(
            "a,bsa->bs",
            v,
            torch.tanh(
                torch.einsum("aq,bq->ba", W_q, query)[:, None]
                + torch.einsum("ak,bsk->bsa", W_k, keys)
            ),
        )

    def masked_softmax_renormalised(scores, mask):
        w = torch.exp(scores - scores.max(-1, keepdim=True).values) * mask
        return w / w.sum(-1, keepdim=True)

    def beam_step_loop(scores, log_probs, k):
        B, K, V = log_probs.shape
        total = scores.unsqueeze(-1) + log_probs
        top, flat = torch.topk(total.view(B, -1), k)
        return top, torch.div(flat, V, rounding_mode="floor"), torch.remainder(flat, V)

    check_additive_score(additive_score)
    check_masked_softmax(masked_softmax_renormalised)
    check_beam_step(beam_step_loop)
    assert capsys.readouterr().out.count("correct") == 3


ADDITIVE_PLANTED = {
    "no tanh": (
        lambda q, k, Wq, Wk, v: ((q @ Wq.T)[:, None] + k @ Wk.T) @ v,
        "without its tanh",
    ),
    "query ignored": (
        lambda q, k, Wq, Wk, v: torch.tanh(k @ Wk.T) @ v,
        "ignore the query",
    ),
    "v ignored": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] + k @ Wk.T).sum(-1),
        "weight them with v",
    ),
    "softmax returned": (
        lambda q, k, Wq, Wk, v: torch.softmax(
            additive_score_reference(q, k, Wq, Wk, v), 1
        ),
        "returned alignment weights",
    ),
    "multiplicative": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] * (k @ Wk.T)) @ v,
        "multiplied",
    ),
    "W_k not transposed": (
        lambda q, k, Wq, Wk, v: torch.tanh((q @ Wq.T)[:, None] + k @ Wk) @ v,
        "raised RuntimeError",
    ),
    "detached": (
        lambda q, k, Wq, Wk, v: additive_score_reference(q, k, Wq, Wk, v).detach(),
        "no gradient flows",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


def _masked_in_place(e, m):
    e = e.clone()
    e[~m] = -1e9
    return torch.softmax(e, -1).detach()


MASKED_SOFTMAX_PLANTED = {
    "padding not masked": (
        lambda e, m: torch.softmax(e, -1),
        "padded positions get weight",
    ),
    "wrong axis": (
        lambda e, m: torch.softmax(e.masked_fill(~m, float("-inf")), 0),
        "wrong axis",
    ),
    "not renormalised": (lambda e, m: torch.softmax(e, -1) * m, "no longer sum to 1"),
    "padding set to zero": (
        lambda e, m: torch.softmax(e * m, -1),
        "exp(0) still gives them weight",
    ),
    "mask inverted": (
        lambda e, m: torch.softmax(e.masked_fill(m, float("-inf")), -1),
        "wrong way round",
    ),
    "not normalised": (lambda e, m: e.exp() * m, "not normalised"),
    "detached": (_masked_in_place, "no gradient flows"),
    "not solved": (_not_solved, "not solved yet"),
}


def _flat(total, k, largest=True):
    B, K, V = total.shape
    top, i = total.reshape(B, -1).topk(k, largest=largest)
    return top, i // V, i % V


def _index_decoded_wrongly(s, lp, k):
    K = lp.shape[1]
    top, i = (s[..., None] + lp).reshape(lp.shape[0], -1).topk(k)
    return top, i % K, i // K


def _one_token_per_beam(s, lp, k):
    best, token = (s[..., None] + lp).max(-1)  # (B, K)
    top, beam = best.sort(-1, descending=True)
    return top[:, :k], beam[:, :k], token.gather(1, beam[:, :k])


BEAM_STEP_PLANTED = {
    "not accumulated": (lambda s, lp, k: _flat(lp, k), "forget each beam's history"),
    "multiplied in log space": (
        lambda s, lp, k: _flat(s[..., None] * lp, k),
        "log-probabilities add",
    ),
    "probabilities added": (
        lambda s, lp, k: _flat(s[..., None] + lp.exp(), k),
        "added probabilities",
    ),
    "probability space": (
        lambda s, lp, k: _flat(s.exp()[..., None] * lp.exp(), k),
        "are probabilities",
    ),
    "index decoded wrongly": (_index_decoded_wrongly, "the wrong way"),
    "lowest kept": (
        lambda s, lp, k: _flat(s[..., None] + lp, k, largest=False),
        "lowest scores",
    ),
    "one token per beam": (_one_token_per_beam, "best token of each beam"),
    "tuple of two": (
        lambda s, lp, k: _flat(s[..., None] + lp, k)[:2],
        "expected 3 return value(s)",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", ADDITIVE_PLANTED)
def test_additive_score_rejects(name):
    fn, expected = ADDITIVE_PLANTED[name]
    assert expected in _message(check_additive_score, fn)


@pytest.mark.parametrize("name", MASKED_SOFTMAX_PLANTED)
def test_masked_softmax_rejects(name):
    fn, expected = MASKED_SOFTMAX_PLANTED[name]
    assert expected in _message(check_masked_softmax, fn)


@pytest.mark.parametrize("name", BEAM_STEP_PLANTED)
def test_beam_step_rejects(name):
    fn, expected = BEAM_STEP_PLANTED[name]
    assert expected in _message(check_beam_step, fn)


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_additive_score, ADDITIVE_PLANTED),
        (check_masked_softmax, MASKED_SOFTMAX_PLANTED),
        (check_beam_step, BEAM_STEP_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)
