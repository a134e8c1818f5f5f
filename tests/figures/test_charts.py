"""rnncourse.figures.charts: every chart draws what it is given, labels it, returns its
Figure, draws into a given axes, and refuses mismatched input."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rnncourse.figures import charts

COST_ROWS = [
    dict(mixer=m, T=T, seconds=T * 1e-6, bytes=T * 100)
    for m in ("a", "b")
    for T in (128, 256, 512)
]
CHARTS = {
    "losses": lambda ax=None: charts.plot_losses(np.linspace(2, 0.1, 50), ax=ax),
    "gradient_norms": lambda ax=None: charts.plot_gradient_norms(
        {"a": 0.9 ** np.arange(50)}, guides={"a": 0.9}, ax=ax
    ),
    "kernel": lambda ax=None: charts.plot_kernel(torch.randn(4, 30), ax=ax),
    "heatmap": lambda ax=None: charts.attention_heatmap(
        torch.softmax(torch.randn(3, 4), -1), list("abcd"), list("xyz"), ax=ax
    ),
    "accuracy": lambda ax=None: charts.plot_accuracy_by_length(
        [0, 10, 20], {"a": torch.tensor([1.0, 0.5])}, ax=ax
    ),
}


@pytest.mark.parametrize("name", CHARTS)
def test_returns_its_figure_and_draws_into_a_given_axes(name):
    assert isinstance(CHARTS[name](), Figure)
    fig, ax = plt.subplots()
    assert CHARTS[name](ax) is fig and len(fig.axes) == 1


def test_plot_losses_overlays_curves_with_a_legend():
    fig = charts.plot_losses([3.0, 2.0, 1.5, 1.2], label="Elman")
    ax = fig.axes[0]
    assert charts.plot_losses([2.5, 1.8, 1.1, 0.9], ax=ax, label="LSTM") is fig
    assert len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Elman", "LSTM"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"


def test_plot_losses_smoothing_is_a_trailing_moving_average():
    ax = charts.plot_losses(
        [0.0, 1.0, 2.0, 3.0], smooth=2, label="run", ylabel="perplexity"
    ).axes[0]
    raw, average = ax.get_lines()
    np.testing.assert_allclose(raw.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(average.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(average.get_ydata(), [0.5, 1.5, 2.5])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "run"
    ]  # the raw curve is unlabelled
    assert ax.get_ylabel() == "perplexity"


def test_plot_losses_smoothing_window_longer_than_the_run():
    ax = charts.plot_losses([4.0, 2.0], smooth=10).axes[0]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [3.0])
    assert ax.get_legend() is None  # nothing labelled, nothing to list


def test_plot_losses_rejects_an_empty_window():
    with pytest.raises(ValueError):
        charts.plot_losses([1.0, 0.5], smooth=0)


def test_gradient_norms_draws_each_curve_and_its_guide():
    ax = charts.plot_gradient_norms(
        {"rho 0.9": 0.9 ** np.arange(30), "rho 1.1": 1.1 ** np.arange(30)},
        guides={"rho 0.9": 0.9, "formula": 1.0},
    ).axes[0]
    lines = ax.get_lines()
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "rho 0.9",
        "rho 1.1",
        "formula",
    ]
    assert (
        lines[0].get_color() == lines[2].get_color()
    )  # the guide in its curve's colour
    np.testing.assert_allclose(lines[2].get_ydata(), 0.9 ** np.arange(30))


def test_kernel_plot_draws_the_chosen_channels():
    ax = charts.plot_kernel(torch.randn(4, 30), channels=(0, 3)).axes[0]
    assert len(ax.lines) == 2 and len(ax.lines[0].get_xdata()) == 30


def test_heatmap_labels_its_axes_with_tokens():
    weights = torch.softmax(torch.randn(3, 4), -1)
    ax = charts.attention_heatmap(weights, list("ab c"), list("xyz"), title="t").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "\u2423", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match=r"shape \(T, S\) = \(2, 4\)"):
        charts.attention_heatmap(weights, list("abcd"), list("xy"))


def test_accuracy_plot_has_one_line_per_model():
    fig = charts.plot_accuracy_by_length(
        [0, 10, 20],
        {"a": torch.tensor([1.0, 0.5]), "b": torch.tensor([0.9, 0.9])},
        counts=torch.tensor([5, 7]),
    )
    assert len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="one per bin"):
        charts.plot_accuracy_by_length([0, 10, 20], {"a": torch.tensor([1.0])})


def test_cost_plot_draws_one_line_per_mixer_and_the_formula():
    fig = charts.plot_cost(COST_ROWS, formula=lambda T: 8 * T * T)
    memory, time = fig.axes
    assert len(memory.lines) == 3 and len(time.lines) == 2
    assert list(memory.lines[0].get_xdata()) == [128, 256, 512]
    assert memory.lines[2].get_ydata()[-1] == 8 * 512 * 512 / 2**20
    fig2, axes = plt.subplots(1, 2)
    assert charts.plot_cost(COST_ROWS, axes=axes) is fig2
