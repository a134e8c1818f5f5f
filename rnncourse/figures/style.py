"""The course's colours, and the one convention every figure follows.

Okabe and Ito's palette, which readers with the common forms of colour
blindness can still tell apart. Importing :mod:`rnncourse.figures` makes it
matplotlib's colour cycle, so every line and bar of every chapter uses it,
whether the package or a notebook cell draws it.

Every figure function accepts an ``ax`` to draw into (so a notebook can place
several side by side) and returns the ``matplotlib.figure.Figure`` it drew on:
``figure_and_axes`` is that convention in one place.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# M. Okabe and K. Ito (2008), "Color Universal Design". Its yellow is left out: too pale
# on white.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish green": "#009E73",
    "reddish purple": "#CC79A7",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "black": "#000000",
}
CYCLE = list(OKABE_ITO.values())


def use_course_colors() -> None:
    """Make the palette matplotlib's colour cycle (``C0`` is blue, ``C1``
    vermillion, ...)."""
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=CYCLE)


def figure_and_axes(
    ax: Axes | None, figsize: tuple[float, float]
) -> tuple[Figure, Axes]:
    """Use the caller's axes, or make a new figure of the given size."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax
