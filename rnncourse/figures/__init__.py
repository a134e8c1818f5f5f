"""Figures: every plotting function of the course, its colours and its widgets.

- ``diagrams``: networks and algorithms drawn (the Elman cell, BPTT's graph, the
  parallel scan, tiles);
- ``charts``: measured data (losses, gradient norms, kernels, attention weights, costs);
- ``arena``: chapter 9's results; ``widgets``: the interactive explorers;
- ``style``: the colour-blind-safe palette and the convention every figure follows
  (accept ``ax=``, return the Figure).

Importing this package makes the palette matplotlib's colour cycle.
"""

from rnncourse.figures.style import use_course_colors

use_course_colors()  # every figure in colours that colour-blind readers can tell apart
