"""Initialisations of the recurrent matrix W_hh, and its spectral radius.

Gaussian: entries N(0, gain^2 / D_h), whose eigenvalues fill a disc of radius
about ``gain`` (the circular law). Orthogonal: all singular values exactly
``gain`` (Saxe, McClelland & Ganguli 2014). Identity: W_hh = gain * I, with
ReLU units and zero biases the IRNN of Le, Jaitly & Hinton (2015).
Each fills a square matrix in place and returns it, like ``torch.nn.init``.
"""
from __future__ import annotations

import torch


def _square(W: torch.Tensor) -> int:
    if W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W_hh must be a square matrix of shape (D_h, D_h), got shape {tuple(W.shape)}")
    return W.shape[0]


def gaussian_(W: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """W_ij ~ N(0, gain^2 / D_h): spectral radius close to ``gain`` for large D_h."""
    D_h = _square(W)
    with torch.no_grad():
        return W.copy_(torch.randn(W.shape, generator=generator, dtype=W.dtype) * gain / D_h ** 0.5)


def orthogonal_(W: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random orthogonal matrix times ``gain``: every singular value equals ``gain``."""
    D_h = _square(W)
    Q, R = torch.linalg.qr(torch.randn(D_h, D_h, generator=generator, dtype=torch.float64))
    # QR's Q is orthogonal; flipping column signs to make diag(R) positive makes it uniformly random (Mezzadri 2007)
    Q = Q * torch.sign(torch.diagonal(R))
    with torch.no_grad():
        return W.copy_(gain * Q)


def identity_(W: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """W_hh = gain * I: each unit keeps its own value from step to step (IRNN with gain 1)."""
    D_h = _square(W)
    with torch.no_grad():
        return W.copy_(gain * torch.eye(D_h, dtype=W.dtype))


def spectral_radius(W: torch.Tensor) -> float:
    """``max |lambda_i(W)|``: how much W stretches vectors when applied over and over."""
    _square(W)
    return torch.linalg.eigvals(W.detach().double()).abs().max().item()


def set_spectral_radius_(W: torch.Tensor, rho: float) -> torch.Tensor:
    """Rescale W so that its spectral radius is ``rho`` (W must not be nilpotent)."""
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W has spectral radius 0, so no rescaling can give it another")
    with torch.no_grad():
        return W.mul_(rho / current)
