"""RetNet's multi-scale retention (Sun et al. 2023, "Retentive network: a successor to
transformer for large language models"), computed by ``rnncourse.ops.linear_attention``.

For x of shape (B, T, d) and H heads of size d_h = d / H (section 2.1-2.2):

    Q = (X W_Q) ⊙ Θ,  K = (X W_K) ⊙ Θ̄,  V = X W_V     Θ_n = e^(i n θ), the position's
                                                       rotation (eq. 5)
    head_h = Retention(Q_h, K_h, V_h; gamma_h):
             o_n = sum_{m <= n} gamma_h^(n-m) (Q_n . K_m) V_m
    gamma_h = 1 - 2^(-5 - h)                           one decay per head: multi-scale
                                                       (eq. 8)
    Y = GroupNorm_H(concat(head_1, ..., head_H))       normalised per head
    MSR(X) = (swish(X W_G) ⊙ Y) W_O                    a gated output (eq. 8)

The rotation is written with real numbers, as rotary position embeddings: pairs of
channels turned by the angle n θ_j, θ_j = 10000^(-2j / d_h). Retention has three forms
with the same output (parallel, recurrent, chunkwise: eqs. 5-7), chosen by ``impl``;
the recurrent state of each head is a d_h x d_h matrix, so a sequence can be fed in
pieces with the state and the position ``offset`` of the piece.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_batched
from rnncourse.nn.heads import head_size, merge_heads, split_heads
from rnncourse.ops.linear_attention import linear_attention


def retnet_log_decays(n_heads: int) -> torch.Tensor:
    """log gamma_h for gamma_h = 1 - 2^(-5 - h), h = 0..H-1: from a memory of ~32
    tokens to ~2^(4+H)."""
    return torch.log1p(
        -(2.0 ** (-5.0 - torch.arange(n_heads, dtype=torch.float64)))
    ).float()


def rotate(x: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Turn each pair of channels (2j, 2j+1) of x (B, H, T, d_h) by the angle n θ_j,
    n = offset + t."""
    d_h, T = x.shape[-1], x.shape[-2]
    # θ_j = 10000^(-2j / d_h), (d_h / 2,)
    theta = 10000.0 ** (
        -torch.arange(0, d_h, 2, device=x.device, dtype=torch.float32) / d_h
    )
    position = offset + torch.arange(T, device=x.device, dtype=torch.float32)
    angle = position[:, None] * theta  # (T, d_h / 2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack(
        [even * cos - odd * sin, even * sin + odd * cos], dim=-1
    ).flatten(-2)


class MultiScaleRetention(nn.Module):
    """x (B, T, d) -> (y (B, T, d), state (B, H, d_h, d_h)); ``impl`` is passed to
    ``linear_attention``."""

    def __init__(
        self, d_model: int, n_heads: int = 4, impl: str = "auto", chunk_size: int = 64
    ):
        super().__init__()
        self.d_head = head_size("MultiScaleRetention", d_model, n_heads, even=True)
        self.d_model, self.n_heads = d_model, n_heads
        self.impl, self.chunk_size = impl, chunk_size
        self.q_proj = nn.Linear(d_model, d_model, bias=False)  # W_Q
        self.k_proj = nn.Linear(d_model, d_model, bias=False)  # W_K
        self.v_proj = nn.Linear(d_model, d_model, bias=False)  # W_V
        self.g_proj = nn.Linear(d_model, d_model, bias=False)  # W_G
        self.o_proj = nn.Linear(d_model, d_model, bias=False)  # W_O
        self.norm = nn.GroupNorm(n_heads, d_model)  # one group per head
        # log gamma_h, fixed
        self.register_buffer("log_decay", retnet_log_decays(n_heads))

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None, offset: int = 0
    ):
        check_batched(x, self.d_model, self.o_proj.weight, "MultiScaleRetention")
        B, T, _ = x.shape
        H = self.n_heads
        q = rotate(split_heads(self.q_proj(x), H), offset)  # Q = (X W_Q) ⊙ Θ
        # K = (X W_K) ⊙ Θ̄, scaled by 1/sqrt(d_h)
        k = rotate(split_heads(self.k_proj(x), H), offset) * self.d_head**-0.5
        v = split_heads(self.v_proj(x), H)  # V = X W_V
        # one retention per head
        o, state = linear_attention(
            q,
            k,
            v,
            self.log_decay.to(x.dtype),
            state,
            output_final_state=True,
            impl=self.impl,
            chunk_size=self.chunk_size,
        )
        # GroupNorm_H, over the channels of each head at every step
        y = self.norm(merge_heads(o).reshape(B * T, self.d_model)).view(B, T, -1)
        return self.o_proj(F.silu(self.g_proj(x)) * y), state  # (swish(X W_G) ⊙ Y) W_O
