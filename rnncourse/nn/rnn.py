"""The Elman recurrent network (Elman 1990), written as a readable loop over time.

It has the constructor, forward signature, return values and parameter names of
``torch.nn.RNN``, so ``RNN(...).load_state_dict(torch.nn.RNN(...).state_dict())``
works and both give the same outputs; the tests and chapter 1 check that.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse.nn._checks import check_sequence, check_state

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def elman_cell(x_t, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One step of the Elman recurrence.

    x_t: (B, D_in), h_prev: (B, D_h), weight_ih: (D_h, D_in), weight_hh: (D_h, D_h),
    biases: (D_h,) or None. Returns h_t: (B, D_h).
    """
    a_t = x_t @ weight_ih.T + h_prev @ weight_hh.T
    if bias_ih is not None:
        a_t = a_t + bias_ih + bias_hh
    # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), with b_h = bias_ih + bias_hh
    return NONLINEARITIES[nonlinearity](a_t)


class RNN(nn.Module):
    """A multi-layer Elman RNN with the interface of ``torch.nn.RNN``.

    Input (T, B, D_in), or (B, T, D_in) with ``batch_first=True``, or (T, D_in)
    unbatched. ``hx``: (num_layers * num_directions, B, D_h), or without the B
    axis when unbatched; zeros when None. Returns ``(output, h_n)``: output
    (T, B, num_directions * D_h) (batch-first when asked) holds the last
    layer's h_t at every step; h_n has the shape of ``hx`` and holds every
    layer's and direction's final state.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        if num_layers < 1 or input_size < 1 or hidden_size < 1:
            raise ValueError("input_size, hidden_size and num_layers must be positive integers")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout acts between layers, so it has no effect when num_layers=1", stacklevel=2)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.num_directions = 2 if bidirectional else 1
        factory = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", nn.Parameter(torch.empty(hidden_size, layer_input, **factory)))
                setattr(self, f"weight_hh{suffix}", nn.Parameter(torch.empty(hidden_size, hidden_size, **factory)))
                if bias:
                    setattr(self, f"bias_ih{suffix}", nn.Parameter(torch.empty(hidden_size, **factory)))
                    setattr(self, f"bias_hh{suffix}", nn.Parameter(torch.empty(hidden_size, **factory)))
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        # torch's names: weight_ih_l0, weight_ih_l0_reverse, ...
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def reset_parameters(self) -> None:
        # The same initialisation as torch.nn.RNN: U(-1/sqrt(D_h), 1/sqrt(D_h)).
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def cell_parameters(self, layer: int, direction: int):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction."""
        suffix = self._suffixes(layer)[direction]
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        params = [getattr(self, name + suffix) for name in names]
        return params if self.bias else params + [None, None]

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None):
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise TypeError("rnncourse.nn.RNN takes padded tensors, not a PackedSequence")
        batched = check_sequence(input, self.input_size, self.batch_first, self.weight_ih_l0)
        x = input if batched else input.unsqueeze(1)  # (T, B, D_in) or (B, T, D_in)
        if self.batch_first and batched:
            x = x.transpose(0, 1)  # (T, B, D_in)
        T, B, _ = x.shape
        num_states = self.num_layers * self.num_directions
        if hx is None:
            hx = x.new_zeros(num_states, B, self.hidden_size)
        else:
            expected = (num_states, B, self.hidden_size) if batched else (num_states, self.hidden_size)
            check_state(hx, expected, self.weight_ih_l0, "hx")
            hx = hx if batched else hx.unsqueeze(1)  # (L * dirs, B, D_h)

        h_n = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                h = hx[layer * self.num_directions + direction]  # (B, D_h)
                steps = range(T - 1, -1, -1) if direction == 1 else range(T)
                hs = [None] * T
                for t in steps:
                    h = elman_cell(x[t], h, *self.cell_parameters(layer, direction), self.nonlinearity)
                    hs[t] = h
                outputs.append(torch.stack(hs))  # (T, B, D_h)
                h_n.append(h)
            x = torch.cat(outputs, dim=-1)  # (T, B, dirs * D_h)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)

        h_n = torch.stack(h_n)  # (L * dirs, B, D_h)
        if not batched:
            return x.squeeze(1), h_n.squeeze(1)
        return (x.transpose(0, 1) if self.batch_first else x), h_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s
