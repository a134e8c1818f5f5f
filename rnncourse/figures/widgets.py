"""Interactive widgets for the notebooks (ipywidgets), and animations for the website.

On the static website the widgets show their first state; in JupyterLab or
Colab they respond to the slider. Where a widget is the point of a section,
an animation (``FuncAnimation.to_jshtml``) shows the same figure with a
scrubbable slider that needs no kernel.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import clear_output, display
from matplotlib.animation import FuncAnimation

from rnncourse.data.text import CharVocab
from rnncourse.figures.charts import plot_gradient_norms
from rnncourse.nn.init import orthogonal_
from rnncourse.probes import probe


def temperature_explorer(
    model,
    vocab: CharVocab,
    prompt: str,
    n: int = 300,
    seed: int = 0,
    temperature: float = 0.8,
) -> widgets.VBox:
    """A temperature slider above a sample of ``n`` characters that follows ``prompt``.

    ``model`` has a ``generate(prompt_ids, n, temperature, generator)`` method,
    as :class:`rnncourse.nn.CharLM` does. The same seed is used for every
    temperature, so the samples differ only because the temperature does.
    """
    # the whole word, not "temperat..."
    slider = widgets.FloatSlider(
        value=temperature,
        min=0.0,
        max=2.0,
        step=0.05,
        description="temperature",
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
    )
    text = widgets.HTML()

    def update(change=None):
        ids = model.generate(
            vocab.encode(prompt), n, slider.value, torch.Generator().manual_seed(seed)
        )
        sample = vocab.decode(ids).replace("&", "&amp;").replace("<", "&lt;")
        text.value = f"<pre style='white-space: pre-wrap'><b>{prompt}</b>{sample}</pre>"

    slider.observe(update, names="value")
    update()
    return widgets.VBox([slider, text])


def _recurrent_matrix(rho: float, D_h: int = 64) -> torch.Tensor:
    """One fixed orthogonal matrix times rho: spectral radius and every singular value
    equal rho."""
    return orthogonal_(
        torch.empty(D_h, D_h, dtype=torch.float64),
        gain=rho,
        generator=torch.Generator().manual_seed(0),
    )


def _draw_gradient_norms(ax, rho: float, nonlinearity: str, T: int) -> None:
    norms = probe(_recurrent_matrix(rho), T=T, nonlinearity=nonlinearity)
    plot_gradient_norms(
        {f"measured ({nonlinearity} RNN, autograd)": norms},
        ax=ax,
        guides={r"$\rho^{T-t}$ (linear network)": rho},
    )
    ax.set_xlim(0, T)
    ax.set_title(f"spectral radius of $W_{{hh}}$ = {rho:.2f}")


def gradient_norm_explorer(
    rho: float = 1.0, nonlinearity: str = "tanh", T: int = 100
) -> widgets.VBox:
    """Sliders for the spectral radius of W_hh and the sequence length, a menu for the
    nonlinearity, above the gradient-norm curve of :func:`rnncourse.probes.probe`,
    redrawn on every change.

    W_hh is a fixed orthogonal matrix times the radius, so the radius alone changes.
    """
    radius = widgets.FloatSlider(
        value=rho,
        min=0.5,
        max=1.5,
        step=0.05,
        description="radius",
        continuous_update=False,
    )
    function = widgets.Dropdown(
        options=["tanh", "relu"], value=nonlinearity, description="nonlinearity"
    )
    length = widgets.IntSlider(
        value=T, min=10, max=200, step=10, description="T", continuous_update=False
    )
    out = widgets.Output()

    def update(change=None):
        with out:
            clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
            _draw_gradient_norms(ax, radius.value, function.value, length.value)
            display(fig)
            plt.close(fig)

    for control in (radius, function, length):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([radius, function, length]), out])


def gradient_norm_animation(
    radii=(0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4, 1.5),
    nonlinearity: str = "tanh",
    T: int = 100,
) -> str:
    """The explorer's figure for each spectral radius in ``radii``, as an HTML animation
    with a slider (``FuncAnimation.to_jshtml``): it plays on the static website."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=80, layout="constrained")

    def frame(i):
        ax.clear()
        _draw_gradient_norms(ax, radii[i], nonlinearity, T)

    html = FuncAnimation(fig, frame, frames=len(radii)).to_jshtml(
        fps=2, default_mode="once"
    )
    plt.close(fig)
    alt = (
        f"Gradient norm against distance for a {nonlinearity} RNN over {T} steps, one "
        f"frame per spectral radius from {radii[0]} to {radii[-1]}"
    )
    # to_jshtml leaves the frame undescribed
    return html.replace("<img id=", f'<img alt="{alt}" id=', 1)
