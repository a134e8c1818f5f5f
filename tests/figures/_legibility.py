"""What makes a figure legible, checked on the drawn canvas: no text overlaps another or
is cut off."""

import re

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plain(text: str) -> str:
    """Mathtext without its markup, e.g. r"$W_{hh}$" -> "W_hh"."""
    return re.sub(r"[${}\\]", "", text)


def texts(ax) -> list[str]:
    return [plain(t.get_text()) for t in ax.texts]


def drawn_texts(fig: Figure) -> list:
    """(text, box on the canvas) for every non-empty text, axes titles included."""
    renderer = FigureCanvasAgg(fig).get_renderer()  # figures are made without pyplot
    fig.draw(renderer)
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for ax in fig.axes
        for t in (*ax.texts, ax.title)
        if t.get_text()
    ]


def overlapping_texts(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap."""
    drawn = drawn_texts(fig)
    return [
        (a, b)
        for i, (a, box_a) in enumerate(drawn)
        for b, box_b in drawn[i + 1 :]
        if box_a.x0 < box_b.x1
        and box_b.x0 < box_a.x1
        and box_a.y0 < box_b.y1
        and box_b.y0 < box_a.y1
    ]


def texts_outside_figure(fig: Figure) -> list[str]:
    """Texts cut off by the edge of the figure."""
    frame = fig.bbox
    return [
        text
        for text, box in drawn_texts(fig)
        if not (
            frame.x0 <= box.x0
            and box.x1 <= frame.x1
            and frame.y0 <= box.y0
            and box.y1 <= frame.y1
        )
    ]
