"""A decoder-only language model: residual blocks around whatever mixes the tokens.

The layout is GPT's with normalisation before each sub-layer (Radford et al. 2019;
nanoGPT reads the same way). For token ids idx of shape (B, T):

    x = Embed(idx)                          (B, T, d)
    for each block:  x = x + Mixer(LN(x))   the only place where positions exchange
                                            information
                     x = x + MLP(LN(x))     per position (left out by Mamba's stack)
    logits = Head(LN(x))                    (B, T, vocab)

Chapter 9's transformer, RetNet and Mamba models are this stack with different
mixers: causal self-attention, multi-scale retention, a Mamba block. Each mixer maps
``(x, state, offset) -> (y, state)``, the state being what it needs from the tokens
before ``x`` (a key-value cache, a retention matrix, a convolution window and an SSM
state) and ``offset`` the position of x's first token. So a model reads a whole
sequence in one call, or one token at a time carrying a ``MixerLMState``, with the
same logits (tests/nn/test_mixer_lm.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_token_ids
from rnncourse.nn.sampling import generate


class MixerLMState(NamedTuple):
    """What the model carries to the next call: the position of the next token and
    each block's mixer state."""

    offset: int
    layers: list[Any]


class MLP(nn.Module):
    """The position-wise feed-forward layer: x (B, T, d) -> W_2 GELU(W_1 x).

    Its hidden width is ``mult * d``.
    """

    def __init__(self, d_model: int, mult: int = 4):
        super().__init__()
        self.up = nn.Linear(d_model, mult * d_model, bias=False)  # W_1
        self.down = nn.Linear(mult * d_model, d_model, bias=False)  # W_2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class MixerBlock(nn.Module):
    """x (B, T, d) -> x + Mixer(LN(x)), then + MLP(LN(.)) if ``mlp_mult`` is not None.

    Returns (x, the mixer's state).
    """

    def __init__(self, d_model: int, mixer: nn.Module, mlp_mult: int | None = 4):
        super().__init__()
        self.ln1, self.mixer = nn.LayerNorm(d_model), mixer
        self.ln2 = nn.LayerNorm(d_model) if mlp_mult else None
        self.mlp = MLP(d_model, mlp_mult) if mlp_mult else None

    def forward(self, x: torch.Tensor, state: Any = None, offset: int = 0):
        y, state = self.mixer(self.ln1(x), state, offset)
        x = x + y
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x))
        return x, state


class MixerLM(nn.Module):
    """Token ids in, next-token logits out.

    idx (B, T) int64 -> (logits (B, T, vocab), ``MixerLMState``). ``mixers`` gives one
    token mixer per block; ``mlp_mult`` the MLP's width factor (None: no MLP). Pass
    the returned state back with the next tokens to continue the same sequences.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        mixers: list[nn.Module],
        mlp_mult: int | None = 4,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(
            MixerBlock(d_model, mixer, mlp_mult) for mixer in mixers
        )
        self.ln_out = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor, state: MixerLMState | None = None):
        check_token_ids(idx, self.vocab_size)
        if state is not None and len(state.layers) != len(self.blocks):
            raise ValueError(
                f"{type(self).__name__}: state must hold one entry per block "
                f"({len(self.blocks)}), got {len(state.layers)}"
            )
        offset = 0 if state is None else state.offset
        x = self.embed(idx)
        layers = []
        for i, block in enumerate(self.blocks):
            x, layer_state = block(
                x, None if state is None else state.layers[i], offset
            )
            layers.append(layer_state)
        return self.head(self.ln_out(x)), MixerLMState(offset + idx.shape[1], layers)

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue ``prompt`` (T0,) int64 by ``n`` sampled tokens; returns (n,) ids.

        One call per token, the state carried.
        """
        return generate(self, prompt, n, temperature, generator)
