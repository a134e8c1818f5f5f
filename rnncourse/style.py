"""The course's colours: Okabe and Ito's palette, which readers with the common
forms of colour blindness can still tell apart.

Importing :mod:`rnncourse` makes it matplotlib's colour cycle, so every line and
bar of every chapter uses it, whether the package or a notebook cell draws it.
"""
import matplotlib
from cycler import cycler

# M. Okabe and K. Ito (2008), "Color Universal Design". Its yellow is left out: too pale on white.
OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "bluish green": "#009E73", "reddish purple": "#CC79A7",
             "orange": "#E69F00", "sky blue": "#56B4E9", "black": "#000000"}
CYCLE = list(OKABE_ITO.values())


def use_course_colors() -> None:
    """Make the palette matplotlib's colour cycle (``C0`` is blue, ``C1`` vermillion, ...)."""
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=CYCLE)
