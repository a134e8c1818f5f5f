"""rnncourse: readable recurrent networks and GPU kernels for the RNN course.

The chapters of the course import their code from here and display it with
:func:`rnncourse.show`, so that the book and the package never drift apart.
The layout (README's table says more):

- ``nn``: layers and models; ``ops``: functional ops, each reference beside its kernel;
- ``data``: offline data sets; ``exercises``: the checkers, one module per chapter;
- ``figures``: every figure, the course's colours and the widgets;
- ``arena``: chapter 9's experiment, its runner and its results;
- ``training``, ``bptt``, ``probes``, ``measure``, ``metrics``, ``show``: training
  loops, backpropagation by hand, probes of gradients and gates, measurements of
  time and memory, translation metrics, and ``show()``.
"""

from rnncourse.show import show
from rnncourse.training import seed_everything, train

__version__ = "0.1.0"
__all__ = ["show", "seed_everything", "train"]
