"""Chapter 9's figures: drawn from a results dict shaped as rnncourse.arena.load
returns it."""

import matplotlib.pyplot as plt
import pytest

from rnncourse.figures import arena


@pytest.mark.parametrize(
    "draw", [arena.plot_recall, arena.plot_inference, arena.plot_triangle]
)
def test_figures_draw_with_a_legend_into_their_figure(draw, arena_results):
    fig = draw(arena_results)
    assert fig.axes[0].get_legend() is not None
    fig2, ax = plt.subplots()
    assert draw(arena_results, ax=ax) is fig2
