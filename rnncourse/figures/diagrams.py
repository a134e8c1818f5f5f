"""Diagrams: the networks and algorithms of the chapters drawn with matplotlib only.

The Elman cell and its unrolled graph, Jordan against Elman and a timeline of
recurrent networks (chapter 1), the unrolled loss that BPTT differentiates
(chapter 2), the parallel scan (chapter 6) and FlashAttention's tiles (chapter 8).

The colours are the same in every diagram: inputs are blue, hidden states
orange, outputs green and losses purple (``COLORS``); gradients flowing
backwards are red (``GRADIENT``). Like every function in
:mod:`rnncourse.figures`, each accepts an ``ax`` to draw into and returns the
``matplotlib.figure.Figure`` it drew on.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch, Rectangle
from matplotlib.path import Path

from rnncourse.figures.style import figure_and_axes

# Okabe-Ito colours: distinguishable with the common forms of colour blindness.
COLORS = {
    "input": "#0072B2",
    "hidden": "#D55E00",
    "output": "#009E73",
    "loss": "#CC79A7",
}
GRADIENT = "#C0392B"
INK = "#333333"  # arrows and weight labels: dark grey is softer than black
NODE_RADIUS = 0.42
NODE_FONTSIZE = 15
WEIGHT_FONTSIZE = 13


# --------------------------------------------------------------------------
# Drawing helpers shared by the diagrams
# --------------------------------------------------------------------------


def _tint(color: str, amount: float = 0.82) -> tuple[float, float, float]:
    """The colour mixed with white: a light fill that keeps black text legible."""
    return tuple(c + (1.0 - c) * amount for c in to_rgb(color))


def _node(
    ax: Axes, xy: tuple[float, float], label: str, kind: str, dashed: bool = False
) -> Circle:
    """A circle standing for one vector (input, hidden state or output)."""
    circle = Circle(
        xy,
        NODE_RADIUS,
        facecolor=_tint(COLORS[kind]),
        edgecolor=COLORS[kind],
        linewidth=2,
        linestyle="--" if dashed else "-",
        zorder=3,
    )
    ax.add_patch(circle)
    ax.text(*xy, label, ha="center", va="center", fontsize=NODE_FONTSIZE, zorder=4)
    return circle


def _box(ax: Axes, xy: tuple[float, float], label: str, kind: str) -> FancyBboxPatch:
    """A rounded square for the stored copy of a vector (context or state units)."""
    half = NODE_RADIUS * 0.9
    box = FancyBboxPatch(
        (xy[0] - half, xy[1] - half),
        2 * half,
        2 * half,
        boxstyle="round,pad=0,rounding_size=0.12",
        facecolor=_tint(COLORS[kind]),
        edgecolor=COLORS[kind],
        linewidth=2,
        zorder=3,
    )
    ax.add_patch(box)
    ax.text(*xy, label, ha="center", va="center", fontsize=NODE_FONTSIZE - 2, zorder=4)
    return box


def _arrow(ax: Axes, start: Patch, end: Patch, color: str = INK) -> FancyArrowPatch:
    """A straight arrow from one node to another; matplotlib clips it at
    both borders."""
    arrow = FancyArrowPatch(
        _center(start),
        _center(end),
        patchA=start,
        patchB=end,
        shrinkA=1,
        shrinkB=1,
        arrowstyle="-|>",
        mutation_scale=16,
        linewidth=1.6,
        color=color,
        zorder=2,
    )
    ax.add_patch(arrow)
    return arrow


def _curve(
    ax: Axes,
    points: Sequence[tuple[float, float]],
    color: str = INK,
    dashed: bool = False,
) -> tuple[float, float]:
    """A cubic Bezier arrow (start, two control points, end) for the feedback loops.

    Returns the curve's middle point, where a delay marker can sit on it.
    """
    path = Path(points, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
    ax.add_patch(
        FancyArrowPatch(
            path=path,
            arrowstyle="-|>",
            mutation_scale=16,
            linewidth=1.6,
            color=color,
            linestyle="--" if dashed else "-",
            zorder=2,
        )
    )
    p0, p1, p2, p3 = np.asarray(points, dtype=float)
    return tuple((p0 + 3 * p1 + 3 * p2 + p3) / 8)  # the Bezier formula at its midpoint


def _delay(ax: Axes, xy: tuple[float, float]) -> None:
    """The small black square that marks a one-step delay on a recurrent path."""
    size = 0.16
    ax.add_patch(
        Rectangle(
            (xy[0] - size / 2, xy[1] - size / 2),
            size,
            size,
            facecolor=INK,
            edgecolor=INK,
            zorder=3,
        )
    )


def _center(patch: Patch) -> tuple[float, float]:
    """Centre of a node drawn by `_node` or `_box`."""
    if isinstance(patch, Circle):
        return patch.center
    return patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2


def _on_circle(circle: Circle, degrees: float) -> tuple[float, float]:
    """The point of a circle's border at the given angle, so curves start on
    the border."""
    x, y = circle.center
    angle = np.radians(degrees)
    return x + circle.radius * np.cos(angle), y + circle.radius * np.sin(angle)


def _weight(
    ax: Axes,
    xy: tuple[float, float],
    label: str,
    ha: str = "left",
    fontsize: float = WEIGHT_FONTSIZE,
) -> None:
    """A weight-matrix label placed beside an arrow."""
    ax.text(*xy, label, ha=ha, va="center", fontsize=fontsize, color=INK)


def _frame(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    """Fix the drawing area; equal aspect keeps circles round, diagrams need no axes."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()


# --------------------------------------------------------------------------
# 1. The Elman cell
# --------------------------------------------------------------------------


def draw_elman(ax: Axes | None = None) -> Figure:
    """The Elman cell: x_t enters h_t through W_xh, h_t feeds itself back through
    W_hh after a one-step delay (black square), and y_t is read out through W_hy.
    The update equation is written underneath."""
    fig, ax = figure_and_axes(ax, figsize=(4.6, 5.2))
    x = _node(ax, (0, 0), r"$x_t$", "input")
    h = _node(ax, (0, 1.9), r"$h_t$", "hidden")
    y = _node(ax, (0, 3.8), r"$y_t$", "output")
    _arrow(ax, x, h)
    _arrow(ax, h, y)
    _weight(ax, (0.14, 0.95), r"$W_{xh}$")
    _weight(ax, (0.14, 2.85), r"$W_{hy}$")

    # The loop leaves h_t on its right and comes back into it: the recurrence.
    start, end = _on_circle(h, 35), _on_circle(h, -35)
    middle = _curve(ax, [start, (1.9, 2.9), (1.9, 0.9), end])
    _delay(ax, middle)
    ax.text(
        middle[0],
        middle[1] - 0.4,
        "delay",
        ha="center",
        va="top",
        fontsize=9,
        color="0.4",
    )
    _weight(ax, (middle[0] + 0.18, middle[1]), r"$W_{hh}$")

    ax.text(
        0.3,
        -0.95,
        r"$h_t = \tanh(W_{xh}\, x_t + W_{hh}\, h_{t-1} + b_h)$",
        ha="center",
        va="center",
        fontsize=14,
    )
    _frame(ax, xlim=(-1.75, 2.35), ylim=(-1.35, 4.35))
    return fig


# --------------------------------------------------------------------------
# 2. The network unrolled in time
# --------------------------------------------------------------------------


def draw_unrolled(T: int = 4, ax: Axes | None = None) -> Figure:
    """The Elman network unrolled over ``T`` steps (1 to about 8).

    Inputs x_1..x_T at the bottom, states h_0..h_T in the middle (h_0, dashed, is
    the initial state), outputs y_1..y_T on top. Every arrow h_{t-1} -> h_t carries
    the same label W_hh: one matrix, shared by all steps.
    """
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    step, row = 1.55, 1.8  # distances between time steps and between layers
    # Pad a short diagram on both sides so the note underneath still fits.
    pad = max(0.0, (4.6 - (step * T + 1.6)) / 2)
    xlim, ylim = (-0.75 - pad, step * T + 0.85 + pad), (-1.15, 2 * row + 0.55)
    inches = 0.72  # per unit of the drawing: the figure fits the drawing exactly
    fig, ax = figure_and_axes(
        ax, figsize=(inches * (xlim[1] - xlim[0]), inches * (ylim[1] - ylim[0]))
    )
    h_prev = _node(ax, (0, row), r"$h_0$", "hidden", dashed=True)
    ax.text(0, 0, "initial\nstate", ha="center", va="center", fontsize=10, color="0.4")
    for t in range(1, T + 1):
        col = t * step
        x = _node(ax, (col, 0), rf"$x_{{{t}}}$", "input")
        h = _node(ax, (col, row), rf"$h_{{{t}}}$", "hidden")
        y = _node(ax, (col, 2 * row), rf"$y_{{{t}}}$", "output")
        _arrow(ax, x, h)
        _arrow(ax, h, y)
        _arrow(ax, h_prev, h)
        _weight(ax, (col - step / 2, row + 0.2), r"$W_{hh}$", ha="center")
        _weight(ax, (col + 0.12, row / 2), r"$W_{xh}$", fontsize=11)
        _weight(ax, (col + 0.12, 1.5 * row), r"$W_{hy}$", fontsize=11)
        h_prev = h
    ax.text(
        step * T / 2,
        -0.85,
        "same weights at every step",
        ha="center",
        va="center",
        fontsize=11,
        style="italic",
        color="0.3",
    )
    _frame(ax, xlim, ylim)
    return fig


# --------------------------------------------------------------------------
# 3. Elman against Jordan
# --------------------------------------------------------------------------


def _feedback_network(ax: Axes, fed_back: str) -> None:
    """One panel of `draw_jordan_vs_elman`: ``fed_back`` is "hidden" (Elman) or "output"
    (Jordan)."""
    x = _node(ax, (0.95, 0), r"$x_t$", "input")
    h = _node(ax, (0, 1.9), r"$h_t$", "hidden")
    y = _node(ax, (0, 3.8), r"$y_t$", "output")
    elman = fed_back == "hidden"
    # The memory sits beside the input: both feed h_t.
    memory = _box(ax, (-0.95, 0), r"$h_{t-1}$" if elman else r"$s_t$", fed_back)
    ax.text(
        -0.95,
        -0.6,
        "context units" if elman else "state units",
        ha="center",
        va="top",
        fontsize=10,
        color="0.35",
    )
    _arrow(ax, x, h)
    _arrow(ax, memory, h)
    _arrow(ax, h, y)
    _weight(ax, (0.62, 1.0), r"$W_{xh}$")
    _weight(ax, (-0.62, 1.0), r"$W_{hh}$" if elman else r"$W_{sh}$", ha="right")
    _weight(ax, (0.14, 2.85), r"$W_{hy}$")

    # The dashed loop copies h_t (Elman) or y_t (Jordan) into the memory box,
    # to be read at the next step; it is drawn in the colour of what it copies.
    source = h if elman else y
    top = source.center[1]
    left_of_box = (memory.get_x(), 0)
    middle = _curve(
        ax,
        [_on_circle(source, 180), (-2.5, top), (-2.5, 0), left_of_box],
        color=COLORS[fed_back],
        dashed=True,
    )
    _delay(ax, middle)
    ax.text(
        middle[0] - 0.2,
        middle[1],
        "copy",
        ha="right",
        va="center",
        fontsize=11,
        color=COLORS[fed_back],
    )


def draw_jordan_vs_elman() -> Figure:
    """Elman's network (left) feeds back its hidden state: the context units hold
    h_{t-1}. Jordan's (right) feeds back its output: the state units s_t are
    filled from y_{t-1}. (Jordan's state units can also keep a decaying trace of
    their own past, s_t = mu s_{t-1} + y_{t-1}; the figure shows mu = 0.)"""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 5.0), layout="constrained")
    for ax, fed_back, title, subtitle in (
        (left, "hidden", "Elman (1990)", "feeds back the hidden state"),
        (right, "output", "Jordan (1986)", "feeds back the output"),
    ):
        _feedback_network(ax, fed_back)
        ax.set_title(title, fontsize=14, fontweight="bold", pad=22)
        ax.annotate(
            subtitle,
            (0.5, 1.0),
            xycoords="axes fraction",
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=11,
            color="0.35",
        )
        _frame(ax, xlim=(-3.0, 1.7), ylim=(-1.0, 4.4))
    return fig


# --------------------------------------------------------------------------
# 4. A timeline of recurrent networks
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One milestone: its year, a short label and its key in the book's bibliography."""

    year: int
    label: str
    key: str


HISTORY: tuple[Event, ...] = (
    Event(1982, "Hopfield network", "hopfield1982"),
    Event(1986, "Jordan network", "jordan1986"),
    Event(1986, "Backpropagation (Rumelhart, Hinton & Williams)", "rumelhart1986"),
    Event(1990, "Backpropagation through time (Werbos)", "werbos1990"),
    Event(1990, "Elman network", "elman1990"),
    Event(1997, "LSTM", "hochreiter1997"),
    Event(2014, "GRU", "cho2014"),
    Event(2014, "Sequence to sequence", "sutskever2014"),
    Event(2015, "Attention (Bahdanau et al.)", "bahdanau2015"),
    Event(2017, "Transformer", "vaswani2017"),
    Event(2020, "Linear attention", "katharopoulos2020"),
    Event(2023, "RetNet", "sun2023retnet"),
    Event(2023, "RWKV", "peng2023rwkv"),
    Event(2023, "Mamba", "gu2023mamba"),
    Event(2024, "HGRN2", "qin2024hgrn2"),
)

# (name, first year, last year, colour) of the two shaded eras; the band is a
# light tint of the colour, the era's markers use the colour itself.
ERAS = (
    ("classic RNNs", 1982, 1997, "#5A8FC2"),
    ("modern linear RNNs", 2020, 2024, "#E5894A"),
)

# Stems of four heights, alternately above and below the axis: two labels on
# the same side and at the same height are four events apart, so never overlap.
_STEMS = (1.0, -1.0, 2.6, -2.6)


def _timeline_positions(events: Sequence[Event]) -> np.ndarray:
    """Evenly spaced x positions, with one extra space at every gap of over ten years.

    Even spacing keeps the 2023 cluster readable; the extra space (drawn as a
    break in the axis) shows where a long stretch of time has been cut out.
    """
    gaps = np.diff([e.year for e in events]) > 10
    return np.arange(len(events)) + np.concatenate([[0], np.cumsum(gaps)])


def history_timeline(ax: Axes | None = None) -> Figure:
    """A timeline of the events in ``HISTORY``: one marker per event, with the
    year in bold and a short label, and the classic and modern linear-RNN eras
    shaded. Markers are evenly spaced; the axis is broken where years are skipped.
    The layout is made for a wide axes, such as the 11 x 5.2 inch default."""
    fig, ax = figure_and_axes(ax, figsize=(11, 5.2))
    xs = _timeline_positions(HISTORY)
    _timeline_axis(ax, xs)
    for era, first, last, color in ERAS:
        inside = [x for x, e in zip(xs, HISTORY) if first <= e.year <= last]
        ax.axvspan(
            min(inside) - 0.45, max(inside) + 0.45, color=_tint(color, 0.8), zorder=0
        )
        ax.text(
            (min(inside) + max(inside)) / 2,
            4.55,
            era,
            ha="center",
            va="center",
            fontsize=11,
            fontweight="bold",
            color="0.3",
        )
    for i, (x, event) in enumerate(zip(xs, HISTORY)):
        _timeline_event(ax, x, _STEMS[i % len(_STEMS)], event)
    ax.set_xlim(xs[0] - 1.0, xs[-1] + 1.0)
    ax.set_ylim(-4.4, 4.9)
    ax.set_axis_off()
    return fig


def _timeline_axis(ax: Axes, xs: np.ndarray) -> None:
    """The time axis: an arrow to the right, broken by a pair of slashes at each gap."""
    ax.add_patch(
        FancyArrowPatch(
            (xs[0] - 0.7, 0),
            (xs[-1] + 0.85, 0),
            arrowstyle="-|>",
            mutation_scale=18,
            linewidth=1.5,
            color=INK,
            zorder=1,
        )
    )
    for a, b in zip(xs[:-1], xs[1:]):
        if b - a > 1:
            mid = (a + b) / 2
            # White gap first, then two slanted strokes: the usual axis-break mark.
            ax.plot(
                [mid - 0.09, mid + 0.09], [0, 0], color="white", linewidth=4, zorder=1.5
            )
            for dx in (-0.09, 0.09):
                ax.plot(
                    [mid + dx - 0.06, mid + dx + 0.06],
                    [-0.22, 0.22],
                    color=INK,
                    linewidth=1.5,
                    zorder=2,
                )


def _timeline_event(ax: Axes, x: float, stem: float, event: Event) -> None:
    """A marker on the axis, a stem, and the year and label at the stem's end."""
    era_color = next(
        (c for _, first, last, c in ERAS if first <= event.year <= last), "white"
    )
    ax.plot([x, x], [0, stem], color="0.55", linewidth=1, zorder=1)
    ax.plot(
        x,
        0,
        "o",
        markersize=9,
        markerfacecolor=era_color,
        markeredgecolor=INK,
        zorder=3,
    )
    up = stem > 0
    va = "bottom" if up else "top"
    sign = 1 if up else -1
    # Offsets in points, not data units, so the year and label stay stacked
    # without gaps or overlap whatever the figure's size.
    ax.annotate(
        str(event.year),
        (x, stem),
        xytext=(0, 3 * sign),
        textcoords="offset points",
        ha="center",
        va=va,
        fontsize=11,
        fontweight="bold",
        color=INK,
    )
    ax.annotate(
        textwrap.fill(event.label, 18),
        (x, stem),
        xytext=(0, 18 * sign),
        textcoords="offset points",
        ha="center",
        va=va,
        fontsize=10,
        linespacing=1.15,
        color=INK,
    )


# --------------------------------------------------------------------------
# 6. Backpropagation through time (chapter 2)
# --------------------------------------------------------------------------


def draw_unrolled_loss(
    T: int = 3, backward: bool = True, ax: Axes | None = None
) -> Figure:
    """The Elman network unrolled over ``T`` steps (1 to about 6) with its readout
    and loss.

    Each state h_t gives an output y_t and a loss L_t; the losses add up to L.
    With ``backward=True`` red dashed arrows show the gradient flowing back
    from every L_t and from h_{t+1} into h_t: the two paths BPTT adds up.
    """
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    step, row = 1.9, 1.6
    xlim, ylim = (-0.8, step * T + 0.9), (-0.75, 4 * row + 0.6)
    inches = 0.78
    fig, ax = figure_and_axes(
        ax, figsize=(inches * (xlim[1] - xlim[0]), inches * (ylim[1] - ylim[0]))
    )
    h_prev = _node(ax, (0, row), r"$h_0$", "hidden", dashed=True)
    total = _node(ax, (step * (T + 1) / 2, 4 * row), r"$L$", "loss")
    for t in range(1, T + 1):
        col = t * step
        x = _node(ax, (col, 0), rf"$x_{{{t}}}$", "input")
        h = _node(ax, (col, row), rf"$h_{{{t}}}$", "hidden")
        y = _node(ax, (col, 2 * row), rf"$y_{{{t}}}$", "output")
        loss = _node(ax, (col, 3 * row), rf"$L_{{{t}}}$", "loss")
        for start, end in ((x, h), (h, y), (y, loss), (loss, total), (h_prev, h)):
            _arrow(ax, start, end)
        _weight(ax, (col - step / 2, row + 0.22), r"$W_{hh}$", ha="center", fontsize=11)
        _weight(ax, (col + 0.1, row / 2), r"$W_{xh}$", fontsize=10)
        _weight(ax, (col + 0.1, 1.5 * row), r"$W_{hy}$", fontsize=10)
        if backward:
            # dL/dh_t collects L_t's share (down through y_t) and h_{t+1}'s
            # (back along the chain)
            _curve(
                ax,
                [
                    _on_circle(y, -35),
                    (col + 0.75, 1.75 * row),
                    (col + 0.75, 1.25 * row),
                    _on_circle(h, 35),
                ],
                color=GRADIENT,
                dashed=True,
            )
            _curve(
                ax,
                [
                    _on_circle(h, -120),
                    (col - step / 3, row - 0.75),
                    (col - 2 * step / 3, row - 0.75),
                    _on_circle(h_prev, -60),
                ],
                color=GRADIENT,
                dashed=True,
            )
        h_prev = h
    if backward:
        ax.text(
            step * (T + 1) / 2,
            -0.55,
            r"red: the gradient flows back, $\partial L / \partial h_t$",
            ha="center",
            va="center",
            fontsize=10,
            color=GRADIENT,
        )
    _frame(ax, xlim, ylim)
    return fig


# --------------------------------------------------------------------------
# 8. The parallel scan (chapter 6)
# --------------------------------------------------------------------------


def draw_parallel_scan(T: int = 8, ax: Axes | None = None) -> Figure:
    """The Hillis-Steele scan of T steps: log2(T) rounds, in round r step t combines
    with step t - 2^r.

    Each box names the steps it has composed so far, "s:t" for
    (a_s, b_s) o ... o (a_t, b_t); after the last round box t holds 1:t, so its b is h_t
    (from h_0 = 0).
    """
    rounds = math.ceil(math.log2(T))
    fig, ax = figure_and_axes(ax, figsize=(1.1 * T + 1, 1.0 * rounds + 1.6))
    for r in range(rounds + 1):
        y = rounds - r
        for t in range(1, T + 1):
            first = max(1, t - 2**r + 1)
            done = first == 1
            ax.text(
                t,
                y,
                f"{first}:{t}",
                ha="center",
                va="center",
                fontsize=9,
                bbox=dict(
                    boxstyle="round", fc="#d6ecd2" if done else "#e8eef7", ec="0.4"
                ),
            )
            if r == rounds:
                continue
            ax.annotate(
                "",
                xy=(t, y - 0.75),
                xytext=(t, y - 0.25),
                arrowprops=dict(arrowstyle="->", color="0.6"),
            )
            if t + 2**r <= T:  # this box also feeds the one 2^r steps later
                ax.annotate(
                    "",
                    xy=(t + 2**r - 0.12, y - 0.75),
                    xytext=(t + 0.12, y - 0.25),
                    arrowprops=dict(arrowstyle="->", color="C3", lw=1.2),
                )
        ax.text(
            0.2,
            y,
            "input" if r == 0 else f"round {r}",
            ha="right",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(-0.9, T + 0.6)
    ax.set_ylim(-0.6, rounds + 0.6)
    ax.axis("off")
    ax.set_title(
        f"A parallel scan of T = {T} steps in log2(T) = {rounds} rounds "
        "(red: combine with the box 2^r to the left; green: finished)",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------
# 9. FlashAttention's tiles (chapter 8)
# --------------------------------------------------------------------------


def draw_tiles(
    T: int = 8, block: int = 2, causal: bool = True, ax: Axes | None = None
) -> Figure:
    """The (T, T) score matrix in blocks of ``block`` queries (rows) by ``block`` keys
    (columns).

    Causal attention computes the blocks below the diagonal in full (blue), masks part
    of the blocks on it (orange) and skips the blocks above it (white): the kernel's
    loop stops at the diagonal. Each drawn block is a ``Rectangle`` patch of the
    figure's axes labelled "full", "masked" or "skipped".
    """
    fig, ax = figure_and_axes(ax, figsize=(3.6, 3.6))
    n = -(-T // block)
    colours = {"full": "C0", "masked": "C4", "skipped": "white"}
    for i in range(n):
        for j in range(n):
            kind = (
                "full" if (not causal or j < i) else "masked" if j == i else "skipped"
            )
            ax.add_patch(
                Rectangle(
                    (j * block, i * block),
                    block,
                    block,
                    fc=colours[kind],
                    ec="0.3",
                    alpha=0.8,
                    label=kind,
                )
            )
    if causal:
        ax.plot([0, T], [0, T], color="black", lw=1)
    ax.set_xlim(0, T)
    ax.set_ylim(T, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("key j (blocks of keys stream past)")
    ax.set_ylabel("query i (one program per block)")
    ax.set_title(
        f"{'causal' if causal else 'full'} attention, T = {T}, blocks of {block}",
        fontsize=10,
    )
    return fig
