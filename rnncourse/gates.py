"""What an LSTM's gates do on a real sequence: their activations recorded step by step.

Works with :class:`rnncourse.nn.LSTM` and ``torch.nn.LSTM`` alike (they share
parameter names), so a model trained with either can be looked into. The gate
equations are in :func:`rnncourse.nn.lstm_gates`; this only records them.
"""
from __future__ import annotations

import torch

from rnncourse.nn.lstm import lstm_gates


@torch.no_grad()
def lstm_gate_trace(lstm: torch.nn.Module, x: torch.Tensor, layer: int = 0) -> dict[str, torch.Tensor]:
    """Run one sequence through the first ``layer + 1`` layers and record layer ``layer``'s gates.

    ``lstm``: one direction, no projection, ``batch_first`` either way; x: (T, D_in), one
    sequence. Returns a dict of (T, D_h) tensors: the gates ``"i"``, ``"f"``, ``"g"``, ``"o"``
    and the states ``"c"`` and ``"h"`` at every step.
    """
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError("lstm_gate_trace reads a one-direction LSTM without projection")
    if not 0 <= layer < lstm.num_layers:
        raise ValueError(f"layer must lie in 0..{lstm.num_layers - 1}, got {layer}")
    if x.dim() != 2 or x.shape[1] != lstm.input_size or x.shape[0] == 0:
        raise ValueError(f"x must be one non-empty sequence of shape (T, {lstm.input_size}), got {tuple(x.shape)}")
    for l in range(layer + 1):
        trace = {name: [] for name in "ifgoch"}
        W_ih, W_hh = getattr(lstm, f"weight_ih_l{l}"), getattr(lstm, f"weight_hh_l{l}")
        b_ih, b_hh = getattr(lstm, f"bias_ih_l{l}", None), getattr(lstm, f"bias_hh_l{l}", None)
        xw = x @ W_ih.T + (b_ih if b_ih is not None else 0)  # (T, 4 D_h)
        h = c = x.new_zeros(1, lstm.hidden_size)
        for t in range(x.shape[0]):
            i_t, f_t, g_t, o_t = lstm_gates(xw[t:t + 1], h, W_hh, b_hh)
            c = f_t * c + i_t * g_t  # as in lstm_cell
            h = o_t * torch.tanh(c)
            for name, value in zip("ifgoch", (i_t, f_t, g_t, o_t, c, h)):
                trace[name].append(value[0])
        x = torch.stack(trace["h"])  # the next layer reads this layer's outputs
    return {name: torch.stack(values) for name, values in trace.items()}
