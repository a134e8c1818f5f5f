"""The colour cycle is set on import and stays distinguishable under colour blindness.

The simulation uses the matrices of Machado, Oliveira and Fernandes (2009), "A
physiologically-based model for simulation of color vision deficiency" (severity 1),
applied to linear RGB; colours are compared by their CIE76 distance in CIELAB.
"""

import itertools

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgb

import rnncourse  # noqa: F401  (sets the cycle)
from rnncourse.figures.style import CYCLE

SIMULATIONS = {
    "normal vision": np.eye(3),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}
SRGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)
WHITE = np.array([0.95047, 1.0, 1.08883])
# About five times the smallest difference people notice side by side
# (CIE76 distance 2.3).
MIN_DISTANCE = 12


def _linear(color: str) -> np.ndarray:
    c = np.array(to_rgb(color))
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    xyz = SRGB_TO_XYZ @ np.clip(linear_rgb, 0, 1) / WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest_pair(colors, simulation: np.ndarray) -> tuple[float, str, str]:
    seen = [(_lab(simulation @ _linear(c)), c) for c in colors]
    return min(
        (float(np.linalg.norm(a - b)), ca, cb)
        for (a, ca), (b, cb) in itertools.combinations(seen, 2)
    )


def test_importing_the_package_sets_the_cycle():
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] == CYCLE


@pytest.mark.parametrize("vision", SIMULATIONS)
def test_cycle_colours_stay_apart(vision):
    distance, a, b = closest_pair(CYCLE, SIMULATIONS[vision])
    assert distance > MIN_DISTANCE, (
        f"with {vision}, {a} and {b} look alike (distance {distance:.1f})"
    )


def test_the_check_rejects_matplotlibs_default_cycle():
    """tab10's orange and green merge for protanopes: the test above would catch a cycle
    like it."""
    tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    assert closest_pair(tab10, SIMULATIONS["protanopia"])[0] < MIN_DISTANCE
