"""Checkers for chapter 3 (vanishing and exploding gradients): the Jacobian product and
its norm, clipping by norm, and an initialisation that keeps the gradient alive.

Each ``check_<name>(student_fn)`` runs the student's function against the
reference (or, for the initialisation, measures what it does) and names the
usual mistakes.
"""

from __future__ import annotations

import torch

from rnncourse.exercises.checker import (
    Case,
    Mistake,
    Output,
    call_student,
    check,
    comparing,
    fail,
    kind_of,
    require_function,
)
from rnncourse.nn.init import spectral_radius
from rnncourse.probes import jacobian_product, probe
from rnncourse.training import clip_by_norm


def _randn(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


# --- Exercise 1: the Jacobian product and its norm --------------------------


def jacobian_product_reference(hs, W_hh):
    """hs: (T+1, D_h) states h_0..h_T of a tanh RNN, W_hh: (D_h, D_h) ->
    (J = dh_T/dh_0: (D_h, D_h), its spectral norm ||J||_2: a 0-d tensor)."""
    J = jacobian_product(hs, W_hh, "tanh")
    return J, torch.linalg.matrix_norm(J, ord=2)


def _product(hs, W_hh, factor, newest_left=True, first=1):
    J = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
    for k in range(first, hs.shape[0]):
        J = factor(hs, W_hh, k) @ J if newest_left else J @ factor(hs, W_hh, k)
    return J


def _with_norm(J):
    return J, torch.linalg.matrix_norm(J, ord=2)


def _right(hs, W, k):
    return (1 - hs[k] ** 2)[:, None] * W


JACOBIAN_MISTAKES = [
    Mistake(
        lambda hs, W: _with_norm(_product(hs, W, _right, newest_left=False)),
        "your factors are multiplied in the wrong order: the newest step's Jacobian "
        "goes on the left, J <- (diag(1 - h_k**2) W_hh) @ J",
    ),
    Mistake(
        lambda hs, W: _with_norm(
            _product(hs, W, lambda hs, W, k: (1 - hs[k - 1] ** 2)[:, None] * W)
        ),
        "your derivative at step k uses h_{k-1}: the tanh of step k produced h_k, so "
        "use 1 - h_k**2",
    ),
    Mistake(
        lambda hs, W: _with_norm(_product(hs, W, lambda hs, W, k: W)),
        "your product leaves out the tanh: each factor is diag(1 - h_k**2) W_hh, not "
        "W_hh alone",
    ),
    Mistake(
        lambda hs, W: _with_norm(
            _product(hs, W, lambda hs, W, k: W * (1 - hs[k] ** 2)[None, :])
        ),
        "your factor is W_hh diag(1 - h_k**2): the derivative scales the rows, diag(1 "
        "- h_k**2) W_hh, because the tanh acts after the matrix product",
    ),
    Mistake(
        lambda hs, W: _with_norm(
            _product(hs, W, lambda hs, W, k: (1 - hs[k] ** 2)[:, None] * W.T)
        ),
        "you used W_hh transposed: dh_k/dh_{k-1} = diag(1 - h_k**2) W_hh",
    ),
    Mistake(
        lambda hs, W: _with_norm(_product(hs, W, _right, first=0)),
        "your product has one factor too many: there are T steps from h_0 to h_T, k = "
        "1, ..., T",
    ),
    Mistake(
        lambda hs, W: (
            jacobian_product(hs, W),
            torch.linalg.matrix_norm(jacobian_product(hs, W)),
        ),
        "J is right but the norm is the Frobenius norm: use the spectral norm, the "
        "largest singular value (torch.linalg.matrix_norm(J, ord=2))",
    ),
    Mistake(
        lambda hs, W: (
            jacobian_product(hs, W),
            torch.linalg.eigvals(jacobian_product(hs, W)).abs().max(),
        ),
        "J is right but you returned its spectral radius: the norm is the largest "
        "singular value, torch.linalg.matrix_norm(J, ord=2)",
    ),
]


def _jacobian_args(T: int, D_h: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    hs = torch.tanh(_randn(g, T + 1, D_h))  # states of a tanh RNN lie in (-1, 1)
    return hs, _randn(g, D_h, D_h, scale=1.2 * D_h**-0.5)


def check_jacobian_product(jacobian_product_fn) -> None:
    """Check ``jacobian_product(hs, W_hh) -> (J, norm)`` against the reference."""
    sizes = [(5, 4), (1, 3), (12, 6), (3, 2)]
    cases = [
        Case(_jacobian_args(T, D_h, 50 + seed), f"(for T={T}, D_h={D_h})")
        for seed, (T, D_h) in enumerate(sizes)
    ]
    check(
        "jacobian_product",
        jacobian_product_fn,
        jacobian_product_reference,
        cases,
        [Output("J", ("row", "column")), Output("the norm")],
        JACOBIAN_MISTAKES,
    )


# --- Exercise 2: clipping by norm -------------------------------------------


def clip_by_norm_reference(g1, g2, g3, max_norm):
    """Three gradients and a threshold -> the three gradients, clipped together by their
    global norm."""
    return tuple(clip_by_norm([g1, g2, g3], max_norm))


def _as_list_function(fn):
    """Call the student's ``fn(grads: list, max_norm)`` with three gradients; return a
    tuple."""

    def call(g1, g2, g3, max_norm):
        out = fn([g1, g2, g3], max_norm)
        return tuple(out) if isinstance(out, (list, tuple)) else out

    return call


def _each(fn):
    return lambda g1, g2, g3, max_norm: tuple(fn(g, max_norm) for g in (g1, g2, g3))


def _norm(g1, g2, g3):
    return torch.sqrt(sum((g**2).sum() for g in (g1, g2, g3)))


CLIP_MISTAKES = [
    Mistake(
        _each(lambda g, m: g * torch.clamp(m / g.norm(), max=1.0)),
        "you clipped each gradient by its own norm: clip them together, by the norm of "
        "all of them concatenated",
    ),
    Mistake(
        lambda g1, g2, g3, m: tuple(g * m / _norm(g1, g2, g3) for g in (g1, g2, g3)),
        "you rescaled gradients that were already short enough: leave them unchanged "
        "when the norm is at most max_norm",
    ),
    Mistake(
        _each(lambda g, m: g.clamp(-m, m)),
        "you clipped each entry (clipping by value): scale the whole gradient by "
        "max_norm / norm instead",
    ),
    Mistake(
        lambda g1, g2, g3, m: tuple(
            g / _norm(g1, g2, g3) if _norm(g1, g2, g3) > m else g for g in (g1, g2, g3)
        ),
        "your clipped gradient has norm 1, not max_norm: multiply by max_norm / norm",
    ),
    Mistake(
        lambda g1, g2, g3, m: tuple(
            g * m / _norm(g1, g2, g3) ** 2 if _norm(g1, g2, g3) ** 2 > m else g
            for g in (g1, g2, g3)
        ),
        "you used the squared norm: the norm is the square root of the sum of squares",
    ),
]


def _clip_args(scale: float, max_norm: float, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return (
        _randn(g, 3, 4, scale=scale),
        _randn(g, 4, scale=scale),
        _randn(g, 2, 2, scale=scale),
        max_norm,
    )


def check_clip_by_norm(clip_by_norm_fn) -> None:
    """Check ``clip_by_norm(grads, max_norm) -> list of clipped gradients`` against the
    reference."""
    cases = [
        Case(_clip_args(scale, max_norm, 60 + seed), description)
        for seed, (scale, max_norm, description) in enumerate(
            [
                (3.0, 1.0, "(for gradients of global norm about 10 and max_norm=1)"),
                (
                    0.05,
                    1.0,
                    "(for gradients of global norm about 0.2 and max_norm=1, which "
                    "need no clipping)",
                ),
                (100.0, 5.0, "(for gradients of global norm about 300 and max_norm=5)"),
                (0.5, 0.3, "(for gradients of global norm about 2 and max_norm=0.3)"),
            ]
        )
    ]
    check(
        "clip_by_norm",
        _as_list_function(clip_by_norm_fn),
        clip_by_norm_reference,
        cases,
        [
            Output("the clipped first gradient", ("row", "column")),
            Output("the clipped second gradient", ("entry",)),
            Output("the clipped third gradient", ("row", "column")),
        ],
        CLIP_MISTAKES,
    )


# --- Exercise 3: an initialisation that keeps the gradient alive ------------

DISTANCE = 100
# the gradient norms at DISTANCE that count as neither vanished nor exploded
ALIVE = (1e-4, 1e4)


def gradient_at_distance(W_hh: torch.Tensor, seeds=(0, 1, 2)) -> float:
    """The median over ``seeds`` of the gradient norm DISTANCE steps back, in the tanh
    setting of :func:`rnncourse.probes.probe` (inputs of scale 0.5, zero biases,
    h_0 = 0)."""
    norms = [probe(W_hh, T=DISTANCE, seed=seed)[DISTANCE].item() for seed in seeds]
    return sorted(norms)[len(norms) // 2]


def check_init_recurrent(init_recurrent) -> None:
    """Check that ``init_recurrent(D_h) -> W_hh (D_h, D_h)`` keeps the gradient of a
    tanh RNN between 1e-4 and 1e4 after 100 steps, for D_h = 64 and 32."""
    name = "init_recurrent"
    require_function(name, init_recurrent)
    for D_h in (64, 32):
        where = f"for D_h={D_h}"
        W = call_student(name, init_recurrent, (D_h,), where)
        with comparing(name, where):
            norm = _gradient_norm(name, W, D_h)
    print(
        f"\u2705 {name}: the gradient norm {DISTANCE} steps back is {norm:.2g}, "
        f"between {ALIVE[0]:g} and {ALIVE[1]:g}."
    )


def _gradient_norm(name: str, W, D_h: int) -> float:
    """The gradient norm DISTANCE steps back with the student's W_hh; fails unless it
    is a finite (D_h, D_h) tensor that keeps the gradient between ALIVE's bounds."""
    if not isinstance(W, torch.Tensor):
        fail(name, f"return W_hh as a torch.Tensor, got {kind_of(W)} for D_h={D_h}")
    if tuple(W.shape) != (D_h, D_h):
        fail(
            name,
            f"W_hh must have shape (D_h, D_h) = ({D_h}, {D_h}), got {tuple(W.shape)}",
        )
    if W.device.type != "cpu":
        fail(
            name,
            f"W_hh is on the device {W.device}, but the checker runs the network on "
            f"the CPU: return it on the CPU for D_h={D_h}",
        )
    if W.is_complex():
        fail(name, f"W_hh should be real, got dtype {W.dtype} for D_h={D_h}")
    W = W.detach().to(torch.float64)
    if not torch.isfinite(W).all():
        fail(name, f"W_hh contains NaN or infinity for D_h={D_h}")
    norm = gradient_at_distance(W)
    rho, sigma = spectral_radius(W), torch.linalg.matrix_norm(W, ord=2).item()
    about = (
        f"for D_h={D_h}, where W_hh has spectral radius {rho:.2f} and largest singular "
        f"value {sigma:.2f}"
    )
    if norm < ALIVE[0]:
        fail(
            name,
            f"the gradient vanished: its norm {DISTANCE} steps back is {norm:.1e} "
            f"{about}; aim for singular values close to 1, as an orthogonal or "
            "identity matrix has",
        )
    if not norm <= ALIVE[1]:  # also catches NaN
        fail(
            name,
            f"the gradient exploded: its norm {DISTANCE} steps back is {norm:.1e} "
            f"{about}; scale W_hh down so that its singular values are close to 1",
        )
    return norm
