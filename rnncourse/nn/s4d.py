"""A diagonal state-space model (S4D: Gu, Goel, Gupta & Ré 2022), in three equivalent
views.

A state-space model maps an input signal u(t) to an output y(t) through a state x(t)
of size N, one independent copy per channel (H channels):

    x'(t) = A x(t) + B u(t),    y(t) = C x(t) + D u(t)                    (S4, eq. 1)

S4D takes A diagonal with complex eigenvalues, A_n = -exp(log_A_real_n) + i A_imag_n,
so that every mode decays (real part < 0) and may oscillate (imaginary part). The
modes come in conjugate pairs, of which only one is stored; their sum is twice the
real part, hence the factor 2 in the output. The LRU (Orvieto et al. 2023) reaches
the same diagonal complex recurrence from the RNN side, parameterising Ā directly.

Sampled with a step Δ under a zero-order hold (u constant between samples) the
system becomes the linear recurrence

    x_k = Ā x_{k-1} + B̄ u_k,    y_k = 2 Re(C x_k) + D u_k,
    Ā = exp(ΔA),    B̄ = (ΔA)^{-1} (exp(ΔA) - I) ΔB                         (S4D, eq. 4)

which can be computed three ways, all giving the same y:

- **recurrence**: one step after another (``S4D.step``), as when generating;
- **scan**: the same recurrence by ``rnncourse.ops.linear_scan`` (parallel over time);
- **convolution**: unrolled, y = K * u + D u with the kernel K_k = 2 Re(C Ā^k B̄),
  k = 0..L-1, applied with an FFT in O(L log L).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from rnncourse.nn._checks import check_batched, check_state
from rnncourse.ops.linear_scan import linear_scan


def zoh(
    A: torch.Tensor, B: torch.Tensor, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation of a diagonal state-space model.

    A: (H, N) complex, the diagonal of the state matrix (one row per channel);
    B: (H, N) complex; delta: (H,) positive real step sizes ->
    (A_bar, B_bar), both (H, N) complex.
    """
    dtA = delta[:, None] * A  # ΔA
    A_bar = torch.exp(dtA)  # Ā = exp(ΔA)
    B_bar = (A_bar - 1) / dtA * (delta[:, None] * B)  # B̄ = (ΔA)^{-1} (exp(ΔA) - I) ΔB
    return A_bar, B_bar


def ssm_kernel(
    A_bar: torch.Tensor, B_bar: torch.Tensor, C: torch.Tensor, L: int
) -> torch.Tensor:
    """The convolution kernel of a discrete diagonal SSM whose modes come in conjugate
    pairs.

    A_bar, B_bar, C: (H, N) complex; L: the kernel's length ->
    K: (H, L) real, K[h, k] = 2 Re(sum_n C[h, n] A_bar[h, n]^k B_bar[h, n]).
    """
    k = torch.arange(L, device=A_bar.device)
    powers = A_bar[..., None] ** k  # Ā^k, a Vandermonde matrix per channel: (H, N, L)
    return 2 * torch.einsum("hn,hnl->hl", C * B_bar, powers).real  # K_k = 2 Re(C Ā^k B̄)


def causal_convolution(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """y_t = sum_{k=0}^{t} K_k u_{t-k} per channel, with an FFT.

    u: (B, L, H) real, K: (H, L) real -> y: (B, L, H). The signals are zero-padded
    to length 2L, so the FFT's circular convolution does not wrap around.
    """
    L = u.shape[1]
    U = torch.fft.rfft(u, n=2 * L, dim=1)  # (B, L + 1, H)
    K_f = torch.fft.rfft(K.T, n=2 * L, dim=0)  # (L + 1, H)
    return torch.fft.irfft(U * K_f, n=2 * L, dim=1)[:, :L]  # y = K * u


class S4D(nn.Module):
    """A layer of H independent diagonal SSMs with N complex modes each
    (S4D-Lin initialisation).

    ``forward(u, view)``: u (B, L, H) -> y (B, L, H), ``view`` one of
    ``"scan"``, ``"convolution"``, ``"recurrence"``. ``step(u_t, x)``: one time step,
    u_t (B, H), x (B, H, N) complex -> (y_t (B, H), x (B, H, N)).
    """

    views = ("scan", "convolution", "recurrence")

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        H, N = d_model, d_state
        self.d_model, self.d_state = H, N
        # S4D-Lin: A_n = -1/2 + i pi n, the same for every channel
        # (S4D, section 4)
        self.log_A_real = nn.Parameter(torch.full((H, N), math.log(0.5), dtype=dtype))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N, dtype=dtype).repeat(H, 1))
        # B = 1
        self.B = nn.Parameter(
            torch.ones(H, N, 2, dtype=dtype) * torch.tensor([1.0, 0.0], dtype=dtype)
        )
        # C ~ complex N(0, 1)
        self.C = nn.Parameter(torch.randn(H, N, 2, dtype=dtype) * 0.5**0.5)
        # the step Δ, log-uniform in [dt_min, dt_max]: one time scale per channel
        log_dt = torch.rand(H, dtype=dtype) * (
            math.log(dt_max) - math.log(dt_min)
        ) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.D = nn.Parameter(torch.randn(H, dtype=dtype))

    def continuous(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(A, B, C), each (H, N) complex: the continuous-time parameters."""
        # Re(A) < 0: every mode decays
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        return A, torch.view_as_complex(self.B), torch.view_as_complex(self.C)

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(A_bar, B_bar, C), each (H, N) complex: the parameters of the recurrence."""
        A, B, C = self.continuous()
        A_bar, B_bar = zoh(A, B, torch.exp(self.log_dt))
        return A_bar, B_bar, C

    def kernel(self, L: int) -> torch.Tensor:
        """K: (H, L), the response of each channel to a unit impulse."""
        return ssm_kernel(*self.discrete(), L)

    def forward(
        self, u: torch.Tensor, view: str = "scan", impl: str = "auto"
    ) -> torch.Tensor:
        """u: (B, L, H) -> y: (B, L, H), computed in the given ``view``; ``impl`` picks
        the implementation of ``linear_scan`` in the scan view."""
        if view not in self.views:
            raise ValueError(f"S4D: view must be one of {self.views}, got {view!r}")
        check_batched(u, self.d_model, self.D, "S4D", layout="(B, L, H)")
        if view == "convolution":
            # y = K * u + D u
            return causal_convolution(u, self.kernel(u.shape[1])) + self.D * u
        if view == "recurrence":
            x = torch.zeros(
                u.shape[0],
                self.d_model,
                self.d_state,
                dtype=self.C.dtype.to_complex(),
                device=u.device,
            )
            ys = []
            for t in range(u.shape[1]):
                y_t, x = self.step(u[:, t], x)
                ys.append(y_t)
            return torch.stack(ys, dim=1)
        A_bar, B_bar, C = self.discrete()
        Bsz, L, H = u.shape
        # the same Ā at every step: time-invariant
        a = A_bar.expand(Bsz, L, H, self.d_state)
        b = B_bar * u[..., None]  # B̄ u_k: (B, L, H, N)
        x = linear_scan(a.reshape(Bsz, L, -1), b.reshape(Bsz, L, -1), impl=impl).view(
            Bsz, L, H, -1
        )
        return 2 * (x * C).sum(-1).real + self.D * u  # y_k = 2 Re(C x_k) + D u_k

    def step(
        self, u_t: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the recurrence: u_t (B, H) real, x (B, H, N) complex ->
        (y_t (B, H), x (B, H, N))."""
        if (
            not isinstance(u_t, torch.Tensor)
            or u_t.dim() != 2
            or u_t.shape[1] != self.d_model
        ):
            got = (
                tuple(u_t.shape)
                if isinstance(u_t, torch.Tensor)
                else type(u_t).__name__
            )
            raise ValueError(
                f"S4D.step: u_t must have shape (B, H) with H={self.d_model}, got {got}"
            )
        A_bar, B_bar, C = self.discrete()
        check_state(x, (u_t.shape[0], self.d_model, self.d_state), A_bar, "S4D.step: x")
        x = A_bar * x + B_bar * u_t[..., None]  # x_k = Ā x_{k-1} + B̄ u_k
        return 2 * (x * C).sum(-1).real + self.D * u_t, x  # y_k = 2 Re(C x_k) + D u_k
