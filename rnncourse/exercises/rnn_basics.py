"""Checkers for chapter 1 (RNN basics): one RNN step, unrolling, and temperature.

Each ``check_<name>(student_fn)`` tests the student's function on several
shapes and edge cases against the reference, and names the usual mistakes.
"""

from __future__ import annotations

import torch

import rnncourse.nn.rnn
import rnncourse.nn.sampling
from rnncourse.exercises.checker import Case, Mistake, Output, check


def _rnn_args(B: int, T: int | None, D_in: int, D_h: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    x_shape = (B, D_in) if T is None else (B, T, D_in)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64)
    h0 = torch.randn(B, D_h, generator=g, dtype=torch.float64) * 0.5
    W_xh = torch.randn(D_h, D_in, generator=g, dtype=torch.float64) / D_in**0.5
    W_hh = torch.randn(D_h, D_h, generator=g, dtype=torch.float64) / D_h**0.5
    b_h = torch.randn(D_h, generator=g, dtype=torch.float64) * 0.1
    return x, h0, W_xh, W_hh, b_h


def _sizes(B, D_in, D_h, T=None) -> str:
    time = f", T={T}" if T is not None else ""
    return f"(for B={B}{time}, D_in={D_in}, D_h={D_h})"


# --- Exercise 1: one step of the Elman recurrence ---------------------------

#: What would do exercise 1 for the student: torch's fused cell and the package's.
RNN_STEP_SHORTCUTS = [
    (torch, "rnn_tanh_cell"),
    (torch.nn, "RNNCell"),
    (rnncourse.nn.rnn, "elman_cell"),
    (rnncourse.nn.rnn, "RNNCell"),
]


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


def check_rnn_step(rnn_step) -> None:
    """Check ``rnn_step(x_t, h_prev, W_xh, W_hh, b_h) -> h_t`` against the reference."""
    cases = [
        Case(_rnn_args(B, None, D_in, D_h, seed), _sizes(B, D_in, D_h))
        for seed, (B, D_in, D_h) in enumerate(
            [(3, 4, 5), (1, 2, 2), (4, 6, 3), (2, 1, 1)]
        )
    ]
    check(
        "rnn_step",
        rnn_step,
        rnn_step_reference,
        cases,
        [Output("h_t", ("batch", "unit"))],
        RNN_STEP_MISTAKES,
        forbidden=RNN_STEP_SHORTCUTS,
    )


# --- Exercise 2: unrolling over a whole sequence ---------------------------

#: What would do exercise 2 for the student: whole recurrent layers.
UNROLL_SHORTCUTS = [
    (torch, "rnn_tanh"),
    (torch.nn, "RNN"),
    (rnncourse.nn.rnn, "RNN"),
]


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


def check_unroll(unroll) -> None:
    """Check ``unroll(x, h0, W_xh, W_hh, b_h) -> (hs, h_T)`` against the reference."""
    sizes = [(2, 5, 3, 4), (1, 1, 2, 3), (3, 7, 1, 2), (4, 3, 5, 5)]
    cases = [
        Case(_rnn_args(B, T, D_in, D_h, 10 + seed), _sizes(B, D_in, D_h, T))
        for seed, (B, T, D_in, D_h) in enumerate(sizes)
    ]
    check(
        "unroll",
        unroll,
        unroll_reference,
        cases,
        [
            Output("hs", ("batch", "time step", "unit")),
            Output("h_T", ("batch", "unit")),
        ],
        UNROLL_MISTAKES,
        forbidden=UNROLL_SHORTCUTS,
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


def _temperature_cases() -> list[Case]:
    g = torch.Generator().manual_seed(20)
    cases = []
    for tau, (B, V) in [(1.0, (3, 5)), (0.5, (2, 7)), (2.0, (4, 3)), (0.1, (1, 10))]:
        logits = torch.randn(B, V, generator=g, dtype=torch.float64) * 3
        cases.append(
            Case(
                (logits, tau), f"(for logits of shape ({B}, {V}) and temperature {tau})"
            )
        )
    logits = torch.tensor([[0.5, 2.0, -1.0], [3.0, 1.0, 2.9]], dtype=torch.float64)
    cases.append(
        Case(
            (logits, 0.0),
            "(for temperature 0, which means greedy: all probability on the arg-max)",
            grad=False,
        )
    )
    return cases


def check_temperature_probs(temperature_probs_fn) -> None:
    """Check ``temperature_probs(logits, temperature) -> probs`` against the
    reference."""
    check(
        "temperature_probs",
        temperature_probs_fn,
        temperature_probs_reference,
        _temperature_cases(),
        [Output("probs", ("row", "token"))],
        TEMPERATURE_MISTAKES,
        forbidden=TEMPERATURE_SHORTCUTS,
    )
