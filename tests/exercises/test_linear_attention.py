"""Chapter 7's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import math

import pytest
import torch

from rnncourse.exercises import (
    check_linear_attention_chunk,
    check_linear_attention_recurrent,
    check_wkv_step,
)
from rnncourse.exercises.linear_attention import (
    chunk_reference,
    recurrent_reference,
    wkv_step_reference,
)
from rnncourse.ops.linear_attention import (
    linear_attention_chunk,
    linear_attention_parallel,
)
from rnncourse.ops.wkv4 import WKV4State, wkv4_loop

from ._helpers import _message, _not_solved


def _via_op(q, k, v, gamma):
    """The package's parallel form, one head: an independent solution."""
    o, _ = linear_attention_parallel(
        q[None, None],
        k[None, None],
        v[None, None],
        torch.tensor([math.log(gamma)], dtype=q.dtype),
    )
    return o[0, 0]


def _chunk_via_op(q, k, v, S, gamma):
    o, S = linear_attention_chunk(
        q[None, None],
        k[None, None],
        v[None, None],
        torch.tensor([math.log(gamma)], dtype=q.dtype),
        S[None, None],
        chunk_size=q.shape[0],
    )
    return o[0, 0], S[0, 0]


def _wkv_via_op(a, b, p, k, v, w, u):
    wkv, state = wkv4_loop(
        w, u, k[None, None], v[None, None], WKV4State(a[None], b[None], p[None])
    )
    return (wkv[0, 0], *(x[0] for x in state))


def test_references_pass(capsys):
    check_linear_attention_recurrent(recurrent_reference)
    check_linear_attention_recurrent(_via_op)
    check_linear_attention_chunk(chunk_reference)
    check_linear_attention_chunk(_chunk_via_op)
    check_wkv_step(wkv_step_reference)
    check_wkv_step(_wkv_via_op)
    assert capsys.readouterr().out.count("correct on all") == 6


def _loop(update, read_first=False, extra=None):
    def fn(q, k, v, gamma):
        S = torch.zeros(k.shape[1], v.shape[1], dtype=q.dtype)
        out = []
        for t in range(q.shape[0]):
            if read_first:
                out.append(q[t] @ S)
            S = update(S, k[t], v[t], gamma)
            if not read_first:
                out.append(q[t] @ S + (0 if extra is None else extra(q[t], k[t], v[t])))
        return torch.stack(out)

    return fn


RECURRENT_PLANTED = {
    "decay after adding": (
        _loop(lambda S, k, v, g: g * (S + k[:, None] * v[None])),
        "decay is applied at the wrong step",
    ),
    "read before write": (
        _loop(lambda S, k, v, g: g * S + k[:, None] * v[None], read_first=True),
        "not counted",
    ),
    "current twice": (
        _loop(
            lambda S, k, v, g: g * S + k[:, None] * v[None],
            extra=lambda q, k, v: (q @ k) * v,
        ),
        "counted twice",
    ),
    "no decay": (
        _loop(lambda S, k, v, g: S + k[:, None] * v[None]),
        "decay is missing",
    ),
    "normalised": (
        lambda q, k, v, gamma: (
            _via_op(q, k, v, gamma) / (q * k.cumsum(0)).sum(-1, keepdim=True)
        ),
        "normaliser",
    ),
    "detached": (
        lambda q, k, v, gamma: _via_op(q, k, v, gamma).detach(),
        "no gradient flows",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", RECURRENT_PLANTED)
def test_recurrent_rejects(name):
    fn, expected = RECURRENT_PLANTED[name]
    assert expected in _message(check_linear_attention_recurrent, fn)


def _one_chunk(q, k, v, S, gamma, lower=0, upper=False, cross=1, old=0, keys=-1):
    C = q.shape[0]
    rows = torch.arange(C, dtype=q.dtype)
    gap = rows[:, None] - rows[None, :]
    keep = (gap >= lower) | torch.tensor(upper)
    weights = torch.where(
        keep,
        torch.tensor(gamma, dtype=q.dtype) ** gap.abs(),
        torch.zeros((), dtype=q.dtype),
    )
    o = (q @ k.T * weights) @ v + gamma ** (rows + cross)[:, None] * (q @ S)
    S_new = (gamma ** (C + old) if old is not None else 1.0) * S + (
        gamma ** (C + keys - rows)[:, None] * k
    ).T @ v
    return o, S_new


CHUNK_PLANTED = {
    "gamma^i from the state": (
        lambda *a: _one_chunk(*a, cross=0),
        "decayed one step too little: row i",
    ),
    "strict mask": (lambda *a: _one_chunk(*a, lower=1), "current token is not counted"),
    "no mask": (lambda *a: _one_chunk(*a, upper=True), "later tokens leak"),
    "old state kept": (lambda *a: _one_chunk(*a, old=None), "old state is not decayed"),
    "keys one step too far": (
        lambda *a: _one_chunk(*a, keys=0),
        "keys are decayed one step too much",
    ),
    "gamma^(C-1) on the state": (
        lambda *a: _one_chunk(*a, old=-1),
        "shrinks by gamma^C",
    ),
    "S not returned": (
        lambda q, k, v, S, gamma: _chunk_via_op(q, k, v, S, gamma)[0],
        "expected 2 return value(s)",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", CHUNK_PLANTED)
def test_chunk_rejects(name):
    fn, expected = CHUNK_PLANTED[name]
    assert expected in _message(check_linear_attention_chunk, fn)


def _direct(a, b, p, k, v, w, u):
    """The recurrence on N and D themselves, without the running maximum."""
    N, D = a * p.exp(), b * p.exp()
    out = (N + (u + k).exp() * v) / (D + (u + k).exp())
    return (
        out,
        (-w).exp() * N + k.exp() * v,
        (-w).exp() * D + k.exp(),
        torch.zeros_like(p),
    )


def _variant(
    no_bonus=False, bonus_in_state=False, decay_in_output=False, keep_old=False
):
    def fn(a, b, p, k, v, w, u):
        p_out = p - w if decay_in_output else p
        bonus = 0 * u if no_bonus else u
        q = torch.maximum(p_out, bonus + k)
        wkv = ((p_out - q).exp() * a + (bonus + k - q).exp() * v) / (
            (p_out - q).exp() * b + (bonus + k - q).exp()
        )
        p_in = p if keep_old else p - w
        k_in = u + k if bonus_in_state else k
        q = torch.maximum(p_in, k_in)
        return (
            wkv,
            (p_in - q).exp() * a + (k_in - q).exp() * v,
            (p_in - q).exp() * b + (k_in - q).exp(),
            q,
        )

    return fn


WKV_PLANTED = {
    "no running maximum": (_direct, "running maximum is not used"),
    "no bonus": (_variant(no_bonus=True), "bonus u is missing"),
    "bonus in the state": (
        _variant(bonus_in_state=True),
        "bonus u went into the state",
    ),
    "decay in the output": (
        _variant(decay_in_output=True),
        "decay is applied at the wrong step",
    ),
    "state not decayed": (_variant(keep_old=True), "state is not decayed"),
    "detached": (
        lambda *args: tuple(x.detach() for x in wkv_step_reference(*args)),
        "no gradient flows",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", WKV_PLANTED)
def test_wkv_step_rejects(name):
    fn, expected = WKV_PLANTED[name]
    assert expected in _message(check_wkv_step, fn)


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_linear_attention_recurrent, RECURRENT_PLANTED),
        (check_linear_attention_chunk, CHUNK_PLANTED),
        (check_wkv_step, WKV_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)
