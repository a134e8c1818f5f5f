"""The Mamba block around a state-space layer, and a small stack of them over tokens
(Gu & Dao 2023).

One block (Mamba, Figure 3), for x of shape (batch, L, d_model):

    x, z = in_proj(x)         expand to two streams of width E = expand * d_model
    x = SiLU(ShortConv(x))    a short causal convolution along time
    y = SSM(x) * SiLU(z)      the state-space layer, gated
    out = out_proj(y)         back to d_model

The convolution is ``rnncourse.nn.short_conv.ShortConvolution``, the one in front of
chapter 9's retention. The SSM inside is either selective (``"selective"``: S6,
``rnncourse.nn.selective_ssm``) or time-invariant (``"s4d"``: ``rnncourse.nn.s4d``,
run as a convolution), so the two can be compared in the same architecture, as
Mamba's Table 1 does.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_token_ids
from rnncourse.nn.s4d import S4D
from rnncourse.nn.selective_ssm import SelectiveSSM
from rnncourse.nn.short_conv import ShortConvolution


class MambaState(NamedTuple):
    """What a Mamba block carries from one piece of a sequence to the next: the last
    d_conv - 1 inputs of its convolution, ``conv`` (batch, d_conv - 1, E), and the
    SSM's state ``ssm`` (batch, E, N)."""

    conv: torch.Tensor
    ssm: torch.Tensor


class MambaBlock(nn.Module):
    """x (batch, L, d_model) -> (batch, L, d_model), with a selective or time-invariant
    SSM inside; ``ssm_options`` (such as ``dt_min``, ``dt_max``) go to the SSM."""

    def __init__(
        self,
        d_model: int,
        ssm: str = "selective",
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        **ssm_options,
    ):
        super().__init__()
        if ssm not in ("selective", "s4d"):
            raise ValueError(
                f"MambaBlock: ssm must be 'selective' or 's4d', got {ssm!r}"
            )
        E = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * E)
        self.short_conv = ShortConvolution(E, d_conv)  # depthwise and causal
        self.ssm = (SelectiveSSM if ssm == "selective" else S4D)(
            E, d_state, **ssm_options
        )
        self.out_proj = nn.Linear(E, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (batch, L, E) each
        u, _ = self.short_conv(x)  # u_t = sum_j w_j ⊙ x_{t-j}
        x = F.silu(u)
        y = (
            self.ssm(x)
            if isinstance(self.ssm, SelectiveSSM)
            else self.ssm(x, view="convolution")
        )
        return self.out_proj(y * F.silu(z))

    def forward_with_state(
        self, x: torch.Tensor, state: MambaState | None = None
    ) -> tuple[torch.Tensor, MambaState]:
        """Continue a sequence from the state left by the tokens before it.

        x (batch, L, d_model) and that state (None at the start) ->
        (out (batch, L, d_model), the state after x). A sequence fed in pieces, one
        token at a time included, gives the outputs of ``forward`` on the whole of it.
        Selective SSM only.
        """
        if not isinstance(self.ssm, SelectiveSSM):
            raise ValueError(
                "MambaBlock.forward_with_state needs the selective SSM "
                "(ssm='selective')"
            )
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (batch, L, E) each
        u, window = self.short_conv(x, None if state is None else state.conv)
        y, h = self.ssm(
            F.silu(u), h0=None if state is None else state.ssm, output_final_state=True
        )
        return self.out_proj(y * F.silu(z)), MambaState(window, h)


class MambaTagger(nn.Module):
    """Tokens (batch, L) int64 -> logits (batch, L, n_classes).

    An embedding, ``n_layers`` residual Mamba blocks with pre-normalisation, a final
    norm and a linear readout at every step; ``ssm_options`` go to every block's SSM.
    """

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        d_model: int = 32,
        n_layers: int = 2,
        ssm: str = "selective",
        d_state: int = 16,
        **ssm_options,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.blocks = nn.ModuleList(
            MambaBlock(d_model, ssm, d_state, **ssm_options) for _ in range(n_layers)
        )
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_token_ids(tokens, self.vocab_size, name="tokens", shape="(batch, L)")
        x = self.embedding(tokens)
        for norm, block in zip(self.norms, self.blocks):
            x = x + block(norm(x))  # residual, pre-norm
        return self.head(self.norm_f(x))
