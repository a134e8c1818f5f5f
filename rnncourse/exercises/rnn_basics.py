"""Checkers for chapter 1 (RNN basics): one RNN step, unrolling, and temperature.

Each ``check_<name>(student_fn)`` tests the student's function on several
shapes and edge cases against the reference, and names the usual mistakes.

Beyond the usual mistakes, each checker closes the loopholes that a plausible answer
could slip through:

- every legal shape: a batch of one, a single time step, D_in != D_h, D_h = 1, a
  vocabulary of one token, float64 and float32;
- the range real use reaches: float32 pre-activations near +-100, where a tanh
  written with ``exp`` overflows, float32 logits near +-100 and float64 logits over
  a temperature of 0.1, where a softmax without its maximum subtracted overflows, and
  a sequence of 1,000 steps, where a recursive unroll runs out of stack; NaN or
  infinity in a result is named as the overflow it is;
- shortcuts: while the student's function runs, torch's fused Elman cell and layer
  (``torch.rnn_tanh_cell``, ``torch.rnn_tanh``, ``torch.nn.RNNCell``,
  ``torch.nn.RNN``) and the package's own (``elman_cell``, ``RNNCell``, ``RNN``,
  ``temperature_probs``) are off limits.

The cases are compared in groups, each with its own tolerances, by the framework's
:func:`~rnncourse.exercises.checker.check_in_groups`, strict about overflow as in
chapters 2 and 3: on the cases at the scale of real use, an error, NaN or infinity in
the values or in the gradient is named as the overflow.
"""

from __future__ import annotations

import torch

import rnncourse.nn.rnn
import rnncourse.nn.sampling
from rnncourse.exercises.checker import (
    FLOAT32,
    Case,
    Group,
    Mistake,
    Output,
    check_in_groups,
)

# --- the Elman step's inputs ------------------------------------------------------


def _rnn_args(
    B: int,
    T: int | None,
    D_in: int,
    D_h: int,
    seed: int,
    dtype: torch.dtype = torch.float64,
    x_scale: float = 1.0,
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    x_shape = (B, D_in) if T is None else (B, T, D_in)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64) * x_scale
    h0 = torch.randn(B, D_h, generator=g, dtype=torch.float64) * 0.5
    W_xh = torch.randn(D_h, D_in, generator=g, dtype=torch.float64) / D_in**0.5
    W_hh = torch.randn(D_h, D_h, generator=g, dtype=torch.float64) / D_h**0.5
    b_h = torch.randn(D_h, generator=g, dtype=torch.float64) * 0.1
    return tuple(t.to(dtype) for t in (x, h0, W_xh, W_hh, b_h))


def _sizes(B, D_in, D_h, T=None, dtype=torch.float64) -> str:
    time = f", T={T}" if T is not None else ""
    kind = ", in float32" if dtype == torch.float32 else ""
    return f"(for B={B}{time}, D_in={D_in}, D_h={D_h}{kind})"


#: Inputs of scale 100 put most pre-activations beyond +-44, where exp(2a) overflows
#: float32 (its largest number is about 3e38 = exp(88.7)).
SATURATED = 100.0

TANH_OVERFLOW = (
    "a tanh written with exp overflows there (exp(100) is far above float32's largest "
    "number, about 3e38) and gives inf / inf = NaN; use torch.tanh, which stays finite"
)

#: What would do exercises 1 and 2 for the student: torch's fused Elman cell and
#: layer, and the package's.
ELMAN_SHORTCUTS = [
    (torch, "rnn_tanh_cell"),
    (torch, "rnn_tanh"),
    (torch.nn, "RNNCell"),
    (torch.nn, "RNN"),
    (rnncourse.nn.rnn, "elman_cell"),
    (rnncourse.nn.rnn, "RNNCell"),
    (rnncourse.nn.rnn, "RNN"),
]


# --- Exercise 1: one step of the Elman recurrence ---------------------------

#: What would do exercise 1 for the student.
RNN_STEP_SHORTCUTS = ELMAN_SHORTCUTS


def rnn_step_reference(x_t, h_prev, W_xh, W_hh, b_h):
    """x_t: (B, D_in), h_prev: (B, D_h), W_xh: (D_h, D_in), W_hh: (D_h, D_h),
    b_h: (D_h,) -> h_t: (B, D_h)."""
    # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), in row-vector form
    return torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)


RNN_STEP_MISTAKES = [
    Mistake(
        lambda x, h, W_xh, W_hh, b: x @ W_xh.T + h @ W_hh.T + b,
        "your h_t equals the step without its nonlinearity: apply torch.tanh to the "
        "sum",
    ),
    Mistake(
        lambda x, h, W_xh, W_hh, b: torch.tanh(x @ W_xh.T + h @ W_hh.T),
        "your h_t equals the step without the bias b_h: add it inside the tanh",
    ),
    Mistake(
        lambda x, h, W_xh, W_hh, b: torch.tanh(x @ W_xh.T + b),
        "your h_t ignores the previous state h_prev: the recurrence needs the term "
        "W_hh h_{t-1}",
    ),
    Mistake(
        lambda x, h, W_xh, W_hh, b: torch.tanh(x @ W_xh.T + h @ W_hh + b),
        "your h_t uses W_hh without transposing it: in row-vector form the term is "
        "h_prev @ W_hh.T",
    ),
    Mistake(
        lambda x, h, W_xh, W_hh, b: torch.relu(x @ W_xh.T + h @ W_hh.T + b),
        "your h_t uses ReLU, but the Elman step in this exercise uses tanh",
    ),
]


def _step_case(B, D_in, D_h, seed, dtype=torch.float64, x_scale=1.0) -> Case:
    description = _sizes(B, D_in, D_h, dtype=dtype)
    if x_scale != 1.0:
        description = description[:-1] + ", pre-activations near +-100)"
    return Case(_rnn_args(B, None, D_in, D_h, seed, dtype, x_scale), description)


def check_rnn_step(rnn_step) -> None:
    """Check ``rnn_step(x_t, h_prev, W_xh, W_hh, b_h) -> h_t`` against the reference.

    Accepted: any order of the terms and any way of writing the products (``@``,
    ``torch.matmul``, ``einsum``, ``F.linear``), any tanh that stays finite (``torch.
    tanh``, ``2 * sigmoid(2a) - 1``), in-place changes to the arguments; the result
    must be a tensor of the inputs' dtype through which gradients flow."""
    sizes = [(3, 4, 5), (1, 2, 2), (4, 6, 3), (2, 1, 1), (1, 3, 1)]
    groups = [
        Group([_step_case(*s, seed) for seed, s in enumerate(sizes)]),
        Group([_step_case(3, 4, 5, 5, torch.float32)], **FLOAT32),
        Group(
            [_step_case(4, 3, 6, 6, torch.float32, SATURATED)],
            **FLOAT32,
            overflow=TANH_OVERFLOW,
        ),
    ]
    check_in_groups(
        "rnn_step",
        rnn_step,
        rnn_step_reference,
        groups,
        [Output("h_t", ("batch", "unit"))],
        RNN_STEP_MISTAKES,
        forbidden=RNN_STEP_SHORTCUTS,
        strict=True,
    )


# --- Exercise 2: unrolling over a whole sequence ---------------------------

#: What would do exercise 2 for the student: whole recurrent layers, and the fused
#: cells (the student's own rnn_step is the one to use).
UNROLL_SHORTCUTS = ELMAN_SHORTCUTS


def unroll_reference(x, h0, W_xh, W_hh, b_h):
    """x: (B, T, D_in), h0: (B, D_h)
    -> (hs: (B, T, D_h) holding h_1..h_T, h_T: (B, D_h))."""
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = rnn_step_reference(x[:, t], h, W_xh, W_hh, b_h)
        hs.append(h)
    return torch.stack(hs, dim=1), h


def _unroll_from_h0(x, h0, W_xh, W_hh, b_h):
    hs = [rnn_step_reference(x[:, t], h0, W_xh, W_hh, b_h) for t in range(x.shape[1])]
    return torch.stack(hs, dim=1), hs[-1]


def _unroll_shifted(x, h0, W_xh, W_hh, b_h):
    hs, h_T = unroll_reference(x, h0, W_xh, W_hh, b_h)
    return torch.cat([h0[:, None], hs[:, :-1]], dim=1), h_T


def _unroll_backwards(x, h0, W_xh, W_hh, b_h):
    hs, h_T = unroll_reference(x.flip(1), h0, W_xh, W_hh, b_h)
    return hs.flip(1), h_T


def _unroll_last_is_h0(x, h0, W_xh, W_hh, b_h):
    return unroll_reference(x, h0, W_xh, W_hh, b_h)[0], h0


UNROLL_MISTAKES = [
    Mistake(
        _unroll_from_h0,
        "every step starts from h0: pass each new h_t on as the previous state of the "
        "next step",
    ),
    Mistake(
        _unroll_shifted,
        "your outputs are shifted by one step: output t must be the state after "
        "reading x_t (h_1 ... h_T), not the state before it (h_0 ... h_{T-1})",
    ),
    Mistake(
        _unroll_backwards,
        "you read the sequence from its last step to its first: go forward in time, t "
        "= 0, 1, ..., T-1",
    ),
    Mistake(
        _unroll_last_is_h0,
        "the outputs are right but the final state is h0: return the state after the "
        "last step",
    ),
]


def _recursion_hint(err: Exception) -> str | None:
    if isinstance(err, RecursionError):
        return (
            "a recursive unroll runs out of stack on long sequences, write the loop "
            "over time as a for loop"
        )
    return None


def _unroll_case(B, T, D_in, D_h, seed, dtype=torch.float64, x_scale=1.0) -> Case:
    description = _sizes(B, D_in, D_h, T, dtype)
    if x_scale != 1.0:
        description = description[:-1] + ", pre-activations near +-100)"
    return Case(_rnn_args(B, T, D_in, D_h, 10 + seed, dtype, x_scale), description)


def check_unroll(unroll) -> None:
    """Check ``unroll(x, h0, W_xh, W_hh, b_h) -> (hs, h_T)`` against the reference.

    Accepted: a loop that stacks or concatenates the states, or fills a tensor made
    beforehand (without detaching them), any right way of writing the step,
    in-place changes to the arguments, a list ``[hs, h_T]`` for the pair."""
    sizes = [
        (2, 5, 3, 4),
        (1, 1, 2, 3),
        (3, 7, 1, 2),
        (4, 3, 5, 5),
        (2, 4, 1, 1),
        (2, 1000, 3, 4),  # a long sequence: no recursion, no quadratic cost
    ]
    groups = [
        Group([_unroll_case(*s, seed) for seed, s in enumerate(sizes)]),
        Group([_unroll_case(3, 40, 4, 5, 6, torch.float32)], **FLOAT32),
        Group(
            [_unroll_case(2, 6, 3, 5, 7, torch.float32, SATURATED)],
            **FLOAT32,
            overflow=TANH_OVERFLOW,
        ),
    ]
    check_in_groups(
        "unroll",
        unroll,
        unroll_reference,
        groups,
        [
            Output("hs", ("batch", "time step", "unit")),
            Output("h_T", ("batch", "unit")),
        ],
        UNROLL_MISTAKES,
        forbidden=UNROLL_SHORTCUTS,
        explain=_recursion_hint,
        strict=True,
    )


# --- Exercise 3: temperature --------------------------------------------

#: The package's own answer to exercise 3. The softmax itself is allowed: the
#: exercise is the temperature and the greedy limit, not the softmax.
TEMPERATURE_SHORTCUTS = [(rnncourse.nn.sampling, "temperature_probs")]


def temperature_probs_reference(logits, temperature):
    """logits: (B, V), temperature >= 0 -> probabilities (B, V), softmax(logits /
    temperature) over the last axis; temperature 0 puts all mass on the arg-max."""
    if temperature == 0:
        greedy = logits.argmax(dim=-1, keepdim=True)
        return torch.zeros_like(logits).scatter(-1, greedy, 1.0)
    z = logits / temperature
    e = torch.exp(z - z.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


TEMPERATURE_MISTAKES = [
    Mistake(
        lambda z, tau: (
            torch.softmax(z * tau, dim=-1)
            if tau > 0
            else temperature_probs_reference(z, 0)
        ),
        "you multiplied the logits by the temperature: divide them by it, so a high "
        "temperature flattens the distribution",
    ),
    Mistake(
        lambda z, tau: z / tau if tau > 0 else temperature_probs_reference(z, 0),
        "your result is the scaled logits, not probabilities: apply a softmax over the "
        "last axis",
    ),
    Mistake(
        lambda z, tau: (
            torch.softmax(z / tau, dim=0)
            if tau > 0
            else temperature_probs_reference(z, 0)
        ),
        "your softmax runs over the wrong axis: each row (the last axis, one row per "
        "example) must sum to 1",
    ),
    Mistake(
        lambda z, tau: torch.softmax(z, dim=-1),
        "your probabilities ignore the temperature: divide the logits by it before the "
        "softmax",
    ),
]

SOFTMAX_OVERFLOW = (
    "a softmax written as exp(z) / sum(exp(z)) overflows once z reaches about 88 in "
    "float32 or 709 in float64, and gives inf / inf = NaN; subtract each row's "
    "maximum from z before exp (the result is the same), or use torch.softmax, which "
    "does"
)


def _logits_case(logits, tau, what: str = "") -> Case:
    B, V = logits.shape
    kind = "float32 " if logits.dtype == torch.float32 else ""
    return Case(
        (logits, tau),
        f"(for {kind}logits{what} of shape ({B}, {V}) and temperature {tau})",
    )


def _temperature_groups() -> list[Group]:
    g = torch.Generator().manual_seed(20)

    def randn(B, V, scale, dtype=torch.float64):
        return (torch.randn(B, V, generator=g, dtype=torch.float64) * scale).to(dtype)

    def spread(B, V, dtype):
        """Logits near +-100, as a trained model's reach: each row spread over 100
        around its own centre, the centres from -50 to 50 (so that a row's maximum
        lies far below the batch's)."""
        centres = torch.linspace(-50, 50, B, dtype=torch.float64)[:, None]
        z = torch.rand(B, V, generator=g, dtype=torch.float64) * 100 - 50 + centres
        return z.to(dtype)

    usual = [
        _logits_case(randn(B, V, 3), tau)
        for tau, (B, V) in [(1.0, (3, 5)), (0.5, (2, 7)), (2.0, (4, 3)), (0.1, (1, 10))]
    ]
    usual.append(_logits_case(randn(2, 1, 3), 0.7, " over a single token"))
    greedy = torch.tensor([[0.5, 2.0, -1.0], [3.0, 1.0, 2.9]], dtype=torch.float64)
    usual.append(
        Case(
            (greedy, 0.0),
            "(for temperature 0, which means greedy: all probability on the arg-max)",
            grad=False,
        )
    )
    single = [
        _logits_case(randn(3, 6, 3, torch.float32), 0.8),
        Case(
            (randn(2, 5, 3, torch.float32), 0.0),
            "(for float32 logits and temperature 0, which means greedy)",
            grad=False,
        ),
    ]
    wide = [
        _logits_case(spread(4, 50, torch.float32), 1.0, " near +-100"),
        _logits_case(spread(3, 20, torch.float64), 0.1, " near +-100"),
    ]
    return [
        Group(usual),
        Group(single, **FLOAT32),
        Group(wide, **FLOAT32, overflow=SOFTMAX_OVERFLOW),
    ]


def check_temperature_probs(temperature_probs_fn) -> None:
    """Check ``temperature_probs(logits, temperature) -> probs`` against the
    reference.

    Accepted: ``torch.softmax`` or ``F.softmax`` of ``logits / temperature``, a
    softmax written by hand with each row's maximum subtracted, ``exp`` of a
    ``log_softmax``, and for temperature 0 any one-hot of the arg-max in the logits'
    dtype (``F.one_hot(...).to(logits.dtype)``, ``scatter``, a comparison with the
    row's maximum when there is no tie)."""
    check_in_groups(
        "temperature_probs",
        temperature_probs_fn,
        temperature_probs_reference,
        _temperature_groups(),
        [Output("probs", ("row", "token"))],
        TEMPERATURE_MISTAKES,
        forbidden=TEMPERATURE_SHORTCUTS,
        strict=True,
    )
