"""Chapter 6's checkers accept every right answer and reject planted wrong ones, each
with its own sentence: the usual mistakes, answers wrong only at the ranges real models
use, shapes the answer forgot, shortcuts and odd return values."""

import pytest
import torch

from rnncourse.exercises import check_combine, check_ssm_kernel, check_zoh
from rnncourse.exercises.linear_rnns import (
    combine_reference,
    ssm_kernel_reference,
    zoh_reference,
)
from rnncourse.nn.s4d import S4D, ssm_kernel, zoh
from rnncourse.ops.linear_scan import linear_scan, linear_scan_loop

from ._helpers import _accepting, _each_its_own_message, _not_solved, _rejecting

pytestmark = pytest.mark.usefixtures("one_thread")


# --- right answers, written independently of the references -------------------------


def _combine_in_place(a1, b1, a2, b2):
    """Changes its arguments in place, as a scan that reuses its buffers would."""
    b1.mul_(a2).add_(b2)
    return a1.mul_(a2), b1


def _zoh_polar(A, B, delta):
    """exp(dt A) from its modulus and angle; B_bar with delta cancelled."""
    dtA = delta.unsqueeze(-1) * A
    A_bar = torch.polar(torch.exp(dtA.real), dtA.imag)
    return A_bar, (A_bar - 1) / A * B


def _zoh_in_place(A, B, delta):
    A.mul_(delta[:, None])  # A now holds delta A
    A_bar = A.exp()
    return A_bar, (A_bar - 1) / A * delta[:, None] * B


def _kernel_cumprod(A_bar, B_bar, C, L):
    """Powers by a cumulative product: 1, A, A^2, ..."""
    steps = A_bar[..., None].expand(*A_bar.shape, L - 1)
    powers = torch.cat([torch.ones_like(A_bar)[..., None], steps.cumprod(-1)], -1)
    return 2 * torch.einsum("hn,hnl->hl", C * B_bar, powers).real


def _kernel_exp_log(A_bar, B_bar, C, L):
    powers = torch.exp(torch.log(A_bar)[..., None] * torch.arange(L))
    return 2 * ((C * B_bar)[..., None] * powers).sum(1).real


def _kernel_matmul(A_bar, B_bar, C, L):
    """The sum over modes as a batched matrix product, powers from float exponents."""
    powers = A_bar[..., None] ** torch.arange(L, dtype=torch.float64)
    return 2 * ((C * B_bar)[:, None, :] @ powers).squeeze(1).real


def _kernel_in_place(A_bar, B_bar, C, L):
    """Folds B_bar into the argument C in place, fills K in place."""
    C.mul_(B_bar)
    K = torch.zeros(A_bar.shape[0], L, dtype=A_bar.real.dtype)
    K.add_((C[..., None] * A_bar[..., None] ** torch.arange(L)).sum(1).real).mul_(2)
    return K


RIGHT = {
    "combine, the notebook's": (
        check_combine,
        lambda a1, b1, a2, b2: (a1 * a2, a2 * b1 + b2),
    ),
    "combine, another order": (
        check_combine,
        lambda a1, b1, a2, b2: (a2 * a1, b2 + b1 * a2),
    ),
    "combine, a list": (check_combine, lambda a1, b1, a2, b2: [a1 * a2, a2 * b1 + b2]),
    "combine, in place": (check_combine, _combine_in_place),
    "zoh, the notebook's": (
        check_zoh,
        lambda A, B, delta: (
            torch.exp(delta[:, None] * A),
            (torch.exp(delta[:, None] * A) - 1)
            / (delta[:, None] * A)
            * delta[:, None]
            * B,
        ),
    ),
    "zoh, by polar": (check_zoh, _zoh_polar),
    "zoh, a list": (check_zoh, lambda *a: list(_zoh_polar(*a))),
    "zoh, in place": (check_zoh, _zoh_in_place),
    "ssm_kernel, the notebook's": (
        check_ssm_kernel,
        lambda A_bar, B_bar, C, L: (
            2
            * ((C * B_bar)[..., None] * A_bar[..., None] ** torch.arange(L)).sum(1).real
        ),
    ),
    "ssm_kernel, a cumulative product": (check_ssm_kernel, _kernel_cumprod),
    "ssm_kernel, exp and log": (check_ssm_kernel, _kernel_exp_log),
    "ssm_kernel, a matrix product": (check_ssm_kernel, _kernel_matmul),
    "ssm_kernel, in place": (check_ssm_kernel, _kernel_in_place),
}


test_right_answers_pass = _accepting(RIGHT)


# --- exercise 1: combine --------------------------------------------------------------

COMBINE_PLANTED = {
    # the usual mistakes
    "swapped order": (lambda a1, b1, a2, b2: (a2 * a1, b1 + a1 * b2), "wrong order"),
    "b1 not decayed": (
        lambda a1, b1, a2, b2: (a1 * a2, b2 + b1),
        "b1 was not multiplied by a2",
    ),
    "own decay": (
        lambda a1, b1, a2, b2: (a1 * a2, b1 * a1 + b2),
        "its own step's decay",
    ),
    "added decays": (
        lambda a1, b1, a2, b2: (a1 + a2, a2 * b1 + b2),
        "the decays were added",
    ),
    "b2 decayed": (
        lambda a1, b1, a2, b2: (a1 * a2, a2 * b1 + a2 * b2),
        "b2 was multiplied by a2",
    ),
    "results swapped": (lambda a1, b1, a2, b2: (a2 * b1 + b2, a1 * a2), "swapped"),
    "detached": (
        lambda a1, b1, a2, b2: (a1 * a2, (a2 * b1 + b2).detach()),
        "the gradient with respect to b1 differs",
    ),
    # range: decays multiplied in log space, which negative decays break
    "log space": (
        lambda a1, b1, a2, b2: (torch.exp(a1.log() + a2.log()), a2 * b1 + b2),
        "a contains NaN or infinity",
    ),
    # shapes: an answer for 2-D tensors only, one that forgets float32
    "2-D only": (
        lambda a1, b1, a2, b2: (
            torch.einsum("bd,bd->bd", a1, a2),
            torch.einsum("bd,bd->bd", a2, b1) + b2,
        ),
        "your function raised",
    ),
    "float64 always": (
        lambda a1, b1, a2, b2: ((a1 * a2).double(), (a2 * b1 + b2).double()),
        "should have torch.float32",
    ),
    # shortcuts
    "the reference": (combine_reference, "combine_reference"),
    "the package's scan": (
        lambda a1, b1, a2, b2: (
            a1 * a2,
            linear_scan_loop(
                torch.stack([a1, a2]).reshape(1, 2, -1),
                torch.stack([b1, b2]).reshape(1, 2, -1),
            )[0, 1].reshape(b1.shape),
        ),
        "your function calls rnncourse.ops.linear_scan",
    ),
    "the package's scan, imported": (
        lambda a1, b1, a2, b2: (
            a1 * a2,
            linear_scan(
                torch.stack([a1, a2]).reshape(1, 2, -1),
                torch.stack([b1, b2]).reshape(1, 2, -1),
            )[0, 1].reshape(b1.shape),
        ),
        "rnncourse.ops.linear_scan.linear_scan",
    ),
    # odd answers
    "one value": (lambda a1, b1, a2, b2: a1 * a2, "expected 2 return value(s)"),
    "None": (lambda *a: None, "returned None"),
    "NumPy": (
        lambda a1, b1, a2, b2: ((a1 * a2).numpy(), (a2 * b1 + b2).numpy()),
        "got a NumPy array",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


test_combine_rejects = _rejecting(COMBINE_PLANTED, check_combine)


# --- exercise 2: zoh ------------------------------------------------------------------


def _zoh_with(A_bar, B_bar):
    def wrong(A, B, delta):
        dt = delta[:, None]
        return A_bar(A, dt), B_bar(A, B, dt)

    return wrong


def _series_exp(x, terms=30):
    """exp by its Taylor series: right for small steps, wrong for large ones."""
    total, term = torch.ones_like(x), torch.ones_like(x)
    for n in range(1, terms):
        term = term * x / n
        total = total + term
    return total


ZOH_PLANTED = {
    # the usual mistakes
    "Euler": (
        _zoh_with(lambda A, dt: 1 + dt * A, lambda A, B, dt: dt * B),
        "Euler's method",
    ),
    "no delta in B_bar": (
        _zoh_with(
            lambda A, dt: torch.exp(dt * A),
            lambda A, B, dt: (torch.exp(dt * A) - 1) / (dt * A) * B,
        ),
        "lacks the factor delta",
    ),
    "delta twice in B_bar": (
        _zoh_with(
            lambda A, dt: torch.exp(dt * A),
            lambda A, B, dt: dt * B * (torch.exp(dt * A) - 1) / A,
        ),
        "one factor delta too many",
    ),
    "Mamba's shortcut": (
        _zoh_with(lambda A, dt: torch.exp(dt * A), lambda A, B, dt: B * dt),
        "first-order shortcut",
    ),
    "bilinear": (
        _zoh_with(
            lambda A, dt: (2 + dt * A) / (2 - dt * A),
            lambda A, B, dt: 2 * dt * B / (2 - dt * A),
        ),
        "bilinear",
    ),
    "no step in A_bar": (
        lambda A, B, delta: (A.exp(), (A.exp() - 1) / A * B),
        "left out the step size",
    ),
    # range: a series for exp, right at small steps only
    "exp by a series": (
        _zoh_with(
            lambda A, dt: _series_exp(dt * A),
            lambda A, B, dt: (_series_exp(dt * A) - 1) / A * B,
        ),
        "A_bar is wrong at channel",
    ),
    # shapes: delta broadcast along the modes (wrong where H = N, an error elsewhere)
    "delta along the modes": (
        lambda A, B, delta: (
            torch.exp(delta * A),
            (torch.exp(delta * A) - 1) / A * B,
        ),
        "your function raised RuntimeError",
    ),
    "delta averaged": (
        lambda A, B, delta: _zoh_polar(A, B, delta.mean().expand_as(delta)),
        "A_bar is wrong at channel",
    ),
    "complex64 always": (
        lambda A, B, delta: tuple(
            x.to(torch.complex64) for x in _zoh_polar(A, B, delta)
        ),
        "has dtype torch.complex64 but should have torch.complex128",
    ),
    # shortcuts
    "the package's zoh": (zoh, "your function calls rnncourse.nn.s4d.zoh,"),
    "the package's zoh, wrapped": (
        lambda A, B, delta: zoh(A, B, delta),
        "your function calls rnncourse.nn.s4d.zoh,",
    ),
    "the reference": (zoh_reference, "zoh_reference"),
    "an S4D layer's discretisation": (
        lambda A, B, delta: S4D(A.shape[0], A.shape[1]).discrete()[:2],
        "your function calls rnncourse.nn.s4d.",
    ),
    # odd answers
    "real parts": (
        lambda A, B, delta: tuple(x.real for x in _zoh_polar(A, B, delta)),
        "A_bar should be a complex tensor",
    ),
    "a generator": (
        lambda A, B, delta: (x for x in _zoh_polar(A, B, delta)),
        "generator",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


test_zoh_rejects = _rejecting(ZOH_PLANTED, check_zoh)


def test_zoh_series_passes_small_steps_and_fails_at_large_ones():
    """The range is what rejects a series: it is right on the chapter's small steps."""
    A = torch.tensor([[-0.5 + 3.1j, -0.5 + 6.3j]], dtype=torch.complex128)
    B = torch.ones_like(A)
    for dt, close in ((0.05, True), (10.0, False)):
        delta = torch.tensor([dt], dtype=torch.float64)
        got = _series_exp(delta[:, None] * A)
        assert torch.allclose(got, zoh(A, B, delta)[0], rtol=1e-9) == close


# --- exercise 3: ssm_kernel -----------------------------------------------------------


def _powers(A_bar, L, first=0):
    return A_bar[..., None] ** torch.arange(first, first + L)


def _from_negative_powers(A_bar, B_bar, C, L):
    """A_bar^k as A_bar^(L-1) A_bar^-(L-1-k): exact on paper, overflowing at long L."""
    k = torch.arange(L)
    powers = _powers(A_bar, 1, L - 1) * A_bar[..., None] ** -(L - 1 - k)
    return 2 * ((C * B_bar)[..., None] * powers).sum(1).real


KERNEL_PLANTED = {
    # the usual mistakes
    "off by one power": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * _powers(A_bar, L, 1)).sum(1).real
        ),
        "one power ahead",
    ),
    "no B_bar": (
        lambda A_bar, B_bar, C, L: 2 * (C[..., None] * _powers(A_bar, L)).sum(1).real,
        "leaves out B_bar",
    ),
    "no factor 2": (
        lambda A_bar, B_bar, C, L: (
            ((C * B_bar)[..., None] * _powers(A_bar, L)).sum(1).real
        ),
        "half the right one",
    ),
    "modulus": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * _powers(A_bar, L)).abs().sum(1)
        ),
        "modulus",
    ),
    "real parts first": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C.real * B_bar.real)[..., None] * _powers(A_bar.real, L)).sum(1)
        ),
        "real parts before multiplying",
    ),
    "complex result": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * _powers(A_bar, L)).sum(1)
        ),
        "is complex",
    ),
    "reversed": (
        lambda A_bar, B_bar, C, L: _kernel_exp_log(A_bar, B_bar, C, L).flip(-1),
        "reversed in time",
    ),
    # range: negative powers overflow at L = 3000
    "negative powers": (_from_negative_powers, "K contains NaN or infinity"),
    # shapes: summed over channels, transposed, a form that needs L > 1
    "summed over channels": (
        lambda A_bar, B_bar, C, L: _kernel_exp_log(A_bar, B_bar, C, L).sum(0),
        "K has shape",
    ),
    "transposed": (
        lambda A_bar, B_bar, C, L: _kernel_exp_log(A_bar, B_bar, C, L).T,
        "K has shape",
    ),
    "Vandermonde for L > 1 only": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * torch.linalg.vander(A_bar, N=L)).sum(1).real
        ),
        "your function raised",
    ),
    # shortcuts
    "the package's kernel": (
        ssm_kernel,
        "your function calls rnncourse.nn.s4d.ssm_kernel,",
    ),
    "the package's kernel, wrapped": (
        lambda *a: ssm_kernel(*a) + 0,
        "your function calls rnncourse.nn.s4d.ssm_kernel,",
    ),
    "the reference": (ssm_kernel_reference, "ssm_kernel_reference"),
    "an S4D layer's kernel": (
        lambda A_bar, B_bar, C, L: S4D.kernel(S4D(A_bar.shape[0], A_bar.shape[1]), L),
        "your function calls rnncourse.nn.s4d.",
    ),
    # odd answers
    "a list": (
        lambda A_bar, B_bar, C, L: _kernel_exp_log(A_bar, B_bar, C, L).tolist(),
        "got a Python list",
    ),
    "detached": (
        lambda *a: _kernel_exp_log(*a).detach(),
        "no gradient flows",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


test_ssm_kernel_rejects = _rejecting(KERNEL_PLANTED, check_ssm_kernel)


# --- one sentence per mistake ---------------------------------------------------------

USUAL = {
    check_combine: [
        "swapped order",
        "b1 not decayed",
        "own decay",
        "added decays",
        "b2 decayed",
        "results swapped",
    ],
    check_zoh: [
        "Euler",
        "no delta in B_bar",
        "delta twice in B_bar",
        "Mamba's shortcut",
        "bilinear",
        "no step in A_bar",
    ],
    check_ssm_kernel: [
        "off by one power",
        "no B_bar",
        "no factor 2",
        "modulus",
        "real parts first",
        "complex result",
        "reversed",
    ],
}
PLANTED = {
    check_combine: COMBINE_PLANTED,
    check_zoh: ZOH_PLANTED,
    check_ssm_kernel: KERNEL_PLANTED,
}


@pytest.mark.parametrize("checker", USUAL, ids=lambda c: c.__name__)
def test_each_usual_mistake_gets_its_own_message(checker):
    answers = [PLANTED[checker][name][0] for name in USUAL[checker]]
    _each_its_own_message(checker, answers)
