"""Checkers for chapter 4 (LSTM and GRU): an LSTM cell, a GRU cell, a bidirectional
wrapper, and sampling with temperature from a character model.

The cells follow torch's conventions (gate order i, f, g, o and r, z, n; weights
of shape (G D_h, D_in) and (G D_h, D_h); the GRU's reset gate applied after the
recurrent product), so a solution can be compared with ``torch.nn.LSTMCell`` and
``torch.nn.GRUCell``. Each ``check_<name>(student_fn)`` tests the student's
function against the reference and names the usual mistakes.

Beyond the usual mistakes, each checker closes the loopholes that a plausible answer
could slip through: the cells run on float32 inputs whose gates saturate (a sigmoid or
tanh written with ``exp`` that overflows there is named); the bidirectional wrapper
runs on spy cells that count the steps each direction computes; the sampler runs on a
model that counts the steps it reads (a sampler that re-reads the text at every step
is refused) and on a float32 model whose logits reach the hundreds. While the
student's function runs, torch's fused cells and layers and the package's own cells,
layers and generation loop are off limits.
"""

from __future__ import annotations

import textwrap
from itertools import permutations

import torch

import rnncourse.nn.char_lm
import rnncourse.nn.gru
import rnncourse.nn.lstm
import rnncourse.nn.rnn
import rnncourse.nn.sampling
from rnncourse.exercises.checker import (
    Case,
    Group,
    Guard,
    Mistake,
    Output,
    check,
    check_in_groups,
    comparing,
    fail,
    fresh_copies,
    kind_of,
    randn64,
    require_function,
)
from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.gru import GRU
from rnncourse.nn.lstm import LSTM
from rnncourse.nn.sampling import temperature_probs


def _weights(g: torch.Generator, D_in: int, D_h: int, G: int) -> tuple:
    """W_ih (G D_h, D_in), W_hh (G D_h, D_h), b_ih and b_hh (G D_h,), for a cell of G
    gates."""
    return (
        randn64(g, G * D_h, D_in, scale=D_in**-0.5),
        randn64(g, G * D_h, D_h, scale=D_h**-0.5),
        randn64(g, G * D_h, scale=0.5),
        randn64(g, G * D_h, scale=0.5),
    )


def _cell_args(B: int, D_in: int, D_h: int, G: int, states: int, seed: int) -> tuple:
    """x_t (B, D_in), then ``states`` tensors (B, D_h), then the weights of a cell of G
    gates."""
    g = torch.Generator().manual_seed(seed)
    return (
        randn64(g, B, D_in),
        *(randn64(g, B, D_h) for _ in range(states)),
        *_weights(g, D_in, D_h, G),
    )


def _saturated_cell_args(
    B: int, D_in: int, D_h: int, G: int, states: int, seed: int
) -> tuple:
    """Like ``_cell_args`` but in float32, with biases of size 50 to 100 (the same sign
    for b_ih and b_hh of a unit): every pre-activation lies between about 50 and 200
    in size, where every gate saturates and exp overflows float32 (beyond 88.7). The
    states are between 1.5 and 3 in size, so that c_t stays away from 0."""
    g = torch.Generator().manual_seed(seed)

    def sized(*shape, low, high):
        size = low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)
        sign = torch.randint(0, 2, shape, generator=g) * 2 - 1
        return size * sign

    x = randn64(g, B, D_in)
    state = [sized(B, D_h, low=1.5, high=3.0) for _ in range(states)]
    W_ih, W_hh = (
        randn64(g, G * D_h, D_in, scale=D_in**-0.5),
        randn64(g, G * D_h, D_h, scale=0.2 * D_h**-0.5),
    )
    bias = sized(G * D_h, low=50.0, high=100.0)
    b_hh = bias.sign() * (50 + 50 * torch.rand(G * D_h, generator=g, dtype=bias.dtype))
    return tuple(t.float() for t in (x, *state, W_ih, W_hh, bias, b_hh))


def _saturated(B: int, D_in: int, D_h: int) -> str:
    return (
        f"(for B={B}, D_in={D_in}, D_h={D_h}, in float32, with every gate saturated: "
        "pre-activations of size 50 to 200)"
    )


#: Why NaN or infinity on the saturated cases means an overflow.
CELL_OVERFLOW = (
    "there the pre-activations reach 200 in size and exp overflows float32 beyond "
    "88.7, so a sigmoid or tanh written with exp, such as exp(a) / (1 + exp(a)) or "
    "(exp(2a) - 1) / (exp(2a) + 1), gives inf / inf = NaN; use torch.sigmoid and "
    "torch.tanh, or a form that stays finite, such as 1 / (1 + exp(-a))"
)


def _sizes(B: int, D_in: int, D_h: int) -> str:
    return f"(for B={B}, D_in={D_in}, D_h={D_h})"


def _gates_read_in(order: str, torch_order: str, reference):
    """What a student computes who takes the stacked gate blocks in ``order`` instead of
    ``torch_order``: the reference on weights whose blocks are permuted accordingly."""
    blocks = [order.index(gate) for gate in torch_order]

    def cell(*args):
        *inputs, W_ih, W_hh, b_ih, b_hh = args
        mixed = [
            torch.cat([w.chunk(len(order))[k] for k in blocks])
            for w in (W_ih, W_hh, b_ih, b_hh)
        ]
        return reference(*inputs, *mixed)

    return cell


def _order_mistakes(torch_order: str, reference, names: str) -> list[Mistake]:
    return [
        Mistake(
            _gates_read_in("".join(order), torch_order, reference),
            "your gates are taken from the stacked weights in the order "
            f"{', '.join(order)}: torch stacks "
            f"the rows of W_ih, W_hh, b_ih and b_hh as {', '.join(torch_order)} "
            f"({names})",
        )
        for order in permutations(torch_order)
        if "".join(order) != torch_order
    ]


def _row_form(shapes: str, products: str, G: int):
    """A hint for a matrix product that fails on its shapes (it nearly always means a
    weight used without its transpose), and for gate blocks of the wrong width."""

    def explain(err: Exception) -> str | None:
        if isinstance(err, RuntimeError) and "cannot be multiplied" in str(err):
            return (
                f"the weights have torch's shapes, {shapes}, so in row-vector form the "
                f"products are {products}"
            )
        if isinstance(err, RuntimeError) and "must match the size" in str(err):
            return (
                f"the {G} gate blocks are D_h = h_prev.shape[1] columns wide each: "
                f"split the (B, {G} D_h) pre-activations with .chunk({G}, dim=1)"
            )
        return None

    return explain


#: What would do exercises 1 and 2 for the student: torch's fused cells and layers,
#: and the package's own cells.
CELL_SHORTCUTS = [
    (torch, "lstm_cell"),
    (torch, "gru_cell"),
    (torch, "rnn_tanh_cell"),
    (torch, "rnn_relu_cell"),
    (torch, "lstm"),
    (torch, "gru"),
    (torch.nn, "LSTMCell"),
    (torch.nn, "GRUCell"),
    (torch.nn, "RNNCell"),
    (torch.nn, "LSTM"),
    (torch.nn, "GRU"),
    (torch.nn, "RNN"),
    (torch, "rnn_tanh"),
    (torch, "rnn_relu"),
    (rnncourse.nn.lstm, "lstm_cell"),
    (rnncourse.nn.lstm, "lstm_gates"),
    (rnncourse.nn.lstm, "LSTMCell"),
    (rnncourse.nn.lstm, "LSTM"),
    (rnncourse.nn.gru, "gru_cell"),
    (rnncourse.nn.gru, "GRUCell"),
    (rnncourse.nn.gru, "GRU"),
    (rnncourse.nn.rnn, "elman_cell"),
    (rnncourse.nn.rnn, "RNNCell"),
    (rnncourse.nn.rnn, "RNN"),
]


# --- Exercise 1: the LSTM cell --------------------------------------------------


def lstm_cell_reference(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """x_t: (B, D_in), h_prev, c_prev: (B, D_h), W_ih: (4 D_h, D_in),
    W_hh: (4 D_h, D_h), b_ih, b_hh: (4 D_h,) -> (h_t, c_t), each (B, D_h).
    Gates in torch's order i, f, g, o."""
    # the pre-activations of all four gates at once: (B, 4 D_h)
    a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    i_t, f_t, o_t = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o)
    c_t = f_t * c_prev + i_t * torch.tanh(a_g)
    return o_t * torch.tanh(c_t), c_t


def _lstm_variant(
    gate=torch.sigmoid, candidate=torch.tanh, squash=torch.tanh, forget=True
):
    """An LSTM step with other nonlinearities (``gate`` for i, f, o; ``candidate`` for
    g; ``squash`` for the cell's output), or with no forget gate at all
    (c_t = c_{t-1} + i_t * g_t)."""

    def cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
        a_i, a_f, a_g, a_o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)
        c_t = (gate(a_f) * c if forget else c) + gate(a_i) * candidate(a_g)
        return gate(a_o) * squash(c_t), c_t

    return cell


LSTM_CELL_MISTAKES = [
    Mistake(
        _lstm_variant(gate=torch.tanh, candidate=torch.sigmoid),
        "your sigmoid and tanh are swapped: the gates i, f and o use torch.sigmoid "
        "(values in (0, 1)) and the candidate g uses torch.tanh",
    ),
    Mistake(
        _lstm_variant(candidate=torch.sigmoid),
        "your candidate g_t uses a sigmoid: it uses torch.tanh, so that it can add "
        "negative values to the cell",
    ),
    Mistake(
        _lstm_variant(gate=torch.tanh),
        "your gates i, f and o use tanh: gates use torch.sigmoid, so that they lie "
        "between 0 and 1",
    ),
    Mistake(
        lambda x, h, c, *w: lstm_cell_reference(x, h, torch.zeros_like(c), *w),
        "your c_t equals i_t * g_t, as if the forget gate were missing: the cell keeps "
        "f_t * c_{t-1} of its old value, c_t = f_t * c_{t-1} + i_t * g_t",
    ),
    Mistake(
        _lstm_variant(forget=False),
        "your c_t adds c_{t-1} without the forget gate: c_t = f_t * c_{t-1} + i_t * "
        "g_t",
    ),
    Mistake(
        _lstm_variant(squash=lambda c: c),
        "your h_t equals o_t * c_t: squash the cell first, h_t = o_t * tanh(c_t)",
    ),
    Mistake(
        lambda x, h, c, *w: lstm_cell_reference(x, h, h, *w),
        "your c_t uses h_prev where the old cell belongs: c_t = f_t * c_prev + i_t * "
        "g_t",
    ),
    Mistake(
        lambda x, h, c, W_ih, W_hh, b_ih, b_hh: lstm_cell_reference(
            x, h, c, W_ih, W_hh, b_ih, 0 * b_hh
        ),
        "your gates leave out b_hh: torch's LSTM has two biases and adds both, b_ih "
        "and b_hh",
    ),
    Mistake(
        lambda x, h, c, W_ih, W_hh, b_ih, b_hh: lstm_cell_reference(
            x, h, c, W_ih, W_hh, 0 * b_ih, b_hh
        ),
        "your gates leave out b_ih: torch's LSTM has two biases and adds both, b_ih "
        "and b_hh",
    ),
    Mistake(
        lambda *args: lstm_cell_reference(*args)[::-1],
        "you returned (c_t, h_t): return them in the order (h_t, c_t), as "
        "torch.nn.LSTMCell does",
    ),
    *_order_mistakes("ifgo", lstm_cell_reference, "input, forget, candidate, output"),
]


def _cell_groups(G: int, states: int, seed: int, sizes, saturated) -> list[Group]:
    """float64 cases with gradients, compared tightly; then float32 cases with every
    gate saturated, values only (a hand-written 1 / (1 + exp(-a)) is right there, but
    its gradient is inf * 0 = NaN), compared at float32's precision."""
    return [
        Group(
            [
                Case(
                    _cell_args(B, D_in, D_h, G, states, seed + i), _sizes(B, D_in, D_h)
                )
                for i, (B, D_in, D_h) in enumerate(sizes)
            ]
        ),
        Group(
            [
                Case(
                    _saturated_cell_args(B, D_in, D_h, G, states, seed + 50 + i),
                    _saturated(B, D_in, D_h),
                    grad=False,
                )
                for i, (B, D_in, D_h) in enumerate(saturated)
            ],
            rtol=1e-5,
            atol=1e-6,
            overflow=CELL_OVERFLOW,
        ),
    ]


def check_lstm_cell(lstm_cell_fn) -> None:
    """Check ``lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh) -> (h_t, c_t)``
    against the reference.

    Cases: float64 inputs of several sizes (a batch of one and a single unit among
    them), values and gradients compared to 1e-6; then float32 inputs whose gates all
    saturate (pre-activations of size 50 to 200), values compared to 1e-5, where a
    sigmoid or tanh written with an exp that overflows gives NaN and is named.

    Accepted: any order of operations (the gates one by one or all at once, einsum,
    torch.split or chunk), torch.sigmoid, torch.nn.functional.sigmoid or a stable
    formula such as 1 / (1 + exp(-a)) or 2 * sigmoid(2a) - 1 for tanh, and changing
    the arguments in place. Off limits: torch's fused cells and layers
    (torch.lstm_cell, torch.nn.LSTMCell...) and the package's cells and layers.
    Wrong answers are recognised by their outputs, except transposed weights, which
    fail on their shapes and are named as such."""
    check_in_groups(
        "lstm_cell",
        lstm_cell_fn,
        lstm_cell_reference,
        _cell_groups(
            4,
            2,
            70,
            [(3, 4, 5), (1, 2, 1), (2, 8, 2), (4, 3, 3)],
            [(3, 4, 5), (1, 3, 2)],
        ),
        [Output("h_t", ("batch", "unit")), Output("c_t", ("batch", "unit"))],
        LSTM_CELL_MISTAKES,
        forbidden=CELL_SHORTCUTS,
        explain=_row_form(
            "W_ih (4 D_h, D_in) and W_hh (4 D_h, D_h)",
            "x_t @ W_ih.T and h_prev @ W_hh.T",
            4,
        ),
    )


# --- Exercise 2: the GRU cell ------------------------------------------------


def gru_cell_reference(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """x_t: (B, D_in), h_prev: (B, D_h), W_ih: (3 D_h, D_in), W_hh: (3 D_h, D_h),
    b_ih, b_hh: (3 D_h,) -> h_t: (B, D_h). Gates in torch's order r, z, n; the reset
    gate acts after the recurrent product."""
    x_r, x_z, x_n = (x_t @ W_ih.T + b_ih).chunk(3, dim=1)  # each (B, D_h)
    h_r, h_z, h_n = (h_prev @ W_hh.T + b_hh).chunk(3, dim=1)
    r_t, z_t = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n_t = torch.tanh(x_n + r_t * h_n)  # the reset gate scales W_hn h_{t-1} + b_hn
    return (1 - z_t) * n_t + z_t * h_prev


def _gru_variant(reset="after", gate=torch.sigmoid, candidate=torch.tanh, swap_z=False):
    """A GRU step with the reset gate elsewhere (``reset``), other nonlinearities, or z
    and 1 - z swapped."""

    def cell(x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
        r, z = gate(x_r + h_r), gate(x_z + h_z)
        W_hn, b_hn = W_hh.chunk(3)[2], b_hh.chunk(3)[2]
        a_n = {
            "after": x_n + r * h_n,
            "before": x_n + (r * h) @ W_hn.T + b_hn,  # Cho et al. (2014)
            "not on the bias": x_n + r * (h @ W_hn.T) + b_hn,
            "on everything": r * (x_n + h_n),
            "nowhere": x_n + h_n,
        }[reset]
        n = candidate(a_n)
        return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h

    return cell


GRU_CELL_MISTAKES = [
    Mistake(
        _gru_variant(reset="before"),
        "your reset gate multiplies h_{t-1} before the product with W_hn, as in Cho et "
        "al.'s paper: that variant is fine, but this exercise asks for torch's, n_t = "
        "tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))",
    ),
    Mistake(
        _gru_variant(reset="not on the bias"),
        "your reset gate multiplies W_hn h_{t-1} but not b_hn: torch applies it to "
        "both, r_t * (W_hn h_{t-1} + b_hn)",
    ),
    Mistake(
        _gru_variant(reset="on everything"),
        "your reset gate multiplies the input's part too: it acts on the recurrent "
        "part only, n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))",
    ),
    Mistake(
        _gru_variant(reset="nowhere"),
        "your candidate n_t leaves out the reset gate: n_t = tanh(W_in x_t + b_in + "
        "r_t * (W_hn h_{t-1} + b_hn))",
    ),
    Mistake(
        _gru_variant(swap_z=True),
        "your z_t and 1 - z_t are swapped: torch keeps z_t of the old state, h_t = (1 "
        "- z_t) * n_t + z_t * h_{t-1}",
    ),
    Mistake(
        _gru_variant(gate=torch.tanh, candidate=torch.sigmoid),
        "your sigmoid and tanh are swapped: the gates r and z use torch.sigmoid and "
        "the candidate n uses torch.tanh",
    ),
    Mistake(
        _gru_variant(candidate=torch.sigmoid),
        "your candidate n_t uses a sigmoid: it uses torch.tanh, so that the state can "
        "take negative values",
    ),
    Mistake(
        _gru_variant(gate=torch.tanh),
        "your gates r and z use tanh: gates use torch.sigmoid, so that they lie "
        "between 0 and 1",
    ),
    Mistake(
        lambda x, h, W_ih, W_hh, b_ih, b_hh: gru_cell_reference(
            x, h, W_ih, W_hh, b_ih, 0 * b_hh
        ),
        "your gates leave out b_hh: torch's GRU has two biases, b_ih and b_hh, and "
        "b_hn sits inside r_t * (...)",
    ),
    Mistake(
        lambda x, h, W_ih, W_hh, b_ih, b_hh: gru_cell_reference(
            x, h, W_ih, W_hh, 0 * b_ih, b_hh
        ),
        "your gates leave out b_ih: torch's GRU has two biases and adds both, b_ih and "
        "b_hh",
    ),
    *_order_mistakes("rzn", gru_cell_reference, "reset, update, candidate"),
]


def check_gru_cell(gru_cell_fn) -> None:
    """Check ``gru_cell(x_t, h_prev, W_ih, W_hh, b_ih, b_hh) -> h_t`` against the
    reference.

    Cases: float64 inputs of several sizes, values and gradients compared to 1e-6;
    then float32 inputs whose gates all saturate, values compared to 1e-5, where a
    sigmoid or tanh written with an exp that overflows gives NaN and is named.

    Accepted: any order of operations (h_t = n_t + z_t * (h_{t-1} - n_t) included),
    torch.sigmoid or a stable formula, and changing the arguments in place. Off
    limits: torch's fused cells and layers and the package's. Wrong answers are
    recognised by their outputs, except transposed weights, which fail on their
    shapes and are named as such."""
    check_in_groups(
        "gru_cell",
        gru_cell_fn,
        gru_cell_reference,
        _cell_groups(
            3,
            1,
            80,
            [(3, 4, 5), (1, 2, 1), (2, 6, 2), (4, 3, 3)],
            [(3, 4, 5), (1, 3, 2)],
        ),
        [Output("h_t", ("batch", "unit"))],
        GRU_CELL_MISTAKES,
        forbidden=CELL_SHORTCUTS,
        explain=_row_form(
            "W_ih (3 D_h, D_in) and W_hh (3 D_h, D_h)",
            "x_t @ W_ih.T and h_prev @ W_hh.T",
            3,
        ),
    )


# --- Exercise 3: a bidirectional wrapper --------------------------------------


def _scan(cell, x, h0, reverse=False):
    """Run ``cell(x_t, h) -> h`` over x (B, T, D_in) from h0 (B, D_h), backwards in time
    if ``reverse``. Returns (B, T, D_h) with the state after reading x_t at position t,
    whichever the direction."""
    T = x.shape[1]
    h, hs = h0, [None] * T
    for t in reversed(range(T)) if reverse else range(T):
        h = cell(x[:, t], h)
        hs[t] = h
    return torch.stack(hs, dim=1)


def bidirectional_reference(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """cell_fw, cell_bw: one-step functions (B, D_in), (B, D_h) -> (B, D_h);
    x: (B, T, D_in); h0_fw, h0_bw: (B, D_h) -> outputs (B, T, 2 D_h),
    [forward h_t; backward h_t] at each t.

    As in ``torch.nn.GRU(bidirectional=True)``, the backward output at position t is its
    state after reading x_{T-1}, ..., x_t."""
    return torch.cat(
        [_scan(cell_fw, x, h0_fw), _scan(cell_bw, x, h0_bw, reverse=True)], dim=-1
    )


BIDIRECTIONAL_MISTAKES = [
    Mistake(
        lambda f, b, x, h_f, h_b: torch.cat(
            [_scan(f, x, h_f), _scan(b, x, h_b, reverse=True).flip(1)], -1
        ),
        "your backward outputs are left in reading order (position t holds the state "
        "after reading t + 1 inputs from the end): put them back in time order, so "
        "that position t holds the state after reading x_{T-1}, ..., x_t",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: torch.cat(
            [_scan(b, x, h_b, reverse=True), _scan(f, x, h_f)], -1
        ),
        "your halves are concatenated in the wrong order: the forward state comes "
        "first, [forward h_t; backward h_t], as in torch's bidirectional layers",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: torch.cat([_scan(f, x, h_f), _scan(b, x, h_b)], -1),
        "your backward direction reads the sequence forward: run cell_bw from the last "
        "step to the first, t = T-1, ..., 0",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: _scan(f, x, h_f) + _scan(b, x, h_b, reverse=True),
        "you summed the two directions: concatenate them along the last axis, giving "
        "(B, T, 2 D_h)",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: torch.stack(
            [_scan(f, x, h_f), _scan(b, x, h_b, reverse=True)], -2
        ),
        "you stacked the two directions on a new axis: concatenate them along the last "
        "axis, giving (B, T, 2 D_h)",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: torch.cat(
            [_scan(f, x, h_f), _scan(b, x, h_b, reverse=True)], 1
        ),
        "you concatenated the directions along the time axis: concatenate them along "
        "the features, the last axis, giving (B, T, 2 D_h)",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: bidirectional_reference(b, f, x, h_f, h_b),
        "your cells are swapped: cell_fw runs forward in time and cell_bw backward",
    ),
    Mistake(
        lambda f, b, x, h_f, h_b: bidirectional_reference(f, b, x, h_b, h_f),
        "your initial states are swapped: h0_fw starts the forward direction and h0_bw "
        "the backward one",
    ),
]


def _tanh_cell(g: torch.Generator, D_in: int, D_h: int):
    W_x, W_h, b = (
        randn64(g, D_h, D_in, scale=D_in**-0.5),
        randn64(g, D_h, D_h, scale=D_h**-0.5),
        randn64(g, D_h),
    )
    return lambda x_t, h: torch.tanh(x_t @ W_x.T + h @ W_h.T + b)


def _gru_step(g: torch.Generator, D_in: int, D_h: int):
    weights = _weights(g, D_in, D_h, 3)
    return lambda x_t, h: gru_cell_reference(x_t, h, *weights)


def _bidirectional_args(
    B: int, T: int, D_in: int, D_h: int, make_cell, seed: int
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    cell_fw, cell_bw = make_cell(g, D_in, D_h), make_cell(g, D_in, D_h)
    return (
        cell_fw,
        cell_bw,
        randn64(g, B, T, D_in),
        randn64(g, B, D_h, scale=0.5),
        randn64(g, B, D_h, scale=0.5),
    )


class _CountingCell:
    """A spy: the cell it wraps, counting the rows of x_t it computes a state for (B
    per call on the whole batch, 1 per call on one example)."""

    def __init__(self, cell):
        self.cell, self.calls, self.rows = cell, 0, 0

    def __call__(self, x_t, h):
        self.calls += 1
        shape = getattr(x_t, "shape", ())
        self.rows += shape[0] if len(shape) >= 2 else 1
        return self.cell(x_t, h)


#: Layers that would run a direction (or both) for the student: torch's and the
#: package's recurrent layers and fused cells.
BIDIRECTIONAL_SHORTCUTS = CELL_SHORTCUTS


def _count_steps(name: str, guard: Guard, case: Case) -> None:
    """Run the student's function on spy cells: each direction must compute each of
    the B T states once (one call per time step on the batch, or one per example)."""
    cell_fw, cell_bw, x, h0_fw, h0_bw = case.args
    B, T = x.shape[:2]
    spies = {"cell_fw": _CountingCell(cell_fw), "cell_bw": _CountingCell(cell_bw)}
    guard.call(
        (spies["cell_fw"], spies["cell_bw"], *fresh_copies((x, h0_fw, h0_bw))),
        case.description,
    )
    where = case.description
    for cell, direction in (("cell_fw", "forward"), ("cell_bw", "backward")):
        if spies[cell].calls == 0:
            fail(
                name,
                f"your function never calls {cell} {where}: run the {direction} "
                f"direction with {cell}, one call per time step",
            )
    for cell, direction in (("cell_fw", "forward"), ("cell_bw", "backward")):
        spy = spies[cell]
        if spy.rows > B * T:
            fail(
                name,
                f"your function calls {cell} {spy.calls} times {where}, computing "
                f"{spy.rows / B:g} states per sequence where there are T={T} steps: "
                "run each direction once, one call per time step, carrying the state "
                "from each call to the next instead of starting again from the end "
                "(or the start) for every output position",
            )
        if spy.rows < B * T:
            fail(
                name,
                f"your function calls {cell} for only {spy.rows / B:g} of the T={T} "
                f"time steps {where}: the {direction} direction reads every step, "
                "one call per step on x[:, t]",
            )


def check_bidirectional(bidirectional) -> None:
    """Check ``bidirectional(cell_fw, cell_bw, x, h0_fw, h0_bw)``, which returns the
    outputs (B, T, 2 D_h), against the reference, with tanh cells and GRU cells of
    fixed float64 weights (sequences of length 1, a batch of one and a single unit
    among the cases).

    First the cells are spies: each direction must compute each state once, one call
    per time step (on the whole batch, or per example); a function that recomputes
    states, say the backward one from the end for every position, is refused, as is
    one that never calls a cell. Then values and gradients are compared. Accepted:
    any way to put the backward states back in time order (a list filled from the
    end, torch.flip, writing into a preallocated tensor). Off limits: torch's and
    the package's recurrent layers and fused cells."""
    name = "bidirectional"
    require_function(name, bidirectional)
    settings = [
        (2, 5, 3, 4, _tanh_cell, "tanh"),
        (1, 4, 2, 1, _gru_step, "GRU"),
        (3, 6, 4, 3, _gru_step, "GRU"),
        (2, 1, 3, 2, _tanh_cell, "tanh"),
        (1, 3, 1, 2, _tanh_cell, "tanh"),
    ]
    cases = [
        Case(
            _bidirectional_args(B, T, D_in, D_h, make_cell, 90 + seed),
            f"(for B={B}, T={T}, D_in={D_in}, D_h={D_h}, with {kind} cells)",
        )
        for seed, (B, T, D_in, D_h, make_cell, kind) in enumerate(settings)
    ]
    with Guard(name, bidirectional, forbidden=BIDIRECTIONAL_SHORTCUTS) as guard:
        for case in cases:
            _count_steps(name, guard, case)
    check(
        name,
        bidirectional,
        bidirectional_reference,
        cases,
        [Output("outputs", ("batch", "time step", "feature"))],
        BIDIRECTIONAL_MISTAKES,
        forbidden=BIDIRECTIONAL_SHORTCUTS,
    )


# --- Exercise 4: sampling with temperature ------------------------------------


@torch.no_grad()
def sample_reference(model, prompt_ids, n, temperature, generator):
    """model: a CharLM; prompt_ids: (T0,) int64 -> (n,) int64 ids. The prompt is read
    once, then each id is drawn with torch.multinomial from softmax(logits /
    temperature) and fed back, the state carried: what ``model.generate`` does."""
    logits, state = model(prompt_ids[None])  # (1, T0, V)
    ids = []
    for _ in range(n):
        probs = temperature_probs(logits[:, -1], temperature)  # (1, V)
        nxt = torch.multinomial(probs, 1, generator=generator)[0]  # (1,)
        ids.append(nxt)
        logits, state = model(nxt[None], state)
    return torch.cat(ids)


def _sampler(
    probs=temperature_probs,
    carry=True,
    refeed_last=False,
    position=-1,
    with_prompt=False,
):
    """A sampler with one of the usual mistakes: other probabilities, the state dropped,
    the prompt's last id read twice, the first draw from another position's logits, or
    the prompt returned too."""

    @torch.no_grad()
    def sample(model, prompt, n, temperature, generator):
        logits, state = model(prompt[None])  # (1, T0, V)
        if refeed_last:
            logits, state = model(prompt[None, -1:], state)
        logits, ids = logits[:, position], []
        for _ in range(n):
            # (1,)
            nxt = torch.multinomial(probs(logits, temperature), 1, generator=generator)[
                0
            ]
            ids.append(nxt)
            logits, state = model(nxt[None], state if carry else None)
            logits = logits[:, -1]
        return torch.cat([prompt, *ids]) if with_prompt else torch.cat(ids)

    return sample


SAMPLE_MISTAKES = [
    Mistake(
        _sampler(carry=False),
        "your model forgets what it has read: carry the state from each call to the "
        "next, logits, state = model(next_id, state), instead of running it on the "
        "last id alone",
    ),
    Mistake(
        _sampler(refeed_last=True),
        "your sampling starts one step late, after feeding the prompt's last id a "
        "second time: draw the first id from the logits at the prompt's last position",
    ),
    Mistake(
        _sampler(position=0),
        "your first id is drawn from the logits after the prompt's first id: use the "
        "last position, logits[:, -1]",
    ),
    Mistake(
        _sampler(probs=lambda logits, tau: torch.softmax(logits * tau, dim=-1)),
        "you multiplied the logits by the temperature: divide them by it, "
        "softmax(logits / temperature), and use the arg-max for temperature 0",
    ),
    Mistake(
        _sampler(probs=lambda logits, tau: torch.softmax(logits, dim=-1)),
        "your samples ignore the temperature: draw from softmax(logits / temperature), "
        "and use the arg-max for temperature 0",
    ),
    Mistake(
        _sampler(probs=lambda logits, tau: temperature_probs(logits, 0)),
        "you always take the arg-max: that is temperature 0 only, for a temperature "
        "above 0 draw from softmax(logits / temperature) with torch.multinomial",
    ),
    Mistake(
        _sampler(with_prompt=True),
        "you returned the prompt as well: return only the n new ids, shape (n,)",
    ),
]

# the tiny model's vocabulary, and the draws behind a frequency comparison
V, DRAWS = 5, 2000
#: (recurrent layer, layers, prompt, n, temperature, the model's seed, the scale of
#: its logits: 1 for a float64 model, else a float32 model whose readout is scaled)
SAMPLE_CASES = [
    (LSTM, 1, [1, 3, 0, 2], 12, 0.0, 100, 1),
    (LSTM, 1, [1, 3, 0, 2], 12, 1.0, 101, 1),
    (LSTM, 2, [4, 4, 1], 10, 0.5, 102, 1),
    (GRU, 1, [2], 8, 2.0, 103, 1),
    (GRU, 1, [0, 2], 1, 0.0, 104, 1),
    # logits between about -100 and 190: exp of them overflows float32
    (LSTM, 1, [3, 1], 6, 1.0, 109, 100),
]


def tiny_char_lm(
    rnn=LSTM, num_layers: int = 1, seed: int = 0, logit_scale: float = 1
) -> CharLM:
    """A float64 CharLM over V=5 ids with N(0, 1) weights: peaked enough that the usual
    mistakes change the samples. Built without touching torch's global random state.
    With ``logit_scale`` other than 1, the readout is multiplied by it and the model
    is float32: logits in the hundreds, as a confident model's are."""
    with torch.random.fork_rng(devices=[]):
        model = (
            CharLM(V, hidden_size=6, num_layers=num_layers, embed_size=4, rnn=rnn)
            .double()
            .eval()
        )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(randn64(g, *p.shape))
        if logit_scale != 1:
            model.head.weight.mul_(logit_scale)
            model.head.bias.mul_(logit_scale)
            model.float()
    return model


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _same_ids(got, expected: torch.Tensor) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.device == expected.device
        and got.shape == expected.shape
        and torch.equal(got.to(expected.dtype), expected)
    )


#: What would do exercise 3 for the student: the package's own generation loop.
SAMPLE_SHORTCUTS = [
    (rnncourse.nn.sampling, "generate"),
    (rnncourse.nn.char_lm.CharLM, "generate"),
]


def _draw_hint(temperature: float):
    """A hint for softmax(logits / 0), which divides by zero, and for probabilities
    that exp's overflow or underflow made NaN or all zero."""

    def explain(err: Exception) -> str | None:
        text = str(err)
        if temperature == 0 and (
            isinstance(err, ZeroDivisionError) or "probability tensor" in text
        ):
            return (
                "temperature 0 means greedy decoding, take the arg-max of the logits "
                "(rnncourse.nn.sampling.temperature_probs does)"
            )
        if "probability tensor" in text or "invalid multinomial" in text:
            return (
                "your probabilities contain inf or NaN, or are all 0: with logits in "
                "the hundreds exp overflows (exp(89) is already infinite in float32) "
                "or underflows to 0, so subtract the largest logit before exp, or "
                "use torch.softmax or temperature_probs, which do"
            )
        return None

    return explain


class _StepCounter:
    """Counts the time steps that a model's recurrent layer runs, whoever calls it
    (the model, or the student's code calling model.rnn directly)."""

    def __init__(self, model):
        self.steps: list[int] = []
        self.handle = model.rnn.register_forward_pre_hook(self._count)

    def _count(self, module, args) -> None:
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and x.dim() >= 2:
            self.steps.append(x.shape[-2])  # (B, T, E) batch first, or (T, E)


def _draw(
    guard: Guard, model, prompt, n, temperature, generator, where: str, counter=None
):
    """The student's ids; with a counter, fail if the model read more than the prompt
    once and each new id once."""
    if counter is not None:
        counter.steps = []
    ids = guard.call(
        (model, prompt.clone(), n, temperature, generator),
        where,
        _draw_hint(temperature),
    )
    if counter is not None:
        _check_steps(counter.steps, len(prompt), n, where)
    return ids


def _check_steps(steps: list[int], T0: int, n: int, where: str) -> None:
    """Reading the prompt once and each new id once (the last one may be skipped)
    runs the recurrent layer on at most T0 + n steps, in any number of calls."""
    if sum(steps) > T0 + n:
        shown = ", ".join(map(str, steps[:8])) + (", ..." if len(steps) > 8 else "")
        fail(
            "sample",
            f"your function re-reads the text: to write {n} ids after a prompt of "
            f"{T0}, the model ran {sum(steps)} steps in {len(steps)} calls (of "
            f"{shown} ids) {where}, where {T0 + n} are enough; read the prompt once, "
            "then feed only each new id, carrying the state, logits, state = "
            "model(next_id[None], state)",
        )


def _check_form(name: str, ids, n: int, where: str) -> None:
    if not isinstance(ids, torch.Tensor):
        fail(
            name,
            f"return the ids as a torch.Tensor of shape (n,), got {kind_of(ids)} "
            f"{where}",
        )
    if tuple(ids.shape) != (n,):
        fail(
            name,
            f"the ids have shape {tuple(ids.shape)} but should have shape ({n},), one "
            f"per new character {where}",
        )
    if ids.dtype != torch.int64:
        fail(
            name,
            f"the ids have dtype {ids.dtype} but should be torch.int64, as "
            f"torch.multinomial returns {where}",
        )
    if ids.device.type != "cpu":
        fail(
            name,
            f"the ids are on the device {ids.device} but should be on the model's, cpu "
            f"{where}",
        )
    if ids.min() < 0 or ids.max() >= V:
        fail(
            name,
            f"the ids should lie between 0 and {V - 1}, the model's vocabulary, got "
            f"{ids.tolist()} {where}",
        )


@torch.no_grad()
def _pair_probs(model, prompt, temperature) -> torch.Tensor:
    """(V, V): the probability that the first two sampled ids after ``prompt`` are
    (a, b)."""
    logits, state = model(prompt[None])
    first = temperature_probs(logits[0, -1], temperature)  # (V,)
    # (V, V): row a holds p(b | prompt, a)
    second = torch.stack(
        [
            temperature_probs(model(torch.tensor([[a]]), state)[0][0, -1], temperature)
            for a in range(V)
        ]
    )
    return first[:, None] * second


def _check_frequencies(
    name: str, guard: Guard, model, prompt, temperature, where: str, counter
) -> None:
    """Draw the first two ids DRAWS times and compare their counts with the model's
    probabilities: each count within 5 standard deviations (plus 3) of its
    expectation."""
    g, counts = _generator(1), torch.zeros(V, V)
    for _ in range(DRAWS):
        ids = _draw(guard, model, prompt, 2, temperature, g, where, counter)
        with comparing(name, where):
            _check_form(name, ids, 2, where)
            a, b = ids.tolist()
        counts[a, b] += 1
    expected = DRAWS * _pair_probs(model, prompt, temperature).float()
    excess = (
        (counts - expected).abs() - 5 * (expected * (1 - expected / DRAWS)).sqrt() - 3
    )
    if (excess > 0).any():
        a, b = divmod(int(excess.argmax()), V)
        fail(
            name,
            f"your draws do not follow softmax(logits / temperature) {where}: in "
            f"{DRAWS} samples the first two ids were ({a}, {b}) {int(counts[a, b])} "
            f"times, where the model expects about {expected[a, b]:.0f}",
        )


def check_sample(sample) -> None:
    """Check ``sample(model, prompt_ids, n, temperature, generator) -> (n,) int64 ids``.

    Each case uses a tiny CharLM (LSTM, two-layer LSTM, GRU; float64, and one float32
    model whose logits reach the hundreds, where exp overflows) and a fresh generator
    of a fixed seed; prompts of 1 to 4 ids, n from 1 to 12. Temperature 0 (greedy)
    must match the reference exactly. Above 0, the checker accepts the reference's
    very draws (what torch.multinomial on the probabilities, one draw per step,
    gives); a sampler that draws differently is accepted when it is reproducible (the
    same ids from the same generator seed) and the frequencies of its first two ids
    over 2000 samples match the model's.

    The state must be carried: the model's recurrent layer may run at most T0 + n
    steps per call of the student's function (the prompt once, each new id once), so
    a sampler that re-reads the text from the start for each new id is refused.
    Accepted: reading the prompt in one call or id by id, skipping the model call
    after the last draw, calling model.rnn directly, temperature_probs, torch.softmax
    or any stable softmax. Off limits: the package's generation loop (generate,
    CharLM.generate).
    """
    name = "sample"
    require_function(name, sample)
    by_frequency = 0
    with Guard(name, sample, forbidden=SAMPLE_SHORTCUTS) as guard:
        for seed, case in enumerate(SAMPLE_CASES):
            rnn, layers, prompt, n, temperature, model_seed, logit_scale = case
            model = tiny_char_lm(rnn, layers, model_seed, logit_scale)
            counter = _StepCounter(model)
            prompt = torch.tensor(prompt)
            where = (
                f"(for a {layers}-layer {rnn.__name__} model"
                + (
                    " in float32 whose logits reach the hundreds"
                    if logit_scale != 1
                    else ""
                )
                + f", a prompt of {len(prompt)} ids, n={n} and temperature "
                f"{temperature})"
            )
            expected = sample_reference(model, prompt, n, temperature, _generator(seed))
            counter.steps = []
            got = _draw(guard, model, prompt, n, temperature, _generator(seed), where)
            steps = list(counter.steps)  # before the mistakes run the model too
            with comparing(name, where):
                if _same_ids(got, expected):
                    _check_form(name, got, n, where)  # the dtype, say
                    _check_steps(steps, len(prompt), n, where)
                    continue
                for mistake in SAMPLE_MISTAKES:
                    planted = mistake.fn(
                        model, prompt, n, temperature, _generator(seed)
                    )
                    if _same_ids(got, planted):
                        fail(name, mistake.message)
                _check_form(name, got, n, where)
                _check_steps(steps, len(prompt), n, where)
                if temperature == 0:
                    fail(
                        name,
                        "with temperature 0 each id must be the arg-max of the logits "
                        f"(greedy) {where}: got {got.tolist()}, expected "
                        f"{expected.tolist()}",
                    )
            again = _draw(
                guard, model, prompt, n, temperature, _generator(seed), where, counter
            )
            with comparing(name, where):
                if not _same_ids(again, got):
                    fail(
                        name,
                        "your samples are not reproducible: the same generator seed "
                        f"gave {got.tolist()} and then {_ids(again)} {where}; pass the "
                        "generator on, torch.multinomial(probs, 1, "
                        "generator=generator)",
                    )
            _check_frequencies(name, guard, model, prompt, temperature, where, counter)
            by_frequency += 1
    how = (
        (
            f", {by_frequency} of them by the frequencies of {DRAWS} samples (your "
            "draws differ from torch.multinomial's, which is fine)"
        )
        if by_frequency
        else ""
    )
    message = f"\u2705 {name}: correct on all {len(SAMPLE_CASES)} test cases{how}."
    print(textwrap.fill(message, 88))  # the lines of the page's code column


def _ids(value) -> str:
    return str(value.tolist()) if isinstance(value, torch.Tensor) else kind_of(value)
