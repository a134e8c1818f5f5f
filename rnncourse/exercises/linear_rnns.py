"""Checkers for chapter 6 (linear RNNs and state-space models): the associative combine
of the scan, one step of zero-order-hold discretisation, and the convolution kernel of a
diagonal SSM.

Each ``check_<name>(student_fn)`` runs the student's function against the reference
and names the usual mistakes. The SSM exercises work with complex tensors; the
checker hands the student complex tensors made from real ones (and reads complex
results back as real pairs), so that values and gradients are compared as usual.
"""

from __future__ import annotations

import functools

import torch

from rnncourse.exercises.checker import Case, Mistake, Output, check
from rnncourse.nn.s4d import ssm_kernel, zoh


def _randn(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


# --- Exercise 1: the associative combine ------------------------------------


def combine_reference(a1, b1, a2, b2):
    """Two steps h -> a1 h + b1, then h -> a2 h + b2, as one step
    (a, b) = (a1 a2, a2 b1 + b2). All four (and both results) have the same shape."""
    return a1 * a2, a2 * b1 + b2


COMBINE_MISTAKES = [
    Mistake(
        lambda a1, b1, a2, b2: (a1 * a2, a1 * b2 + b1),
        "you composed the steps in the wrong order: (a1, b1) acts first, so its b1 "
        "then passes through the second step, b = a2 * b1 + b2",
    ),
    Mistake(
        lambda a1, b1, a2, b2: (a1 * a2, b1 + b2),
        "b1 was not multiplied by a2: the second step decays everything that came "
        "before it, b = a2 * b1 + b2",
    ),
    Mistake(
        lambda a1, b1, a2, b2: (a1 * a2, a1 * b1 + b2),
        "b1 was multiplied by a1, its own step's decay, which it has already been "
        "through: b = a2 * b1 + b2",
    ),
    Mistake(
        lambda a1, b1, a2, b2: (a1 * a2, a1 * a2 * b1 + b2),
        "b1 was multiplied by both decays: it has already been through a1, so b = a2 * "
        "b1 + b2",
    ),
    Mistake(
        lambda a1, b1, a2, b2: (a1 * a2, a2 * (b1 + b2)),
        "b2 was multiplied by a2: b2 enters at the second step, after that step's "
        "decay, so b = a2 * b1 + b2",
    ),
    Mistake(
        lambda a1, b1, a2, b2: (a1 + a2, a2 * b1 + b2),
        "the decays were added: two decays in a row multiply, a = a1 * a2",
    ),
    Mistake(
        lambda a1, b1, a2, b2: (a2 * b1 + b2, a1 * a2),
        "the two results are swapped: return the decay first, (a, b) = (a1 * a2, a2 * "
        "b1 + b2)",
    ),
]


def _combine_args(shape: tuple, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    a1, a2 = (
        torch.rand(*shape, generator=g, dtype=torch.float64) * 1.6 - 0.3
        for _ in range(2)
    )  # some negative
    return a1, _randn(g, *shape), a2, _randn(g, *shape)


def check_combine(combine_fn) -> None:
    """Check ``combine(a1, b1, a2, b2) -> (a, b)`` against the reference."""
    shapes = [
        ((2, 5), "(for a batch of 2 with D=5)"),
        ((7,), "(for a single vector of D=7)"),
        ((3, 4, 2), "(for tensors of shape (3, 4, 2))"),
    ]
    cases = [
        Case(_combine_args(shape, 60 + seed), description)
        for seed, (shape, description) in enumerate(shapes)
    ]
    check(
        "combine",
        combine_fn,
        combine_reference,
        cases,
        [Output("a", ("entry",)), Output("b", ("entry",))],
        COMBINE_MISTAKES,
    )


# --- complex tensors in, complex tensors out, through the real-valued checker --------


def _complex_io(fn, n_complex: int):
    """Wrap ``fn`` so that its first ``n_complex`` arguments arrive as real (..., 2)
    tensors and its complex results leave as real (..., 2) tensors: the checker's
    gradients then stay real."""

    @functools.wraps(fn)
    def call(*args):
        args = tuple(
            torch.view_as_complex(a) if i < n_complex else a for i, a in enumerate(args)
        )
        out = fn(*args)
        if isinstance(out, tuple):
            return tuple(
                torch.view_as_real(o)
                if isinstance(o, torch.Tensor) and o.is_complex()
                else o
                for o in out
            )
        return out

    return call


def _complex(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    """A random complex tensor stored as real pairs: (*shape, 2)."""
    return _randn(g, *shape, 2, scale=scale * 0.5**0.5)


def _stable_A(g: torch.Generator, H: int, N: int) -> torch.Tensor:
    """Eigenvalues with negative real parts, as real pairs (H, N, 2)."""
    real = -torch.rand(H, N, generator=g, dtype=torch.float64) * 2 - 0.1
    imag = _randn(g, H, N, scale=3.0)
    return torch.stack([real, imag], dim=-1)


# --- Exercise 2: one step of zero-order-hold discretisation -----------------


def _euler(A, B, delta):
    dt = delta[:, None]
    return 1 + dt * A, dt * B


def _bilinear(A, B, delta):
    dt = delta[:, None]
    return (1 + dt * A / 2) / (1 - dt * A / 2), dt * B / (1 - dt * A / 2)


def _zoh_B(factor):
    """ZOH's Ā with B̄ = factor(A, B, Δ, Ā)."""

    def wrong(A, B, delta):
        A_bar = torch.exp(delta[:, None] * A)
        return A_bar, factor(A, B, delta[:, None], A_bar)

    return wrong


ZOH_MISTAKES = [
    Mistake(
        _euler,
        "that is Euler's method (A_bar = I + delta A, B_bar = delta B), a first-order "
        "approximation: the zero-order hold is exact, A_bar = exp(delta A) and B_bar = "
        "(delta A)^-1 (exp(delta A) - I) delta B",
    ),
    Mistake(
        _bilinear,
        "that is the bilinear (Tustin) method that S4 uses: this exercise asks for the "
        "zero-order hold, A_bar = exp(delta A) and B_bar = (delta A)^-1 (exp(delta A) "
        "- I) delta B",
    ),
    Mistake(
        _zoh_B(lambda A, B, dt, A_bar: (A_bar - 1) / (dt * A) * B),
        "A_bar is right but B_bar lacks the factor delta: B_bar = (delta A)^-1 "
        "(exp(delta A) - I) delta B",
    ),
    Mistake(
        _zoh_B(lambda A, B, dt, A_bar: (A_bar - 1) / A * B * dt),
        "A_bar is right but B_bar has one factor delta too many: the delta of (delta "
        "A)^-1 cancels the one of delta B, leaving A^-1 (exp(delta A) - I) B",
    ),
    Mistake(
        _zoh_B(lambda A, B, dt, A_bar: dt * B),
        "A_bar is right but B_bar = delta B is the first-order shortcut that Mamba's "
        "code takes: the exact zero-order hold is B_bar = (delta A)^-1 (exp(delta A) - "
        "I) delta B",
    ),
    Mistake(
        _zoh_B(lambda A, B, dt, A_bar: (A_bar - 1) * dt * A * B),
        "A_bar is right but B_bar multiplies by delta A where it should divide: B_bar "
        "= (delta A)^-1 (exp(delta A) - I) delta B",
    ),
    Mistake(
        lambda A, B, delta: (torch.exp(A), (torch.exp(A) - 1) / A * B),
        "you left out the step size: A_bar = exp(delta A), not exp(A)",
    ),
]


def zoh_reference(A, B, delta):
    """A, B: (H, N) complex, delta: (H,) -> (A_bar, B_bar): (H, N) complex
    (``rnncourse.nn.s4d.zoh``)."""
    return zoh(A, B, delta)


def _zoh_args(H: int, N: int, dt_range: tuple, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    lo, hi = dt_range
    delta = lo + (hi - lo) * torch.rand(H, generator=g, dtype=torch.float64)
    return _stable_A(g, H, N), _complex(g, H, N), delta


def check_zoh(zoh_fn) -> None:
    """Check ``zoh(A, B, delta) -> (A_bar, B_bar)`` against the reference."""
    sizes = [
        (
            3,
            4,
            (0.01, 0.5),
            "(for H=3 channels, N=4 modes, steps between 0.01 and 0.5)",
        ),
        (1, 1, (0.2, 0.2), "(for H=1 channel, N=1 mode, a step of 0.2)"),
        (5, 2, (0.5, 2.0), "(for H=5, N=2, steps between 0.5 and 2)"),
    ]
    cases = [
        Case(_zoh_args(H, N, dt, 70 + seed), description)
        for seed, (H, N, dt, description) in enumerate(sizes)
    ]
    axes = ("channel", "mode", "part (0 real, 1 imaginary)")
    check(
        "zoh",
        _complex_io(zoh_fn, 2),
        _complex_io(zoh_reference, 2),
        cases,
        [Output("A_bar", axes), Output("B_bar", axes)],
        [Mistake(_complex_io(m.fn, 2), m.message) for m in ZOH_MISTAKES],
    )


# --- Exercise 3: the convolution kernel of a diagonal SSM -------------------


def _kernel(
    A_bar, B_bar, C, L, first=0, real=lambda z: z.real, factor=2.0, with_B=True
):
    k = torch.arange(first, first + L)
    terms = (C * B_bar if with_B else C)[..., None] * A_bar[..., None] ** k  # (H, N, L)
    return factor * real(terms).sum(1)


KERNEL_MISTAKES = [
    Mistake(
        lambda A_bar, B_bar, C, L: _kernel(A_bar, B_bar, C, L, first=1),
        "your kernel is one power ahead: it starts at A_bar^1, but the input acts at "
        "its own step too, K_0 = 2 Re(C B_bar), so the powers run k = 0, ..., L-1",
    ),
    Mistake(
        lambda A_bar, B_bar, C, L: _kernel(A_bar, B_bar, C, L, with_B=False),
        "your kernel leaves out B_bar: K_k = 2 Re(sum over modes of C A_bar^k B_bar)",
    ),
    Mistake(
        lambda A_bar, B_bar, C, L: _kernel(A_bar, B_bar, C, L, factor=1.0),
        "your kernel is half the right one: each stored mode stands for a conjugate "
        "pair, and a pair sums to twice the real part, K_k = 2 Re(sum of C A_bar^k "
        "B_bar)",
    ),
    Mistake(
        lambda A_bar, B_bar, C, L: _kernel(A_bar, B_bar, C, L, real=torch.abs),
        "you took the modulus of each term: a conjugate pair sums to twice the real "
        "part, K_k = 2 Re(...)",
    ),
    Mistake(
        lambda A_bar, B_bar, C, L: (
            2
            * (C.real * B_bar.real)[..., None]
            .mul(A_bar.real[..., None] ** torch.arange(L))
            .sum(1)
        ),
        "you took the real parts before multiplying: multiply the complex numbers "
        "first, then take the real part",
    ),
    Mistake(
        lambda A_bar, B_bar, C, L: _kernel(
            A_bar, B_bar, C, L, real=lambda z: z
        ).real.flip(-1),
        "your kernel is reversed in time: K_0, the weight of the current input, comes "
        "first",
    ),
    Mistake(
        lambda A_bar, B_bar, C, L: _kernel(A_bar, B_bar, C, L, real=lambda z: z),
        "your kernel is complex: return the real tensor 2 Re(...), the imaginary parts "
        "of a conjugate pair cancel",
    ),
]


def ssm_kernel_reference(A_bar, B_bar, C, L):
    """A_bar, B_bar, C: (H, N) complex, L: int -> K: (H, L) real
    (``rnncourse.nn.s4d.ssm_kernel``)."""
    return ssm_kernel(A_bar, B_bar, C, L)


def _kernel_args(H: int, N: int, L: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    A_bar = torch.view_as_real(
        torch.exp(torch.view_as_complex(_stable_A(g, H, N)) * 0.3)
    )  # |A_bar| < 1
    return A_bar, _complex(g, H, N), _complex(g, H, N), L


def check_ssm_kernel(ssm_kernel_fn) -> None:
    """Check ``ssm_kernel(A_bar, B_bar, C, L) -> K`` against the reference."""
    sizes = [(2, 3, 10), (1, 1, 1), (4, 2, 25)]
    cases = [
        Case(
            _kernel_args(H, N, L, 80 + seed),
            f"(for H={H} channels, N={N} modes, L={L})",
        )
        for seed, (H, N, L) in enumerate(sizes)
    ]
    check(
        "ssm_kernel",
        _complex_io(ssm_kernel_fn, 3),
        _complex_io(ssm_kernel_reference, 3),
        cases,
        [Output("K", ("channel", "k"))],
        [Mistake(_complex_io(m.fn, 3), m.message) for m in KERNEL_MISTAKES],
    )
