"""Sine waves: deterministic under a seed, noisy, with several frequencies."""

import pytest
import torch

from rnncourse.data import sine_waves


def test_deterministic_under_seed(no_network):
    a, b, c = (
        sine_waves(8, 50, seed=3),
        sine_waves(8, 50, seed=3),
        sine_waves(8, 50, seed=4),
    )
    assert torch.equal(a.noisy, b.noisy) and not torch.equal(a.noisy, c.noisy)


def test_shapes_noise_and_frequencies():
    data = sine_waves(64, 200, freq_range=(0.02, 0.08), noise=0.05, seed=0)
    assert data.noisy.shape == data.clean.shape == (64, 200, 1)
    assert 0.04 < (data.noisy - data.clean).std() < 0.06
    assert (
        data.freq.min() >= 0.02 and data.freq.max() <= 0.08 and data.freq.std() > 0.01
    )
    # the clean series is the sine it claims to be
    t = torch.arange(200.0)
    expected = data.amplitude[:, None] * torch.sin(
        2 * torch.pi * data.freq[:, None] * t + data.phase[:, None]
    )
    torch.testing.assert_close(data.clean[..., 0], expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Nyquist"):
        sine_waves(2, 10, freq_range=(0.1, 0.7))
    with pytest.raises(ValueError, match="positive"):
        sine_waves(0, 10)
