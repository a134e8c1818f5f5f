"""The Mackey-Glass series: seeded, on its attractor, and the delay equation's fixed
point where it is stable."""

import pytest
import torch

from rnncourse.data.mackey_glass import mackey_glass


def test_shape_seed_and_range():
    a, b = mackey_glass(3, 40, seed=1), mackey_glass(3, 40, seed=1)
    assert (
        a.noisy.shape == a.clean.shape == (3, 40, 1) and a.noisy.dtype == torch.float32
    )
    assert torch.equal(a.clean, b.clean) and not torch.equal(
        a.clean, mackey_glass(3, 40, seed=2).clean
    )
    assert a.clean.abs().max() < 1.3  # the attractor, scaled to about [-1, 1]
    assert torch.isnan(a.freq).all()


def test_short_delay_settles_on_the_fixed_point():
    # With a short delay the equilibrium beta / (1 + x^10) = gamma, i.e. x = 1, is
    # stable: (1 - 0.9) / 0.45 scaled.
    series = mackey_glass(2, 30, tau=2.0).clean
    torch.testing.assert_close(
        series[:, -5:], torch.full((2, 5, 1), 0.1 / 0.45), rtol=0, atol=1e-4
    )


def test_tau_17_is_irregular():
    # Chaotic: no two series agree, and one series does not repeat itself at any lag up
    # to 100 readings.
    x = mackey_glass(1, 400).clean[0, :, 0]
    gaps = torch.stack([(x[lag:] - x[:-lag]).abs().max() for lag in range(1, 101)])
    assert gaps.min() > 0.05


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0, "length": 5}, {"n": 2, "length": 0}, {"n": 2, "length": 5, "dt": 0.3}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        mackey_glass(**kwargs)
