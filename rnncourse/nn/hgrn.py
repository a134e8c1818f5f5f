"""HGRN: a gated linear RNN whose forget gates have a learned lower bound per layer
(Qin, Yang & Zhong 2023, "Hierarchically gated recurrent neural network for sequence
modeling").

The token mixer, HGRU, is an elementwise linear recurrence with a complex state. For
x_t of size d (Qin et al., section 3):

    μ_t = sigmoid(W_f x_t + b_f)                   the data-dependent part of the
                                                   forget gate
    f_t = λ + (1 - λ) μ_t                          forget gate, bounded below by the
                                                   layer's λ
    c_t = SiLU(W_c x_t + b_c)                      the input: 2d numbers, read in pairs
                                                   as (real, imaginary)
    h_t = f_t e^{iθ} ⊙ h_{t-1} + (1 - f_t) ⊙ c_t   a linear recurrence, so linear_scan
                                                   computes it
    g_t = SiLU(W_g x_t + b_g)                      output gate
    o_t = W_o (LayerNorm([Re h_t, Im h_t]) ⊙ g_t)

θ is a learned phase per channel: e^{iθ} turns the state a little at every step, as the
complex eigenvalues of S4D and the LRU do. The input gate is tied to the forget gate,
1 - f_t, as in a GRU.

The lower bound λ is what the name means by "hierarchical": it is 0 in the first layer
and rises with depth, so low layers may forget fast (local patterns) and high layers
must keep their state longer (long-range ones). The bounds of all K layers come from one
learned matrix Γ (K, d): P = softmax(Γ) over the layers and λ^k = P_1 + ... + P_k, so
that 0 = λ^0 <= λ^1 <= ... <= λ^{K-1} = 1 - P_0 < 1.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_batched
from rnncourse.ops.linear_scan import linear_scan


def lower_bounds(Gamma: torch.Tensor) -> torch.Tensor:
    """Γ: (K, d) -> λ: (K, d), each layer's lower bound, rising from 0 in the first
    layer to below 1."""
    P = torch.softmax(Gamma, dim=0)  # P = softmax(Γ) across the layers
    return torch.cumsum(P, dim=0) - P[0]  # λ^k = P_1 + ... + P_k, λ^0 = 0


class HGRU(nn.Module):
    """HGRN's token mixer: x (B, T, d), λ (d,) in [0, 1) -> o (B, T, d)."""

    def __init__(self, d_model: int):
        super().__init__()
        d = self.d_model = self.gate_size = (
            d_model  # gate_size: the width of f_t, and of λ
        )
        self.f_proj = nn.Linear(d, d)  # W_f
        self.c_proj = nn.Linear(d, 2 * d)  # W_c: real and imaginary parts
        self.g_proj = nn.Linear(d, 2 * d)  # W_g
        # phases from 1 down to 1e-4 radians per step
        self.theta = nn.Parameter(10000 ** (-torch.arange(d) / d))
        self.norm = nn.LayerNorm(2 * d)
        self.o_proj = nn.Linear(2 * d, d)  # W_o

    def forward(
        self,
        x: torch.Tensor,
        lower_bound: torch.Tensor | float = 0.0,
        impl: str = "auto",
    ) -> torch.Tensor:
        check_batched(x, self.d_model, self.theta, "HGRU")
        # f_t = λ + (1 - λ) μ_t
        f = lower_bound + (1 - lower_bound) * torch.sigmoid(self.f_proj(x))
        # c_t, complex (B, T, d)
        c = torch.view_as_complex(
            F.silu(self.c_proj(x)).unflatten(-1, (-1, 2)).contiguous()
        )
        a = f * torch.exp(1j * self.theta)  # f_t e^{iθ}
        # h_t = f_t e^{iθ} h_{t-1} + (1 - f_t) c_t
        h = linear_scan(a, (1 - f) * c, impl=impl)
        g = F.silu(self.g_proj(x))  # g_t
        return self.o_proj(self.norm(torch.cat([h.real, h.imag], dim=-1)) * g)  # o_t


class HGRN(nn.Module):
    """A stack of ``n_layers`` residual HGRU layers, x (B, T, d) -> (B, T, d), with the
    lower bounds rising through the stack. (The paper's blocks also hold a GLU channel
    mixer, left out here to keep the token mixing in view.)"""

    layer_type = HGRU

    def __init__(self, d_model: int, n_layers: int = 2, **layer_options):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.layers = nn.ModuleList(
            self.layer_type(d_model, **layer_options) for _ in range(n_layers)
        )
        # Γ: equal shares at the start
        self.Gamma = nn.Parameter(torch.zeros(n_layers, self.layers[0].gate_size))

    def forward(self, x: torch.Tensor, impl: str = "auto") -> torch.Tensor:
        for norm, layer, lam in zip(self.norms, self.layers, lower_bounds(self.Gamma)):
            # residual, pre-norm; layer k forgets no faster than λ^k allows
            x = x + layer(norm(x), lam, impl=impl)
        return x
