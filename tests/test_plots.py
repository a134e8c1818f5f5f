"""Tests for rnncourse.plots: every figure is drawn, labelled, and legible."""
import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

try:
    from rnncourse import plots
except ImportError:
    # The rest of the package may not import here; plots.py needs only
    # matplotlib and numpy, so load it from its file. It goes into sys.modules
    # first because dataclasses look their module up there.
    _path = Path(__file__).resolve().parents[1] / "rnncourse" / "plots.py"
    _spec = importlib.util.spec_from_file_location("rnncourse_plots", _path)
    plots = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = plots
    _spec.loader.exec_module(plots)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def plain(text: str) -> str:
    """Mathtext without its markup, e.g. r"$W_{hh}$" -> "W_hh"."""
    return re.sub(r"[${}\\]", "", text)


def texts(ax) -> list[str]:
    return [plain(t.get_text()) for t in ax.texts]


def drawn_texts(fig: Figure) -> list:
    """(text, box on the canvas) for every non-empty text, axes titles included."""
    renderer = FigureCanvasAgg(fig).get_renderer()  # figures are made without pyplot
    fig.draw(renderer)
    return [(t.get_text(), t.get_window_extent(renderer))
            for ax in fig.axes for t in (*ax.texts, ax.title) if t.get_text()]


def overlapping_texts(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap."""
    drawn = drawn_texts(fig)
    return [(a, b) for i, (a, box_a) in enumerate(drawn) for b, box_b in drawn[i + 1:]
            if box_a.x0 < box_b.x1 and box_b.x0 < box_a.x1
            and box_a.y0 < box_b.y1 and box_b.y0 < box_a.y1]


def texts_outside_figure(fig: Figure) -> list[str]:
    """Texts cut off by the edge of the figure."""
    frame = fig.bbox
    return [text for text, box in drawn_texts(fig)
            if not (frame.x0 <= box.x0 and box.x1 <= frame.x1
                    and frame.y0 <= box.y0 and box.y1 <= frame.y1)]


FIGURES = {
    "elman": plots.draw_elman,
    "unrolled": plots.draw_unrolled,
    "jordan_vs_elman": plots.draw_jordan_vs_elman,
    "timeline": plots.history_timeline,
    "losses": lambda: plots.plot_losses(np.linspace(2, 0.1, 50)),
    "unrolled_loss": plots.draw_unrolled_loss,
    "gradient_norms": lambda: plots.plot_gradient_norms({"a": 0.9 ** np.arange(50)}, guides={"a": 0.9}),
}


@pytest.mark.parametrize("name", FIGURES)
def test_returns_a_figure(name):
    assert isinstance(FIGURES[name](), Figure)


@pytest.mark.parametrize("name", ["elman", "unrolled", "jordan_vs_elman", "timeline", "unrolled_loss"])
def test_no_text_overlaps_or_is_cut_off(name):
    fig = FIGURES[name]()
    assert overlapping_texts(fig) == []
    assert texts_outside_figure(fig) == []


@pytest.mark.parametrize("draw", [plots.draw_elman, plots.draw_unrolled,
                                  plots.history_timeline, plots.plot_losses])
def test_draws_into_a_given_axes(draw):
    fig, ax = plt.subplots()
    result = draw([1.0, 0.5], ax=ax) if draw is plots.plot_losses else draw(ax=ax)
    assert result is fig
    assert len(fig.axes) == 1


def test_elman_cell_shows_the_three_weights_and_the_update():
    ax = plots.draw_elman().axes[0]
    labels = texts(ax)
    for expected in ("x_t", "h_t", "y_t", "W_xh", "W_hh", "W_hy"):
        assert expected in labels
    assert any("tanh" in label and "h_t-1" in label for label in labels)


@pytest.mark.parametrize("T", range(1, 7))
def test_unrolled_has_every_state_and_one_shared_weight_per_step(T):
    ax = plots.draw_unrolled(T).axes[0]
    labels = texts(ax)
    for t in range(T + 1):
        assert labels.count(f"h_{t}") == 1
    for t in range(1, T + 1):
        assert labels.count(f"x_{t}") == 1 and labels.count(f"y_{t}") == 1
    assert f"h_{T + 1}" not in labels and "x_0" not in labels

    # One W_hh label over each arrow h_{t-1} -> h_t, and no other.
    centre = {plain(t.get_text()): t.get_position()[0] for t in ax.texts}
    w_hh = sorted(t.get_position()[0] for t in ax.texts if plain(t.get_text()) == "W_hh")
    assert len(w_hh) == T
    for t, x in zip(range(1, T + 1), w_hh):
        assert centre[f"h_{t - 1}"] < x < centre[f"h_{t}"]
    assert any("same weights at every step" in label for label in labels)


def test_unrolled_rejects_an_empty_sequence():
    with pytest.raises(ValueError):
        plots.draw_unrolled(0)


def test_jordan_vs_elman_panels():
    fig = plots.draw_jordan_vs_elman()
    elman, jordan = fig.axes
    assert elman.get_title() == "Elman (1990)"
    assert jordan.get_title() == "Jordan (1986)"
    for ax in (elman, jordan):
        for node in ("x_t", "h_t", "y_t"):
            assert node in texts(ax)
    assert "h_t-1" in texts(elman)  # Elman's context holds the previous hidden state


def test_history_is_the_expected_chronology():
    keys = [e.key for e in plots.HISTORY]
    assert keys == ["hopfield1982", "jordan1986", "rumelhart1986", "werbos1990", "elman1990",
                    "hochreiter1997", "cho2014", "sutskever2014", "bahdanau2015", "vaswani2017",
                    "katharopoulos2020", "sun2023retnet", "peng2023rwkv", "gu2023mamba",
                    "qin2024hgrn2"]
    years = [e.year for e in plots.HISTORY]
    assert years == sorted(years)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plots.HISTORY[0].year = 1983


def test_timeline_shows_every_event_in_order():
    fig = plots.history_timeline()
    # Labels may be wrapped over several lines: compare them word by word. Where
    # each is drawn is read off the canvas, whatever the way it was placed.
    position = {" ".join(text.split()): box.x0 + box.width / 2 for text, box in drawn_texts(fig)}
    for event in plots.HISTORY:
        assert str(event.year) in position
        assert event.label in position
    label_x = [position[event.label] for event in plots.HISTORY]
    assert all(a < b for a, b in zip(label_x, label_x[1:]))  # left to right in time


def test_plot_losses_overlays_curves_with_a_legend():
    fig = plots.plot_losses([3.0, 2.0, 1.5, 1.2], label="Elman")
    ax = fig.axes[0]
    assert plots.plot_losses([2.5, 1.8, 1.1, 0.9], ax=ax, label="LSTM") is fig
    assert len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Elman", "LSTM"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"


def test_plot_losses_smoothing_is_a_trailing_moving_average():
    ax = plots.plot_losses([0.0, 1.0, 2.0, 3.0], smooth=2, label="run", ylabel="perplexity").axes[0]
    raw, average = ax.get_lines()
    np.testing.assert_allclose(raw.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(average.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(average.get_ydata(), [0.5, 1.5, 2.5])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["run"]  # the raw curve is unlabelled
    assert ax.get_ylabel() == "perplexity"


def test_plot_losses_smoothing_window_longer_than_the_run():
    ax = plots.plot_losses([4.0, 2.0], smooth=10).axes[0]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [3.0])
    assert ax.get_legend() is None  # nothing labelled, nothing to list


def test_plot_losses_rejects_an_empty_window():
    with pytest.raises(ValueError):
        plots.plot_losses([1.0, 0.5], smooth=0)


@pytest.mark.parametrize("T", range(1, 6))
@pytest.mark.parametrize("backward", [True, False])
def test_unrolled_loss_has_every_node_and_the_total(T, backward):
    fig = plots.draw_unrolled_loss(T, backward=backward)
    labels = texts(fig.axes[0])
    for t in range(1, T + 1):
        for node in (f"x_{t}", f"h_{t}", f"y_{t}", f"L_{t}"):
            assert labels.count(node) == 1
    assert labels.count("L") == 1 and labels.count("h_0") == 1 and labels.count("W_hh") == T
    assert overlapping_texts(fig) == [] and texts_outside_figure(fig) == []
    with pytest.raises(ValueError):
        plots.draw_unrolled_loss(0)


def test_gradient_norms_draws_each_curve_and_its_guide():
    ax = plots.plot_gradient_norms({"rho 0.9": 0.9 ** np.arange(30), "rho 1.1": 1.1 ** np.arange(30)},
                                   guides={"rho 0.9": 0.9, "formula": 1.0}).axes[0]
    lines = ax.get_lines()
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rho 0.9", "rho 1.1", "formula"]
    assert lines[0].get_color() == lines[2].get_color()  # the guide in its curve's colour
    np.testing.assert_allclose(lines[2].get_ydata(), 0.9 ** np.arange(30))
