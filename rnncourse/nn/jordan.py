"""The Jordan network (Jordan 1986): the network's own previous output is fed back.

Where Elman's network feeds back its hidden state, Jordan's feeds back its output
through "state units" s_t, which also keep a decaying trace of their own past:

    s_t = mu * s_{t-1} + y_{t-1}
    h_t = tanh(W_xh x_t + W_sh s_t + b_h)
    y_t = W_hy h_t + b_y

With mu = 0 (the default) the state is simply the previous output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnncourse.nn._checks import check_batched, check_state
from rnncourse.nn.rnn import NONLINEARITIES, check_nonlinearity


class Jordan(nn.Module):
    """A one-layer Jordan network.

    Input (T, B, D_in), or (B, T, D_in) with ``batch_first=True``. ``state``: the
    pair (s, y) of shape (B, D_out) each, the state units and the last output;
    zeros when None. Returns ``(output, state)``: output (T, B, D_out)
    (batch-first when asked) holds y_t at every step; state is the final (s, y),
    so a second call continues where the first stopped.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        mu: float = 0.0,
        nonlinearity: str = "tanh",
        batch_first: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        check_nonlinearity(nonlinearity)
        if not 0.0 <= mu < 1.0:
            raise ValueError(
                f"mu, the decay of the state units, must lie in [0, 1), got {mu}"
            )
        self.input_size, self.hidden_size, self.output_size = (
            input_size,
            hidden_size,
            output_size,
        )
        self.mu, self.nonlinearity, self.batch_first = mu, nonlinearity, batch_first
        factory = {"device": device, "dtype": dtype}
        self.weight_xh = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_sh = nn.Parameter(torch.empty(hidden_size, output_size, **factory))
        self.bias_h = nn.Parameter(torch.empty(hidden_size, **factory))
        self.weight_hy = nn.Parameter(torch.empty(output_size, hidden_size, **factory))
        self.bias_y = nn.Parameter(torch.empty(output_size, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)  # as torch.nn.RNN initialises
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self,
        input: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        layout = "(B, T, D)" if self.batch_first else "(T, B, D)"
        check_batched(
            input, self.input_size, self.weight_xh, "Jordan", layout, self.batch_first
        )
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, D_in)
        T, B, _ = x.shape
        if state is None:
            s = y = x.new_zeros(B, self.output_size)
        else:
            s, y = state
            for name, tensor in (("state[0] (s)", s), ("state[1] (y)", y)):
                check_state(tensor, (B, self.output_size), self.weight_xh, name)
        act = NONLINEARITIES[self.nonlinearity]
        ys = []
        for t in range(T):
            # s_t = mu * s_{t-1} + y_{t-1}
            s = self.mu * s + y
            # h_t = tanh(W_xh x_t + W_sh s_t + b_h)
            h = act(x[t] @ self.weight_xh.T + s @ self.weight_sh.T + self.bias_h)
            # y_t = W_hy h_t + b_y
            y = h @ self.weight_hy.T + self.bias_y
            ys.append(y)
        output = torch.stack(ys)  # (T, B, D_out)
        return (output.transpose(0, 1) if self.batch_first else output), (s, y)
