"""Chapter 3's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import pytest
import torch

from rnncourse.exercises import (
    check_clip_by_norm,
    check_init_recurrent,
    check_jacobian_product,
)
from rnncourse.exercises.vanishing_exploding import jacobian_product_reference
from rnncourse.nn.init import gaussian_, identity_, orthogonal_
from rnncourse.training import clip_by_norm

from ._helpers import _message, _not_solved


def test_references_and_good_initialisations_pass(capsys):
    check_jacobian_product(jacobian_product_reference)
    check_clip_by_norm(clip_by_norm)
    for init in (
        lambda D: orthogonal_(torch.empty(D, D)),
        lambda D: identity_(torch.empty(D, D)),
        lambda D: orthogonal_(torch.empty(D, D, dtype=torch.float32)),
    ):  # float32 is accepted
        check_init_recurrent(init)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 2 and out.count("init_recurrent") == 3


def _jacobian(hs, W, factor=lambda h, W: (1 - h**2)[:, None] * W, left=True, norm=None):
    J = torch.eye(W.shape[0], dtype=W.dtype)
    for k in range(1, hs.shape[0]):
        J = factor(hs[k], W) @ J if left else J @ factor(hs[k], W)
    return J, (norm or (lambda J: torch.linalg.matrix_norm(J, ord=2)))(J)


JACOBIAN_PLANTED = {
    "wrong order": (lambda hs, W: _jacobian(hs, W, left=False), "wrong order"),
    "no derivative": (
        lambda hs, W: _jacobian(hs, W, factor=lambda h, W: W),
        "leaves out the tanh",
    ),
    "columns scaled": (
        lambda hs, W: _jacobian(hs, W, factor=lambda h, W: W * (1 - h**2)),
        "scales the rows",
    ),
    "W transposed": (
        lambda hs, W: _jacobian(hs, W, factor=lambda h, W: (1 - h**2)[:, None] * W.T),
        "transposed",
    ),
    "Frobenius": (
        lambda hs, W: _jacobian(hs, W, norm=torch.linalg.matrix_norm),
        "Frobenius",
    ),
    "largest entry": (
        lambda hs, W: _jacobian(hs, W, norm=lambda J: J.abs().max()),
        "the norm is wrong",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", JACOBIAN_PLANTED)
def test_jacobian_product_rejects(name):
    fn, expected = JACOBIAN_PLANTED[name]
    assert expected in _message(check_jacobian_product, fn)


def _total(grads):
    return torch.sqrt(sum((g**2).sum() for g in grads))


CLIP_PLANTED = {
    "each tensor separately": (
        lambda gs, m: [g * min(1.0, m / g.norm().item()) for g in gs],
        "each gradient by its own norm",
    ),
    "always rescaled": (
        lambda gs, m: [g * m / _total(gs) for g in gs],
        "already short enough",
    ),
    "by value": (lambda gs, m: [g.clamp(-m, m) for g in gs], "clipping by value"),
    "unit norm": (
        lambda gs, m: [g / _total(gs) if _total(gs) > m else g for g in gs],
        "norm 1",
    ),
    "detached": (
        lambda gs, m: [g.detach() for g in clip_by_norm(gs, m)],
        "no gradient flows",
    ),
    "a single tensor": (
        lambda gs, m: torch.cat([g.flatten() for g in clip_by_norm(gs, m)]),
        "expected 3 return value(s)",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", CLIP_PLANTED)
def test_clip_by_norm_rejects(name):
    fn, expected = CLIP_PLANTED[name]
    assert expected in _message(check_clip_by_norm, fn)


INIT_PLANTED = {
    "torch's default": (
        lambda D: torch.nn.RNN(1, D).weight_hh_l0.detach(),
        "the gradient vanished",
    ),
    "small Gaussian": (
        lambda D: gaussian_(torch.empty(D, D), gain=0.3),
        "spectral radius 0.3",
    ),
    "twice orthogonal": (
        lambda D: orthogonal_(torch.empty(D, D), gain=2.5),
        "the gradient exploded",
    ),
    "wrong shape": (
        lambda D: torch.eye(D + 1),
        "must have shape (D_h, D_h) = (64, 64)",
    ),
    "NumPy array": (lambda D: torch.eye(D).numpy(), "return W_hh as a torch.Tensor"),
    "NaN": (lambda D: torch.full((D, D), float("nan")), "NaN"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", INIT_PLANTED)
def test_init_recurrent_rejects(name):
    fn, expected = INIT_PLANTED[name]
    assert expected in _message(check_init_recurrent, fn)


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_jacobian_product, JACOBIAN_PLANTED),
        (check_clip_by_norm, CLIP_PLANTED),
        (check_init_recurrent, INIT_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)
