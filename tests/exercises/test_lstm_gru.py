"""Chapter 4's checkers accept right answers written in many ways and reject planted
wrong ones, each with its own sentence.

The planted answers are written here, independently of the checkers' lists of usual
mistakes, and grouped by the loophole they try: 1 numerical range (float32 and
saturated gates, logits in the hundreds), 2 the point of the exercise (step by step,
the state carried), 3 the legal input shapes, 4 the tolerance (answers that are
nearly right), 5 shortcuts (torch's and the package's implementations), 6 odd return
values (a checker never crashes). Right variants (7) are accepted.
"""

import pytest
import torch

from rnncourse.exercises import (
    check_bidirectional,
    check_gru_cell,
    check_lstm_cell,
    check_sample,
)
from rnncourse.exercises.lstm_gru import (
    bidirectional_reference,
    gru_cell_reference,
    lstm_cell_reference,
    sample_reference,
    tiny_char_lm,
)
from rnncourse.nn import GRU, LSTM, gru_cell, lstm_cell, lstm_gates
from rnncourse.nn import GRUCell as PackageGRUCell
from rnncourse.nn import LSTMCell as PackageLSTMCell
from rnncourse.nn.sampling import generate, temperature_probs

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

E = torch.exp


def test_references_pass(capsys):
    check_lstm_cell(lstm_cell_reference)
    check_gru_cell(gru_cell_reference)
    check_bidirectional(bidirectional_reference)
    check_sample(sample_reference)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 4 and "frequencies" not in out
    assert out.count("\n") == 4, "one pass line per checker"


def _as_torch_cell(module, x, state, W_ih, W_hh, b_ih, b_hh):
    params = {"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh}
    return torch.func.functional_call(module, params, (x, state))


def _cell_case(G: int, states: int):
    g = torch.Generator().manual_seed(7)
    B, D_in, D_h = 3, 4, 5
    shapes = [(B, D_in)] + [(B, D_h)] * states
    shapes += [(G * D_h, D_in), (G * D_h, D_h), (G * D_h,), (G * D_h,)]
    return tuple(torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes)


def _lstm_by_torch(x, h, c, *weights):
    module = torch.nn.LSTMCell(x.shape[1], h.shape[1]).double()
    return _as_torch_cell(module, x, (h, c), *weights)


def _gru_by_torch(x, h, *weights):
    module = torch.nn.GRUCell(x.shape[1], h.shape[1]).double()
    return _as_torch_cell(module, x, h, *weights)


def test_the_cell_references_are_torchs_and_the_package_s_cells():
    args = _cell_case(4, 2)
    x, h, c, W_ih, W_hh, b_ih, b_hh = args
    expected = lstm_cell_reference(*args)
    torch.testing.assert_close(_lstm_by_torch(*args), expected)
    torch.testing.assert_close(lstm_cell(x @ W_ih.T + b_ih, h, c, W_hh, b_hh), expected)
    args = _cell_case(3, 1)
    x, h, W_ih, W_hh, b_ih, b_hh = args
    expected = gru_cell_reference(*args)
    torch.testing.assert_close(_gru_by_torch(*args), expected)
    torch.testing.assert_close(gru_cell(x @ W_ih.T + b_ih, h, W_hh, b_hh), expected)


# --- class 6: odd answers, for every checker -----------------------------------------

ODD = {
    **ODD_RETURNS,
    "a tuple of four": (lambda *a: (torch.zeros(3),) * 4, "."),
    "a string": (lambda *a: "h_t", "str"),
}


def _after_the_cells(odd):
    """An odd answer that first runs both cells over the sequence, as a bidirectional
    wrapper would, so that the odd return value is what the checker judges."""

    def answer(cell_fw, cell_bw, x, h0_fw, h0_bw):
        bidirectional_reference(cell_fw, cell_bw, x, h0_fw, h0_bw)
        return odd()

    return answer


@pytest.mark.parametrize(
    "checker", [check_lstm_cell, check_gru_cell, check_bidirectional, check_sample]
)
@pytest.mark.parametrize("odd", ODD)
def test_odd_answers_get_a_sentence(checker, odd):
    fn, expected = ODD[odd]
    if checker is check_bidirectional:
        fn = _after_the_cells(fn)
    assert expected in _message(checker, fn)


test_an_answer_that_is_not_a_function_gets_a_sentence = _refusing_non_functions(
    [check_lstm_cell, check_gru_cell, check_bidirectional, check_sample],
    3,
    "expected a function, got a Python int",
)


# --- the LSTM cell ------------------------------------------------------------


def _lstm(
    x,
    h,
    c,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    order="ifgo",
    sig=torch.sigmoid,
    tanh=torch.tanh,
    out=torch.tanh,
    keep=lambda f, c: f * c,
    transpose=False,
):
    """An LSTM step written from the equations, with parts that can be changed."""
    a = x @ W_ih + h @ W_hh if transpose else x @ W_ih.T + h @ W_hh.T
    gates = dict(zip(order, (a + b_ih + b_hh).chunk(4, dim=1)))
    i, f, g, o = sig(gates["i"]), sig(gates["f"]), tanh(gates["g"]), sig(gates["o"])
    c_new = keep(f, c) + i * g
    return o * out(c_new), c_new


def _lstm_by_gate(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right, written differently: one gate at a time, with einsum."""
    D_h = h.shape[1]

    def pre(k):
        rows = slice(k * D_h, (k + 1) * D_h)
        return (
            torch.einsum("bd,hd->bh", x, W_ih[rows])
            + torch.einsum("bk,hk->bh", h, W_hh[rows])
            + b_ih[rows]
            + b_hh[rows]
        )

    i, f, g, o = (
        torch.sigmoid(pre(0)),
        torch.sigmoid(pre(1)),
        torch.tanh(pre(2)),
        torch.sigmoid(pre(3)),
    )
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def _lstm_one_product(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right: [x, h] times the weights side by side, one matrix product."""
    a = torch.cat([x, h], 1) @ torch.cat([W_ih, W_hh], 1).T + (b_ih + b_hh)
    i, f, g, o = a.split(h.shape[1], dim=1)
    c_new = torch.special.expit(f) * c + torch.special.expit(i) * g.tanh()
    return torch.nn.functional.sigmoid(o) * c_new.tanh(), c_new


def _lstm_in_place(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right: accumulates the pre-activation in place and updates c_prev in place."""
    a = x @ W_ih.T
    a += b_ih
    a += h @ W_hh.T
    a += b_hh
    i, f, g, o = a.chunk(4, dim=1)
    c.mul_(torch.sigmoid(f)).add_(torch.sigmoid(i) * torch.tanh(g))
    return torch.sigmoid(o) * torch.tanh(c), c


def _sigmoid_by_hand(a):
    return 1 / (1 + E(-a))  # overflows to 1 / inf = 0 for a << 0: harmless


def _tanh_stable(a):
    return 2 * torch.sigmoid(2 * a) - 1


def _tanh_by_exp(a):
    return 1 - 2 / (E(2 * a) + 1)  # overflows to 1 - 0 = 1: harmless


LSTM_RIGHT = {
    "one gate at a time": _lstm_by_gate,
    "all gates at once": _lstm,
    "one matrix product, expit and F.sigmoid": _lstm_one_product,
    "in place on c_prev": _lstm_in_place,
    "sigmoid 1 / (1 + exp(-a)) by hand": lambda *a: _lstm(*a, sig=_sigmoid_by_hand),
    "tanh as 2 sigmoid(2a) - 1": lambda *a: _lstm(
        *a, tanh=_tanh_stable, out=_tanh_stable
    ),
    "tanh as 1 - 2 / (exp(2a) + 1)": lambda *a: _lstm(
        *a, tanh=_tanh_by_exp, out=_tanh_by_exp
    ),
    "sigmoid through tanh": lambda *a: _lstm(
        *a, sig=lambda z: (1 + torch.tanh(z / 2)) / 2
    ),
}


test_lstm_cell_accepts = _accepting(
    LSTM_RIGHT, check_lstm_cell, "correct on all 6 test cases"
)


def _lstm_with_rnn_tanh_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right, but the candidate g comes from torch's fused Elman cell."""
    D_h = h.shape[1]
    W_ii, W_if, W_ig, W_io = W_ih.split(D_h)
    W_hi, W_hf, W_hg, W_ho = W_hh.split(D_h)
    b_i, b_f, b_g, b_o = (b_ih + b_hh).split(D_h)
    i = torch.sigmoid(x @ W_ii.T + h @ W_hi.T + b_i)
    f = torch.sigmoid(x @ W_if.T + h @ W_hf.T + b_f)
    o = torch.sigmoid(x @ W_io.T + h @ W_ho.T + b_o)
    g = torch.rnn_tanh_cell(x, h, W_ig, W_hg, b_g, torch.zeros_like(b_g))
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def _lstm_by_torch_layer(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right, by torch.nn.LSTM over a sequence of one step."""
    layer = torch.nn.LSTM(x.shape[1], h.shape[1], batch_first=True).double()
    params = {
        "weight_ih_l0": W_ih,
        "weight_hh_l0": W_hh,
        "bias_ih_l0": b_ih,
        "bias_hh_l0": b_hh,
    }
    out, (h_n, c_n) = torch.func.functional_call(
        layer, params, (x[:, None], (h[None], c[None]))
    )
    return h_n[0], c_n[0]


def _lstm_by_package_gates(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right, by the package's lstm_gates."""
    i, f, g, o = lstm_gates(x @ W_ih.T + b_ih, h, W_hh, b_hh)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


LSTM_SHORTCUTS = {
    "torch.lstm_cell": (
        lambda x, h, c, *w: torch.lstm_cell(x, (h, c), *w),
        "torch.lstm_cell",
    ),
    "torch.nn.LSTMCell": (_lstm_by_torch, "torch.nn.LSTMCell"),
    "torch.nn.LSTM": (_lstm_by_torch_layer, "torch.nn.LSTM"),
    "the package's lstm_cell": (
        lambda x, h, c, W_ih, W_hh, b_ih, b_hh: lstm_cell(
            x @ W_ih.T + b_ih, h, c, W_hh, b_hh
        ),
        "rnncourse.nn.lstm.lstm_cell",
    ),
    "the package's lstm_gates": (
        _lstm_by_package_gates,
        "rnncourse.nn.lstm.lstm_gates",
    ),
    "the package's LSTMCell": (
        lambda x, h, c, *w: _as_torch_cell(
            PackageLSTMCell(x.shape[1], h.shape[1]).double(), x, (h, c), *w
        ),
        "rnncourse.nn.lstm.LSTMCell",
    ),
    "torch.rnn_tanh_cell for the candidate": (
        _lstm_with_rnn_tanh_cell,
        "torch.rnn_tanh_cell",
    ),
}


@pytest.mark.parametrize("name", LSTM_SHORTCUTS)
def test_lstm_cell_rejects_shortcuts(name):
    fn, called = LSTM_SHORTCUTS[name]
    args = _cell_case(4, 2)
    _shortcut_message(check_lstm_cell, fn, lstm_cell_reference, args, called)


def _tanh_overflowing(a):
    return (E(2 * a) - 1) / (E(2 * a) + 1)


def _lstm_squeezed(*args):
    h, c = _lstm(*args)
    return h.squeeze(), c.squeeze()


def _lstm_split_by_input(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Splits the stacked rows into blocks of D_in rows, not D_h."""
    D = x.shape[1]
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = (a[:, k * D : (k + 1) * D] for k in range(4))
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def _lstm_in_float64(*args):
    """Computes in float64 and returns float64, whatever the inputs."""
    return _lstm(*(a.double() for a in args))


def _hard_sigmoid(a):
    return torch.clamp(0.2 * a + 0.5, 0, 1)


# (the wrong answer, a distinctive part of the sentence, the loophole class)
LSTM_PLANTED = {
    # 1: numerical range
    "sigmoid as exp(a) / (1 + exp(a))": (
        lambda *a: _lstm(*a, sig=lambda z: E(z) / (1 + E(z))),
        "exp overflows float32",
        1,
    ),
    "tanh as (exp(2a) - 1) / (exp(2a) + 1)": (
        lambda *a: _lstm(*a, tanh=_tanh_overflowing, out=_tanh_overflowing),
        "gives inf / inf = NaN",
        1,
    ),
    "tanh as (exp(a) - exp(-a)) / (exp(a) + exp(-a)) for the candidate": (
        lambda *a: _lstm(*a, tanh=lambda z: (E(z) - E(-z)) / (E(z) + E(-z))),
        "pre-activations of size 50 to 200",
        1,
    ),
    # 3: every legal shape
    "squeezes the batch": (_lstm_squeezed, "should have shape (1, 1)", 3),
    "blocks of D_in rows": (_lstm_split_by_input, "columns wide each", 3),
    "float64 whatever the inputs": (_lstm_in_float64, "dtype torch.float64", 3),
    # 4: nearly right
    "a forget bias of 1 inside the cell": (
        lambda x, h, c, W_ih, W_hh, b_ih, b_hh: _lstm(
            x,
            h,
            c,
            W_ih,
            W_hh,
            b_ih + torch.tensor([0.0, 1, 0, 0]).repeat_interleave(h.shape[1]),
            b_hh,
        ),
        "is wrong at",
        4,
    ),
    "hard sigmoid": (lambda *a: _lstm(*a, sig=_hard_sigmoid), "is wrong at", 4),
    # the usual mistakes, in this file's own words
    "sigmoid and tanh swapped": (
        lambda *a: _lstm(*a, sig=torch.tanh, tanh=torch.sigmoid),
        "sigmoid and tanh are swapped",
        0,
    ),
    "forget gate missing": (
        lambda *a: _lstm(*a, keep=lambda f, c: 0),
        "as if the forget gate were missing",
        0,
    ),
    "gate order i, f, o, g": (
        lambda *a: _lstm(*a, order="ifog"),
        "in the order i, f, o, g",
        0,
    ),
    "gate order f, i, g, o": (
        lambda *a: _lstm(*a, order="figo"),
        "in the order f, i, g, o",
        0,
    ),
    "transposed weights": (
        lambda *a: _lstm(*a, transpose=True),
        "x_t @ W_ih.T and h_prev @ W_hh.T",
        0,
    ),
    "no tanh on the cell": (
        lambda *a: _lstm(*a, out=lambda c: c),
        "h_t = o_t * tanh(c_t)",
        0,
    ),
    "c_t from h": (
        lambda x, h, c, *w: _lstm(x, h, h, *w),
        "uses h_prev where the old cell belongs",
        0,
    ),
    "only one bias": (
        lambda x, h, c, Wi, Wh, bi, bh: _lstm(x, h, c, Wi, Wh, bi, 0 * bh),
        "leave out b_hh",
        0,
    ),
    "(c, h) returned": (lambda *a: _lstm(*a)[::-1], "(c_t, h_t)", 0),
    "detached": (
        lambda *a: tuple(t.detach() for t in _lstm(*a)),
        "no gradient flows",
        0,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_lstm_cell_rejects = _rejecting(LSTM_PLANTED, check_lstm_cell, _cached_message)


def test_a_saturated_float32_case_gives_the_overflow_its_own_sentence():
    overflowing = LSTM_PLANTED["sigmoid as exp(a) / (1 + exp(a))"][0]
    message = _cached_message(check_lstm_cell, overflowing)
    assert "h_t contains NaN or infinity" in message and "torch.sigmoid" in message


# --- the GRU cell -------------------------------------------------------------


def _gru(
    x,
    h,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    order="rzn",
    sig=torch.sigmoid,
    tanh=torch.tanh,
    reset="torch",
    swap_z=False,
    transpose=False,
):
    """A GRU step written from the equations, with parts that can be changed."""
    xw = dict(zip(order, (x @ (W_ih if transpose else W_ih.T) + b_ih).chunk(3, dim=1)))
    hw = dict(zip(order, (h @ (W_hh if transpose else W_hh.T) + b_hh).chunk(3, dim=1)))
    r, z = sig(xw["r"] + hw["r"]), sig(xw["z"] + hw["z"])
    W_hn, b_hn = W_hh[2 * h.shape[1] :], b_hh[2 * h.shape[1] :]
    recurrent = {
        "torch": r * hw["n"],
        "paper": (r * h) @ W_hn.T + b_hn,
        "none": hw["n"],
    }[reset]
    n = tanh(xw["n"] + recurrent)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def _gru_interpolating(x, h, W_ih, W_hh, b_ih, b_hh):
    """Right, written differently: h_t = n_t + z_t * (h_{t-1} - n_t), weights split
    with torch.split."""
    D_h = h.shape[1]
    W_ir, W_iz, W_in = W_ih.split(D_h)
    W_hr, W_hz, W_hn = W_hh.split(D_h)
    b_ir, b_iz, b_in = b_ih.split(D_h)
    b_hr, b_hz, b_hn = b_hh.split(D_h)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    return n + z * (h - n)


def _gru_lerp(x, h, W_ih, W_hh, b_ih, b_hh):
    """Right: torch.lerp, and the r and z blocks of both products added at once."""
    D_h = h.shape[1]
    xw, hw = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
    rz = torch.sigmoid(xw[:, : 2 * D_h] + hw[:, : 2 * D_h])
    r, z = rz[:, :D_h], rz[:, D_h:]
    n = torch.tanh(xw[:, 2 * D_h :] + r * hw[:, 2 * D_h :])
    return torch.lerp(n, h, z)


GRU_RIGHT = {
    "interpolating": _gru_interpolating,
    "from the equations": _gru,
    "torch.lerp": _gru_lerp,
    "sigmoid 1 / (1 + exp(-a)) by hand": lambda *a: _gru(*a, sig=_sigmoid_by_hand),
    "tanh as 1 - 2 / (exp(2a) + 1)": lambda *a: _gru(*a, tanh=_tanh_by_exp),
}


test_gru_cell_accepts = _accepting(
    GRU_RIGHT, check_gru_cell, "correct on all 6 test cases"
)


GRU_SHORTCUTS = {
    "torch.gru_cell": (
        lambda x, h, *w: torch.gru_cell(x, h, *w),
        "torch.gru_cell",
    ),
    "torch.nn.GRUCell": (_gru_by_torch, "torch.nn.GRUCell"),
    "the package's gru_cell": (
        lambda x, h, W_ih, W_hh, b_ih, b_hh: gru_cell(x @ W_ih.T + b_ih, h, W_hh, b_hh),
        "rnncourse.nn.gru.gru_cell",
    ),
    "the package's GRUCell": (
        lambda x, h, *w: _as_torch_cell(
            PackageGRUCell(x.shape[1], h.shape[1]).double(), x, h, *w
        ),
        "rnncourse.nn.gru.GRUCell",
    ),
}


@pytest.mark.parametrize("name", GRU_SHORTCUTS)
def test_gru_cell_rejects_shortcuts(name):
    fn, called = GRU_SHORTCUTS[name]
    args = _cell_case(3, 1)
    _shortcut_message(check_gru_cell, fn, gru_cell_reference, args, called)


GRU_PLANTED = {
    # 1: numerical range
    "sigmoid as exp(a) / (1 + exp(a))": (
        lambda *a: _gru(*a, sig=lambda z: E(z) / (1 + E(z))),
        "exp overflows float32",
        1,
    ),
    "tanh as (exp(2a) - 1) / (exp(2a) + 1)": (
        lambda *a: _gru(*a, tanh=lambda z: (E(2 * z) - 1) / (E(2 * z) + 1)),
        "gives inf / inf = NaN",
        1,
    ),
    # 3: every legal shape
    "squeezes the batch": (
        lambda *a: _gru(*a).squeeze(),
        "should have shape (1, 1)",
        3,
    ),
    "a float64 zero state": (
        lambda *a: _gru(*a) + torch.zeros(1, dtype=torch.float64),
        "dtype torch.float64",
        3,
    ),
    # 4: nearly right
    "hard tanh for the candidate": (
        lambda *a: _gru(*a, tanh=lambda z: torch.clamp(z, -1, 1)),
        "is wrong at",
        4,
    ),
    # the usual mistakes
    "reset before the product (Cho et al.)": (
        lambda *a: _gru(*a, reset="paper"),
        "Cho et al.'s paper",
        0,
    ),
    "z and 1 - z swapped": (
        lambda *a: _gru(*a, swap_z=True),
        "z_t and 1 - z_t are swapped",
        0,
    ),
    "sigmoid and tanh swapped": (
        lambda *a: _gru(*a, sig=torch.tanh, tanh=torch.sigmoid),
        "sigmoid and tanh are swapped",
        0,
    ),
    "transposed weights": (
        lambda *a: _gru(*a, transpose=True),
        "x_t @ W_ih.T and h_prev @ W_hh.T",
        0,
    ),
    "reset gate missing": (
        lambda *a: _gru(*a, reset="none"),
        "leaves out the reset gate",
        0,
    ),
    "gate order z, r, n": (
        lambda *a: _gru(*a, order="zrn"),
        "in the order z, r, n",
        0,
    ),
    "float32": (lambda *a: _gru(*a).float(), "dtype torch.float32", 0),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_gru_cell_rejects = _rejecting(GRU_PLANTED, check_gru_cell, _cached_message)


# --- the bidirectional wrapper -------------------------------------------------


def _run(cell, x, h):
    """States after each step of x (B, T, D_in), in reading order: (B, T, D_h)."""
    hs = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h)
        hs.append(h)
    return torch.stack(hs, dim=1)


def _bidirectional_by_flipping(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Right: the backward pass reads the flipped sequence, then flips its outputs
    back."""
    return torch.cat(
        [_run(cell_fw, x, h0_fw), _run(cell_bw, x.flip(1), h0_bw).flip(1)], dim=2
    )


def _bidirectional_preallocated(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Right: writes each state into a preallocated tensor, in place."""
    B, T, _ = x.shape
    D_h = h0_fw.shape[1]
    out = x.new_zeros(B, T, 2 * D_h)
    h_f, h_b = h0_fw, h0_bw
    for t in range(T):
        h_f = cell_fw(x[:, t], h_f)
        out[:, t, :D_h] = h_f
        h_b = cell_bw(x[:, T - 1 - t], h_b)
        out[:, T - 1 - t, D_h:] = h_b
    return out


def _bidirectional_per_example(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Right but one example at a time: each state is still computed once."""
    rows = [
        bidirectional_reference(
            cell_fw, cell_bw, x[b : b + 1], h0_fw[b : b + 1], h0_bw[b : b + 1]
        )
        for b in range(x.shape[0])
    ]
    return torch.cat(rows)


BIDIRECTIONAL_RIGHT = {
    "flipping": _bidirectional_by_flipping,
    "preallocated, both directions in one loop": _bidirectional_preallocated,
    "one example at a time": _bidirectional_per_example,
}


test_bidirectional_accepts = _accepting(
    BIDIRECTIONAL_RIGHT, check_bidirectional, "correct on all 5 test cases"
)


def _backward_from_scratch(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Right values, but each backward state is recomputed from the end."""
    T, backward = x.shape[1], []
    for t in range(T):
        h = h0_bw
        for s in reversed(range(t, T)):
            h = cell_bw(x[:, s], h)
        backward.append(h)
    return torch.cat([_run(cell_fw, x, h0_fw), torch.stack(backward, 1)], -1)


def _forward_from_scratch(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Right values, but each forward state is recomputed from the start."""
    forward = [_run(cell_fw, x[:, : t + 1], h0_fw)[:, -1] for t in range(x.shape[1])]
    backward = _run(cell_bw, x.flip(1), h0_bw).flip(1)
    return torch.cat([torch.stack(forward, 1), backward], -1)


def _backward_skips_the_first_step(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """range(T - 1, 0, -1): the backward direction never reads x_0."""
    T, h = x.shape[1], h0_bw
    backward = [h0_bw] * T
    for t in range(T - 1, 0, -1):
        h = cell_bw(x[:, t], h)
        backward[t] = h
    return torch.cat([_run(cell_fw, x, h0_fw), torch.stack(backward, 1)], -1)


def _time_from_the_batch_axis(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Reads T from x.shape[0], the batch."""
    T = x.shape[0]
    return bidirectional_reference(cell_fw, cell_bw, x[:, :T], h0_fw, h0_bw)


def _by_torch_layer(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """A bidirectional torch.nn.RNN layer instead of the cells."""
    layer = torch.nn.RNN(
        x.shape[2], h0_fw.shape[1], batch_first=True, bidirectional=True
    ).double()
    return layer(x, torch.stack([h0_fw, h0_bw]))[0]


BIDIRECTIONAL_PLANTED = {
    # 2: step by step, the state carried
    "backward states recomputed from the end": (
        _backward_from_scratch,
        "calls cell_bw 15 times",
        2,
    ),
    "forward states recomputed from the start": (
        _forward_from_scratch,
        "calls cell_fw 15 times",
        2,
    ),
    # 3: every legal shape
    "the backward loop stops before t = 0": (
        _backward_skips_the_first_step,
        "calls cell_bw for only 4 of the T=5 time steps",
        3,
    ),
    "T read from the batch axis": (_time_from_the_batch_axis, "of the T=5", 3),
    # 5: shortcuts
    "a bidirectional torch.nn.RNN": (_by_torch_layer, "calls torch.nn.RNN", 5),
    # the usual mistakes
    "backward outputs not re-reversed": (
        lambda f, b, x, hf, hb: torch.cat([_run(f, x, hf), _run(b, x.flip(1), hb)], -1),
        "left in reading order",
        0,
    ),
    "halves swapped": (
        lambda f, b, x, hf, hb: torch.cat(
            [_run(b, x.flip(1), hb).flip(1), _run(f, x, hf)], -1
        ),
        "concatenated in the wrong order",
        0,
    ),
    "backward reads forward": (
        lambda f, b, x, hf, hb: torch.cat([_run(f, x, hf), _run(b, x, hb)], -1),
        "reads the sequence forward",
        0,
    ),
    "summed": (
        lambda f, b, x, hf, hb: _run(f, x, hf) + _run(b, x.flip(1), hb).flip(1),
        "summed the two directions",
        0,
    ),
    "forward only": (lambda f, b, x, hf, hb: _run(f, x, hf), "never calls cell_bw", 2),
    "cell_fw for both directions": (
        lambda f, b, x, hf, hb: torch.cat(
            [_run(f, x, hf), _run(f, x.flip(1), hb).flip(1)], -1
        ),
        "never calls cell_bw",
        2,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_bidirectional_rejects = _rejecting(
    BIDIRECTIONAL_PLANTED, check_bidirectional, _cached_message
)


def test_recomputing_states_gives_the_right_values_but_is_refused():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 2, generator=g, dtype=torch.float64)

    def cell(x_t, h):
        return torch.tanh(x_t @ W.T + h)

    x = torch.randn(2, 5, 2, generator=g, dtype=torch.float64)
    h0 = torch.zeros(2, 3, dtype=torch.float64)
    expected = bidirectional_reference(cell, cell, x, h0, h0)
    for fn in (_backward_from_scratch, _forward_from_scratch):
        torch.testing.assert_close(fn(cell, cell, x, h0, h0), expected)


# --- sampling with temperature ------------------------------------------------


def _probs(logits, temperature):
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(
            logits.dtype
        )
    return torch.softmax(logits / temperature, dim=-1)


def _softmax_by_exp(logits, temperature):
    """exp(z) / sum exp(z), without subtracting the maximum."""
    if temperature == 0:
        return _probs(logits, 0)
    weights = E(logits / temperature)
    return weights / weights.sum(-1, keepdim=True)


def _softmax_stable_by_hand(logits, temperature):
    if temperature == 0:
        return _probs(logits, 0)
    z = logits / temperature
    weights = E(z - z.max(-1, keepdim=True).values)
    return weights / weights.sum(-1, keepdim=True)


@torch.no_grad()
def _sample(
    model,
    prompt,
    n,
    temperature,
    generator,
    probs=_probs,
    carry=True,
    late=False,
    with_prompt=False,
    draw=None,
    by_id=False,
    skip_last=False,
):
    """A hand-written sampler: 1-D probabilities, the draw by torch.multinomial unless
    ``draw`` is given; the prompt read in one call, or id by id."""
    draw = draw or (lambda p: torch.multinomial(p, 1, generator=generator))
    if by_id:
        state = None
        for t in range(len(prompt)):
            logits, state = model(prompt[None, t : t + 1], state)
    else:
        logits, state = model(prompt[None])
    if late:
        logits, state = model(prompt[-1:][None], state)
    out = []
    for k in range(n):
        next_id = draw(probs(logits[0, -1], temperature))  # (1,)
        out.append(next_id)
        if skip_last and k == n - 1:
            break
        logits, state = model(next_id[None], state if carry else None)
    ids = torch.cat(out)
    return torch.cat([prompt, ids]) if with_prompt else ids


def _inverse_cdf(generator):
    """Another right way to draw: the first index whose cumulative probability exceeds
    a uniform number."""

    def draw(p):
        u = torch.rand(1, generator=generator, dtype=p.dtype)
        return torch.searchsorted(p.cumsum(-1), u).clamp(max=p.shape[-1] - 1)

    return draw


@torch.no_grad()
def _sample_through_the_layers(model, prompt, n, temperature, generator):
    """Right: calls the model's embedding, recurrent layer and readout itself."""
    out, state = model.rnn(model.embed(prompt[None]))
    ids = []
    for _ in range(n):
        probs = temperature_probs(model.head(out)[0, -1], temperature)
        ids.append(torch.multinomial(probs, 1, generator=generator))
        out, state = model.rnn(model.embed(ids[-1][None]), state)
    return torch.cat(ids)


@torch.no_grad()
def _sample_with_package_probs(model, prompt_ids, n, temperature, generator):
    """The notebook's solution, with rnncourse.nn.sampling.temperature_probs."""
    logits, state = model(prompt_ids[None])
    ids = []
    for _ in range(n):
        probs = temperature_probs(logits[0, -1], temperature)
        nxt = torch.multinomial(probs, 1, generator=generator)
        ids.append(nxt)
        logits, state = model(nxt[None], state)
    return torch.cat(ids)


SAMPLE_RIGHT = {
    "by hand": _sample,
    "the package's temperature_probs": _sample_with_package_probs,
    "a stable softmax by hand": lambda *a: _sample(*a, probs=_softmax_stable_by_hand),
    "the prompt read id by id": lambda *a: _sample(*a, by_id=True),
    "no model call after the last draw": lambda *a: _sample(*a, skip_last=True),
    "through model.rnn": _sample_through_the_layers,
}


@pytest.mark.parametrize("name", SAMPLE_RIGHT)
def test_sample_accepts(name, capsys):
    check_sample(SAMPLE_RIGHT[name])
    out = capsys.readouterr().out
    assert "correct on all 6" in out and "frequencies" not in out


def test_sample_accepts_other_draws_with_the_right_frequencies(capsys):
    check_sample(lambda m, p, n, tau, g: _sample(m, p, n, tau, g, draw=_inverse_cdf(g)))
    out = capsys.readouterr().out
    assert "correct on all 6 test cases, 3 of them by the frequencies" in " ".join(
        out.split()
    )
    assert max(len(line) for line in out.splitlines()) <= 88  # fits the page


@torch.no_grad()
def _sample_rereading(model, prompt, n, temperature, generator):
    """Right ids, but re-reads the whole text from scratch at every step."""
    text = prompt
    for _ in range(n):
        logits, _ = model(text[None])
        next_id = torch.multinomial(
            _probs(logits[0, -1], temperature), 1, generator=generator
        )
        text = torch.cat([text, next_id])
    return text[len(prompt) :]


@torch.no_grad()
def _sample_last_two(model, prompt, n, temperature, generator):
    """Carries the state but feeds the previous id again with each new one."""
    logits, state = model(prompt[None])
    ids = [prompt[-1:]]
    for _ in range(n):
        ids.append(
            torch.multinomial(
                _probs(logits[0, -1], temperature), 1, generator=generator
            )
        )
        logits, state = model(torch.cat(ids[-2:])[None], state)
    return torch.cat(ids[1:])


def _multiplied(logits, temperature):
    return (
        _probs(logits, 0)
        if temperature == 0
        else torch.softmax(logits * temperature, dim=-1)
    )


SAMPLE_PLANTED = {
    # 1: numerical range
    "softmax by exp without the maximum": (
        lambda *a: _sample(*a, probs=_softmax_by_exp),
        "exp overflows",
        1,
    ),
    # 2: the state carried, each id read once
    "re-reads the text at every step": (_sample_rereading, "re-reads the text", 2),
    "feeds the previous id again": (_sample_last_two, "re-reads the text", 2),
    # 3: every legal shape
    "ids stacked to (n, 1)": (
        lambda *a: torch.stack(list(_sample(*a))).reshape(-1, 1),
        "should have shape (12,)",
        3,
    ),
    "one id too many": (
        lambda m, p, n, tau, g: _sample(m, p, n + 1, tau, g),
        "should have shape (12,)",
        3,
    ),
    # 4: draws that are nearly right
    "other draws, temperature multiplied": (
        lambda m, p, n, tau, g: _sample(
            m, p, n, tau, g, probs=_multiplied, draw=_inverse_cdf(g)
        ),
        "do not follow softmax(logits / temperature)",
        4,
    ),
    # 6: odd return values
    "a list": (lambda *a: _sample(*a).tolist(), "got a Python list", 6),
    "int32 ids": (lambda *a: _sample(*a).int(), "should be torch.int64", 6),
    # the usual mistakes
    "state not carried": (
        lambda *a: _sample(*a, carry=False),
        "forgets what it has read",
        0,
    ),
    "one step late": (lambda *a: _sample(*a, late=True), "starts one step late", 0),
    "temperature multiplied": (
        lambda *a: _sample(*a, probs=_multiplied),
        "multiplied the logits by the temperature",
        0,
    ),
    "prompt returned": (
        lambda *a: _sample(*a, with_prompt=True),
        "returned the prompt as well",
        0,
    ),
    "always the arg-max": (
        lambda *a: _sample(*a, probs=lambda z, tau: _probs(z, 0)),
        "always take the arg-max",
        0,
    ),
    "no greedy case": (
        lambda m, p, n, tau, g: _sample(
            m, p, n, tau, g, probs=lambda z, t: torch.softmax(z / t, -1)
        ),
        "temperature 0 means greedy",
        0,
    ),
    "global random state": (
        lambda m, p, n, tau, g: _sample(m, p, n, tau, None),
        "not reproducible",
        0,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_sample_rejects = _rejecting(SAMPLE_PLANTED, check_sample, _cached_message)


def test_rereading_gives_the_reference_s_ids_but_is_refused():
    model, prompt = tiny_char_lm(), torch.tensor([1, 3, 0, 2])
    for temperature in (0.0, 1.0):
        assert torch.equal(
            _sample_rereading(model, prompt, 12, temperature, torch.Generator()),
            sample_reference(model, prompt, 12, temperature, torch.Generator()),
        )
    rereading = SAMPLE_PLANTED["re-reads the text at every step"][0]
    message = _cached_message(check_sample, rereading)
    assert "the model ran 114 steps in 12 calls" in message


SAMPLE_SHORTCUTS = {
    "model.generate": (
        lambda m, p, n, tau, g: m.generate(p, n, tau, g),
        "rnncourse.nn.char_lm.CharLM.generate",
    ),
    "the package's generate": (
        lambda m, p, n, tau, g: generate(m, p, n, tau, g),
        "rnncourse.nn.sampling.generate",
    ),
}


@pytest.mark.parametrize("name", SAMPLE_SHORTCUTS)
def test_sample_rejects_the_package_s_generation(name):
    fn, called = SAMPLE_SHORTCUTS[name]
    model, prompt = tiny_char_lm(), torch.tensor([1, 2])
    assert torch.equal(
        fn(model, prompt, 6, 1.0, torch.Generator().manual_seed(0)),
        sample_reference(model, prompt, 6, 1.0, torch.Generator().manual_seed(0)),
    )
    message = _message(check_sample, fn)
    assert f"your function calls {called}, which does the exercise for you" in message


def test_the_float32_model_s_logits_overflow_exp():
    model = tiny_char_lm(LSTM, 1, 109, logit_scale=100)
    assert next(model.parameters()).dtype == torch.float32
    logits, _ = model(torch.tensor([[3, 1]]))
    assert logits[0, -1].max() > 89 and not torch.isfinite(E(logits)).all()


# --- every checker -------------------------------------------------------------------

PLANTED = {
    check_lstm_cell: LSTM_PLANTED,
    check_gru_cell: GRU_PLANTED,
    check_bidirectional: BIDIRECTIONAL_PLANTED,
    check_sample: SAMPLE_PLANTED,
}


# The planted versions of the usual mistakes (class 0) each get their own sentence.
# (Planted answers of the other classes may share one: two sigmoids written with exp
# both overflow.)
test_each_usual_mistake_gets_its_own_message = _distinct_usual_mistakes(
    PLANTED, 0, _cached_message
)


def test_the_tiny_model_is_deterministic_and_leaves_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    a, b = tiny_char_lm(LSTM, 2, seed=3), tiny_char_lm(LSTM, 2, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert isinstance(tiny_char_lm(GRU).rnn, GRU)
