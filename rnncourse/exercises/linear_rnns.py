"""Checkers for chapter 6 (linear RNNs and state-space models): the associative combine
of the scan, one step of zero-order-hold discretisation, and the convolution kernel of a
diagonal SSM.

Each ``check_<name>(student_fn)`` runs the student's function against the reference
and names the usual mistakes. The SSM exercises work with complex tensors; the
checker hands the student complex tensors made from real ones (and reads complex
results back as real pairs), so that values and gradients are compared as usual.

The cases reach the ranges real models use: S4D-Lin's eigenvalues, steps from 10^-4 to
10, kernels of 3000 steps (where a power A_bar^-k overflows). While the student's
function runs, the package's own implementation of the exercise (``rnncourse.nn.s4d``,
``rnncourse.ops.linear_scan``) and the checker's references are off limits.
"""

from __future__ import annotations

import functools
import math

import torch

from rnncourse.exercises.checker import Case, Mistake, Output, check, fail, randn64
from rnncourse.nn.s4d import S4D, ssm_kernel, zoh

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


def _combine_args(shape: tuple, seed: int, dtype=torch.float64) -> tuple:
    g = torch.Generator().manual_seed(seed)
    # some negative
    a1, a2 = (
        torch.rand(shape, generator=g, dtype=torch.float64) * 1.6 - 0.3
        for _ in range(2)
    )
    return tuple(x.to(dtype) for x in (a1, randn64(g, *shape), a2, randn64(g, *shape)))


#: What would do exercise 1 for the student: the checker's reference and the package's
#: scans (whose second step is the combine's b).
COMBINE_SHORTCUTS = [
    "rnncourse.exercises.linear_rnns.combine_reference",
    "rnncourse.ops.linear_scan.linear_scan",
    "rnncourse.ops.linear_scan.reference.linear_scan_loop",
    "rnncourse.ops.linear_scan.reference.linear_scan_parallel",
    "rnncourse.ops.linear_scan.reference._scan",
    "rnncourse.ops.linear_scan.kernel.linear_scan_triton",
    "rnncourse.ops.linear_scan.kernel._combine",
]


def check_combine(combine_fn) -> None:
    """Check ``combine(a1, b1, a2, b2) -> (a, b)`` against the reference.

    Accepted: any order of the products and sums (a2 * b1 + b2, b2 + b1 * a2...), a
    list instead of a tuple, changing the arguments in place; any shape, a 0-d tensor
    included, and float32 as well as float64 (the result keeps the inputs' dtype)."""
    shapes = [
        ((2, 5), torch.float64, "(for a batch of 2 with D=5)"),
        ((7,), torch.float64, "(for a single vector of D=7)"),
        ((3, 4, 2), torch.float64, "(for tensors of shape (3, 4, 2))"),
        ((), torch.float64, "(for 0-d tensors, one number each)"),
        ((1, 3), torch.float32, "(for float32 tensors of shape (1, 3))"),
    ]
    cases = [
        Case(_combine_args(shape, 60 + seed, dtype), description)
        for seed, (shape, dtype, description) in enumerate(shapes)
    ]
    check(
        "combine",
        combine_fn,
        combine_reference,
        cases,
        [Output("a", ("entry",)), Output("b", ("entry",))],
        COMBINE_MISTAKES,
        forbidden=COMBINE_SHORTCUTS,
    )


# --- complex tensors in, complex tensors out, through the real-valued checker --------


def _complex_io(fn, n_complex: int, student: tuple = ()):
    """Wrap ``fn`` so that its first ``n_complex`` arguments arrive as real (..., 2)
    tensors and its complex results leave as real (..., 2) tensors: the checker's
    gradients then stay real. For the student's function, ``student`` is
    ``(exercise, names of the complex results)``: a result that is real, or complex of
    another precision than the inputs, fails with a sentence in complex terms."""

    @functools.wraps(fn)
    def call(*args):
        args = tuple(
            torch.view_as_complex(a) if i < n_complex else a for i, a in enumerate(args)
        )
        out = fn(*args)
        if student and len(student[1]) > 1 and isinstance(out, list):
            out = tuple(out)  # a list of the results counts as a tuple
        if student and isinstance(out, tuple) and len(out) == len(student[1]):
            for name, o in zip(student[1], out):
                _require_complex(student[0], name, o, args[0].dtype)
        if isinstance(out, tuple):
            return tuple(
                torch.view_as_real(o)
                if isinstance(o, torch.Tensor) and o.is_complex()
                else o
                for o in out
            )
        return out

    return call


def _require_complex(exercise: str, name: str, value, dtype: torch.dtype) -> None:
    if not isinstance(value, torch.Tensor):
        return  # the comparison names what it is
    if not value.is_complex():
        fail(
            exercise,
            f"{name} should be a complex tensor, like the inputs, but it is real "
            f"({value.dtype}): keep the complex numbers, exp of a complex tensor is "
            "complex",
        )
    if value.dtype != dtype:
        fail(
            exercise,
            f"{name} has dtype {value.dtype} but should have {dtype} like the inputs",
        )


def _complex(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    """A random complex tensor stored as real pairs: (*shape, 2)."""
    return randn64(g, *shape, 2, scale=scale * 0.5**0.5)


def _stable_A(g: torch.Generator, H: int, N: int) -> torch.Tensor:
    """Eigenvalues with negative real parts, as real pairs (H, N, 2)."""
    real = -torch.rand(H, N, generator=g, dtype=torch.float64) * 2 - 0.1
    imag = randn64(g, H, N, scale=3.0)
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


def _s4d_lin_args(H: int, N: int, seed: int) -> tuple:
    """S4D-Lin's eigenvalues A_n = -1/2 + i pi n, B = 1 and steps log-uniform in
    [0.001, 0.1], as ``rnncourse.nn.S4D`` initialises them."""
    g = torch.Generator().manual_seed(seed)
    n = torch.arange(N, dtype=torch.float64).repeat(H, 1)
    A = torch.stack([torch.full_like(n, -0.5), torch.pi * n], dim=-1)
    B = torch.stack([torch.ones_like(n), torch.zeros_like(n)], dim=-1)
    log_dt = torch.empty(H, dtype=torch.float64).uniform_(
        math.log(1e-3), math.log(1e-1), generator=g
    )
    delta = torch.exp(log_dt)
    return A, B, delta


def _wide_steps_args(seed: int) -> tuple:
    """Steps from 10^-4 to 10, and real parts from -5 to -0.01: exp(delta A) from
    almost 1 to e^-50."""
    g = torch.Generator().manual_seed(seed)
    H, N = 4, 3
    real = -torch.tensor([0.01, 0.5, 5.0], dtype=torch.float64).repeat(H, 1)
    imag = randn64(g, H, N, scale=10.0)
    delta = torch.tensor([1e-4, 1e-2, 1.0, 10.0], dtype=torch.float64)
    return torch.stack([real, imag], dim=-1), _complex(g, H, N), delta


#: What would do exercise 2 for the student: the package's discretisation (which the
#: S4D layer calls) and the checker's reference.
ZOH_SHORTCUTS = [
    "rnncourse.nn.s4d.zoh",
    (S4D, "discrete"),
    "rnncourse.exercises.linear_rnns.zoh_reference",
]


def check_zoh(zoh_fn) -> None:
    """Check ``zoh(A, B, delta) -> (A_bar, B_bar)`` against the reference.

    Accepted: every way to write the exact zero-order hold, (exp(dA) - 1) / (dA) * d B
    or (exp(dA) - 1) / A * B, with torch.exp or torch.polar..., on steps from 10^-4 to
    10; changing the arguments in place. A series for exp (or Euler, or the bilinear
    method) is rejected: it is wrong at the large steps."""
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
    ] + [
        Case(
            _s4d_lin_args(4, 4, 73),
            "(for S4D-Lin's A_n = -1/2 + i pi n with H=N=4, steps between 0.001 and "
            "0.1)",
        ),
        Case(
            _wide_steps_args(74),
            "(for steps of 0.0001, 0.01, 1 and 10 per channel, real parts of A from "
            "-0.01 to -5)",
        ),
    ]
    axes = ("channel", "mode", "part (0 real, 1 imaginary)")
    check(
        "zoh",
        _complex_io(zoh_fn, 2, ("zoh", ("A_bar", "B_bar"))),
        _complex_io(zoh_reference, 2),
        cases,
        [Output("A_bar", axes), Output("B_bar", axes)],
        [Mistake(_complex_io(m.fn, 2), m.message) for m in ZOH_MISTAKES],
        forbidden=ZOH_SHORTCUTS,
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
    # |A_bar| < 1
    A_bar = torch.view_as_real(
        torch.exp(torch.view_as_complex(_stable_A(g, H, N)) * 0.3)
    )
    return A_bar, _complex(g, H, N), _complex(g, H, N), L


def _long_kernel_args(H: int, N: int, L: int, seed: int) -> tuple:
    """Moduli of A_bar from 0.5 (a fast decay: 0.5^-L overflows) to 0.999 (a memory of
    a thousand steps), at random phases."""
    g = torch.Generator().manual_seed(seed)
    modulus = torch.linspace(0.5, 0.999, H * N, dtype=torch.float64).reshape(H, N)
    phase = torch.rand(H, N, generator=g, dtype=torch.float64) * 2 * math.pi
    A_bar = torch.view_as_real(torch.polar(modulus, phase))
    return A_bar, _complex(g, H, N), _complex(g, H, N), L


#: What would do exercise 3 for the student: the package's kernel (which the S4D layer
#: calls) and the checker's reference.
KERNEL_SHORTCUTS = [
    "rnncourse.nn.s4d.ssm_kernel",
    (S4D, "kernel"),
    "rnncourse.exercises.linear_rnns.ssm_kernel_reference",
]


def check_ssm_kernel(ssm_kernel_fn) -> None:
    """Check ``ssm_kernel(A_bar, B_bar, C, L) -> K`` against the reference.

    Accepted: powers by ``**``, by exp(k log A_bar), by a cumulative product or by
    ``torch.linalg.vander``; the sum over modes by ``sum``, ``einsum`` or a matrix
    product. The kernel must hold for L = 3000 steps, where a power A_bar^-k overflows
    (rejected: powers built from negative exponents)."""
    sizes = [(2, 3, 10), (1, 1, 1), (4, 2, 25)]
    cases = [
        Case(
            _kernel_args(H, N, L, 80 + seed),
            f"(for H={H} channels, N={N} modes, L={L})",
        )
        for seed, (H, N, L) in enumerate(sizes)
    ] + [
        Case(
            _long_kernel_args(3, 4, 3000, 83),
            "(for H=3 channels, N=4 modes with |A_bar| from 0.5 to 0.999, L=3000 "
            "steps: 0.5^-3000 overflows)",
        )
    ]
    check(
        "ssm_kernel",
        _complex_io(ssm_kernel_fn, 3),
        _complex_io(ssm_kernel_reference, 3),
        cases,
        [Output("K", ("channel", "k"))],
        [Mistake(_complex_io(m.fn, 3), m.message) for m in KERNEL_MISTAKES],
        forbidden=KERNEL_SHORTCUTS,
    )
