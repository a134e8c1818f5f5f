"""A short causal convolution in front of a token mixer: each position first sees its
last few neighbours, so a linear-attention layer can bind a key to the value beside it.

    u_t = sum_{j=0}^{K-1} w_j ⊙ x_{t-j}    depthwise over channels,
                                           K = ``kernel_size`` (4 here)
    y   = Mixer(u)

Multi-query associative recall asks a model to store ``k v`` pairs and look a key up
later; a layer that reads one token at a time cannot put k and v into one outer product
unless something shifted them together first. Attention learns that shift from
positions; a linear model learns it with difficulty. Zoology (Arora et al. 2023,
section 4) found that a short convolution before the mixer lets gated-convolution and
linear-attention models learn recall; Mamba (Gu and Dao 2023, ``rnncourse.nn.mamba``)
and RWKV's token shift (Peng et al. 2023) carry the same device, and fla offers it on
its linear-attention layers (``use_short_conv``).

In generation the convolution carries its last K - 1 inputs, so a sequence fed token by
token gives the same outputs as the whole of it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class ShortConvState(NamedTuple):
    """The last K - 1 inputs of the convolution, ``past`` (B, K - 1, d), and the
    wrapped mixer's state."""

    past: torch.Tensor
    mixer: Any


class ShortConvolution(nn.Module):
    """A causal depthwise convolution.

    (x (B, T, d), past (B, K - 1, d) or None) -> (u (B, T, d), the last K - 1 inputs).
    """

    def __init__(self, d_model: int, kernel_size: int = 4):
        super().__init__()
        if kernel_size < 2:
            raise ValueError(
                f"ShortConvolution: kernel_size must be at least 2 (1 is no mixing), "
                f"got {kernel_size}"
            )
        # w_j per channel, and a bias
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None = None):
        K = self.conv.kernel_size[0]
        if past is None:  # before the sequence: zeros
            past = x.new_zeros(x.shape[0], K - 1, x.shape[2])
        # (B, K - 1 + T, d): each output sees its K inputs
        window = torch.cat([past, x], dim=1)
        # u_t = sum_j w_j ⊙ x_{t-j}
        u = F.conv1d(
            window.transpose(1, 2), self.conv.weight, self.conv.bias, groups=x.shape[2]
        ).transpose(1, 2)
        return u, window[:, window.shape[1] - (K - 1) :]


class ShortConvMixer(nn.Module):
    """A decoder mixer behind a short convolution.

    (x (B, T, d), state, offset) -> (Mixer(conv(x)), ``ShortConvState``).
    """

    def __init__(self, mixer: nn.Module, d_model: int, kernel_size: int = 4):
        super().__init__()
        self.short_conv = ShortConvolution(d_model, kernel_size)
        self.mixer = mixer

    def forward(
        self, x: torch.Tensor, state: ShortConvState | None = None, offset: int = 0
    ):
        u, past = self.short_conv(x, None if state is None else state.past)
        y, inner = self.mixer(u, None if state is None else state.mixer, offset)
        return y, ShortConvState(past, inner)
