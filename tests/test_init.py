"""The recurrent initialisations have the singular values and spectral radii they promise."""
import pytest
import torch

from rnncourse.init import gaussian_, identity_, orthogonal_, set_spectral_radius_, spectral_radius


def test_orthogonal_has_every_singular_value_equal_to_the_gain():
    W = orthogonal_(torch.empty(50, 50, dtype=torch.float64), gain=1.3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(W @ W.T, 1.3 ** 2 * torch.eye(50, dtype=torch.float64))
    assert spectral_radius(W) == pytest.approx(1.3)


def test_orthogonal_is_seeded_and_works_in_float32():
    a = orthogonal_(torch.empty(8, 8), generator=torch.Generator().manual_seed(1))
    b = orthogonal_(torch.empty(8, 8), generator=torch.Generator().manual_seed(1))
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_identity_and_gaussian():
    assert torch.equal(identity_(torch.empty(4, 4), gain=0.5), 0.5 * torch.eye(4))
    W = gaussian_(torch.empty(400, 400, dtype=torch.float64), gain=1.0, generator=torch.Generator().manual_seed(0))
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
