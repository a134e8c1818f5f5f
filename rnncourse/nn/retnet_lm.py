"""A RetNet language model (Sun et al. 2023): the decoder stack with multi-scale
retention as its token mixer, and, optionally, causal self-attention in some blocks: a
hybrid.

    x = x + MSR(Conv(LN(x))),   x = x + MLP(LN(x))    in every block (RetNet, 2.3)

with one addition to the paper: ``Conv``, a short causal convolution
(``rnncourse.nn.short_conv``, 4 taps; ``short_conv=0`` removes it), which lets retention
bind a key to the value beside it and so learn associative recall
(Zoology, Arora et al. 2023).

Retention is linear attention with a decay per head (``rnncourse.nn.retnet``), so in
generation each block carries a d_h x d_h matrix per head, whatever the length. Listing
blocks in ``attention_layers`` swaps their retention for softmax attention with a KV
cache (``rnncourse.nn.transformer``): the hybrid design of recent large models, which
keeps a few exact lookups among cheap recurrent layers (Wang et al. 2025, "A systematic
analysis of hybrid linear attention", compare the ratios).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from rnncourse.nn.mixer_lm import MixerLM
from rnncourse.nn.retnet import MultiScaleRetention
from rnncourse.nn.short_conv import ShortConvMixer
from rnncourse.nn.transformer import CausalSelfAttention


@dataclass
class RetNetConfig:
    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_mult: int = 4
    # blocks whose mixer is softmax attention instead (a hybrid)
    attention_layers: tuple[int, ...] = ()
    short_conv: int = (
        4  # kernel of the causal convolution before each retention (0: none)
    )
    impl: str = "auto"  # for rnncourse.ops.linear_attention


def _retention(config: RetNetConfig) -> nn.Module:
    """Multi-scale retention, behind a short convolution (none if
    ``config.short_conv`` is 0)."""
    retention = MultiScaleRetention(config.d_model, config.n_heads, impl=config.impl)
    return (
        ShortConvMixer(retention, config.d_model, config.short_conv)
        if config.short_conv
        else retention
    )


class RetNet(MixerLM):
    """idx (B, T) -> (logits (B, T, vocab), state): per block a retention state
    (B, H, d_h, d_h), or a ``KVCache`` for the blocks in ``attention_layers``."""

    def __init__(self, config: RetNetConfig):
        if any(not 0 <= i < config.n_layers for i in config.attention_layers):
            raise ValueError(
                f"RetNet: attention_layers must name blocks 0..{config.n_layers - 1}, "
                f"got {config.attention_layers}"
            )
        mixers = [
            CausalSelfAttention(config.d_model, config.n_heads)
            if i in config.attention_layers
            else _retention(config)
            for i in range(config.n_layers)
        ]
        super().__init__(config.vocab_size, config.d_model, mixers, config.mlp_mult)
        self.config = config
