"""Noisy sine waves of several frequencies, generated on the spot.

Each series is A sin(2 pi f t + phi) sampled at t = 0, 1, ..., with its own
frequency f (cycles per step), phase phi and amplitude A, plus Gaussian noise.
A model that predicts the next value must work out f and phi from what it has
seen so far, which is what its hidden state is for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SineWaves:
    """A batch of series: ``noisy`` is what a model sees, ``clean`` the sine
    beneath it."""

    noisy: torch.Tensor  # (N, T, 1)
    clean: torch.Tensor  # (N, T, 1)
    freq: torch.Tensor  # (N,) cycles per step
    phase: torch.Tensor  # (N,) radians
    amplitude: torch.Tensor  # (N,)


def sine_waves(
    n: int,
    length: int,
    freq_range: tuple[float, float] = (0.02, 0.08),
    amplitude_range: tuple[float, float] = (0.5, 1.0),
    noise: float = 0.05,
    seed: int = 0,
) -> SineWaves:
    """Generate ``n`` series of ``length`` steps, deterministically from ``seed``."""
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be positive, got n={n}, length={length}")
    if not 0 < freq_range[0] <= freq_range[1] <= 0.5:
        raise ValueError(
            "freq_range must lie in (0, 0.5] cycles per step (the Nyquist limit), got "
            f"{freq_range}"
        )
    g = torch.Generator().manual_seed(seed)
    freq = torch.empty(n).uniform_(*freq_range, generator=g)
    phase = torch.empty(n).uniform_(0, 2 * torch.pi, generator=g)
    amplitude = torch.empty(n).uniform_(*amplitude_range, generator=g)
    t = torch.arange(length, dtype=torch.float32)
    # (N, T)
    clean = amplitude[:, None] * torch.sin(
        2 * torch.pi * freq[:, None] * t + phase[:, None]
    )
    noisy = clean + noise * torch.randn(n, length, generator=g)
    return SineWaves(noisy[..., None], clean[..., None], freq, phase, amplitude)
