"""rnncourse: readable recurrent networks and GPU kernels for the RNN course.

The chapters of the course import their code from here and display it with
:func:`rnncourse.show`, so that the book and the package never drift apart.
"""
from rnncourse.show import show
from rnncourse.train import seed_everything, train

__version__ = "0.1.0"
__all__ = ["show", "seed_everything", "train"]
