"""A Mamba language model (Gu & Dao 2023): the decoder stack with a Mamba block as its
only sub-layer (no MLP: the block's expansion plays that part, so two Mamba blocks hold
about the parameters of one transformer block).

    x = x + MambaBlock(LN(x))        in every block

In generation each block carries its ``MambaState``: the last d_conv - 1 inputs of its
short convolution and the selective SSM's state, E x N numbers (E = expand * d_model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnncourse.nn.mamba import MambaBlock, MambaState
from rnncourse.nn.mixer_lm import MixerLM


@dataclass
class MambaConfig:
    vocab_size: int
    d_model: int = 64
    n_layers: int = 4
    d_state: int = 16  # N, the SSM's state size per channel
    expand: int = 2  # E = expand * d_model
    d_conv: int = 4


class MambaMixer(MambaBlock):
    """A Mamba block with the decoder's mixer interface: (x, state, offset) ->
    (y, state)."""

    def forward(
        self, x: torch.Tensor, state: MambaState | None = None, offset: int = 0
    ):
        return self.forward_with_state(x, state)


class Mamba(MixerLM):
    """idx (B, T) -> (logits (B, T, vocab), state): each block's ``MambaState``."""

    def __init__(self, config: MambaConfig):
        mixers = [
            MambaMixer(
                config.d_model,
                "selective",
                config.d_state,
                config.expand,
                config.d_conv,
            )
            for _ in range(config.n_layers)
        ]
        super().__init__(config.vocab_size, config.d_model, mixers, mlp_mult=None)
        self.config = config
