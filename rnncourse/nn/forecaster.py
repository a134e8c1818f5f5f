"""A recurrent forecaster for real-valued series: a recurrent layer and a linear
readout.

Trained to predict x_{t+1} from x_1..x_t, it generates a whole series by
feeding its own predictions back in (closed-loop generation).
"""

from __future__ import annotations

import torch
from torch import nn

from rnncourse.nn.rnn import RNN


class Forecaster(nn.Module):
    """x: (B, T, D) -> predictions of the next value (B, T, D), and the final state."""

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        rnn: type[nn.Module] = RNN,
    ):
        super().__init__()
        self.rnn = rnn(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, input_size)

    def forward(self, x: torch.Tensor, state=None):
        out, state = self.rnn(x, state)  # (B, T, D_h)
        return self.head(out), state  # (B, T, D)

    def rollout(self, context: torch.Tensor, steps: int) -> torch.Tensor:
        """Read ``context`` (B, T0, D), then predict ``steps`` values by feeding each
        back.

        Returns (B, steps, D). Gradients flow through the whole rollout, so a
        model can be trained the way it will be used (see ``generate``).
        """
        if steps < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        pred, state = self(context)
        x = pred[:, -1:]  # (B, 1, D): the forecast of the first unseen value
        out = [x]
        for _ in range(steps - 1):
            x, state = self(x, state)  # the prediction becomes the next input
            out.append(x)
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def generate(self, context: torch.Tensor, steps: int) -> torch.Tensor:
        """``rollout`` without gradients, closed-loop generation: (B, steps, D)."""
        return self.rollout(context, steps)
