"""Long short-term memory (Hochreiter & Schmidhuber 1997), written as a readable loop.

It has the constructor, forward signature, return values and parameter names of
``torch.nn.LSTM`` (projections included: Sak et al. 2014's LSTMP, ``proj_size``),
so weights load from the torch module and both compute the same function. The
gates follow torch's order i, f, g, o, and its form of the forget gate (Gers et
al. 2000). The loop over layers, directions and time is in
:mod:`rnncourse.nn.recurrent`.
"""

from __future__ import annotations

import torch

from rnncourse.nn.recurrent import RecurrentCell, RecurrentLayer


def lstm_gates(xw_t, h_prev, weight_hh, bias_hh=None):
    """The four gate activations of one LSTM step.

    xw_t: (B, 4 D_h), the inputs' part W_i* x_t + b_i* of all four gates;
    h_prev: (B, D_out); weight_hh: (4 D_h, D_out); bias_hh: (4 D_h,) or None.
    Returns (i_t, f_t, g_t, o_t), each (B, D_h).
    """
    gates = xw_t + h_prev @ weight_hh.T
    if bias_hh is not None:
        gates = gates + bias_hh
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=1)  # each (B, D_h)
    # i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi): how much candidate to write
    i_t = torch.sigmoid(a_i)
    # f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf): how much old cell to keep
    f_t = torch.sigmoid(a_f)
    # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg): the candidate
    g_t = torch.tanh(a_g)
    # o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho): how much of the cell to show
    o_t = torch.sigmoid(a_o)
    return i_t, f_t, g_t, o_t


def lstm_cell(xw_t, h_prev, c_prev, weight_hh, bias_hh=None, weight_hr=None):
    """One LSTM step.

    xw_t: (B, 4 D_h), the inputs' part W_i* x_t + b_i* of all four gates;
    h_prev: (B, D_out), c_prev: (B, D_h); weight_hh: (4 D_h, D_out);
    bias_hh: (4 D_h,) or None; weight_hr: (D_out, D_h) or None (no projection).
    Returns (h_t: (B, D_out), c_t: (B, D_h)).
    """
    i_t, f_t, g_t, o_t = lstm_gates(xw_t, h_prev, weight_hh, bias_hh)
    # c_t = f_t * c_{t-1} + i_t * g_t: the cell state, updated additively
    c_t = f_t * c_prev + i_t * g_t
    # h_t = o_t * tanh(c_t)
    h_t = o_t * torch.tanh(c_t)
    if weight_hr is not None:
        # h_t = W_hr h_t: the projection of LSTMP
        h_t = h_t @ weight_hr.T
    return h_t, c_t


class LSTM(RecurrentLayer):
    """A multi-layer LSTM with the interface of ``torch.nn.LSTM``.

    Input (T, B, D_in), (B, T, D_in) with ``batch_first=True``, (T, D_in)
    unbatched, or a ``PackedSequence``. State ``(h_0, c_0)`` of shapes
    (L * dirs, B, D_out) and (L * dirs, B, D_h), with D_out = proj_size or D_h;
    zeros when None. Returns ``(output, (h_n, c_n))`` with output
    (T, B, dirs * D_out), as torch does.
    """

    num_gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        precompute_input: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            precompute_input,
            device,
            dtype,
        )

    def state_sizes(self) -> tuple[int, ...]:
        return (self.output_size, self.hidden_size)  # (h, c)

    def cell(self, xw_t, state, w):
        h_prev, c_prev = state
        return lstm_cell(
            xw_t, h_prev, c_prev, w["weight_hh"], w["bias_hh"], w["weight_hr"]
        )


class LSTMCell(RecurrentCell):
    """One LSTM step with the interface and parameter names of ``torch.nn.LSTMCell``.

    ``forward(x_t, (h, c))`` -> (h_t, c_t), each (B, D_h).
    """

    num_gates, state_parts = 4, 2

    def step(self, xw_t, state):
        return lstm_cell(xw_t, state[0], state[1], self.weight_hh, self.bias_hh)
