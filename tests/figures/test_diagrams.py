"""rnncourse.figures.diagrams: every diagram is drawn, labelled, legible, and drawn into
a given axes."""

import dataclasses

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from rnncourse.figures import diagrams

from ._legibility import (
    drawn_texts,
    overlapping_texts,
    plain,
    texts,
    texts_outside_figure,
)

FIGURES = {
    "elman": diagrams.draw_elman,
    "unrolled": diagrams.draw_unrolled,
    "jordan_vs_elman": diagrams.draw_jordan_vs_elman,
    "timeline": diagrams.history_timeline,
    "unrolled_loss": diagrams.draw_unrolled_loss,
    "parallel_scan": diagrams.draw_parallel_scan,
    "tiles": diagrams.draw_tiles,
}


@pytest.mark.parametrize("name", FIGURES)
def test_returns_a_figure(name):
    assert isinstance(FIGURES[name](), Figure)


@pytest.mark.parametrize(
    "name", ["elman", "unrolled", "jordan_vs_elman", "timeline", "unrolled_loss"]
)
def test_no_text_overlaps_or_is_cut_off(name):
    fig = FIGURES[name]()
    assert overlapping_texts(fig) == []
    assert texts_outside_figure(fig) == []


@pytest.mark.parametrize(
    "name", [name for name in FIGURES if name != "jordan_vs_elman"]
)  # two panels of its own
def test_draws_into_a_given_axes(name):
    fig, ax = plt.subplots()
    assert FIGURES[name](ax=ax) is fig
    assert len(fig.axes) == 1


def test_elman_cell_shows_the_three_weights_and_the_update():
    ax = diagrams.draw_elman().axes[0]
    labels = texts(ax)
    for expected in ("x_t", "h_t", "y_t", "W_xh", "W_hh", "W_hy"):
        assert expected in labels
    assert any("tanh" in label and "h_t-1" in label for label in labels)


@pytest.mark.parametrize("T", range(1, 7))
def test_unrolled_has_every_state_and_one_shared_weight_per_step(T):
    ax = diagrams.draw_unrolled(T).axes[0]
    labels = texts(ax)
    for t in range(T + 1):
        assert labels.count(f"h_{t}") == 1
    for t in range(1, T + 1):
        assert labels.count(f"x_{t}") == 1 and labels.count(f"y_{t}") == 1
    assert f"h_{T + 1}" not in labels and "x_0" not in labels

    # One W_hh label over each arrow h_{t-1} -> h_t, and no other.
    centre = {plain(t.get_text()): t.get_position()[0] for t in ax.texts}
    w_hh = sorted(
        t.get_position()[0] for t in ax.texts if plain(t.get_text()) == "W_hh"
    )
    assert len(w_hh) == T
    for t, x in zip(range(1, T + 1), w_hh):
        assert centre[f"h_{t - 1}"] < x < centre[f"h_{t}"]
    assert any("same weights at every step" in label for label in labels)


def test_unrolled_rejects_an_empty_sequence():
    with pytest.raises(ValueError):
        diagrams.draw_unrolled(0)


def test_jordan_vs_elman_panels():
    fig = diagrams.draw_jordan_vs_elman()
    elman, jordan = fig.axes
    assert elman.get_title() == "Elman (1990)"
    assert jordan.get_title() == "Jordan (1986)"
    for ax in (elman, jordan):
        for node in ("x_t", "h_t", "y_t"):
            assert node in texts(ax)
    assert "h_t-1" in texts(elman)  # Elman's context holds the previous hidden state


def test_history_is_the_expected_chronology():
    keys = [e.key for e in diagrams.HISTORY]
    assert keys == [
        "hopfield1982",
        "jordan1986",
        "rumelhart1986",
        "werbos1990",
        "elman1990",
        "hochreiter1997",
        "cho2014",
        "sutskever2014",
        "bahdanau2015",
        "vaswani2017",
        "katharopoulos2020",
        "sun2023retnet",
        "peng2023rwkv",
        "gu2023mamba",
        "qin2024hgrn2",
    ]
    years = [e.year for e in diagrams.HISTORY]
    assert years == sorted(years)
    with pytest.raises(dataclasses.FrozenInstanceError):
        diagrams.HISTORY[0].year = 1983


def test_timeline_shows_every_event_in_order():
    fig = diagrams.history_timeline()
    # Labels may be wrapped over several lines: compare them word by word. Where
    # each is drawn is read off the canvas, whatever the way it was placed.
    position = {
        " ".join(text.split()): box.x0 + box.width / 2 for text, box in drawn_texts(fig)
    }
    for event in diagrams.HISTORY:
        assert str(event.year) in position
        assert event.label in position
    label_x = [position[event.label] for event in diagrams.HISTORY]
    assert all(a < b for a, b in zip(label_x, label_x[1:]))  # left to right in time


@pytest.mark.parametrize("T", range(1, 6))
@pytest.mark.parametrize("backward", [True, False])
def test_unrolled_loss_has_every_node_and_the_total(T, backward):
    fig = diagrams.draw_unrolled_loss(T, backward=backward)
    labels = texts(fig.axes[0])
    for t in range(1, T + 1):
        for node in (f"x_{t}", f"h_{t}", f"y_{t}", f"L_{t}"):
            assert labels.count(node) == 1
    assert (
        labels.count("L") == 1
        and labels.count("h_0") == 1
        and labels.count("W_hh") == T
    )
    assert overlapping_texts(fig) == [] and texts_outside_figure(fig) == []
    with pytest.raises(ValueError):
        diagrams.draw_unrolled_loss(0)


def test_scan_diagram_finishes_every_prefix():
    labels = texts(diagrams.draw_parallel_scan(T=8).axes[0])
    assert (
        labels.count("round 3") == 1 and "round 4" not in labels
    )  # log2(8) = 3 rounds
    boxes = [label for label in labels if ":" in label]
    assert len(boxes) == 8 * 4
    assert boxes[-8:] == [
        f"1:{t}" for t in range(1, 9)
    ]  # after the last round, box t holds steps 1..t
    assert (
        "3:4" in boxes[8:16]
    )  # round 1: each box has combined with its left neighbour


def test_odd_length_needs_one_more_round():
    labels = texts(diagrams.draw_parallel_scan(T=5).axes[0])
    assert "round 3" in labels and [label for label in labels if ":" in label][-5:] == [
        f"1:{t}" for t in range(1, 6)
    ]


def _kinds(fig):
    return [p.get_label() for p in fig.axes[0].patches]


def test_causal_tiles():
    kinds = _kinds(diagrams.draw_tiles(T=8, block=2, causal=True))
    assert len(kinds) == 16
    assert (
        kinds.count("masked") == 4
        and kinds.count("skipped") == 6
        and kinds.count("full") == 6
    )


def test_full_tiles_and_a_partial_last_block():
    kinds = _kinds(diagrams.draw_tiles(T=7, block=2, causal=False))
    assert (
        kinds == ["full"] * 16
    )  # 7 steps in blocks of 2: 4 blocks a side, the last one half empty
