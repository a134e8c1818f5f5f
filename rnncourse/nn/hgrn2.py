"""HGRN2: HGRN with its state expanded by an outer product (Qin et al. 2024,
"HGRN2: gated linear RNNs with state expansion").

HGRN's state is a vector of the model's width d. HGRN2 makes it a matrix per head
without adding parameters: the input gate 1 - f_t, a vector of size d_k, and the input
i_t, of size d_v, are multiplied as an outer product (Qin et al. 2024, section 3):

    f_t = λ + (1 - λ) sigmoid(W_f x_t)          forget gate with HGRN's lower bound,
                                                (d_k,)
    i_t = W_i x_t                               input, (d_v,)
    q_t = SiLU(W_q x_t)                         output gate, (d_k,)
    S_t = Diag(f_t) S_{t-1} + (1 - f_t) i_t^T   state, (d_k, d_v) per head
    o_t = S_t^T q_t                             (d_v,) per head
    y_t = W_o RMSNorm(o_t)

Read with q_t as a query, 1 - f_t as a key and i_t as a value, this is linear
attention with a data-dependent decay: the bridge to chapter 7. The update of every
entry of S is still h = a h + b with a from f_t, so ``linear_scan`` computes it.
(The paper's state is real, unlike HGRN's complex one.)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_batched
from rnncourse.nn.heads import head_size
from rnncourse.nn.hgrn import HGRN
from rnncourse.ops.linear_scan import linear_scan


class HGRU2(nn.Module):
    """HGRN2's token mixer: x (B, T, d), λ (n_heads * d_k,) in [0, 1) -> y (B, T, d).

    ``n_heads`` heads, each with a (d_k, d_v) state, d_k = ``expand``,
    d_v = d / n_heads.
    """

    def __init__(self, d_model: int, n_heads: int = 2, expand: int = 8):
        super().__init__()
        self.d_v = head_size("HGRU2", d_model, n_heads)
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, expand
        self.gate_size = n_heads * expand  # the width of f_t, and of λ
        self.q_proj = nn.Linear(d_model, n_heads * expand, bias=False)  # W_q
        self.f_proj = nn.Linear(d_model, n_heads * expand, bias=False)  # W_f
        self.i_proj = nn.Linear(d_model, d_model, bias=False)  # W_i
        self.norm = nn.RMSNorm(d_model)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)  # W_o

    def forward(
        self,
        x: torch.Tensor,
        lower_bound: torch.Tensor | float = 0.0,
        impl: str = "auto",
    ) -> torch.Tensor:
        check_batched(x, self.d_model, self.o_proj.weight, "HGRU2")
        B, T, _ = x.shape
        H, d_k, d_v = self.n_heads, self.d_k, self.d_v
        # f_t = λ + (1 - λ) sigmoid(W_f x_t)
        f = lower_bound + (1 - lower_bound) * torch.sigmoid(self.f_proj(x))
        f = f.view(B, T, H, d_k)
        i = self.i_proj(x).view(B, T, H, d_v)  # i_t
        q = F.silu(self.q_proj(x)).view(B, T, H, d_k)  # q_t
        a = f[..., None].expand(B, T, H, d_k, d_v)  # Diag(f_t) acts on each row of S
        # (1 - f_t) i_t^T, an outer product: (B, T, H, d_k, d_v)
        b = (1 - f)[..., None] * i[..., None, :]
        S = linear_scan(a.reshape(B, T, -1), b.reshape(B, T, -1), impl=impl).view(
            B, T, H, d_k, d_v
        )
        o = torch.einsum("bthkv,bthk->bthv", S, q)  # o_t = S_t^T q_t
        return self.o_proj(self.norm(o.reshape(B, T, -1)))  # y_t = W_o RMSNorm(o_t)


class HGRN2(HGRN):
    """A stack of residual HGRU2 layers with HGRN's rising lower bounds: x (B, T, d) ->
    (B, T, d). Options (``n_heads``, ``expand``) go to every HGRU2."""

    layer_type = HGRU2
