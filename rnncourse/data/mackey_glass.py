"""The Mackey-Glass series: a chaotic, less regular companion to the sine waves.

Mackey & Glass (1977) modelled the production of blood cells with a delay
differential equation,

    dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t),

which for tau = 17 (with beta = 0.2, gamma = 0.1, n = 10) is chaotic: it looks
almost periodic but never repeats, so a forecaster cannot just learn one
frequency. It has been a benchmark for time-series predictors since Lapedes &
Farber (1987). Here it is integrated with Euler steps of ``dt`` and read every
``every`` time units, each series from its own random constant history.
"""

from __future__ import annotations

import math

import torch

from rnncourse.data.sine import SineWaves


def mackey_glass(
    n: int,
    length: int,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: float = 10.0,
    dt: float = 0.1,
    every: float = 1.0,
    warmup: float = 300.0,
    seed: int = 0,
) -> SineWaves:
    """``n`` series of ``length`` readings, centred and scaled to about [-1, 1].

    Returns a :class:`rnncourse.data.SineWaves` record (so the forecasting code reads
    both alike): ``noisy`` and ``clean`` are the same (N, T, 1) series (it has no noise;
    its irregularity is its own), ``freq``, ``phase`` and ``amplitude`` hold NaN. The
    first ``warmup`` time units are integrated and dropped so each series is on
    its attractor.
    """
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be positive, got n={n}, length={length}")
    if not 0 < dt <= every or not all(
        math.isclose(round(v / dt) * dt, v) for v in (every, tau)
    ):
        raise ValueError(
            f"dt must divide both every={every} and tau={tau}, got dt={dt}"
        )
    g = torch.Generator().manual_seed(seed)
    lag, stride = round(tau / dt), round(every / dt)
    # (n,): x on [-tau, 0], a constant per series
    x = 0.5 + torch.rand(n, generator=g, dtype=torch.float64)
    past = [x] * lag  # x(t - tau), ..., x(t - dt): a ring of the last tau / dt values
    readings, steps = [], round(warmup / dt) + length * stride
    for k in range(steps):
        x_tau = past[k % lag]
        # dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t), one Euler step
        x = x + dt * (beta * x_tau / (1 + x_tau**power) - gamma * x)
        past[k % lag] = x
        if (
            k >= steps - length * stride
            and (k - (steps - length * stride)) % stride == stride - 1
        ):
            readings.append(x)
    series = torch.stack(readings, dim=1)  # (n, length)
    # the attractor lies in about [0.45, 1.35]
    series = ((series - 0.9) / 0.45).float()[..., None]
    nan = torch.full((n,), float("nan"))
    return SineWaves(series, series.clone(), nan, nan.clone(), nan.clone())
