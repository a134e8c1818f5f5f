"""Chapter 1's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import pytest
import torch

from rnncourse.exercises import (
    ExerciseError,
    check_rnn_step,
    check_temperature_probs,
    check_unroll,
)
from rnncourse.exercises.rnn_basics import (
    rnn_step_reference,
    temperature_probs_reference,
    unroll_reference,
)
from rnncourse.nn import RNNCell, elman_cell
from rnncourse.nn.sampling import temperature_probs

from ._helpers import _message, _not_solved, _shortcut_message


def test_references_pass(capsys):
    check_rnn_step(rnn_step_reference)
    check_unroll(unroll_reference)
    check_temperature_probs(temperature_probs_reference)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 3


def test_the_temperature_reference_is_the_package_s():
    logits = torch.randn(4, 6, dtype=torch.float64) * 3
    for tau in (0.0, 0.3, 1.0, 4.0):
        torch.testing.assert_close(
            temperature_probs_reference(logits, tau), temperature_probs(logits, tau)
        )


def test_the_notebook_s_temperature_solution_passes(capsys):
    def notebook_solution(logits, temperature):
        if temperature == 0:
            return torch.nn.functional.one_hot(
                logits.argmax(dim=-1), logits.shape[-1]
            ).to(logits.dtype)
        return torch.softmax(logits / temperature, dim=-1)

    check_temperature_probs(notebook_solution)
    assert "correct" in capsys.readouterr().out


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


# --- shortcuts: torch's or the package's own implementation of the exercise -------


def _torch_cell(module, x, h, W_xh, W_hh, b_h):
    params = {
        "weight_ih": W_xh,
        "weight_hh": W_hh,
        "bias_ih": b_h,
        "bias_hh": torch.zeros_like(b_h),
    }
    return torch.func.functional_call(module, params, (x, h))


RNN_STEP_SHORTCUTS = {
    "torch.rnn_tanh_cell": (
        lambda x, h, Wx, Wh, b: torch.rnn_tanh_cell(x, h, Wx, Wh, b, 0 * b),
        "torch.rnn_tanh_cell",
    ),
    "elman_cell imported by name": (
        lambda x, h, Wx, Wh, b: elman_cell(x @ Wx.T + b, h, Wh),
        "rnncourse.nn.rnn.elman_cell",
    ),
    "torch.nn.RNNCell": (
        lambda x, h, Wx, Wh, b: _torch_cell(
            torch.nn.RNNCell(Wx.shape[1], Wx.shape[0]).double(), x, h, Wx, Wh, b
        ),
        "torch.nn.RNNCell",
    ),
    "the package's RNNCell": (
        lambda x, h, Wx, Wh, b: _torch_cell(
            RNNCell(Wx.shape[1], Wx.shape[0]).double(), x, h, Wx, Wh, b
        ),
        "rnncourse.nn.rnn.RNNCell",
    ),
}


def _unroll_by_torch(x, h0, W_xh, W_hh, b_h):
    layer = torch.nn.RNN(W_xh.shape[1], W_xh.shape[0], batch_first=True).double()
    params = {
        "weight_ih_l0": W_xh,
        "weight_hh_l0": W_hh,
        "bias_ih_l0": b_h,
        "bias_hh_l0": torch.zeros_like(b_h),
    }
    hs, h_T = torch.func.functional_call(layer, params, (x, h0[None]))
    return hs, h_T[0]


UNROLL_SHORTCUTS = {"torch.nn.RNN": (_unroll_by_torch, "torch.nn.RNN")}

_notebook: dict = {}
exec(  # a notebook's cell, run before the check
    "from rnncourse.nn.sampling import temperature_probs\ndef answer(logits, "
    "temperature):\n    return temperature_probs(logits, temperature)\n",
    _notebook,
)

TEMPERATURE_SHORTCUTS = {
    "the package's function itself": (temperature_probs, "temperature_probs"),
    "imported by name": (lambda z, tau: temperature_probs(z, tau), "temperature_probs"),
    "imported by name in a notebook": (_notebook["answer"], "temperature_probs"),
}


def _rnn_args(B, T, D_in, D_h):
    g = torch.Generator().manual_seed(0)
    x_shape = (B, D_in) if T is None else (B, T, D_in)
    return (
        torch.randn(x_shape, generator=g, dtype=torch.float64),
        *(
            torch.randn(shape, generator=g, dtype=torch.float64) * 0.5
            for shape in [(B, D_h), (D_h, D_in), (D_h, D_h), (D_h,)]
        ),
    )


@pytest.mark.parametrize("name", RNN_STEP_SHORTCUTS)
def test_rnn_step_rejects_shortcuts(name):
    fn, called = RNN_STEP_SHORTCUTS[name]
    args = _rnn_args(3, None, 4, 5)
    _shortcut_message(check_rnn_step, fn, rnn_step_reference, args, called)


@pytest.mark.parametrize("name", UNROLL_SHORTCUTS)
def test_unroll_rejects_shortcuts(name):
    fn, called = UNROLL_SHORTCUTS[name]
    args = _rnn_args(2, 5, 3, 4)
    _shortcut_message(check_unroll, fn, unroll_reference, args, called)


@pytest.mark.parametrize("name", TEMPERATURE_SHORTCUTS)
def test_temperature_probs_rejects_shortcuts(name):
    fn, called = TEMPERATURE_SHORTCUTS[name]
    args = (torch.randn(3, 5, dtype=torch.float64), 0.7)
    _shortcut_message(
        check_temperature_probs,
        fn,
        temperature_probs_reference,
        args,
        f"rnncourse.nn.sampling.{called}",
    )
