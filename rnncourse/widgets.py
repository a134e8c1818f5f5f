"""Interactive widgets for the notebooks (ipywidgets).

On the static website the widgets show their first state; in JupyterLab or
Colab they respond to the slider.
"""
from __future__ import annotations

import ipywidgets as widgets
import torch

from rnncourse.data.text import CharVocab


def temperature_explorer(model, vocab: CharVocab, prompt: str, n: int = 300, seed: int = 0,
                         temperature: float = 0.8) -> widgets.VBox:
    """A temperature slider above a sample of ``n`` characters that follows ``prompt``.

    ``model`` has a ``generate(prompt_ids, n, temperature, generator)`` method,
    as :class:`rnncourse.nn.CharLM` does. The same seed is used for every
    temperature, so the samples differ only because the temperature does.
    """
    slider = widgets.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05, description="temperature",
                                 continuous_update=False, readout_format=".2f")
    text = widgets.HTML()

    def update(change=None):
        ids = model.generate(vocab.encode(prompt), n, slider.value, torch.Generator().manual_seed(seed))
        sample = vocab.decode(ids).replace("&", "&amp;").replace("<", "&lt;")
        text.value = f"<pre style='white-space: pre-wrap'><b>{prompt}</b>{sample}</pre>"

    slider.observe(update, names="value")
    update()
    return widgets.VBox([slider, text])
