"""Chapter 1's checkers accept the reference and reject planted mistakes, each with its own sentence."""

import pytest
import torch

from rnncourse.exercises import (
    ExerciseError,
    check_rnn_step,
    check_temperature_probs,
    check_unroll,
)
from rnncourse.exercises.rnn_basics import rnn_step_reference, unroll_reference
from rnncourse.nn.sampling import temperature_probs

from ._helpers import _message, _not_solved


def test_references_pass(capsys):
    check_rnn_step(rnn_step_reference)
    check_unroll(unroll_reference)
    check_temperature_probs(temperature_probs)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 3


def test_a_student_solution_written_differently_passes(capsys):
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        return torch.tanh(
            torch.einsum("hd,bd->bh", W_xh, x_t)
            + torch.einsum("hk,bk->bh", W_hh, h_prev)
            + b_h
        )

    check_rnn_step(rnn_step)
    assert "correct" in capsys.readouterr().out


RNN_STEP_PLANTED = {
    "no tanh": (
        lambda x, h, Wx, Wh, b: x @ Wx.T + h @ Wh.T + b,
        "without its nonlinearity",
    ),
    "no bias": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh.T),
        "without the bias",
    ),
    "no recurrence": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + b),
        "ignores the previous state",
    ),
    "W_hh not transposed": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh + b),
        "without transposing",
    ),
    "W_xh not transposed": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx + h @ Wh.T + b),
        "raised RuntimeError",
    ),
    "detached": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh.T + b).detach(),
        "no gradient flows",
    ),
    "float32 zeros": (
        lambda x, h, Wx, Wh, b: torch.zeros(x.shape[0], Wh.shape[0]) + 0.5,
        "dtype torch.float32",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", RNN_STEP_PLANTED)
def test_rnn_step_rejects(name):
    fn, expected = RNN_STEP_PLANTED[name]
    assert expected in _message(check_rnn_step, fn)


def _unroll_no_carry(x, h0, Wx, Wh, b):
    hs = [torch.tanh(x[:, t] @ Wx.T + h0 @ Wh.T + b) for t in range(x.shape[1])]
    return torch.stack(hs, 1), hs[-1]


def _unroll_keeps_h0(x, h0, Wx, Wh, b):
    h, hs = h0, [h0]
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ Wx.T + h @ Wh.T + b)
        hs.append(h)
    return torch.stack(hs[:-1], 1), h


def _unroll_time_major(x, h0, Wx, Wh, b):  # treats x as (T, B, D)
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = torch.tanh(x[t] @ Wx.T + h @ Wh.T + b)
        hs.append(h)
    return torch.stack(hs, 1), h


def _unroll_only_last(x, h0, Wx, Wh, b):
    hs, h = unroll_reference(x, h0, Wx, Wh, b)
    return h


def _unroll_in_place(x, h0, Wx, Wh, b):
    hs = torch.zeros(x.shape[0], x.shape[1], h0.shape[1], dtype=x.dtype)
    h = h0
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ Wx.T + h @ Wh.T + b)
        hs[:, t] = h.detach()
    return hs, h


UNROLL_PLANTED = {
    "state not carried": (_unroll_no_carry, "every step starts from h0"),
    "outputs shifted": (_unroll_keeps_h0, "shifted by one step"),
    "time-major indexing": (_unroll_time_major, "raised"),
    "only the last state": (
        _unroll_only_last,
        "expected 2 return value(s) (hs and h_T), got 1",
    ),
    "outputs detached": (_unroll_in_place, "gradient with respect to"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", UNROLL_PLANTED)
def test_unroll_rejects(name):
    fn, expected = UNROLL_PLANTED[name]
    assert expected in _message(check_unroll, fn)


def _greedy_missing(z, tau):
    return torch.softmax(z / tau, dim=-1)


TEMPERATURE_PLANTED = {
    "multiplied": (
        lambda z, tau: torch.softmax(z * tau, -1) if tau else temperature_probs(z, 0),
        "multiplied the logits",
    ),
    "no softmax": (
        lambda z, tau: z / tau if tau else temperature_probs(z, 0),
        "not probabilities",
    ),
    "wrong axis": (
        lambda z, tau: torch.softmax(z / tau, 0) if tau else temperature_probs(z, 0),
        "wrong axis",
    ),
    "temperature ignored": (
        lambda z, tau: torch.softmax(z, -1),
        "ignore the temperature",
    ),
    "temperature 0 not handled": (_greedy_missing, "temperature 0"),
    "uniform": (
        lambda z, tau: torch.full_like(z, 1 / z.shape[-1]),
        "probs is wrong at row 0, token 0",
    ),
}


@pytest.mark.parametrize("name", TEMPERATURE_PLANTED)
def test_temperature_rejects(name):
    fn, expected = TEMPERATURE_PLANTED[name]
    assert expected in _message(check_temperature_probs, fn)


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_rnn_step, RNN_STEP_PLANTED),
        (check_unroll, UNROLL_PLANTED),
        (check_temperature_probs, TEMPERATURE_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)


def test_checker_does_not_show_a_traceback_in_ipython():
    err = ExerciseError("rnn_step: something is wrong.")
    assert err._render_traceback_() == ["\u274c rnn_step: something is wrong."]


def test_a_function_that_changes_its_inputs_in_place_does_not_corrupt_the_check(capsys):
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        out = torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)
        if not W_hh.requires_grad:
            W_hh.mul_(
                0
            )  # vandalism after use; the next case must still see fresh inputs
        return out

    check_rnn_step(rnn_step)
    assert "correct" in capsys.readouterr().out
