"""Chapter 8's figures: the tile diagram skips exactly the blocks above the diagonal; the cost plot draws one line
per mixer and the formula."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnncourse.flash_plots import draw_tiles, plot_cost  # noqa: E402


def _kinds(ax):
    return [p.get_label() for p in ax.patches]


def test_causal_tiles():
    kinds = _kinds(draw_tiles(T=8, block=2, causal=True))
    assert len(kinds) == 16
    assert kinds.count("masked") == 4 and kinds.count("skipped") == 6 and kinds.count("full") == 6
    plt.close("all")


def test_full_tiles_and_a_partial_last_block():
    kinds = _kinds(draw_tiles(T=7, block=2, causal=False))
    assert kinds == ["full"] * 16  # 7 steps in blocks of 2: 4 blocks a side, the last one half empty
    plt.close("all")


def test_cost_plot():
    rows = [dict(mixer=m, T=T, seconds=T * 1e-6, bytes=T * 100) for m in ("a", "b") for T in (128, 256, 512)]
    memory, time = plot_cost(rows, formula=lambda T: 8 * T * T)
    assert len(memory.lines) == 3 and len(time.lines) == 2
    assert list(memory.lines[0].get_xdata()) == [128, 256, 512]
    assert memory.lines[2].get_ydata()[-1] == 8 * 512 * 512 / 2 ** 20
    plt.close("all")
