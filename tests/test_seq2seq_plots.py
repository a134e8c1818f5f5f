"""Chapter 5's figures draw, label their axes with the tokens, and refuse mismatched input."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from rnncourse.seq2seq_plots import attention_heatmap, plot_accuracy_by_length  # noqa: E402


def test_heatmap_labels_its_axes_with_tokens():
    weights = torch.softmax(torch.randn(3, 4), -1)
    fig = attention_heatmap(weights, list("ab c"), list("xyz"), title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "\u2423", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match=r"shape \(T, S\) = \(2, 4\)"):
        attention_heatmap(weights, list("abcd"), list("xy"))


def test_accuracy_plot_has_one_line_per_model():
    fig = plot_accuracy_by_length([0, 10, 20], {"a": torch.tensor([1.0, 0.5]), "b": torch.tensor([0.9, 0.9])},
                                  counts=torch.tensor([5, 7]))
    assert len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="one per bin"):
        plot_accuracy_by_length([0, 10, 20], {"a": torch.tensor([1.0])})
