"""Initialisations of the recurrent matrix W_hh, and its spectral radius.

Gaussian: entries N(0, gain^2 / D_h), whose eigenvalues fill a disc of radius
about ``gain`` (the circular law). Orthogonal: all singular values exactly
``gain`` (Saxe, McClelland & Ganguli 2014). Identity: W_hh = gain * I, with
ReLU units and zero biases the IRNN of Le, Jaitly & Hinton (2015).
Each fills a square matrix in place and returns it, like ``torch.nn.init``.
``forget_bias_`` sets an LSTM's forget-gate bias (Gers, Schmidhuber & Cummins 2000;
Jozefowicz, Zaremba & Sutskever 2015); ``chrono_`` spreads it so that the units
remember over time scales up to a given one (Tallec & Ollivier 2018).
"""

from __future__ import annotations

import torch


def _square(W: torch.Tensor) -> int:
    if W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(
            f"W_hh must be a square matrix of shape (D_h, D_h), "
            f"got shape {tuple(W.shape)}"
        )
    return W.shape[0]


def gaussian_(
    W: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """W_ij ~ N(0, gain^2 / D_h): spectral radius close to ``gain`` for large D_h."""
    D_h = _square(W)
    with torch.no_grad():
        return W.copy_(
            torch.randn(W.shape, generator=generator, dtype=W.dtype) * gain / D_h**0.5
        )


def orthogonal_(
    W: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniformly random orthogonal matrix times ``gain``: every singular value equals
    ``gain``."""
    D_h = _square(W)
    Q, R = torch.linalg.qr(
        torch.randn(D_h, D_h, generator=generator, dtype=torch.float64)
    )
    # QR's Q is orthogonal; flipping column signs to make diag(R) positive makes it
    # uniformly random (Mezzadri 2007)
    Q = Q * torch.sign(torch.diagonal(R))
    with torch.no_grad():
        return W.copy_(gain * Q)


def identity_(W: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """W_hh = gain * I: each unit keeps its own value from step to step
    (IRNN with gain 1)."""
    D_h = _square(W)
    with torch.no_grad():
        return W.copy_(gain * torch.eye(D_h, dtype=W.dtype))


def spectral_radius(W: torch.Tensor) -> float:
    """``max |lambda_i(W)|``: how much W stretches vectors applied over and over."""
    _square(W)
    return torch.linalg.eigvals(W.detach().double()).abs().max().item()


def set_spectral_radius_(W: torch.Tensor, rho: float) -> torch.Tensor:
    """Rescale W so that its spectral radius is ``rho`` (W must not be nilpotent)."""
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W has spectral radius 0, so no rescaling can give it another")
    with torch.no_grad():
        return W.mul_(rho / current)


def _lstm_biases(lstm: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(bias_ih, bias_hh) of every layer and direction of an LSTM, checked to be
    (4 D_h,) each."""
    D_h = lstm.hidden_size
    pairs = [
        (getattr(lstm, name), getattr(lstm, name.replace("_ih", "_hh")))
        for name, _ in lstm.named_parameters()
        if name.startswith("bias_ih")
    ]
    if not pairs or any(b.shape != (4 * D_h,) for pair in pairs for b in pair):
        raise ValueError(
            f"expected an LSTM with biases of shape (4 D_h,) = ({4 * D_h},), "
            f"got {type(lstm).__name__} "
            f"with {[tuple(b.shape) for b, _ in pairs] or 'no biases'}"
        )
    return pairs


def forget_bias_(lstm: torch.nn.Module, value: float = 1.0) -> torch.nn.Module:
    """Make every forget gate start at sigma(value): b_if = value and b_hf = 0 in every
    layer and direction.

    ``lstm``: an :class:`rnncourse.nn.LSTM` or a ``torch.nn.LSTM`` with biases. The
    forget gate's rows are the second quarter of each (4 D_h,) bias, in torch's gate
    order i, f, g, o. Returns ``lstm``.
    """
    D_h = lstm.hidden_size
    with torch.no_grad():
        for b_ih, b_hh in _lstm_biases(lstm):
            b_ih[D_h : 2 * D_h] = value
            b_hh[D_h : 2 * D_h] = 0.0
    return lstm


def chrono_(
    lstm: torch.nn.Module, T_max: float, generator: torch.Generator | None = None
) -> torch.nn.Module:
    """Chrono initialisation (Tallec & Ollivier 2018): b_f ~ log(U[1, T_max - 1]),
    b_i = -b_f.

    A unit whose forget gate sits at sigma(b_f) forgets with a characteristic time of
    about 1 + e^{b_f} steps, so these biases spread the units' memories over 2..T_max
    steps, and the input gate closes as the forget gate opens. ``lstm`` as in
    :func:`forget_bias_`. Returns ``lstm``.
    """
    if T_max <= 2:
        raise ValueError(
            f"T_max must exceed 2 (the longest time scale, in steps), got {T_max}"
        )
    D_h = lstm.hidden_size
    with torch.no_grad():
        for b_ih, b_hh in _lstm_biases(lstm):
            b_f = torch.log(
                torch.empty(D_h, dtype=torch.float64).uniform_(
                    1, T_max - 1, generator=generator
                )
            )
            b_ih[D_h : 2 * D_h] = (
                b_f  # the forget gate's rows, torch's order i, f, g, o
            )
            b_ih[:D_h] = -b_f  # the input gate's rows
            b_hh[: 2 * D_h] = 0.0
    return lstm
