"""Chapter 1's checkers accept right answers written in many ways and reject planted
wrong ones, each with a sentence.

The planted answers are written here, independently of the checkers' lists of usual
mistakes, and grouped by the loophole they try: 1 numerical range (float32
pre-activations and logits near +-100, a sequence of 1,000 steps), 3 the legal input
shapes (a batch of one, one time step, D_in != D_h, D_h = 1, float32), 4 the
tolerance (answers that are right on easy inputs only, or nearly right), 5 shortcuts
(torch's and the package's implementations), 6 odd return values (a checker never
crashes). Right variants (7) are accepted. (Class 2, the point of the exercise, is
the by-hand rule of chapter 2.)
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
from rnncourse.nn import RNN, RNNCell, elman_cell
from rnncourse.nn.sampling import temperature_probs

from ._helpers import (
    _accepting,
    _distinct_usual_mistakes,
    _message,
    _not_solved,
    _refusing_non_functions,
    _rejecting,
    _shortcut_message,
)

E = torch.exp


def test_references_pass(capsys):
    check_rnn_step(rnn_step_reference)
    check_unroll(unroll_reference)
    check_temperature_probs(temperature_probs_reference)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 3
    assert out.count("\n") == 3, "one pass line per checker"


def test_the_temperature_reference_is_the_package_s():
    logits = torch.randn(4, 6, dtype=torch.float64) * 3
    for tau in (0.0, 0.3, 1.0, 4.0):
        torch.testing.assert_close(
            temperature_probs_reference(logits, tau), temperature_probs(logits, tau)
        )


def test_checker_does_not_show_a_traceback_in_ipython():
    err = ExerciseError("rnn_step: something is wrong.")
    assert err._render_traceback_() == ["\u274c rnn_step: something is wrong."]


def test_a_student_s_own_prints_go_through(capsys):
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        print("my step")
        return torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)

    check_rnn_step(rnn_step)
    out = capsys.readouterr().out
    assert "my step" in out and out.count("correct on all") == 1


# --- rnn_step ---------------------------------------------------------------------


def _step(x, h, Wx, Wh, b, act=torch.tanh):
    return act(x @ Wx.T + h @ Wh.T + b)


RNN_STEP_RIGHT = {
    "einsum": lambda x, h, Wx, Wh, b: torch.tanh(
        torch.einsum("hd,bd->bh", Wx, x) + torch.einsum("hk,bk->bh", Wh, h) + b
    ),
    "F.linear, terms in another order": lambda x, h, Wx, Wh, b: torch.tanh(
        b + F.linear(h, Wh) + F.linear(x, Wx)
    ),
    "column form, transposed back": lambda x, h, Wx, Wh, b: torch.tanh(
        (Wx @ x.T + Wh @ h.T + b[:, None]).T
    ),
    "addmm": lambda x, h, Wx, Wh, b: torch.tanh(
        torch.addmm(b, torch.cat([x, h], 1), torch.cat([Wx, Wh], 1).T)
    ),
    "tanh as 2 sigmoid(2a) - 1": lambda *a: _step(
        *a, act=lambda z: 2 * torch.sigmoid(2 * z) - 1
    ),
    "transposes the weights in place": lambda x, h, Wx, Wh, b: torch.tanh(
        x @ Wx.t_() + h @ Wh.t_() + b
    ),
    "sums in place, tanh_": lambda x, h, Wx, Wh, b: (
        (x @ Wx.T).add_(h @ Wh.T).add_(b).tanh_()
    ),
}


test_rnn_step_accepts = _accepting(RNN_STEP_RIGHT, check_rnn_step)


def test_vandalising_the_inputs_after_use_does_not_corrupt_the_check(capsys):
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        out = torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)
        if not W_hh.requires_grad:
            W_hh.mul_(0)  # the next case must still see fresh inputs
        return out

    check_rnn_step(rnn_step)
    assert "correct" in capsys.readouterr().out


RNN_STEP_PLANTED = {
    # 1: numerical range
    "tanh as (exp(a) - exp(-a)) / (exp(a) + exp(-a))": (
        lambda *a: _step(*a, act=lambda z: (E(z) - E(-z)) / (E(z) + E(-z))),
        "a tanh written with exp overflows",
        1,
    ),
    "tanh as sinh / cosh": (
        lambda *a: _step(*a, act=lambda z: torch.sinh(z) / torch.cosh(z)),
        "contains NaN or infinity (for B=4, D_in=3, D_h=6, in float32, "
        "pre-activations near +-100)",
        1,
    ),
    "tanh as 1 - 2 / (exp(2a) + 1): finite, but not its gradient": (
        lambda *a: _step(*a, act=lambda z: 1 - 2 / (E(2 * z) + 1)),
        "your gradient contains NaN or infinity",
        1,
    ),
    # 3: every legal shape
    "W_xh not transposed (D_in != D_h)": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx + h @ Wh.T + b),
        "raised RuntimeError",
        3,
    ),
    "W_hh used for the input too": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wh.T + h @ Wh.T + b),
        "raised RuntimeError",
        3,
    ),
    "squeezes the batch": (
        lambda *a: _step(*a).squeeze(),
        "should have shape (1, 2)",
        3,
    ),
    "float64 whatever the inputs": (
        lambda *a: _step(*(t.double() for t in a)),
        "has dtype torch.float64 but should have torch.float32",
        3,
    ),
    "a new tensor in the default dtype": (
        lambda x, h, Wx, Wh, b: torch.zeros(x.shape[0], Wh.shape[0]) + 0.5,
        "dtype torch.float32",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "no tanh": (lambda x, h, Wx, Wh, b: x @ Wx.T + h @ Wh.T + b, "nonlinearity", 4),
    "no bias": (lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh.T), "bias", 4),
    "no recurrence": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + b),
        "ignores the previous state",
        4,
    ),
    "W_hh not transposed": (
        lambda x, h, Wx, Wh, b: torch.tanh(x @ Wx.T + h @ Wh + b),
        "without transposing",
        4,
    ),
    "sigmoid": (
        lambda *a: _step(*a, act=torch.sigmoid),
        "h_t is wrong at batch 0, unit 0",
        4,
    ),
    "tanh to 5 digits": (
        lambda *a: (_step(*a) * 1e5).round() / 1e5,
        "h_t is wrong at",
        4,
    ),
    "detached": (lambda *a: _step(*a).detach(), "no gradient flows", 4),
    # 6: odd return values
    "None": (lambda *a: None, "returned None", 6),
    "a NumPy array": (
        lambda *a: _step(*a).detach().numpy(),
        "should be a torch.Tensor, got a NumPy array",
        6,
    ),
    "a tuple (h_t, h_t)": (lambda *a: (_step(*a), _step(*a)), "expected 1", 6),
    "a tensor on the meta device": (
        lambda x, *a: torch.empty(x.shape[0], a[2].shape[0], device="meta"),
        "on the device meta",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_rnn_step_rejects = _rejecting(RNN_STEP_PLANTED, check_rnn_step)


def test_an_overflowing_tanh_is_named_as_an_overflow():
    fn = RNN_STEP_PLANTED["tanh as sinh / cosh"][0]
    message = _message(check_rnn_step, fn)
    assert "overflows" in message and "use torch.tanh" in message
    # the same formula is right where nothing overflows: only the range exposes it
    args = tuple(
        torch.randn(s, dtype=torch.float64) for s in [(2, 3), (2, 4), (4, 3), (4, 4)]
    ) + (torch.zeros(4, dtype=torch.float64),)
    torch.testing.assert_close(fn(*args), rnn_step_reference(*args))


def _torch_cell(module, x, h, W_xh, W_hh, b_h):
    params = {
        "weight_ih": W_xh,
        "weight_hh": W_hh,
        "bias_ih": b_h,
        "bias_hh": torch.zeros_like(b_h),
    }
    return torch.func.functional_call(module, params, (x, h))


def _one_step_layer(layer_class, x, h, W_xh, W_hh, b_h):
    layer = layer_class(W_xh.shape[1], W_xh.shape[0], batch_first=True).double()
    params = {
        "weight_ih_l0": W_xh,
        "weight_hh_l0": W_hh,
        "bias_ih_l0": b_h,
        "bias_hh_l0": torch.zeros_like(b_h),
    }
    _, h_t = torch.func.functional_call(layer, params, (x[:, None], h[None]))
    return h_t[0]


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
    "a one-step torch.nn.RNN": (
        lambda *a: _one_step_layer(torch.nn.RNN, *a),
        "torch.nn.RNN",
    ),
    "a one-step package RNN": (
        lambda *a: _one_step_layer(RNN, *a),
        "rnncourse.nn.rnn.RNN",
    ),
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


# --- unroll -----------------------------------------------------------------------


def _loop(x, h0, Wx, Wh, b, act=torch.tanh):
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, Wx, Wh, b, act)
        hs.append(h)
    return torch.stack(hs, 1), h


def _unroll_filled(x, h0, Wx, Wh, b):
    """States written into a tensor made beforehand, in the inputs' dtype."""
    hs = x.new_zeros(x.shape[0], x.shape[1], h0.shape[1])
    h = h0
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, Wx, Wh, b)
        hs[:, t] = h
    return hs, h


def _unroll_cat(x, h0, Wx, Wh, b):
    h, hs = h0, x.new_empty(x.shape[0], 0, h0.shape[1])
    for x_t in x.unbind(1):
        h = torch.tanh(F.linear(x_t, Wx, b) + F.linear(h, Wh))
        hs = torch.cat([hs, h[:, None]], dim=1)
    return [hs, hs[:, -1]]


UNROLL_RIGHT = {
    "a stacked loop": _loop,
    "a tensor filled in place": _unroll_filled,
    "concatenated, as a list": _unroll_cat,
}


test_unroll_accepts = _accepting(UNROLL_RIGHT, check_unroll)


def _unroll_recursive(x, h0, Wx, Wh, b):
    if x.shape[1] == 0:
        return x.new_zeros(x.shape[0], 0, h0.shape[1]), h0
    hs, h = _unroll_recursive(x[:, :-1], h0, Wx, Wh, b)
    h = _step(x[:, -1], h, Wx, Wh, b)
    return torch.cat([hs, h[:, None]], 1), h


def _unroll_no_carry(x, h0, Wx, Wh, b):
    hs = [_step(x[:, t], h0, Wx, Wh, b) for t in range(x.shape[1])]
    return torch.stack(hs, 1), hs[-1]


def _unroll_keeps_h0(x, h0, Wx, Wh, b):
    h, hs = h0, [h0]
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, Wx, Wh, b)
        hs.append(h)
    return torch.stack(hs[:-1], 1), h


def _unroll_time_major(x, h0, Wx, Wh, b):  # treats x as (T, B, D)
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = _step(x[t], h, Wx, Wh, b)
        hs.append(h)
    return torch.stack(hs, 1), h


def _unroll_default_dtype(x, h0, Wx, Wh, b):
    hs = torch.zeros(x.shape[0], x.shape[1], h0.shape[1])  # float32 whatever x is
    h = h0
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, Wx, Wh, b)
        hs[:, t] = h
    return hs, h


def _unroll_detached(x, h0, Wx, Wh, b):
    hs, h = _unroll_filled(x, h0, Wx, Wh, b)
    return hs.detach(), h


def _unroll_first_ten(x, h0, Wx, Wh, b):
    """Only the first ten steps are computed; the rest repeat the tenth state."""
    hs, h = _loop(x[:, :10], h0, Wx, Wh, b)
    rest = h[:, None].expand(-1, x.shape[1] - hs.shape[1], -1)
    return torch.cat([hs, rest], 1), hs[:, -1]


UNROLL_PLANTED = {
    # 1: numerical range
    "recursive": (_unroll_recursive, "runs out of stack", 1),
    "tanh written with exp": (
        lambda *a: _loop(*a, act=lambda z: (E(2 * z) - 1) / (E(2 * z) + 1)),
        "overflows",
        1,
    ),
    "only the first ten steps": (_unroll_first_ten, "T=1000", 1),
    # 3: every legal shape
    "time-major indexing": (_unroll_time_major, "raised", 3),
    "squeezed outputs": (
        lambda *a: tuple(t.squeeze() for t in _loop(*a)),
        "should have shape (1, 1, 3)",
        3,
    ),
    "states in the default dtype": (_unroll_default_dtype, "dtype torch.float32", 3),
    # 4: right on easy inputs only, or nearly right
    "state not carried": (_unroll_no_carry, "every step starts from h0", 4),
    "outputs shifted": (_unroll_keeps_h0, "shifted by one step", 4),
    "read backwards": (
        lambda x, *a: tuple(t.flip(1) if t.dim() == 3 else t for t in _loop(x, *a)),
        "hs is wrong at",
        4,
    ),
    "outputs detached": (_unroll_detached, "gradient with respect to", 4),
    # 6: odd return values
    "only the last state": (
        lambda *a: _loop(*a)[1],
        "expected 2 return value(s) (hs and h_T), got 1",
        6,
    ),
    "a list of states": (
        lambda *a: (list(_loop(*a)[0].unbind(1)), _loop(*a)[1]),
        "join a list of tensors with torch.stack",
        6,
    ),
    "a generator": (
        lambda *a: ((h for h in _loop(*a)[0].unbind(1)), _loop(*a)[1]),
        "a generator expression",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_unroll_rejects = _rejecting(UNROLL_PLANTED, check_unroll)


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


def _unroll_by_cells(cell):
    def unroll(x, h0, W_xh, W_hh, b_h):
        h, hs = h0, []
        for t in range(x.shape[1]):
            h = cell(x[:, t], h, W_xh, W_hh, b_h)
            hs.append(h)
        return torch.stack(hs, 1), h

    return unroll


UNROLL_SHORTCUTS = {
    "torch.nn.RNN": (_unroll_by_torch, "torch.nn.RNN"),
    "torch.rnn_tanh_cell in a loop": (
        _unroll_by_cells(lambda x, h, Wx, Wh, b: torch.rnn_tanh_cell(x, h, Wx, Wh, b)),
        "torch.rnn_tanh_cell",
    ),
    "the package's elman_cell in a loop": (
        _unroll_by_cells(lambda x, h, Wx, Wh, b: elman_cell(x @ Wx.T + b, h, Wh)),
        "rnncourse.nn.rnn.elman_cell",
    ),
}


@pytest.mark.parametrize("name", UNROLL_SHORTCUTS)
def test_unroll_rejects_shortcuts(name):
    fn, called = UNROLL_SHORTCUTS[name]
    args = _rnn_args(2, 5, 3, 4)
    _shortcut_message(check_unroll, fn, unroll_reference, args, called)


# --- temperature_probs ------------------------------------------------------------


def _notebook_solution(logits, temperature):
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / temperature, dim=-1)


def _greedy(z):
    return (z == z.amax(-1, keepdim=True)).to(z.dtype)


def _by_hand(z, tau):
    if tau == 0:
        return _greedy(z)
    z = z / tau
    e = E(z - z.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def _in_place(z, tau):
    if tau == 0:
        return torch.zeros_like(z).scatter_(-1, z.argmax(-1, keepdim=True), 1.0)
    return F.softmax(z.div_(tau), dim=-1)


TEMPERATURE_RIGHT = {
    "the notebook's solution": _notebook_solution,
    "by hand, each row's maximum subtracted": _by_hand,
    "exp of log_softmax": lambda z, tau: (
        _greedy(z) if tau == 0 else torch.log_softmax(z / tau, -1).exp()
    ),
    "logits divided in place, scatter for the greedy limit": _in_place,
    "greedy as the limit of a tiny temperature": lambda z, tau: torch.softmax(
        z / max(tau, 1e-30), -1
    ),
}


test_temperature_probs_accepts = _accepting(TEMPERATURE_RIGHT, check_temperature_probs)


def _naive(z, tau):
    if tau == 0:
        return _greedy(z)
    e = E(z / tau)
    return e / e.sum(-1, keepdim=True)


def _global_max(z, tau):
    """The batch's maximum subtracted, not each row's: rows far below it underflow."""
    if tau == 0:
        return _greedy(z)
    e = E((z - z.max()) / tau)
    return e / e.sum(-1, keepdim=True)


def _greedy_flat(z, tau):
    if tau == 0:
        return F.one_hot(z.argmax(), z.numel()).reshape(z.shape).to(z.dtype)
    return torch.softmax(z / tau, -1)


TEMPERATURE_PLANTED = {
    # 1: numerical range
    "softmax without the maximum": (_naive, "subtract each row's maximum", 1),
    "the batch's maximum subtracted": (
        _global_max,
        "contains NaN or infinity (for float32 logits near +-100",
        1,
    ),
    "float64 logits over a temperature of 0.1": (
        lambda z, tau: (
            _naive(z, tau)
            if z.dtype == torch.float64 and tau == 0.1
            else _by_hand(z, tau)
        ),
        "(for logits near +-100 of shape (3, 20) and temperature 0.1)",
        1,
    ),
    # 3: every legal shape
    "greedy over the whole batch": (_greedy_flat, "temperature 0", 3),
    "float32 one-hot whatever the logits": (
        lambda z, tau: (
            torch.eye(z.shape[-1])[z.argmax(-1)]
            if tau == 0
            else torch.softmax(z / tau, -1)
        ),
        "has dtype torch.float32 but should have torch.float64",
        3,
    ),
    "softmax over axis 1, whatever the shape": (
        lambda z, tau: _greedy(z) if tau == 0 else torch.softmax(z / tau, 1).squeeze(),
        "should have shape (1, 10)",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "multiplied": (
        lambda z, tau: _greedy(z) if tau == 0 else torch.softmax(z * tau, -1),
        "multiplied the logits",
        4,
    ),
    "no softmax": (
        lambda z, tau: _greedy(z) if tau == 0 else z / tau,
        "not probabilities",
        4,
    ),
    "wrong axis": (
        lambda z, tau: _greedy(z) if tau == 0 else torch.softmax(z / tau, 0),
        "wrong axis",
        4,
    ),
    "temperature ignored": (
        lambda z, tau: torch.softmax(z, -1),
        "ignore the temperature",
        4,
    ),
    "temperature 0 not handled": (
        lambda z, tau: torch.softmax(z / tau, dim=-1),
        "temperature 0",
        4,
    ),
    "uniform": (
        lambda z, tau: torch.full_like(z, 1 / z.shape[-1]),
        "probs is wrong at row 0, token 0",
        4,
    ),
    "sqrt of the temperature": (
        lambda z, tau: _greedy(z) if tau == 0 else torch.softmax(z / tau**0.5, -1),
        "probs is wrong at",
        4,
    ),
    # 6: odd return values
    "a list of rows": (
        lambda z, tau: list(_by_hand(z, tau)),
        "join a list of tensors",
        6,
    ),
    "a NumPy array": (
        lambda z, tau: np.asarray(_by_hand(z, tau).detach()),
        "a NumPy array",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_temperature_rejects = _rejecting(TEMPERATURE_PLANTED, check_temperature_probs)


def test_a_softmax_without_its_maximum_is_named_as_an_overflow():
    message = _message(check_temperature_probs, _naive)
    assert "overflows once z reaches about 88 in float32" in message
    # right on the small logits: only the range exposes it
    z = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(_naive(z, 0.7), temperature_probs_reference(z, 0.7))


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


# --- all three --------------------------------------------------------------------

PLANTED = {
    check_rnn_step: RNN_STEP_PLANTED,
    check_unroll: UNROLL_PLANTED,
    check_temperature_probs: TEMPERATURE_PLANTED,
}


test_each_usual_mistake_gets_its_own_message = _distinct_usual_mistakes(PLANTED, 4)


@pytest.mark.parametrize("checker", PLANTED)
def test_every_class_of_loophole_is_planted(checker):
    assert {kind for _, _, kind in PLANTED[checker].values()} >= {1, 3, 4, 6}


test_an_answer_that_is_not_a_function_gets_a_sentence = _refusing_non_functions(
    PLANTED, None, "expected a function, got None"
)
