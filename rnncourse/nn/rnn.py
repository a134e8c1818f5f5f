"""The Elman recurrent network (Elman 1990), written as a readable loop over time.

It has the constructor, forward signature, return values and parameter names of
``torch.nn.RNN``, so ``RNN(...).load_state_dict(torch.nn.RNN(...).state_dict())``
works and both give the same outputs; the tests and chapter 1 check that. The
loop over layers, directions and time is in :mod:`rnncourse.nn.recurrent`.
"""

from __future__ import annotations

import torch

from rnncourse.nn.recurrent import RecurrentCell, RecurrentLayer

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def check_nonlinearity(nonlinearity: str) -> None:
    """The Elman and Jordan layers take the nonlinearities of ``torch.nn.RNN``."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(
            f"nonlinearity must be one of {sorted(NONLINEARITIES)}, "
            f"got {nonlinearity!r}"
        )


def elman_cell(xw_t, h_prev, weight_hh, bias_hh=None, nonlinearity="tanh"):
    """One step of the Elman recurrence.

    xw_t: (B, D_h), the input's part W_xh x_t + b_ih, computed by the caller;
    h_prev: (B, D_h); weight_hh: (D_h, D_h); bias_hh: (D_h,) or None.
    Returns h_t: (B, D_h).
    """
    a_t = xw_t + h_prev @ weight_hh.T
    if bias_hh is not None:
        a_t = a_t + bias_hh
    # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), with b_h = bias_ih + bias_hh
    return NONLINEARITIES[nonlinearity](a_t)


class RNN(RecurrentLayer):
    """A multi-layer Elman RNN with the interface of ``torch.nn.RNN``.

    Input (T, B, D_in), or (B, T, D_in) with ``batch_first=True``, or (T, D_in)
    unbatched, or a ``PackedSequence``. ``hx``: (num_layers * num_directions,
    B, D_h), or without the B axis when unbatched; zeros when None. Returns
    ``(output, h_n)``: output (T, B, num_directions * D_h) (batch-first when
    asked, packed when the input was) holds the last layer's h_t at every step;
    h_n has the shape of ``hx`` and holds every layer's and direction's final state.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        precompute_input: bool = False,
        device=None,
        dtype=None,
    ):
        check_nonlinearity(nonlinearity)
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
        self.nonlinearity = nonlinearity

    def cell(self, xw_t, state, w):
        return (
            elman_cell(xw_t, state[0], w["weight_hh"], w["bias_hh"], self.nonlinearity),
        )


class RNNCell(RecurrentCell):
    """One Elman step with the interface and parameter names of ``torch.nn.RNNCell``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ):
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def step(self, xw_t, state):
        return (
            elman_cell(xw_t, state[0], self.weight_hh, self.bias_hh, self.nonlinearity),
        )
