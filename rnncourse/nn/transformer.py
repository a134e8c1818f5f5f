"""A small decoder-only transformer (Vaswani et al. 2017; GPT's layout, Radford et al.
2019), its attention computed by ``rnncourse.ops.softmax_attention``.

Causal self-attention, for x of shape (B, T, d) and H heads of size d_h = d / H:

    Q = R(X W_Q),  K = R(X W_K),  V = X W_V
    head_h = softmax(Q_h K_h^T / sqrt(d_h) + M) V_h
    Attn(X) = concat(head_1, ..., head_H) W_O

with R the rotary position embedding (Su et al. 2021) and M the mask, -inf above the
diagonal (no peeking ahead). The rotation turns each pair of channels of the query and
key at position n by the angle n θ_j (``rnncourse.nn.retnet.rotate``, the same rotation
RetNet uses), so Q_n . K_m depends on the distance n - m only: the position
information, with nothing learned and no largest length. In generation the keys and
values of past tokens are kept (the KV cache): each new token attends to all of them,
so its cost and the cache grow by 2 d numbers per layer with every token, where a
recurrent model's state stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn

from rnncourse.nn.heads import head_size, merge_heads, split_heads
from rnncourse.nn.mixer_lm import MixerLM
from rnncourse.nn.retnet import rotate
from rnncourse.ops.softmax_attention import softmax_attention


class KVCache(NamedTuple):
    """The keys and values of every token so far, each (B, H, T, d_h), rotated
    already."""

    k: torch.Tensor
    v: torch.Tensor


class CausalSelfAttention(nn.Module):
    """x (B, T, d), the cache of the tokens before it (or None) and x's first position
    -> (y (B, T, d), the cache extended by x).

    ``impl`` goes to ``rnncourse.ops.softmax_attention``.
    """

    def __init__(self, d_model: int, n_heads: int = 4, impl: str = "auto"):
        super().__init__()
        self.d_head = head_size("CausalSelfAttention", d_model, n_heads, even=True)
        self.d_model, self.n_heads, self.impl = d_model, n_heads, impl
        # W_Q, W_K, W_V side by side
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)  # W_O

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, offset: int = 0):
        if cache is not None and x.shape[1] > 1:
            # new tokens after a cache: one at a time, each sees the past
            ys = []
            for t in range(x.shape[1]):
                y, cache = self(x[:, t : t + 1], cache, offset + t)
                ys.append(y)
            return torch.cat(ys, dim=1), cache
        q, k, v = (split_heads(y, self.n_heads) for y in self.qkv(x).chunk(3, dim=-1))
        q, k = rotate(q, offset), rotate(k, offset)  # R(X W_Q), R(X W_K)
        if cache is not None:  # (B, H, offset + 1, d_h)
            k, v = torch.cat([cache.k, k], dim=2), torch.cat([cache.v, v], dim=2)
        # softmax(Q K^T / sqrt(d_h) + M) V; a new token after a cache sees every key
        o = softmax_attention(q, k, v, causal=cache is None, impl=self.impl)
        return self.o_proj(merge_heads(o)), KVCache(k, v)  # concat(heads) W_O


@dataclass
class TransformerConfig:
    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_mult: int = 4  # the MLP's hidden width is mlp_mult * d_model
    impl: str = "auto"  # for rnncourse.ops.softmax_attention


class Transformer(MixerLM):
    """A decoder-only transformer: idx (B, T) -> (logits (B, T, vocab), state holding
    each layer's ``KVCache``)."""

    def __init__(self, config: TransformerConfig):
        mixers = [
            CausalSelfAttention(config.d_model, config.n_heads, config.impl)
            for _ in range(config.n_layers)
        ]
        super().__init__(config.vocab_size, config.d_model, mixers, config.mlp_mult)
        self.config = config
