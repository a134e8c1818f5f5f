"""Exact match, edit distance, character error rate and accuracy by length."""

import pytest
import torch

from rnncourse.metrics import (
    accuracy_by_length,
    character_error_rate,
    edit_distance,
    exact_match,
)


@pytest.mark.parametrize(
    "a,b,d",
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("2019-03-21", "2019-12-03", 4),
        ("flaw", "lawn", 2),
    ],
)
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_exact_match_and_character_error_rate():
    preds, refs = (
        ["2019-03-21", "2019-03-12", ""],
        ["2019-03-21", "2019-03-21", "1999-01-01"],
    )
    assert exact_match(preds, refs) == pytest.approx(1 / 3)
    assert character_error_rate(preds, refs) == pytest.approx((0 + 2 + 10) / 30)
    with pytest.raises(ValueError, match="as many predictions as references"):
        exact_match(["a"], ["a", "b"])


def test_accuracy_by_length():
    lengths = torch.tensor([3, 5, 12, 15, 30])
    correct = torch.tensor([True, False, True, True, False])
    counts, acc = accuracy_by_length(lengths, correct, [0, 10, 20, 40, 60])
    assert counts.tolist() == [2, 2, 1, 0]
    assert acc[:3].tolist() == [0.5, 1.0, 0.0] and torch.isnan(acc[3])
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        accuracy_by_length(lengths, correct[:3], [0, 10])
