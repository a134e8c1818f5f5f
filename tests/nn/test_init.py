"""The recurrent initialisations have the singular values and spectral radii they
promise; the LSTM bias initialisations set the gates they name."""

import pytest
import torch

from rnncourse.nn import GRU, LSTM, lstm_gates
from rnncourse.nn.init import (
    chrono_,
    forget_bias_,
    gaussian_,
    identity_,
    orthogonal_,
    set_spectral_radius_,
    spectral_radius,
)


def test_orthogonal_has_every_singular_value_equal_to_the_gain():
    W = orthogonal_(
        torch.empty(50, 50, dtype=torch.float64),
        gain=1.3,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(W @ W.T, 1.3**2 * torch.eye(50, dtype=torch.float64))
    assert spectral_radius(W) == pytest.approx(1.3)


def test_orthogonal_is_seeded_and_works_in_float32():
    a = orthogonal_(torch.empty(8, 8), generator=torch.Generator().manual_seed(1))
    b = orthogonal_(torch.empty(8, 8), generator=torch.Generator().manual_seed(1))
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_identity_and_gaussian():
    assert torch.equal(identity_(torch.empty(4, 4), gain=0.5), 0.5 * torch.eye(4))
    W = gaussian_(
        torch.empty(400, 400, dtype=torch.float64),
        gain=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert W.std().item() == pytest.approx(1 / 20, rel=0.02)
    assert spectral_radius(W) == pytest.approx(1.0, abs=0.1)  # the circular law


def test_set_spectral_radius():
    W = set_spectral_radius_(gaussian_(torch.empty(30, 30, dtype=torch.float64)), 0.9)
    assert spectral_radius(W) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="spectral radius 0"):
        set_spectral_radius_(torch.zeros(3, 3), 1.0)


def test_non_square_matrices_are_refused():
    for init in (gaussian_, orthogonal_, identity_):
        with pytest.raises(ValueError, match=r"\(D_h, D_h\)"):
            init(torch.empty(3, 4))


@pytest.mark.parametrize("cls", [torch.nn.LSTM, LSTM])
def test_forget_bias_sets_every_forget_gate(cls):
    lstm = forget_bias_(cls(3, 4, num_layers=2, bidirectional=True), 2.0)
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.equal(p[4:8], torch.full((4,), 2.0))
        if name.startswith("bias_hh"):
            assert torch.equal(p[4:8], torch.zeros(4))
    # So the forget gate of a zero input and zero state is sigma(2).
    i, f, g, o = lstm_gates(
        torch.zeros(1, 16) + lstm.bias_ih_l0,
        torch.zeros(1, 4),
        lstm.weight_hh_l0,
        lstm.bias_hh_l0,
    )
    torch.testing.assert_close(f, torch.sigmoid(torch.tensor(2.0)).expand(1, 4))


@pytest.mark.parametrize("cls", [torch.nn.LSTM, LSTM])
def test_chrono_spreads_the_forget_biases_and_closes_the_input_gates(cls):
    lstm = chrono_(
        cls(3, 50, num_layers=2), 40, generator=torch.Generator().manual_seed(0)
    )
    for layer in range(2):
        b_ih, b_hh = (
            getattr(lstm, f"bias_ih_l{layer}"),
            getattr(lstm, f"bias_hh_l{layer}"),
        )
        b_f = b_ih[50:100]
        assert b_f.min() >= 0 and b_f.max() <= torch.log(torch.tensor(39.0)) + 1e-6
        assert b_f.max() - b_f.min() > 2  # spread over time scales, not one value
        torch.testing.assert_close(b_ih[:50], -b_f)
        assert torch.equal(b_hh[:100], torch.zeros(100))
    again = chrono_(
        cls(3, 50, num_layers=2), 40, generator=torch.Generator().manual_seed(0)
    )
    # the same draws from the same generator
    assert torch.equal(again.bias_ih_l1[:100], lstm.bias_ih_l1[:100])


def test_forget_bias_and_chrono_refuse_what_is_not_an_lstm():
    with pytest.raises(ValueError, match=r"biases of shape \(4 D_h,\)"):
        forget_bias_(GRU(3, 4))
    with pytest.raises(ValueError, match=r"biases of shape \(4 D_h,\)"):
        chrono_(torch.nn.LSTM(3, 4, bias=False), 10)
    with pytest.raises(ValueError, match="T_max must exceed 2"):
        chrono_(LSTM(3, 4), 2)
