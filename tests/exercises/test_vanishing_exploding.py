"""Chapter 3's checkers accept right answers written in many ways and reject planted
wrong ones, each with a sentence.

The planted answers are written here, independently of the checkers' lists of usual
mistakes, and grouped by the loophole they try: 1 numerical range (a float32 product
that reaches 1e24, float32 gradients of norm 2e5, gradients that are all zero), 2 the
point of the exercise (the Jacobian by hand, without autograd), 3 the legal input
shapes (T = 1, D_h = 1, one gradient, a 0-d gradient, float32, the matrix's shape and
dtype), 4 the windows (answers that are right on easy inputs only, or nearly right;
initialisations that vanish, explode, grow or are a lottery), 5 shortcuts (torch's and
the package's implementations), 6 odd return values (a checker never crashes). Right
variants (7) are accepted.
"""

import random

import numpy as np
import pytest
import torch

import rnncourse.exercises.vanishing_exploding as chapter3
from rnncourse.exercises import (
    check_clip_by_norm,
    check_init_recurrent,
    check_jacobian_product,
)
from rnncourse.exercises.vanishing_exploding import jacobian_product_reference
from rnncourse.nn.init import identity_, orthogonal_
from rnncourse.probes import jacobian_product as package_jacobian_product
from rnncourse.training import clip_by_norm, global_norm

from ._helpers import (
    _accepting,
    _distinct_usual_mistakes,
    _message,
    _not_solved,
    _refusing_non_functions,
    _rejecting,
    _shortcut_message,
)


def _jacobian(hs, W, factor=lambda h, W: (1 - h**2)[:, None] * W, left=True, norm=None):
    J = torch.eye(W.shape[0], dtype=W.dtype)
    for k in range(1, hs.shape[0]):
        J = factor(hs[k], W) @ J if left else J @ factor(hs[k], W)
    return J, (norm or (lambda J: torch.linalg.matrix_norm(J, ord=2)))(J)


def _orthogonal(D, gain=1.0, dtype=torch.float64):
    Q, R = torch.linalg.qr(torch.randn(D, D, dtype=torch.float64))
    return (gain * Q * torch.sign(torch.diagonal(R))).to(dtype)


def test_right_answers_pass(capsys):
    check_jacobian_product(_jacobian)
    check_clip_by_norm(_clip_notebook)
    check_init_recurrent(_orthogonal)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 2 and out.count("init_recurrent") == 1
    assert out.count("\u2705") == 3, "one pass message per checker"
    assert max(len(line) for line in out.splitlines()) <= 88  # fits the page


def test_the_references_are_the_package_s_and_so_off_limits():
    message = _message(check_jacobian_product, jacobian_product_reference)
    assert "rnncourse.probes.jacobian_product" in message
    message = _message(check_clip_by_norm, clip_by_norm)
    assert "rnncourse.training.clip_by_norm" in message


# --- jacobian_product -------------------------------------------------------------


def _jacobian_right_to_left(hs, W):
    """The same product, associated the other way: J <- J @ F_k from k = T down."""
    J = torch.eye(W.shape[0], dtype=W.dtype)
    for k in range(hs.shape[0] - 1, 0, -1):
        J = J @ (torch.diag(1 - hs[k] ** 2) @ W)
    return [J, torch.linalg.norm(J, 2)]


def _jacobian_multi_dot(hs, W):
    factors = [(1 - h**2)[:, None] * W for h in hs[1:].flip(0)]
    J = torch.linalg.multi_dot([*factors, torch.eye(W.shape[0], dtype=W.dtype)])
    return J, torch.linalg.svdvals(J)[0].item()  # a Python float


JACOBIAN_RIGHT = {
    "newest on the left, matrix_norm": _jacobian,
    "from the newest, on the right, torch.diag, linalg.norm, a list": (
        _jacobian_right_to_left
    ),
    "multi_dot with the identity, the norm as a Python float": _jacobian_multi_dot,
    "the norm as a NumPy number": lambda hs, W: (
        _jacobian(hs, W)[0],
        np.linalg.norm(_jacobian(hs, W)[0].numpy(), 2),
    ),
    "the norm as a 0-d NumPy array": lambda hs, W: (
        _jacobian(hs, W)[0],
        np.asarray(torch.linalg.svdvals(_jacobian(hs, W)[0])[0].item()),
    ),
    "detached": lambda hs, W: tuple(t.detach() for t in _jacobian(hs, W)),
}


test_jacobian_product_accepts = _accepting(JACOBIAN_RIGHT, check_jacobian_product)


def _with_svd_norm(J):
    return J, torch.linalg.svdvals(J)[0]


def _identity_default_dtype(hs, W):
    J = torch.eye(W.shape[0])  # float32, whatever W is
    for k in range(1, hs.shape[0]):
        J = ((1 - hs[k] ** 2)[:, None] * W) @ J
    return J, torch.linalg.matrix_norm(J, ord=2)


def _norm_through_gram(hs, W):
    J = _jacobian(hs, W)[0]
    return J, torch.linalg.eigvalsh(J.T @ J)[-1].sqrt()


def _norm_by_power_iteration(hs, W, steps=3):
    J = _jacobian(hs, W)[0]
    v = torch.ones(J.shape[1], dtype=J.dtype)
    for _ in range(steps):
        v = J.T @ (J @ v)
        v = v / v.norm()
    return J, (J @ v).norm()


JACOBIAN_PLANTED = {
    # 1: numerical range
    "the norm through J.T @ J": (_norm_through_gram, "overflows float32", 1),
    "the norm as sqrt(max eigenvalue of J.T @ J), by hand": (
        lambda hs, W: (
            _jacobian(hs, W)[0],
            torch.linalg.eigvals(_jacobian(hs, W)[0].T @ _jacobian(hs, W)[0])
            .abs()
            .max()
            .sqrt(),
        ),
        "in float32",
        1,
    ),
    # 3: every legal shape
    "multi_dot without the identity": (
        lambda hs, W: _with_svd_norm(
            torch.linalg.multi_dot([(1 - h**2)[:, None] * W for h in hs[1:].flip(0)])
        ),
        "raised RuntimeError (multi_dot(): expected at least 2 tensors",
        3,
    ),
    "the identity in the default dtype": (
        _identity_default_dtype,
        "raised RuntimeError (expected m1 and m2 to have the same dtype",
        3,
    ),
    "the norm as a 1-element tensor": (
        lambda hs, W: (
            _jacobian(hs, W)[0],
            torch.linalg.svdvals(_jacobian(hs, W)[0])[:1],
        ),
        "the norm has shape (1,) but should have shape ()",
        3,
    ),
    "the norm in float64 whatever J": (
        lambda hs, W: (_jacobian(hs, W)[0], _jacobian(hs, W)[1].double()),
        "the norm has dtype torch.float64 but should have torch.float32",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "wrong order": (lambda hs, W: _jacobian(hs, W, left=False), "wrong order", 4),
    "no derivative": (
        lambda hs, W: _jacobian(hs, W, factor=lambda h, W: W),
        "leaves out the tanh",
        4,
    ),
    "columns scaled": (
        lambda hs, W: _jacobian(hs, W, factor=lambda h, W: W * (1 - h**2)),
        "scales the rows",
        4,
    ),
    "W transposed": (
        lambda hs, W: _jacobian(hs, W, factor=lambda h, W: (1 - h**2)[:, None] * W.T),
        "transposed",
        4,
    ),
    "Frobenius": (
        lambda hs, W: _jacobian(hs, W, norm=torch.linalg.matrix_norm),
        "Frobenius",
        4,
    ),
    "largest entry": (
        lambda hs, W: _jacobian(hs, W, norm=lambda J: J.abs().max()),
        "the norm is wrong",
        4,
    ),
    "three steps of power iteration": (
        _norm_by_power_iteration,
        "the norm is wrong",
        4,
    ),
    # 6: odd return values
    "only J": (lambda hs, W: _jacobian(hs, W)[0], "expected 2 return value(s)", 6),
    "the norm as a string": (
        lambda hs, W: (_jacobian(hs, W)[0], "1.0"),
        "the norm should be a torch.Tensor, got a Python str",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_jacobian_product_rejects = _rejecting(JACOBIAN_PLANTED, check_jacobian_product)


def test_a_norm_through_the_gram_matrix_is_right_until_it_overflows():
    hs = torch.tanh(torch.randn(6, 4, dtype=torch.float64))
    W = torch.randn(4, 4, dtype=torch.float64) / 2
    torch.testing.assert_close(_norm_through_gram(hs, W), _jacobian(hs, W))


def _by_functional_jacobian(hs, W):
    """The product is the Jacobian of v -> F_T ... F_1 v: ask autograd for it."""

    def chain(v):
        for h in hs[1:]:
            v = (1 - h**2) * (W @ v)
        return v

    J = torch.autograd.functional.jacobian(
        chain, torch.zeros(W.shape[0], dtype=W.dtype)
    )
    return J, torch.linalg.matrix_norm(J, ord=2)


def _by_jacrev(hs, W):
    def chain(v):
        for h in hs[1:]:
            v = (1 - h**2) * (W @ v)
        return v

    J = torch.func.jacrev(chain)(torch.zeros(W.shape[0], dtype=W.dtype))
    return J, torch.linalg.matrix_norm(J, ord=2)


JACOBIAN_SHORTCUTS = {
    "torch.autograd.functional.jacobian": (
        _by_functional_jacobian,
        "torch.autograd.functional.jacobian",
    ),
    "torch.func.jacrev": (_by_jacrev, "torch.func.jacrev"),
    "the package's, under the notebook's name": (
        lambda hs, W: (
            package_jacobian_product(hs, W),
            torch.linalg.matrix_norm(package_jacobian_product(hs, W), ord=2),
        ),
        "rnncourse.probes.jacobian_product",
    ),
}


@pytest.mark.parametrize("name", JACOBIAN_SHORTCUTS)
def test_jacobian_product_rejects_autograd_and_the_package(name):
    fn, called = JACOBIAN_SHORTCUTS[name]
    g = torch.Generator().manual_seed(3)
    args = (
        torch.tanh(torch.randn(6, 4, generator=g, dtype=torch.float64)),
        torch.randn(4, 4, generator=g, dtype=torch.float64) / 2,
    )
    _shortcut_message(
        check_jacobian_product, fn, jacobian_product_reference, args, called
    )


# --- clip_by_norm -----------------------------------------------------------------


def _total(grads):
    return torch.sqrt(sum((g**2).sum() for g in grads))


def _clip_notebook(grads, max_norm):
    total = torch.sqrt(sum((g * g).sum() for g in grads))
    if total <= max_norm:
        return list(grads)
    return [g * (max_norm / total) for g in grads]


def _clip_in_place(grads, max_norm):
    """As torch.nn.utils.clip_grad_norm_ does: scale the given tensors, with its
    epsilon, and return them too."""
    total = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return grads


def _clip_python(grads, max_norm):
    total = sum(float((g**2).sum()) for g in grads) ** 0.5
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return tuple(g * scale for g in grads)


CLIP_RIGHT = {
    "the notebook's solution": _clip_notebook,
    "in place, with torch's epsilon": _clip_in_place,
    "Python numbers, a tuple": _clip_python,
    "torch.where on the concatenated norm": lambda gs, m: [
        torch.where(
            torch.cat([g.flatten() for g in gs]).norm() > m,
            g * m / torch.cat([g.flatten() for g in gs]).norm(),
            g,
        )
        for g in gs
    ],
    "detached": lambda gs, m: [g.detach() for g in _clip_notebook(gs, m)],
}


test_clip_by_norm_accepts = _accepting(CLIP_RIGHT, check_clip_by_norm)


def _clip_divides_first(grads, max_norm):
    scale = max_norm / _total(grads).item()  # ZeroDivisionError when all are zero
    return [g * min(1.0, scale) for g in grads]


def _clip_float64(grads, max_norm):
    return [g.double() for g in _clip_notebook(grads, max_norm)]


def _clip_by_cat(grads, max_norm):
    total = torch.cat(grads).norm()  # only if the gradients have the same shape
    return [g * min(1.0, max_norm / total) for g in grads]


def _clip_first_two(grads, max_norm):
    return _clip_notebook(grads[:2], max_norm) + grads[2:]


def _clip_in_place_returns_none(grads, max_norm):
    _clip_in_place(grads, max_norm)


CLIP_PLANTED = {
    # 1: numerical range
    "divides by the norm first": (
        _clip_divides_first,
        "raised ZeroDivisionError (float division by zero) (for gradients that are all "
        "zero, of norm 0, which need no clipping): compare the norm",
        1,
    ),
    # 3: every legal shape
    "the norm of the concatenated gradients, unflattened": (
        _clip_by_cat,
        "raised RuntimeError",
        3,
    ),
    "float64 whatever the gradients": (_clip_float64, "should have torch.float32", 3),
    "only the first two gradients": (
        _clip_first_two,
        "the clipped gradient 1 (of 3) is wrong at",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "each tensor separately": (
        lambda gs, m: [g * min(1.0, m / g.norm().item()) for g in gs],
        "each gradient by its own norm",
        4,
    ),
    "always rescaled": (
        lambda gs, m: [g * m / _total(gs) for g in gs],
        "already short enough",
        4,
    ),
    "by value": (lambda gs, m: [g.clamp(-m, m) for g in gs], "clipping by value", 4),
    "unit norm": (
        lambda gs, m: [g / _total(gs) if _total(gs) > m else g for g in gs],
        "norm 1",
        4,
    ),
    "clipped to half": (
        lambda gs, m: [g * m / (2 * _total(gs)) if _total(gs) > m else g for g in gs],
        "the clipped gradient 1 (of 3) is wrong at",
        4,
    ),
    "a mean instead of a sum of squares": (
        lambda gs, m: [
            g
            * min(1.0, m / float(torch.cat([x.flatten() for x in gs]).pow(2).mean()))
            ** 0.5
            for g in gs
        ],
        "is wrong at",
        4,
    ),
    # 6: odd return values
    "in place, returns None": (_clip_in_place_returns_none, "return the list", 6),
    "returns the norm, as clip_grad_norm_ does": (
        lambda gs, m: _total(gs),
        "returned a single number",
        6,
    ),
    "returns the norm as a float": (
        lambda gs, m: float(_total(gs)),
        "returned a single number",
        6,
    ),
    "a single tensor": (
        lambda gs, m: torch.cat([g.flatten() for g in _clip_notebook(gs, m)]),
        "expected 3 return value(s)",
        6,
    ),
    "a generator": (
        lambda gs, m: (g for g in _clip_notebook(gs, m)),
        "a generator",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_clip_by_norm_rejects = _rejecting(CLIP_PLANTED, check_clip_by_norm)


def _clip_with_torch(grads, max_norm):
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params]


def _clip_with_torch_norm(grads, max_norm):
    total = torch.nn.utils.get_total_norm(grads)
    return [g * min(1.0, max_norm / total) for g in grads]


CLIP_SHORTCUTS = {
    "torch.nn.utils.clip_grad_norm_": (
        _clip_with_torch,
        "torch.nn.utils.clip_grad_norm_",
    ),
    "torch.nn.utils.get_total_norm": (
        _clip_with_torch_norm,
        "torch.nn.utils.get_total_norm",
    ),
    "the package's clip_by_norm": (
        lambda gs, m: clip_by_norm(gs, m),
        "rnncourse.training.clip_by_norm",
    ),
    "the package's global_norm": (
        lambda gs, m: [g * min(1.0, m / global_norm(gs)) for g in gs],
        "rnncourse.training.global_norm",
    ),
}


@pytest.mark.parametrize("name", CLIP_SHORTCUTS)
def test_clip_by_norm_rejects_shortcuts(name):
    fn, called = CLIP_SHORTCUTS[name]
    if not hasattr(torch.nn.utils, "get_total_norm") and "get_total" in name:
        pytest.skip("this torch has no get_total_norm")
    g = torch.Generator().manual_seed(4)
    grads = [
        torch.randn(s, generator=g, dtype=torch.float64) * 3 for s in [(3, 4), (4,)]
    ]
    got, expected = fn([t.clone() for t in grads], 1.0), clip_by_norm(grads, 1.0)
    torch.testing.assert_close(list(got), expected)  # right, but not written by hand
    message = _message(check_clip_by_norm, fn)
    assert f"your function calls {called}," in message


# --- init_recurrent ---------------------------------------------------------------


def _svd_orthogonal(D):
    U, _, Vh = torch.linalg.svd(torch.randn(D, D))
    return U @ Vh


def _numpy_orthogonal(D):
    Q, _ = np.linalg.qr(np.random.randn(D, D))
    return torch.from_numpy(Q)


def _python_random_orthogonal(D):
    A = torch.tensor([[random.gauss(0, 1) for _ in range(D)] for _ in range(D)])
    return torch.linalg.qr(A)[0]


INIT_RIGHT = {
    "the notebook's QR, no sign correction": lambda D: torch.linalg.qr(
        torch.randn(D, D, dtype=torch.float64)
    )[0],
    "orthogonal with the sign correction": _orthogonal,
    "the identity, float32": lambda D: torch.eye(D),
    "orthogonal, float32": lambda D: _orthogonal(D, dtype=torch.float32),
    "an SVD's U @ V.T": _svd_orthogonal,
    "NumPy's QR": _numpy_orthogonal,
    "Python's random, then QR": _python_random_orthogonal,
    "a parameter that requires grad": lambda D: torch.nn.Parameter(_orthogonal(D)),
    "orthogonal with gain 1.05": lambda D: _orthogonal(D, gain=1.05),
}


test_init_recurrent_accepts = _accepting(
    INIT_RIGHT, check_init_recurrent, "does not grow"
)


def _rank_deficient(D):
    Q = _orthogonal(D)
    Q[:, -1] = 0  # one direction wiped out at every step
    return Q


INIT_PLANTED = {
    # 3: the matrix's shape and dtype
    "wrong shape": (
        lambda D: torch.eye(D + 1),
        "must have shape (D_h, D_h) = (64, 64)",
        3,
    ),
    "an integer identity": (
        lambda D: torch.eye(D, dtype=torch.long),
        "dtype torch.int64",
        3,
    ),
    "complex": (
        lambda D: torch.eye(D, dtype=torch.complex64),
        "should be a real floating-point matrix",
        3,
    ),
    "NaN": (lambda D: torch.full((D, D), float("nan")), "NaN", 3),
    # 4: windows tight enough for the chapter's bad examples
    "torch's default": (
        lambda D: torch.nn.RNN(1, D).weight_hh_l0.detach(),
        "the gradient vanished",
        4,
    ),
    "small Gaussian": (
        lambda D: torch.randn(D, D) * 0.3 / D**0.5,
        "spectral radius 0.3",
        4,
    ),
    "0.9 x orthogonal": (lambda D: _orthogonal(D, gain=0.9), "vanished", 4),
    "0.9 x identity": (lambda D: 0.9 * torch.eye(D), "vanished", 4),
    "1.1 x orthogonal": (lambda D: _orthogonal(D, gain=1.1), "still growing", 4),
    "1.1 x identity": (lambda D: 1.1 * torch.eye(D), "the gradient exploded", 4),
    "1.2 x orthogonal": (
        lambda D: _orthogonal(D, gain=1.2),
        "larger than the norm 1",
        4,
    ),
    "1.5 x orthogonal": (
        lambda D: _orthogonal(D, gain=1.5),
        "W_hh has spectral radius 1.50",
        4,
    ),
    "1.5 x identity (saturates)": (lambda D: 1.5 * torch.eye(D), "radius 1.50", 4),
    "Gaussian N(0, 1/D_h), the chapter's lottery": (
        lambda D: torch.randn(D, D) / D**0.5,
        "is a lottery",
        4,
    ),
    "rank D_h - 1": (_rank_deficient, "W_hh is singular for D_h=64: its rank is 63", 4),
    "all ones (eigvals fails on it)": (
        lambda D: torch.ones(D, D),
        "its rank is 1",
        4,
    ),
    "zeros": (lambda D: torch.zeros(D, D), "its rank is 0", 4),
    # 6: odd return values
    "NumPy array": (lambda D: np.eye(D), "return W_hh as a torch.Tensor", 6),
    "None": (lambda D: None, "got None", 6),
    "a tuple": (lambda D: (torch.eye(D), torch.eye(D)), "a tuple of 2 values", 6),
    "on the meta device": (
        lambda D: torch.eye(D, device="meta"),
        "could not be compared",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_init_recurrent_rejects = _rejecting(INIT_PLANTED, check_init_recurrent)


INIT_SHORTCUTS = {
    "the package's orthogonal_": (
        lambda D: orthogonal_(torch.empty(D, D)),
        "rnncourse.nn.init.orthogonal_",
    ),
    "the package's identity_": (
        lambda D: identity_(torch.empty(D, D)),
        "rnncourse.nn.init.identity_",
    ),
    "torch.nn.init.orthogonal_": (
        lambda D: torch.nn.init.orthogonal_(torch.empty(D, D)),
        "torch.nn.init.orthogonal_",
    ),
}


@pytest.mark.parametrize("name", INIT_SHORTCUTS)
def test_init_recurrent_rejects_the_package_s_initialisers(name):
    fn, called = INIT_SHORTCUTS[name]
    assert f"your function calls {called}," in _message(check_init_recurrent, fn)


def test_the_verdict_does_not_depend_on_the_random_state():
    """Draws are seeded: a lottery answer gets the same sentence every time, and the
    caller's random generators are left as they were."""
    lottery = INIT_PLANTED["Gaussian N(0, 1/D_h), the chapter's lottery"][0]
    torch.manual_seed(123)
    state, np_state = torch.random.get_rng_state(), np.random.get_state()
    first = _message(check_init_recurrent, lottery)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    torch.manual_seed(456)
    assert _message(check_init_recurrent, lottery) == first


def test_the_window_is_what_the_comment_says():
    assert chapter3.WINDOW == (1e-4, 1.0) and chapter3.GROWTH == 1.0
    assert (chapter3.DISTANCE, chapter3.HALFWAY) == (100, 50)


# --- all three --------------------------------------------------------------------

PLANTED = {
    check_jacobian_product: JACOBIAN_PLANTED,
    check_clip_by_norm: CLIP_PLANTED,
    check_init_recurrent: INIT_PLANTED,
}


test_each_usual_mistake_gets_its_own_message = _distinct_usual_mistakes(
    {c: PLANTED[c] for c in (check_jacobian_product, check_clip_by_norm)}, 4
)
test_an_answer_that_is_not_a_function_gets_a_sentence = _refusing_non_functions(
    PLANTED, "W_hh", "expected a function, got a Python str"
)
