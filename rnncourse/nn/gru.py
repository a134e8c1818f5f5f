"""The gated recurrent unit (Cho et al. 2014), written as a readable loop.

It has the constructor, forward signature, return values and parameter names of
``torch.nn.GRU``, so weights load from the torch module and both compute the same
function. Like torch (and unlike Cho et al.'s paper), it applies the reset gate
after the recurrent matrix product: r_t * (W_hn h_{t-1} + b_hn). The loop over
layers, directions and time is in :mod:`rnncourse.nn.recurrent`.
"""

from __future__ import annotations

import torch

from rnncourse.nn.recurrent import RecurrentCell, RecurrentLayer


def gru_cell(xw_t, h_prev, weight_hh, bias_hh=None):
    """One GRU step.

    xw_t: (B, 3 D_h), the inputs' part W_i* x_t + b_i* of r, z and n;
    h_prev: (B, D_h); weight_hh: (3 D_h, D_h); bias_hh: (3 D_h,) or None.
    Returns h_t: (B, D_h).
    """
    hw = h_prev @ weight_hh.T
    if bias_hh is not None:
        hw = hw + bias_hh
    x_r, x_z, x_n = xw_t.chunk(3, dim=1)  # each (B, D_h)
    h_r, h_z, h_n = hw.chunk(3, dim=1)
    # r_t = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr): the reset gate
    r_t = torch.sigmoid(x_r + h_r)
    # z_t = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz): the update gate
    z_t = torch.sigmoid(x_z + h_z)
    # n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)): the candidate
    n_t = torch.tanh(x_n + r_t * h_n)
    # h_t = (1 - z_t) * n_t + z_t * h_{t-1}
    return (1 - z_t) * n_t + z_t * h_prev


class GRU(RecurrentLayer):
    """A multi-layer GRU with the interface of ``torch.nn.GRU``.

    Input (T, B, D_in), (B, T, D_in) with ``batch_first=True``, (T, D_in)
    unbatched, or a ``PackedSequence``; ``hx`` (L * dirs, B, D_h) or None.
    Returns ``(output, h_n)`` as torch does.
    """

    num_gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
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
            precompute_input=precompute_input,
            device=device,
            dtype=dtype,
        )

    def cell(self, xw_t, state, w):
        return (gru_cell(xw_t, state[0], w["weight_hh"], w["bias_hh"]),)


class GRUCell(RecurrentCell):
    """One GRU step with the interface and parameter names of ``torch.nn.GRUCell``:
    (B, D_in), (B, D_h) -> (B, D_h)."""

    num_gates = 3

    def step(self, xw_t, state):
        return (gru_cell(xw_t, state[0], self.weight_hh, self.bias_hh),)
