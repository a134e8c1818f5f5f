"""RWKV-4, a language model that trains like a transformer and generates like an RNN
(Peng et al. 2023, "RWKV: reinventing RNNs for the transformer era"; Johan Wind, "How
the RWKV language model works", 2023, walks through the same model in NumPy).

Each block, for x of shape (B, T, d), mixes tokens and then channels:

    time mixing:     mix each input with the one before it (the token shift), then
                     r_t = W_r (mu_r x_t + (1 - mu_r) x_(t-1))    receptance   (eq. 11)
                     k_t = W_k (mu_k x_t + (1 - mu_k) x_(t-1))    key          (eq. 12)
                     v_t = W_v (mu_v x_t + (1 - mu_v) x_(t-1))    value        (eq. 13)
                     o_t = W_o (sigmoid(r_t) ⊙ wkv_t)             output gate  (eq. 15)
                     with wkv_t the decayed average of past values
                     (eq. 14, ``rnncourse.ops.wkv4``)
    channel mixing:  r'_t = W'_r (mu'_r x_t + (1 - mu'_r) x_(t-1))            (eq. 16)
                     k'_t = W'_k (mu'_k x_t + (1 - mu'_k) x_(t-1))            (eq. 17)
                     o'_t = sigmoid(r'_t) ⊙ W'_v max(k'_t, 0)^2               (eq. 18)

with a pre-LayerNorm residual around each. In training the whole sequence goes through
at once (wkv4 over T tokens); in generation one token at a time, carrying per layer the
last input of each mixer and the WKV state (a, b, p): a state of fixed size however
long the text, where a transformer's key-value cache grows by 2 d numbers per layer per
token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_token_ids
from rnncourse.nn.sampling import generate
from rnncourse.ops.wkv4 import WKV4State, wkv4


@dataclass
class RWKVConfig:
    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    ffn_mult: int = 4  # channel mixing's hidden width is ffn_mult * d_model


class LayerState(NamedTuple):
    """What one block carries to the next token: the last input of time mixing and of
    channel mixing, each (B, d), and the WKV state."""

    time_x: torch.Tensor
    wkv: WKV4State
    channel_x: torch.Tensor


def _shift(x: torch.Tensor, last: torch.Tensor | None) -> torch.Tensor:
    """The token shift: x_(t-1) for every t, (B, T, d), with ``last`` (B, d) (zeros if
    None) before the first."""
    first = torch.zeros_like(x[:, :1]) if last is None else last[:, None]
    return torch.cat([first, x[:, :-1]], dim=1)


def _ramp(d: int, power: float) -> torch.Tensor:
    """(i / d)^power for the channels i = 0..d-1: the RWKV-4 code's initial mixing
    weights."""
    return (torch.arange(d) / d) ** power


class TimeMix(nn.Module):
    """Token mixing through WKV: x (B, T, d) -> (B, T, d), and the state after the last
    token."""

    def __init__(self, d: int, layer: int, n_layers: int):
        super().__init__()
        depth = layer / max(n_layers - 1, 1)  # 0 for the first layer, 1 for the last
        channel = torch.arange(d) / max(d - 1, 1)
        # w = exp(time_decay) > 0: from slow (w ~ e^-5) to fast (w ~ e^3) channels, as
        # the RWKV-4 code starts
        self.time_decay = nn.Parameter(-5 + 8 * channel ** (0.7 + 1.3 * depth))
        # u, the current token's bonus (log 0.3)
        self.time_first = nn.Parameter(torch.full((d,), -1.2))
        self.mix_k = nn.Parameter(_ramp(d, 1 - depth))  # mu_k
        self.mix_v = nn.Parameter(_ramp(d, 1 - depth) + 0.3 * depth)  # mu_v
        self.mix_r = nn.Parameter(_ramp(d, 0.5 * (1 - depth)))  # mu_r
        self.key = nn.Linear(d, d, bias=False)  # W_k
        self.value = nn.Linear(d, d, bias=False)  # W_v
        self.receptance = nn.Linear(d, d, bias=False)  # W_r
        self.output = nn.Linear(d, d, bias=False)  # W_o

    def forward(self, x, last_x=None, wkv_state=None, impl="auto"):
        x_prev = _shift(x, last_x)
        k = self.key(self.mix_k * x + (1 - self.mix_k) * x_prev)  # eq. 12
        v = self.value(self.mix_v * x + (1 - self.mix_v) * x_prev)  # eq. 13
        r = self.receptance(self.mix_r * x + (1 - self.mix_r) * x_prev)  # eq. 11
        w = torch.exp(self.time_decay)
        # eq. 14
        wkv, wkv_state = wkv4(
            w,
            self.time_first,
            k,
            v,
            state=wkv_state,
            output_final_state=True,
            impl=impl,
        )
        return self.output(torch.sigmoid(r) * wkv), x[:, -1], wkv_state  # eq. 15


class ChannelMix(nn.Module):
    """The feed-forward part, with the token shift and a receptance gate:
    x (B, T, d) -> (B, T, d)."""

    def __init__(self, d: int, hidden: int, layer: int, n_layers: int):
        super().__init__()
        depth = layer / max(n_layers - 1, 1)
        self.mix_k = nn.Parameter(_ramp(d, 1 - depth))  # mu'_k
        self.mix_r = nn.Parameter(_ramp(d, 1 - depth))  # mu'_r
        self.key = nn.Linear(d, hidden, bias=False)  # W'_k
        self.value = nn.Linear(hidden, d, bias=False)  # W'_v
        self.receptance = nn.Linear(d, d, bias=False)  # W'_r

    def forward(self, x, last_x=None):
        x_prev = _shift(x, last_x)
        k = self.key(self.mix_k * x + (1 - self.mix_k) * x_prev)  # eq. 17
        r = self.receptance(self.mix_r * x + (1 - self.mix_r) * x_prev)  # eq. 16
        return torch.sigmoid(r) * self.value(F.relu(k) ** 2), x[:, -1]  # eq. 18


class RWKVBlock(nn.Module):
    def __init__(self, config: RWKVConfig, layer: int):
        super().__init__()
        d = config.d_model
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.time_mix = TimeMix(d, layer, config.n_layers)
        self.channel_mix = ChannelMix(d, config.ffn_mult * d, layer, config.n_layers)

    def forward(self, x, state: LayerState | None = None, impl="auto"):
        time_x, wkv_state, channel_x = (
            state if state is not None else (None, None, None)
        )
        out, time_x, wkv_state = self.time_mix(self.ln1(x), time_x, wkv_state, impl)
        x = x + out
        out, channel_x = self.channel_mix(self.ln2(x), channel_x)
        return x + out, LayerState(time_x, wkv_state, channel_x)


class RWKV(nn.Module):
    """Tokens in, next-token logits out: idx (B, T) int64 -> (logits (B, T, vocab),
    state).

    ``state`` is None or what the previous call returned (one ``LayerState`` per
    block), so calling the model on one token at a time with the state (RNN mode)
    gives the logits of one call on the whole sequence (transformer mode). ``impl``
    goes to ``wkv4``.
    """

    def __init__(self, config: RWKVConfig, impl: str = "auto"):
        super().__init__()
        self.config, self.impl = config, impl
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.ln0 = nn.LayerNorm(config.d_model)  # RWKV-4 normalises the embeddings once
        self.blocks = nn.ModuleList(
            RWKVBlock(config, layer) for layer in range(config.n_layers)
        )
        self.ln_out = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        # small embeddings, as the RWKV-4 code starts
        nn.init.uniform_(self.embed.weight, -1e-4, 1e-4)

    def forward(self, idx: torch.Tensor, state: list[LayerState] | None = None):
        check_token_ids(idx, self.config.vocab_size)
        if state is not None and len(state) != len(self.blocks):
            raise ValueError(
                f"RWKV: state must hold one LayerState per block ({len(self.blocks)}), "
                f"got {len(state)}"
            )
        x = self.ln0(self.embed(idx))
        new_state = []
        for layer, block in enumerate(self.blocks):
            x, layer_state = block(
                x, None if state is None else state[layer], self.impl
            )
            new_state.append(layer_state)
        return self.head(self.ln_out(x)), new_state

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue ``prompt`` (T0,) int64 by ``n`` sampled tokens: (n,) ids.

        The prompt goes through in one pass, then the model runs in RNN mode.
        """
        return generate(self, prompt, n, temperature, generator)


def state_numbers(state: list[LayerState]) -> int:
    """How many numbers the RNN-mode state holds: 5 d per layer and sequence, whatever
    the length."""
    return sum(
        x.numel()
        for layer in state
        for x in (layer.time_x, *layer.wkv, layer.channel_x)
    )
