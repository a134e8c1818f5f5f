"""A selective state-space model (S6, the layer inside Mamba: Gu & Dao 2023), minimal
and readable.

S4D (``rnncourse.nn.s4d``) uses the same Δ, B and C at every step, so it is
time-invariant, and can be unrolled into a convolution. Selection makes them
functions of the input x_t (Mamba, Algorithm 2):

    Δ_t = softplus(Linear_Δ(x_t) + bias),  B_t = Linear_B(x_t),  C_t = Linear_C(x_t)
    Ā_t = exp(Δ_t A),  B̄_t = (Δ_t A)^{-1} (exp(Δ_t A) - I) Δ_t B_t   (zero-order hold)
    h_t = Ā_t h_{t-1} + B̄_t x_t,   y_t = C_t h_t + D x_t

A small Δ_t keeps the state and ignores x_t; a large one resets the state to x_t:
the model chooses, token by token, what to remember. Because Ā_t changes from step to
step there is no single kernel K any more (the convolution view is gone), but the
recurrence is still linear in h, so ``rnncourse.ops.linear_scan`` computes it in
parallel. A is diagonal and shared by all steps; Δ_t is per channel, B_t and C_t
are shared by the channels. Mamba takes A real (S4D-Real initialisation A_n = -(n+1));
with ``complex_A=True`` it is complex as in S4D (A_n = -1/2 + i π n, modes in conjugate
pairs, so the output is twice the real part), which makes sharp delays easy to express.
(Mamba's own code approximates B̄_t by Δ_t B_t; we keep the exact zero-order hold.)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncourse.nn._checks import check_batched
from rnncourse.ops.linear_scan import linear_scan


def selective_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    impl: str = "auto",
    h0: torch.Tensor | None = None,
    output_final_state: bool = False,
):
    """The selective SSM given its input-dependent parameters.

    x: (batch, L, E) input; delta: (batch, L, E) positive step sizes; A: (E, N) real and
    negative, or complex with negative real parts; B, C: (batch, L, N) real; D: (E,) ->
    y: (batch, L, E). h0: (batch, E, N) the state before the first step (None: zeros);
    with ``output_final_state`` the pair (y, h_L), h_L (batch, E, N) the state after the
    last step.
    """
    Bsz, L, E = x.shape
    dA = delta[..., None] * A  # Δ_t A: (batch, L, E, N)
    A_bar = torch.exp(dA)  # Ā_t = exp(Δ_t A)
    # B̄_t x_t = A^{-1} (exp(Δ_t A) - 1) B_t x_t
    B_bar_x = (A_bar - 1) / A * B[:, :, None] * x[..., None]
    h0 = None if h0 is None else h0.reshape(Bsz, -1).to(A_bar.dtype)
    # h_t = Ā_t h_{t-1} + B̄_t x_t
    h = linear_scan(
        A_bar.reshape(Bsz, L, -1), B_bar_x.reshape(Bsz, L, -1), h0, impl=impl
    )
    y = torch.einsum("blen,bln->ble", h.view(Bsz, L, E, -1), C.to(h.dtype))  # C_t h_t
    if A.is_complex():
        y = 2 * y.real  # each stored mode stands for a conjugate pair
    y = y + D * x  # y_t = C_t h_t + D x_t
    return (y, h[:, -1].view(Bsz, E, -1)) if output_final_state else y


class SelectiveSSM(nn.Module):
    """S6: x (batch, L, E) -> y (batch, L, E), with Δ, B and C computed from x.

    Δ is computed through a bottleneck of rank ``dt_rank`` (as in Mamba) and
    initialised so that softplus(bias) lies in [dt_min, dt_max].
    """

    def __init__(
        self,
        d_inner: int,
        d_state: int = 16,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        complex_A: bool = False,
    ):
        super().__init__()
        E, N = d_inner, d_state
        self.d_inner, self.d_state = E, N
        self.dt_rank = dt_rank or math.ceil(E / 16)
        # s_Δ, s_B, s_C in one product
        self.x_proj = nn.Linear(E, self.dt_rank + 2 * N, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, E)
        dt = torch.exp(
            torch.rand(E) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        )
        with torch.no_grad():
            # the inverse of softplus
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        if complex_A:  # S4D-Lin: A_n = -1/2 + i π n
            self.A_log = nn.Parameter(torch.full((E, N), math.log(0.5)))
            self.A_imag = nn.Parameter(
                math.pi * torch.arange(N, dtype=torch.float32).repeat(E, 1)
            )
        else:  # S4D-Real: A_n = -(n + 1)
            self.A_log = nn.Parameter(
                torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1)
            )
            self.A_imag = None
        self.D = nn.Parameter(torch.ones(E))

    def selection(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The input-dependent parameters: x (batch, L, E) ->
        (Δ (batch, L, E), B (batch, L, N), C (batch, L, N))."""
        # s_Δ, s_B, s_C
        dt, B, C = self.x_proj(x).split(
            [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        # Δ_t = softplus(Linear_Δ(x_t) + bias)
        return (
            F.softplus(self.dt_proj(dt)),
            B,
            C,
        )

    def forward(
        self,
        x: torch.Tensor,
        impl: str = "auto",
        h0: torch.Tensor | None = None,
        output_final_state: bool = False,
    ):
        """x: (batch, L, E) -> y: (batch, L, E); ``impl`` is passed to ``linear_scan``.

        ``h0`` (batch, E, N) carries the state in from an earlier piece of the sequence;
        with ``output_final_state`` the pair (y, h_L) comes back, to pass as ``h0`` with
        the next piece.
        """
        check_batched(x, self.d_inner, self.D, "SelectiveSSM", layout="(batch, L, E)")
        delta, B, C = self.selection(x)
        A = -torch.exp(self.A_log)  # (E, N), real and negative
        if self.A_imag is not None:
            A = A + 1j * self.A_imag
        return selective_scan(
            x,
            delta,
            A,
            B,
            C,
            self.D,
            impl=impl,
            h0=h0,
            output_final_state=output_final_state,
        )
