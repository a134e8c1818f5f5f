"""The Mamba block around a state-space layer, and a small stack of them over tokens (Gu & Dao 2023).

One block (Mamba, Figure 3), for x of shape (batch, L, d_model):

    x, z = in_proj(x)                     expand to two streams of width E = expand * d_model
    x = SiLU(conv1d(x))                   a short causal convolution along time
    y = SSM(x) * SiLU(z)                  the state-space layer, gated
    out = out_proj(y)                     back to d_model

The SSM inside is either selective (``"selective"``: S6, ``rnncourse.nn.selective_ssm``)
or time-invariant (``"s4d"``: ``rnncourse.nn.s4d``, run as a convolution), so the two
can be compared in the same architecture, as Mamba's Table 1 does.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn.s4d import S4D
from rnncourse.nn.selective_ssm import SelectiveSSM


class MambaState(NamedTuple):
    """What a Mamba block carries from one piece of a sequence to the next: the last d_conv - 1
    inputs of its convolution, ``conv`` (batch, d_conv - 1, E), and the SSM's state ``ssm`` (batch, E, N)."""

    conv: torch.Tensor
    ssm: torch.Tensor


class MambaBlock(nn.Module):
    """x (batch, L, d_model) -> (batch, L, d_model), with a selective or time-invariant SSM inside;
    ``ssm_options`` (such as ``dt_min``, ``dt_max``) go to the SSM."""

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
        self.conv1d = nn.Conv1d(
            E, E, d_conv, groups=E, padding=d_conv - 1
        )  # depthwise, causal after trimming
        self.ssm = (SelectiveSSM if ssm == "selective" else S4D)(
            E, d_state, **ssm_options
        )
        self.out_proj = nn.Linear(E, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (batch, L, E) each
        x = F.silu(
            self.conv1d(x.transpose(1, 2))[..., :L].transpose(1, 2)
        )  # causal: keep the first L outputs
        y = (
            self.ssm(x)
            if isinstance(self.ssm, SelectiveSSM)
            else self.ssm(x, view="convolution")
        )
        return self.out_proj(y * F.silu(z))

    def forward_with_state(
        self, x: torch.Tensor, state: MambaState | None = None
    ) -> tuple[torch.Tensor, MambaState]:
        """x (batch, L, d_model) and the state left by the tokens before it (None at the start) ->
        (out (batch, L, d_model), the state after it). A sequence fed in pieces, one token at a time
        included, gives the outputs of ``forward`` on the whole of it. Selective SSM only."""
        if not isinstance(self.ssm, SelectiveSSM):
            raise ValueError(
                "MambaBlock.forward_with_state needs the selective SSM (ssm='selective')"
            )
        Bsz, L, _ = x.shape
        E, K = self.conv1d.in_channels, self.conv1d.kernel_size[0]
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (batch, L, E) each
        past = x.new_zeros(Bsz, K - 1, E) if state is None else state.conv
        window = torch.cat(
            [past, x], dim=1
        )  # (batch, K - 1 + L, E): each output sees its K inputs
        x = F.silu(
            F.conv1d(
                window.transpose(1, 2), self.conv1d.weight, self.conv1d.bias, groups=E
            ).transpose(1, 2)
        )
        y, h = self.ssm(
            x, h0=None if state is None else state.ssm, output_final_state=True
        )
        return self.out_proj(y * F.silu(z)), MambaState(
            window[:, window.shape[1] - (K - 1) :], h
        )


class MambaTagger(nn.Module):
    """Tokens (batch, L) int64 -> logits (batch, L, n_classes): embedding, ``n_layers`` residual
    Mamba blocks with pre-normalisation, a final norm and a linear readout at every step;
    ``ssm_options`` go to every block's SSM."""

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
        if (
            not isinstance(tokens, torch.Tensor)
            or tokens.dim() != 2
            or tokens.dtype != torch.long
        ):
            raise ValueError(
                "MambaTagger: tokens must be an int64 tensor of shape (batch, L), got "
                + (
                    f"{tokens.dtype} of shape {tuple(tokens.shape)}"
                    if isinstance(tokens, torch.Tensor)
                    else type(tokens).__name__
                )
            )
        if tokens.shape[1] == 0 or tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ValueError(
                f"MambaTagger: tokens must be a non-empty sequence of ids in [0, {self.vocab_size}), "
                f"got shape {tuple(tokens.shape)}"
            )
        x = self.embedding(tokens)
        for norm, block in zip(self.norms, self.blocks):
            x = x + block(norm(x))  # residual, pre-norm
        return self.head(self.norm_f(x))
