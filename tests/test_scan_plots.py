"""Chapter 6's figures: the scan diagram names the right spans, the kernel plot one line per channel."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from rnncourse.scan_plots import draw_parallel_scan, plot_kernel  # noqa: E402


def test_scan_diagram_finishes_every_prefix():
    ax = draw_parallel_scan(T=8)
    labels = [t.get_text() for t in ax.texts]
    assert labels.count("round 3") == 1 and "round 4" not in labels  # log2(8) = 3 rounds
    boxes = [l for l in labels if ":" in l]
    assert len(boxes) == 8 * 4
    assert boxes[-8:] == [f"1:{t}" for t in range(1, 9)]  # after the last round, box t holds steps 1..t
    assert "3:4" in boxes[8:16]  # round 1: each box has combined with its left neighbour
    plt.close("all")


def test_odd_length_needs_one_more_round():
    labels = [t.get_text() for t in draw_parallel_scan(T=5).texts]
    assert "round 3" in labels and [l for l in labels if ":" in l][-5:] == [f"1:{t}" for t in range(1, 6)]
    plt.close("all")


def test_kernel_plot_draws_the_chosen_channels():
    ax = plot_kernel(torch.randn(4, 30), channels=(0, 3))
    assert len(ax.lines) == 2 and len(ax.lines[0].get_xdata()) == 30
    plt.close("all")
