"""Checkers for chapter 3 (vanishing and exploding gradients): the Jacobian product and
its norm, clipping by norm, and an initialisation that keeps the gradient alive.

Each ``check_<name>(student_fn)`` runs the student's function against the
reference (or, for the initialisation, measures what it does) and names the
usual mistakes.

Beyond the usual mistakes, each checker closes the loopholes that a plausible answer
could slip through:

- ``jacobian_product``: by hand (autograd, ``torch.autograd.functional.jacobian``
  among it, and the package's ``rnncourse.probes.jacobian_product`` are off limits);
  T = 1, D_h = 1, 100 steps, float64 and float32; in float32 a product whose entries
  reach about 1e24, where a norm taken through ``J.T @ J`` overflows (named; and
  ``torch.linalg.eigvals``, which crashes Python on a matrix holding NaN, raises
  instead while the student's function runs). The norm may be a 0-d tensor, a
  Python float or a NumPy number.
- ``clip_by_norm``: ``torch.nn.utils.clip_grad_norm_`` and its kin and the package's
  ``clip_by_norm`` and ``global_norm`` are off limits; one, three and four gradients,
  a 0-d gradient, a zero gradient, gradients that are all zero, float32 gradients of
  norm about 2e5, an integer max_norm. No gradient flows through clipping in
  training, so none is asked for: scaling the given tensors in place is right.
- ``init_recurrent``: several seeded draws per size; the gradient 100 steps back
  must lie in a window measured from orthogonal and identity matrices (see
  ``WINDOW``) and must not grow between 50 and 100 steps back; singular matrices and
  spectral radii far above 1 are refused with their own sentences; the package's
  initialisers and ``torch.nn.init.orthogonal_`` are off limits.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import random
import textwrap
from typing import Callable, Iterator

import numpy as np
import torch

import rnncourse.nn.init
import rnncourse.probes
import rnncourse.training
from rnncourse.exercises.checker import (
    FLOAT32,
    Case,
    Group,
    Guard,
    Mistake,
    Output,
    check_in_groups,
    comparing,
    fail,
    kind_of,
    randn64,
    require_function,
)
from rnncourse.nn.init import spectral_radius
from rnncourse.probes import jacobian_product, probe
from rnncourse.training import clip_by_norm


def _is_number(value) -> bool:
    """A Python or NumPy real number (a NumPy 0-d array included), not a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    return type(value).__module__.split(".")[0] == "numpy" and (
        getattr(value, "ndim", None) == 0 and np.issubdtype(value.dtype, np.floating)
    )


# --- Exercise 1: the Jacobian product and its norm --------------------------


def jacobian_product_reference(hs, W_hh):
    """hs: (T+1, D_h) states h_0..h_T of a tanh RNN, W_hh: (D_h, D_h) ->
    (J = dh_T/dh_0: (D_h, D_h), its spectral norm ||J||_2: a 0-d tensor)."""
    J = jacobian_product(hs, W_hh, "tanh")
    return J, torch.linalg.matrix_norm(J, ord=2)


#: What would do exercise 1 for the student, besides autograd: the package's own
#: product.
JACOBIAN_SHORTCUTS = [(rnncourse.probes, "jacobian_product")]


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

JACOBIAN_OVERFLOW = (
    "here J's entries reach about 1e24, and squaring them (J.T @ J, or a sum of "
    "squares) overflows float32, whose largest number is about 3e38; take the largest "
    "singular value of J itself, torch.linalg.matrix_norm(J, ord=2) or "
    "torch.linalg.svdvals(J)[0]"
)


def _jacobian_args(
    T: int, D_h: int, seed: int, dtype=torch.float64, gain: float = 1.2
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    hs = torch.tanh(randn64(g, T + 1, D_h))  # states of a tanh RNN lie in (-1, 1)
    return hs.to(dtype), randn64(g, D_h, D_h, scale=gain * D_h**-0.5).to(dtype)


def _jacobian_case(T, D_h, seed, dtype=torch.float64, gain=1.2) -> Case:
    kind = ", in float32" if dtype == torch.float32 else ""
    return Case(
        _jacobian_args(T, D_h, seed, dtype, gain),
        f"(for T={T}, D_h={D_h}{kind})",
        grad=False,
    )


@contextlib.contextmanager
def _eigvals_refusing_non_finite() -> Iterator[None]:
    """torch.linalg.eigvals crashes Python (a segmentation fault in MKL's gebal) on a
    matrix that holds NaN, which a norm taken through J.T @ J can produce on the
    float32 case: inside the block it raises a ValueError instead."""
    original = torch.linalg.eigvals

    @functools.wraps(original)
    def eigvals(A, *args, **kwargs):
        if isinstance(A, torch.Tensor) and not torch.isfinite(A).all():
            raise ValueError(
                "torch.linalg.eigvals was given a matrix that holds NaN or infinity"
            )
        return original(A, *args, **kwargs)

    torch.linalg.eigvals = eigvals
    try:
        yield
    finally:
        torch.linalg.eigvals = original


def _norm_as_tensor(fn: Callable) -> Callable:
    """The student's function, with a norm returned as a Python or NumPy number turned
    into a 0-d tensor of J's dtype (the norm is a measurement: no gradient needed), and
    torch.linalg.eigvals kept from crashing on NaN."""

    @functools.wraps(fn)
    def call(hs, W_hh):
        with _eigvals_refusing_non_finite():
            out = fn(hs, W_hh)
        if isinstance(out, (tuple, list)) and len(out) == 2 and _is_number(out[1]):
            J = out[0]
            dtype = (
                J.dtype
                if isinstance(J, torch.Tensor) and J.is_floating_point()
                else W_hh.dtype
            )
            return J, torch.tensor(float(out[1]), dtype=dtype)
        return out

    return call


def _jacobian_groups() -> list[Group]:
    sizes = [(5, 4), (1, 3), (12, 6), (3, 2), (4, 1), (100, 8)]
    usual = [_jacobian_case(T, D_h, 50 + seed) for seed, (T, D_h) in enumerate(sizes)]
    # In float32, with W_hh of gain 2.6 the product grows to about 1e24 in 100 steps
    # (its norm is 5.5e24 here): J itself fits in float32 but J.T @ J does not.
    wide = _jacobian_case(100, 8, 6, torch.float32, gain=2.6)
    scale = jacobian_product_reference(*wide.args)[0].abs().max().item()
    return [
        Group(usual),
        Group([_jacobian_case(6, 5, 60, torch.float32)], **FLOAT32),
        Group(
            [wide],
            rtol=FLOAT32["rtol"],
            atol=FLOAT32["rtol"] * scale,  # entries near 0 err on J's scale
            overflow=JACOBIAN_OVERFLOW,
        ),
    ]


def check_jacobian_product(jacobian_product_fn) -> None:
    """Check ``jacobian_product(hs, W_hh) -> (J, norm)`` against the reference, by
    hand.

    Accepted: the factors ``(1 - h_k**2)[:, None] * W_hh`` or ``torch.diag(1 -
    h_k**2) @ W_hh`` multiplied in on the left, or all of them at once with
    ``torch.linalg.multi_dot`` from the newest to the oldest; the norm from
    ``torch.linalg.matrix_norm(J, ord=2)``, ``torch.linalg.norm(J, 2)`` or
    ``torch.linalg.svdvals(J)[0]``, as a 0-d tensor, a Python float or a NumPy
    number; a list for the pair. No gradient is asked for."""
    require_function("jacobian_product", jacobian_product_fn)
    check_in_groups(
        "jacobian_product",
        _norm_as_tensor(jacobian_product_fn),
        jacobian_product_reference,
        _jacobian_groups(),
        [Output("J", ("row", "column")), Output("the norm")],
        JACOBIAN_MISTAKES,
        by_hand=True,
        forbidden=JACOBIAN_SHORTCUTS,
        strict=True,
    )


# --- Exercise 2: clipping by norm -------------------------------------------


def clip_by_norm_reference(*args):
    """g_1, ..., g_n, max_norm -> the n gradients, clipped together by their global
    norm."""
    *grads, max_norm = args
    return tuple(clip_by_norm(list(grads), max_norm))


#: What would do exercise 2 for the student: torch's clipping, and the package's.
CLIP_SHORTCUTS = [
    "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grads_with_norm_",
    "torch.nn.utils.get_total_norm",
    (rnncourse.training, "clip_by_norm"),
    (rnncourse.training, "global_norm"),
]


def _as_list_function(fn: Callable) -> Callable:
    """Call the student's ``fn(grads: list, max_norm)`` with the gradients given one by
    one; return a tuple. A function that scaled the gradients in place but returned
    nothing, or returned one number, is told what to return."""

    @functools.wraps(fn)
    def call(*args):
        *grads, max_norm = args
        before = [g.clone() for g in grads]
        out = fn(list(grads), max_norm)
        if out is None and any(not torch.equal(g, b) for g, b in zip(grads, before)):
            fail(
                "clip_by_norm",
                "you changed the gradients in place, which is allowed, but your "
                "function returned None: return the list of gradients as well",
            )
        if isinstance(out, torch.Tensor) and out.dim() == 0 or _is_number(out):
            fail(
                "clip_by_norm",
                "your function returned a single number (the norm, as "
                "torch.nn.utils.clip_grad_norm_ returns?): return the list of the "
                "clipped gradients",
            )
        return tuple(out) if isinstance(out, (list, tuple)) else out

    return call


def _each(fn):
    return lambda *a: tuple(fn(g, a[-1]) for g in a[:-1])


def _norm(*grads):
    return torch.sqrt(sum((g**2).sum() for g in grads))


CLIP_MISTAKES = [
    Mistake(
        _each(lambda g, m: g * torch.clamp(m / g.norm(), max=1.0)),
        "you clipped each gradient by its own norm: clip them together, by the norm of "
        "all of them concatenated",
    ),
    Mistake(
        lambda *a: tuple(g * a[-1] / _norm(*a[:-1]) for g in a[:-1]),
        "you rescaled gradients that were already short enough: leave them unchanged "
        "when the norm is at most max_norm",
    ),
    Mistake(
        _each(lambda g, m: g.clamp(-m, m)),
        "you clipped each entry (clipping by value): scale the whole gradient by "
        "max_norm / norm instead",
    ),
    Mistake(
        lambda *a: tuple(
            g / _norm(*a[:-1]) if _norm(*a[:-1]) > a[-1] else g for g in a[:-1]
        ),
        "your clipped gradient has norm 1, not max_norm: multiply by max_norm / norm",
    ),
    Mistake(
        lambda *a: tuple(
            g * a[-1] / _norm(*a[:-1]) ** 2 if _norm(*a[:-1]) ** 2 > a[-1] else g
            for g in a[:-1]
        ),
        "you used the squared norm: the norm is the square root of the sum of squares",
    ),
]


def _grads(g: torch.Generator, shapes, scale: float, dtype=torch.float64) -> list:
    return [
        (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)
        for shape in shapes
    ]


def _clip_case(grads, max_norm, what: str) -> Case:
    return Case((*grads, max_norm), f"(for {what})", grad=False)


def _zero_division(err: Exception) -> str | None:
    if isinstance(err, ZeroDivisionError):
        return "compare the norm with max_norm before dividing by it"
    return None


_AXES = {0: (), 1: ("entry",), 2: ("row", "column")}


def _clip_group(cases: list[Case], **tolerance) -> Group:
    """Cases with the same number of gradients, and how to name each clipped one."""
    grads = cases[0].args[:-1]
    n = len(grads)
    outputs = [
        Output(f"the clipped gradient {i + 1} (of {n})", _AXES[g.dim()])
        for i, g in enumerate(grads)
    ]
    return Group(cases, outputs=outputs, **tolerance)


def _clip_groups() -> list[Group]:
    g = torch.Generator().manual_seed(60)
    three = [(3, 4), (4,), (2, 2)]
    at_norm = _grads(g, three, 1.0)
    one_zero = _grads(g, three, 3.0)
    one_zero[1] = torch.zeros_like(one_zero[1])
    # rtol 1e-5 accepts torch's max_norm / (norm + 1e-6) for norms above about 0.1
    loose = {"rtol": 1e-5, "atol": 1e-8}
    return [
        _clip_group(
            [
                _clip_case(
                    _grads(g, three, 3.0),
                    1.0,
                    "gradients of global norm about 10 and max_norm=1",
                ),
                _clip_case(
                    _grads(g, three, 0.05),
                    1.0,
                    "gradients of global norm about 0.2 and max_norm=1, which need no "
                    "clipping",
                ),
                _clip_case(
                    _grads(g, three, 100.0),
                    5,
                    "gradients of global norm about 400 and max_norm=5, an integer",
                ),
                _clip_case(
                    _grads(g, three, 0.5),
                    0.3,
                    "gradients of global norm about 2 and max_norm=0.3",
                ),
                _clip_case(
                    one_zero,
                    1.0,
                    "gradients of global norm about 10, one of them all zero, and "
                    "max_norm=1",
                ),
                _clip_case(
                    [torch.zeros(s, dtype=torch.float64) for s in three],
                    1.0,
                    "gradients that are all zero, of norm 0, which need no clipping",
                ),
                _clip_case(
                    at_norm,
                    _norm(*at_norm).item(),
                    "gradients whose global norm equals max_norm, which need no "
                    "clipping",
                ),
            ],
            **loose,
        ),
        _clip_group(
            [
                _clip_case(
                    _grads(g, [(5,)], 2.0),
                    1.0,
                    "a single gradient of norm about 4 and max_norm=1",
                )
            ],
            **loose,
        ),
        _clip_group(
            [
                _clip_case(
                    _grads(g, [(256, 128), (128,), (), (3, 3)], 1e3, torch.float32),
                    1.0,
                    "four float32 gradients, one of them 0-d, of global norm about "
                    "2e5 and max_norm=1",
                )
            ],
            **FLOAT32,
        ),
    ]


def check_clip_by_norm(clip_by_norm_fn) -> None:
    """Check ``clip_by_norm(grads, max_norm) -> list of clipped gradients`` against the
    reference.

    Accepted: the global norm from a sum of squares, ``torch.linalg.vector_norm`` of
    the concatenated gradients or the norm of the per-tensor norms; the scale
    ``max_norm / norm`` applied when the norm exceeds max_norm (``>`` or ``>=``), or
    ``min(1, max_norm / norm)`` always, ``torch.clamp``, torch's ``max_norm / (norm +
    1e-6)``; new tensors or the given ones scaled in place (``g.mul_(scale)``), as a
    list or a tuple; Python or tensor arithmetic. No gradient through the clipping is
    asked for: in training it acts on gradients, outside the graph."""
    require_function("clip_by_norm", clip_by_norm_fn)
    check_in_groups(
        "clip_by_norm",
        _as_list_function(clip_by_norm_fn),
        clip_by_norm_reference,
        _clip_groups(),
        [],
        CLIP_MISTAKES,
        forbidden=CLIP_SHORTCUTS,
        explain=_zero_division,
        strict=True,
    )


# --- Exercise 3: an initialisation that keeps the gradient alive ------------

DISTANCE, HALFWAY = 100, 50

#: The gradient norms DISTANCE steps back that count as neither vanished nor exploded
#: (the gradient starts with norm 1 at the last step). Measured in this checker's own
#: setting (``gradient_norms_at``: the median over probe seeds 0, 1, 2 of the tanh
#: probe, inputs of scale 0.5), over 200 random draws of each matrix:
#:
#:   W_hh                     D_h=64: 100 steps back     D_h=32: 100 steps back
#:   orthogonal               1.30e-2 to 1.54e-2         2.16e-3 to 3.25e-3
#:   identity                 9.73e-2                    6.53e-2
#:   0.9 x orthogonal         3.63e-6 to 4.01e-6         8.68e-7 to 1.09e-6
#:   0.95 x orthogonal        3.50e-4 to 4.03e-4         6.62e-5 to 8.92e-5
#:   1.05 x orthogonal        1.51e-1 to 1.84e-1         2.94e-2 to 4.56e-2
#:   1.1 x orthogonal         7.45e-1 to 9.81e-1         1.88e-1 to 3.19e-1
#:   1.2 x orthogonal         7.11e+0 to 1.05e+1         2.19e+0 to 4.49e+0
#:   1.5 x orthogonal         1.80e+3 to 3.80e+3         7.87e+2 to 2.67e+3
#:   1.1 x identity           3.47e+0                    3.36e+0
#:   Gaussian N(0, 1/D_h)     3.62e-5 to 4.00e+0         4.26e-12 to 4.41e+0
#:   Gaussian N(0, 1/(3D_h))  3.0e-27 to 2.0e-16         1.4e-28 to 6.5e-13
#:   orthogonal of rank D_h/2 2.0e-18 to 1.1e-7          2.4e-21 to 9.8e-8
#:
#: So orthogonal and identity matrices pass with a margin of 21 (2.16e-3 against
#: 1e-4) below and 10 (9.73e-2 against 1) above, whatever the draw, while 0.9 x
#: orthogonal (the chapter's vanishing example) fails by a factor of 25 and 1.5 x
#: orthogonal (its exploding example) by 800. The upper bound 1 says that the
#: gradient must not come back larger than it started.
WINDOW = (1e-4, 1.0)

#: The gradient must not grow between HALFWAY and DISTANCE steps back: the ratio of
#: the two norms (100 steps back over 50) is at most 0.15 (D_h=64) and 0.072 (D_h=32)
#: for orthogonal matrices and 0.43 and 0.46 for the identity, over the same draws,
#: while 1.5 x orthogonal grows by 99 to 187 (from about 2e1 at 50 steps to 3e3 at
#: 100), 1.2 x orthogonal by 2.3 to 6.8 and 1.1 x orthogonal by 1.3 to 1.6 (D_h=64).
GROWTH = 1.0

#: A spectral radius above this is refused on its own (orthogonal and identity
#: matrices have exactly 1; the chapter's exploding example has 1.5).
MAX_RADIUS = 1.25

#: W_hh counts as singular when its smallest singular value is at most this fraction
#: of its largest (a random Gaussian matrix's ratio is about 1e-2 / D_h).
SINGULAR = 1e-6

#: Sizes, and random draws of the student's function per size: each draw runs with
#: torch's, NumPy's and Python's generators seeded, so the verdict on a given answer
#: is always the same, and an answer that passes only on lucky draws is seen.
SIZES, DRAWS = (64, 32), 3

#: What would do exercise 3 for the student: the package's initialisers, and torch's
#: orthogonal one (torch.eye stays allowed: the identity is one of the answers).
INIT_SHORTCUTS = [
    (rnncourse.nn.init, "orthogonal_"),
    (rnncourse.nn.init, "identity_"),
    (rnncourse.nn.init, "gaussian_"),
    (rnncourse.nn.init, "set_spectral_radius_"),
    "torch.nn.init.orthogonal_",
]


def gradient_norms_at(W_hh: torch.Tensor, seeds=(0, 1, 2)) -> tuple[float, float]:
    """The medians over ``seeds`` of the gradient norms HALFWAY and DISTANCE steps
    back, in the tanh setting of :func:`rnncourse.probes.probe` (inputs of scale 0.5,
    zero biases, h_0 = 0)."""
    runs = [probe(W_hh, T=DISTANCE, seed=seed) for seed in seeds]

    def median(d: int) -> float:
        return sorted(run[d].item() for run in runs)[len(runs) // 2]

    return median(HALFWAY), median(DISTANCE)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """torch's, NumPy's and Python's global generators seeded inside the block and
    restored after it."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _as_matrix(name: str, W, D_h: int) -> torch.Tensor:
    """W as a float64 CPU tensor; fails unless it is a finite real (D_h, D_h) tensor of
    a floating-point dtype (any device, with or without requires_grad)."""
    if not isinstance(W, torch.Tensor):
        fail(name, f"return W_hh as a torch.Tensor, got {kind_of(W)} for D_h={D_h}")
    if tuple(W.shape) != (D_h, D_h):
        fail(
            name,
            f"W_hh must have shape (D_h, D_h) = ({D_h}, {D_h}), got {tuple(W.shape)}",
        )
    if not W.is_floating_point():
        fail(
            name,
            f"W_hh should be a real floating-point matrix, got dtype {W.dtype} for "
            f"D_h={D_h}: make it with dtype torch.float32 or torch.float64",
        )
    W = W.detach().to("cpu", torch.float64)
    if not torch.isfinite(W).all():
        fail(name, f"W_hh contains NaN or infinity for D_h={D_h}")
    return W


def _refuse_singular(name: str, W: torch.Tensor, D_h: int) -> None:
    singular = torch.linalg.svdvals(W)
    largest, smallest = singular[0].item(), singular[-1].item()
    if smallest <= SINGULAR * largest or largest == 0:
        rank = int((singular > SINGULAR * largest).sum()) if largest > 0 else 0
        fail(
            name,
            f"W_hh is singular for D_h={D_h}: its rank is {rank}, not {D_h} (smallest "
            f"singular value {smallest:.1e}), so every step wipes out the directions "
            "it maps to zero, and what the state held along them, gradient included, "
            "is lost at once; use a matrix of full rank whose singular values are all "
            "close to 1, such as an orthogonal matrix",
        )


def _radius(W: torch.Tensor) -> float | None:
    try:
        return spectral_radius(W)
    except Exception:  # eigvals failed to converge: the gradient will tell
        return None


def _refuse_large_radius(name: str, rho: float | None, D_h: int) -> None:
    if rho is not None and rho > MAX_RADIUS:
        fail(
            name,
            f"W_hh has spectral radius {rho:.2f} for D_h={D_h}, well above 1: while "
            f"the states are small each step stretches them by up to {rho:.2f}, so the "
            "gradient explodes (section 3.2), or the tanh saturates and stops it; "
            "scale W_hh so that its spectral radius is about 1",
        )


def _verdict(at_half: float, at_end: float, about: str) -> str | None:
    """What is wrong with the gradient norms HALFWAY and DISTANCE steps back, or
    None."""
    low, high = WINDOW
    if not (np.isfinite(at_half) and np.isfinite(at_end)):
        return (
            f"the gradient overflowed to NaN or infinity within {DISTANCE} steps "
            f"{about}; scale W_hh down so that its singular values are close to 1"
        )
    if at_end < low:
        return (
            f"the gradient vanished: its norm {DISTANCE} steps back is {at_end:.1e} "
            f"(at least {low:g} is needed) {about}; aim for singular values close to "
            "1, as an orthogonal or identity matrix has"
        )
    if at_end > high:
        return (
            f"the gradient exploded: its norm {DISTANCE} steps back is {at_end:.1e}, "
            f"larger than the norm 1 it started with {about}; scale W_hh down so that "
            "its singular values are close to 1"
        )
    if at_end > GROWTH * at_half:
        return (
            f"the gradient is still growing: its norm is {at_half:.2g} {HALFWAY} steps "
            f"back and {at_end:.2g} {DISTANCE} steps back {about}, so over longer "
            "sequences it explodes; scale W_hh down so that its singular values are "
            "close to 1"
        )
    return None


def check_init_recurrent(init_recurrent) -> None:
    """Check that ``init_recurrent(D_h) -> W_hh (D_h, D_h)`` keeps the gradient of a
    tanh RNN alive: for D_h = 64 and 32, on DRAWS seeded draws each, W_hh must be a
    finite real matrix of full rank with spectral radius at most MAX_RADIUS, and the
    gradient norm DISTANCE steps back must lie in WINDOW and be no larger than
    HALFWAY steps back.

    Accepted: any orthogonal matrix (QR of a random matrix, with or without the sign
    correction, an SVD's U @ V.T), the identity (``torch.eye``), an orthogonal matrix
    times a gain close to 1 (1 to 1.05 pass for both sizes, see WINDOW); float32 or
    float64 (or another floating dtype), on any device, with or without
    requires_grad, made with torch, NumPy or Python's random and turned into a
    tensor."""
    name = "init_recurrent"
    require_function(name, init_recurrent)
    norms: list[float] = []
    with Guard(name, init_recurrent, forbidden=INIT_SHORTCUTS) as guard:
        for D_h in SIZES:
            measured = []
            for draw in range(DRAWS):
                where = f"for D_h={D_h}"
                with _seeded(1000 * D_h + draw):
                    W = guard.call((D_h,), where)
                with comparing(name, where):
                    W = _as_matrix(name, W, D_h)
                    _refuse_singular(name, W, D_h)
                    rho = _radius(W)
                    _refuse_large_radius(name, rho, D_h)
                    sigma = torch.linalg.matrix_norm(W, ord=2).item()
                    measured.append((rho, sigma, *gradient_norms_at(W)))
            _judge(name, D_h, measured)
            norms += [m[3] for m in measured]
    message = (
        f"\u2705 {name}: the gradient norm {DISTANCE} steps back is {min(norms):.2g} "
        f"to {max(norms):.2g} over {DRAWS} draws for D_h = "
        f"{' and '.join(map(str, SIZES))} (between {WINDOW[0]:g} and {WINDOW[1]:g}), "
        f"and it does not grow between {HALFWAY} and {DISTANCE} steps back."
    )
    print(textwrap.fill(message, 88))  # the lines of the page's code column


def _judge(name: str, D_h: int, measured: list[tuple]) -> None:
    """Fail with the first draw's problem, saying so when other draws passed."""
    verdicts = []
    for i, (rho, sigma, at_half, at_end) in enumerate(measured):
        radius = f"spectral radius {rho:.2f} and " if rho is not None else ""
        about = (
            f"for D_h={D_h}, draw {i + 1} of {len(measured)}, where W_hh has "
            f"{radius}largest singular value {sigma:.2f}"
        )
        verdicts.append(_verdict(at_half, at_end, about))
    failed = [v for v in verdicts if v]
    if not failed:
        return
    if len(failed) < len(verdicts):
        passed = [str(i + 1) for i, v in enumerate(verdicts) if not v]
        fail(
            name,
            f"{failed[0]}; {'draw' if len(passed) == 1 else 'draws'} "
            f"{' and '.join(passed)} passed, so your initialisation "
            "is a lottery: its singular values are probably spread out, as a Gaussian "
            "matrix's are, while an orthogonal matrix has all of them equal to 1",
        )
    fail(name, failed[0])
