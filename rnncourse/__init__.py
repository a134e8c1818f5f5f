"""rnncourse: readable recurrent networks and GPU kernels for the RNN course.

The chapters of the course import their code from here and display it with
:func:`rnncourse.show`, so that the book and the package never drift apart.
"""
from rnncourse.show import show
from rnncourse.style import use_course_colors
from rnncourse.train import seed_everything, train

use_course_colors()  # every figure in colours that colour-blind readers can tell apart

__version__ = "0.1.0"
__all__ = ["show", "seed_everything", "train"]
