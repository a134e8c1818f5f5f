"""rnncourse.show displays the package's own source, with where it comes from."""

import pytest

from rnncourse import show
from rnncourse.nn import RNN, elman_cell


def test_shows_source_with_location():
    src = show(elman_cell)
    assert src.code.startswith("def elman_cell(")
    assert src.where.startswith("rnncourse/nn/rnn.py, lines ")
    html = src._repr_html_()
    assert (
        "elman_cell" in html and "style=" in html
    )  # inline styles: renders in Colab and on the site


def test_shows_a_class_and_a_method():
    assert "class RNN" in show(RNN).code
    assert show(RNN.forward).code.lstrip().startswith("def forward")


def test_a_decorated_method_is_shown_with_its_own_file():
    from rnncourse.nn import Seq2Seq

    src = show(Seq2Seq.beam_search)  # wrapped by @torch.no_grad()
    assert (
        src.where.startswith("rnncourse/nn/seq2seq.py, lines ")
        and "def beam_search" in src.code
    )


def test_rejects_objects_without_source():
    with pytest.raises(TypeError, match="module, class, function or method"):
        show(42)
