"""Checkers for chapter 2 (backpropagation through time): one backward step, the
gradient with respect to h_0, and a truncated-BPTT training loop.

Each ``check_<name>(student_fn)`` runs the student's function against the
reference on several shapes and names the usual mistakes.

Beyond the usual mistakes, each checker closes the loopholes that a plausible answer
could slip through:

- by hand: while ``step_backward`` and ``grad_h0`` run, autograd (``torch.autograd``,
  ``Tensor.backward``, ``torch.func``) and the package's backward pass are off limits;
  ``grad_h0`` may call the package's one-step ``step_backward``;
- every legal shape: a batch of one, a single time step, D_in != D_h, D_h = 1,
  float64 and float32; states saturated at +-1 in float32, where a derivative taken
  through ``atanh(h_t)`` is infinite or NaN; a sequence of 60 steps through an
  orthogonal W_hh, where a backward pass cut short after a few steps is visible;
- truncated BPTT: the loop trains a spy of the model, which records every call, so
  that the checker can say whether the model ran once per window, on the windows
  ``[0, k)``, ``[k, 2k)``, ..., from a zero state and then from the state the previous
  window returned, detached; the package's ``train``, ``TruncatedBPTT`` and
  ``stream_windows`` are off limits; one case uses SGD with momentum, one a long
  stream of 12 windows, one float32.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

import rnncourse.bptt
import rnncourse.training
from rnncourse.bptt import step_backward
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
from rnncourse.nn import Forecaster, elman_cell
from rnncourse.training import TruncatedBPTT, stream_windows, train


def _kind(dtype: torch.dtype) -> str:
    return ", in float32" if dtype == torch.float32 else ""


# --- Exercise 1: the backward pass of one time step -------------------------


def _step_args(
    B: int,
    D_in: int,
    D_h: int,
    seed: int,
    dtype: torch.dtype = torch.float64,
    x_scale: float = 1.0,
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    W_xh, W_hh = (
        randn64(g, D_h, D_in, scale=D_in**-0.5),
        randn64(g, D_h, D_h, scale=D_h**-0.5),
    )
    x, h_prev = randn64(g, B, D_in, scale=x_scale), torch.tanh(randn64(g, B, D_h))
    dh = randn64(g, B, D_h)
    x, h_prev, W_xh, W_hh, dh = (t.to(dtype) for t in (x, h_prev, W_xh, W_hh, dh))
    h = torch.tanh(x @ W_xh.T + h_prev @ W_hh.T)  # in dtype: +-1 exactly if saturated
    return dh, h, h_prev, x, W_hh  # dh, h_t, h_{t-1}, x_t, W_hh


def _grads_from_da(da, h_prev, x, W_hh):
    return da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0)


def step_backward_reference(dh, h, h_prev, x, W_hh):
    """dh = dL/dh_t, h = h_t, h_prev = h_{t-1}: (B, D_h), x = x_t: (B, D_in), W_hh:
    (D_h, D_h) -> (dL/dh_{t-1}, dW_xh, dW_hh, db_h), this step's share of each."""
    da = dh * (1 - h**2)  # through the tanh: dL/da_t, since tanh' = 1 - tanh^2
    return _grads_from_da(da, h_prev, x, W_hh)


#: What would do exercise 1 for the student, besides autograd: the package's own
#: backward step and backward pass.
STEP_BACKWARD_SHORTCUTS = [
    (rnncourse.bptt, "step_backward"),
    (rnncourse.bptt, "elman_backward"),
    (rnncourse.bptt, "bptt"),
    (rnncourse.bptt, "autograd_gradients"),
]

#: Inputs of scale 20 saturate most units: in float32, h_t is +-1 exactly.
SATURATING = 20.0

SATURATED_STATES = (
    "here many states are saturated, h_t = +-1 exactly in float32, where atanh(h_t) "
    "is infinite and a derivative computed from it can be NaN; use tanh' = 1 - "
    "h_t**2, which is 0 there"
)


STEP_BACKWARD_MISTAKES = [
    Mistake(
        lambda dh, h, h_prev, x, W_hh: _grads_from_da(dh, h_prev, x, W_hh),
        "you skipped the tanh: multiply dh by the derivative 1 - h_t**2 before "
        "anything else",
    ),
    Mistake(
        lambda dh, h, h_prev, x, W_hh: _grads_from_da(
            dh * (1 - torch.tanh(h) ** 2), h_prev, x, W_hh
        ),
        "you applied tanh to h_t again: h_t is already tanh(a_t), so the derivative is "
        "1 - h_t**2",
    ),
    Mistake(
        lambda dh, h, h_prev, x, W_hh: _grads_from_da(
            dh * (1 - h_prev**2), h_prev, x, W_hh
        ),
        "your tanh derivative uses h_prev: the tanh of this step produced h_t, so use "
        "1 - h_t**2",
    ),
    Mistake(
        lambda dh, h, h_prev, x, W_hh: (
            ((dh * (1 - h**2)) @ W_hh.T,)
            + _grads_from_da(dh * (1 - h**2), h_prev, x, W_hh)[1:]
        ),
        "dh_prev multiplies by the wrong side of W_hh: in row-vector form it is da @ "
        "W_hh (that is W_hh^T da)",
    ),
    Mistake(
        lambda dh, h, h_prev, x, W_hh: _grads_from_da(dh * (1 - h**2), h, x, W_hh),
        "dW_hh uses h_t: the matrix W_hh multiplies h_{t-1} in this step, so dW_hh = "
        "da.T @ h_prev",
    ),
    Mistake(
        lambda dh, h, h_prev, x, W_hh: (
            _grads_from_da(dh * (1 - h**2), h_prev, x, W_hh)[:3]
            + ((dh * (1 - h**2)).mean(0),)
        ),
        "db_h averages over the batch: the loss already carries its 1/B, so sum da "
        "over the batch",
    ),
]


def _step_case(B, D_in, D_h, seed, dtype=torch.float64, x_scale=1.0) -> Case:
    saturated = ", many units saturated" if x_scale != 1.0 else ""
    return Case(
        _step_args(B, D_in, D_h, seed, dtype, x_scale),
        f"(for B={B}, D_in={D_in}, D_h={D_h}{_kind(dtype)}{saturated})",
        grad=False,
    )


def check_step_backward(step_backward_fn) -> None:
    """Check ``step_backward(dh, h, h_prev, x, W_hh)``, which returns
    ``(dh_prev, dW_xh, dW_hh, db_h)``, against the reference, autograd off limits.

    Accepted: the derivative written as ``1 - h**2``, ``(1 - h) * (1 + h)`` or
    ``1 - h * h``; the products written with ``@``, ``einsum`` or sums of outer
    products; the tuple or a list of four tensors; in-place changes to the
    arguments (``dh.mul_(...)``)."""
    sizes = [(3, 4, 5), (1, 2, 3), (4, 3, 3), (2, 1, 6), (3, 2, 1)]
    groups = [
        Group([_step_case(*size, seed) for seed, size in enumerate(sizes)]),
        Group([_step_case(3, 4, 5, 5, torch.float32)], **FLOAT32),
        Group(
            [_step_case(4, 3, 6, 6, torch.float32, SATURATING)],
            **FLOAT32,
            overflow=SATURATED_STATES,
        ),
    ]
    check_in_groups(
        "step_backward",
        step_backward_fn,
        step_backward_reference,
        groups,
        [
            Output("dh_prev", ("batch", "unit")),
            Output("dW_xh", ("row", "column")),
            Output("dW_hh", ("row", "column")),
            Output("db_h", ("unit",)),
        ],
        STEP_BACKWARD_MISTAKES,
        by_hand=True,
        forbidden=STEP_BACKWARD_SHORTCUTS,
        strict=True,
    )


# --- Exercise 2: the gradient with respect to h_0 ---------------------------


def _states(x, h0, W_xh, W_hh, b_h) -> list[torch.Tensor]:
    hs = [h0]
    for t in range(x.shape[1]):
        hs.append(elman_cell(x[:, t] @ W_xh.T + b_h, hs[-1], W_hh))
    return hs


def grad_h0_reference(x, h0, W_xh, W_hh, b_h, dL_dh):
    """x: (B, T, D_in), h0: (B, D_h), dL_dh: (B, T, D_h) the gradient reaching each h_t
    through its own output only -> dL/dh_0: (B, D_h), through every path."""
    hs = _states(x, h0, W_xh, W_hh, b_h)
    dh_next = torch.zeros_like(h0)
    for t in range(x.shape[1], 0, -1):
        dh_next = step_backward(
            dL_dh[:, t - 1] + dh_next, hs[t], hs[t - 1], x[:, t - 1], W_hh
        )[0]
    return dh_next


def _grad_h0_variant(
    x, h0, W_xh, W_hh, b_h, dL_dh, direct="all", derivative="h_t", transpose=False
):
    """The backward loop with one of the usual mistakes switched on."""
    hs = _states(x, h0, W_xh, W_hh, b_h)
    dh_next = torch.zeros_like(h0)
    for t in range(x.shape[1], 0, -1):
        dh = dh_next + (dL_dh[:, t - 1] if direct == "all" or t == x.shape[1] else 0)
        slope = {"h_t": 1 - hs[t] ** 2, "h_prev": 1 - hs[t - 1] ** 2, "none": 1.0}[
            derivative
        ]
        dh_next = (dh * slope) @ (W_hh.T if transpose else W_hh)
    return dh_next


def _grad_h1(x, h0, W_xh, W_hh, b_h, dL_dh):
    hs = _states(x, h0, W_xh, W_hh, b_h)
    dh = torch.zeros_like(h0)
    for t in range(x.shape[1], 1, -1):
        dh = step_backward(dL_dh[:, t - 1] + dh, hs[t], hs[t - 1], x[:, t - 1], W_hh)[0]
    return dh + dL_dh[:, 0]  # dL/dh_1: one step short of h_0


GRAD_H0_MISTAKES = [
    Mistake(
        lambda *a: _grad_h0_variant(*a, direct="last"),
        "you only backpropagated the gradient of the last state: at every step add "
        "dL_dh[:, t] to the gradient arriving from the step after",
    ),
    Mistake(
        lambda *a: _grad_h0_variant(*a, derivative="none"),
        "you skipped the tanh: multiply by 1 - h_t**2 at every step on the way back",
    ),
    Mistake(
        lambda *a: _grad_h0_variant(*a, derivative="h_prev"),
        "your tanh derivative at step t uses h_{t-1}: the tanh of step t produced h_t, "
        "so use 1 - h_t**2",
    ),
    Mistake(
        lambda *a: _grad_h0_variant(*a, transpose=True),
        "you multiplied by the wrong side of W_hh: in row-vector form the step back is "
        "(dh * (1 - h_t**2)) @ W_hh",
    ),
    Mistake(
        _grad_h1,
        "you returned the gradient at h_1: go back one more step, through the first "
        "tanh, to h_0",
    ),
]


#: What would do exercise 2 for the student, besides autograd: the package's whole
#: backward pass (its own step_backward, one step of it, is allowed).
GRAD_H0_SHORTCUTS = [
    (rnncourse.bptt, "elman_backward"),
    (rnncourse.bptt, "bptt"),
    (rnncourse.bptt, "autograd_gradients"),
]


def _h0_args(
    B: int,
    T: int,
    D_in: int,
    D_h: int,
    seed: int,
    dtype: torch.dtype = torch.float64,
    orthogonal: bool = False,
) -> tuple:
    g = torch.Generator().manual_seed(seed)
    x = randn64(g, B, T, D_in, scale=0.5 if orthogonal else 1.0)
    h0 = randn64(g, B, D_h, scale=0.5)
    W_xh = randn64(g, D_h, D_in, scale=D_in**-0.5)
    if orthogonal:  # every singular value 1: the gradient reaches far back
        W_hh = torch.linalg.qr(randn64(g, D_h, D_h))[0]
    else:
        W_hh = randn64(g, D_h, D_h, scale=D_h**-0.5)
    b_h, dL_dh = randn64(g, D_h, scale=0.1), randn64(g, B, T, D_h)
    return tuple(t.to(dtype) for t in (x, h0, W_xh, W_hh, b_h, dL_dh))


def _h0_case(B, T, D_in, D_h, seed, dtype=torch.float64, orthogonal=False) -> Case:
    far = (
        ", W_hh orthogonal so that the gradient reaches far back" if orthogonal else ""
    )
    return Case(
        _h0_args(B, T, D_in, D_h, 30 + seed, dtype, orthogonal),
        f"(for B={B}, T={T}, D_in={D_in}, D_h={D_h}{_kind(dtype)}{far})",
        grad=False,
    )


def check_grad_h0(grad_h0) -> None:
    """Check ``grad_h0(x, h0, W_xh, W_hh, b_h, dL_dh) -> dL/dh_0`` against the
    reference, autograd off limits.

    Accepted: any backward loop from t = T down to 1 that adds each step's direct
    gradient, with the student's own ``step_backward``, the package's one-step
    ``step_backward`` or the formula written inline; states kept in a list or a
    tensor; in-place changes to the arguments."""
    sizes = [(2, 5, 3, 4), (1, 1, 2, 3), (3, 8, 1, 2), (2, 4, 4, 4), (2, 6, 3, 1)]
    long = _h0_case(2, 60, 3, 16, len(sizes), orthogonal=True)
    groups = [
        Group([_h0_case(*size, seed) for seed, size in enumerate(sizes)] + [long]),
        Group([_h0_case(3, 30, 4, 8, 9, torch.float32)], rtol=1e-4, atol=1e-6),
    ]
    check_in_groups(
        "grad_h0",
        grad_h0,
        grad_h0_reference,
        groups,
        [Output("dL/dh_0", ("batch", "unit"))],
        GRAD_H0_MISTAKES,
        by_hand=True,
        forbidden=GRAD_H0_SHORTCUTS,
        strict=True,
    )


# --- Exercise 3: a truncated-BPTT training loop -----------------------------


def _mse(outputs, targets):
    return F.mse_loss(outputs, targets)


def train_truncated_reference(model, loss_fn, x, y, k, optimizer) -> list[float]:
    """x, y: (B, N, ...) streams; one optimiser step per window of k steps, the state
    carried from window to window and detached; the last, shorter window is dropped.
    Returns the losses."""
    history = train(
        model,
        TruncatedBPTT(loss_fn, k),
        stream_windows(x, y, k),
        steps=x.shape[1] // k,
        optimizer=optimizer,
        progress=False,
    )
    return history.losses


#: What would do exercise 3 for the student: the package's loop, its truncated-BPTT
#: loss and its windows.
TRAIN_TRUNCATED_SHORTCUTS = [
    (rnncourse.training, "train"),
    (rnncourse.training, "TruncatedBPTT"),
    (rnncourse.training, "stream_windows"),
]


def _loop(model, loss_fn, x, y, k, optimizer, carry=True, zero_grad=True, stride=None):
    """The training loop with one of the usual mistakes switched on."""
    state, losses = None, []
    for start in range(0, x.shape[1] - k + 1, stride or k):
        outputs, new_state = model(x[:, start : start + k], state if carry else None)
        loss = loss_fn(outputs, y[:, start : start + k])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = new_state.detach()
        losses.append(loss.item())
    return losses


def _one_update(model, loss_fn, x, y, k, optimizer):
    """Detaches and carries the state, but sums the windows' losses into one update at
    the end."""
    state, total, losses = None, 0, []
    for start in range(0, x.shape[1] - k + 1, k):
        outputs, state = model(x[:, start : start + k], state)
        loss = loss_fn(outputs, y[:, start : start + k])
        total = total + loss
        state = state.detach()
        losses.append(loss.item())
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return losses


NOT_CARRIED = (
    "every window starts from a zero state: pass the final state of one window on "
    "as the initial state of the next"
)
OVERLAP = (
    "your windows overlap: start them every k steps (0, k, 2k, ...), so that they "
    "tile each stream"
)

TRAIN_TRUNCATED_MISTAKES = [
    Mistake(lambda *a: _loop(*a, carry=False), NOT_CARRIED),
    Mistake(
        lambda *a: _loop(*a, zero_grad=False),
        "the gradients of earlier windows pile up: call optimizer.zero_grad() before "
        "each backward pass",
    ),
    Mistake(lambda *a: _loop(*a, stride=1), OVERLAP),
    Mistake(
        _one_update,
        "you take a single optimiser step at the end: truncated BPTT takes one step "
        "per window",
    ),
]


@dataclass
class _Call:
    """One call of the model: the window it read, and the state it got and gave."""

    x: torch.Tensor
    state_in: torch.Tensor | None  # its value, detached
    attached: bool  # whether the state it got still carried a graph
    state_out: torch.Tensor


class _Spy(torch.nn.Module):
    """The model, watched: it records every call (the window, the state it was given,
    whether that state was detached, the state it returned) and otherwise is the model
    itself, with the same parameters."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.calls: list[_Call] = []

    def forward(self, x, state=None):
        outputs, new_state = self.model(x, state)
        given = state if isinstance(state, torch.Tensor) else None
        self.calls.append(
            _Call(
                x.detach().clone(),
                None if given is None else given.detach().clone(),
                given is not None and given.grad_fn is not None,
                new_state.detach().clone(),
            )
        )
        return outputs, new_state


def _attached(spy: _Spy) -> str | None:
    """The sentence for a state passed on without being detached, if one was."""
    for i, call in enumerate(spy.calls):
        if call.attached:
            return (
                f"the state passed to window {i + 1} still carries the graph of window "
                f"{i}, so the backward pass runs into it: detach the state "
                "(state.detach()) before passing it on"
            )
    return None


def _explain(spy: _Spy) -> Callable[[Exception], str | None]:
    """A hint for an error the student's loop raised, from what the spy saw."""

    def explain(err: Exception) -> str | None:
        attached = _attached(spy)
        if attached:
            return attached
        if "backward through the graph a second time" in str(err):
            return (
                "the backward pass ran into the previous window, detach the state "
                "(state.detach()) before passing it on"
            )
        return None

    return explain


def _window_start(call: _Call, x: torch.Tensor) -> int | None:
    """Where in the stream the window the model read starts, or None if it is no
    window of x."""
    L = call.x.shape[1] if call.x.dim() >= 2 else 0
    if call.x.shape[:1] != x.shape[:1] or call.x.shape[2:] != x.shape[2:]:
        return None
    for start in range(0, x.shape[1] - L + 1):
        if torch.equal(call.x, x[:, start : start + L]):
            return start
    return None


def _spy_says(spy: _Spy, x: torch.Tensor, k: int, where: str) -> str | None:
    """What the spy's record shows to be wrong with the loop, or None."""
    starts = list(range(0, x.shape[1] - k + 1, k))
    calls = spy.calls
    if not calls:
        return (
            f"your loop never called the model {where}: run it on each window, "
            "model(x[:, start:start + k], state)"
        )
    found = [_window_start(call, x) for call in calls]
    for i, (call, start) in enumerate(zip(calls, found)):
        if start is None:
            return (
                f"call {i + 1} of the model read a tensor of shape "
                f"{tuple(call.x.shape)} that is no window of the stream x {where}: "
                "give the model x[:, start:start + k]"
            )
    lengths = [call.x.shape[1] for call in calls]
    for i in range(1, len(calls)):
        start, L = found[i], lengths[i]
        if start == 0 and (L > k or max(found[:i]) > 0):
            return (
                f"your loop reads the stream again from its start (x[:, 0:{L}]) "
                f"{where}, to rebuild the state: carry the state the model returned "
                "for one window, detached, into the next, and call the model once per "
                "window"
            )
    if any(L != k for L in lengths):
        if len(lengths) > 1 and lengths[-1] < k and set(lengths[:-1]) == {k}:
            return (
                f"your last window has {lengths[-1]} steps, fewer than k={k} {where}: "
                "drop a last window shorter than k"
            )
        return (
            f"your windows have {sorted(set(lengths))} steps {where}: each window "
            f"holds k={k} steps, x[:, start:start + k]"
        )
    if any(b - a < k for a, b in zip(found, found[1:]) if b > a):
        return OVERLAP
    if len(calls) > len(starts) and sorted(set(found)) == starts:
        return (
            f"your loop called the model {len(calls)} times for {len(starts)} windows "
            f"{where}: call it once per window, and take both the outputs and the "
            "state from that one call"
        )
    if found != starts:
        return (
            f"the model read windows starting at steps {found} {where}, expected "
            f"{starts}: go through the stream once, in order, every k steps"
        )
    for i, call in enumerate(calls):
        given = call.state_in
        zero = given is None or not given.any()
        if i == 0 and not zero:
            return (
                "the first window should start from a zero state: pass state=None "
                "(or zeros) to the model for the window x[:, 0:k]"
            )
        if i > 0 and zero and calls[i - 1].state_out.any():
            return NOT_CARRIED
        if i > 0 and call.attached:
            return _attached(spy)
        if i > 0 and not (
            given is not None
            and given.shape == calls[i - 1].state_out.shape
            and torch.equal(given, calls[i - 1].state_out)
        ):
            return (
                f"the state passed to window {i + 1} is not the state the model "
                f"returned after window {i} {where}: carry that state, detached, from "
                "one window to the next"
            )
    return None


@dataclass
class _TruncatedCase:
    B: int
    N: int
    k: int
    dtype: torch.dtype = torch.float64
    momentum: float = 0.0

    @property
    def where(self) -> str:
        extra = _kind(self.dtype)
        if self.momentum:
            extra += f", with SGD and momentum {self.momentum}"
        return (
            f"(for B={self.B} streams of N={self.N} steps and windows of k={self.k}"
            f"{extra})"
        )

    @property
    def tolerance(self) -> tuple[float, float]:  # (relative, absolute)
        return (1e-9, 1e-12) if self.dtype == torch.float64 else (1e-5, 1e-7)

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=LR, momentum=self.momentum)


LR = 0.05  # the learning rate of every training run

TRUNCATED_CASES = [
    _TruncatedCase(3, 12, 4),
    _TruncatedCase(2, 10, 3),
    _TruncatedCase(1, 6, 6),  # one window: full BPTT
    _TruncatedCase(4, 9, 1),
    _TruncatedCase(2, 60, 5, momentum=0.9),  # a long stream, an optimiser with state
    _TruncatedCase(2, 12, 4, torch.float32),
]


def _run(fn, model, x, y, case: _TruncatedCase):
    return fn(model, _mse, x, y, case.k, case.optimizer(model))


def check_train_truncated(train_truncated) -> None:
    """Check ``train_truncated(model, loss_fn, x, y, k, optimizer) -> list of losses``.

    Each case trains two copies of a small forecaster, one with the student's loop
    (through a spy that records every call of the model) and one with the reference,
    and compares the losses and the final weights. With k equal to the stream length,
    both are full BPTT.

    Accepted: ``optimizer.zero_grad()`` (or ``model.zero_grad()``) anywhere before
    the backward pass or after the step; the state detached with ``.detach()``,
    ``.detach_()`` or ``.data``; ``state=None`` or zeros for the first window; the
    losses as Python floats, NumPy numbers or 0-d tensors, in a list, a tuple or a
    1-d tensor.
    """
    name = "train_truncated"
    require_function(name, train_truncated)
    with Guard(name, train_truncated, forbidden=TRAIN_TRUNCATED_SHORTCUTS) as guard:
        for seed, case in enumerate(TRUNCATED_CASES):
            _check_truncated_case(name, guard, seed, case)
    print(
        f"\u2705 {name}: correct on all {len(TRUNCATED_CASES)} test cases; full BPTT "
        "when k is the whole stream."
    )


def _check_truncated_case(name: str, guard: Guard, seed: int, case) -> None:
    """Train the student's copy (under the rules) and the reference's on one case;
    fail with what the spy saw, or with how the runs differ."""
    where = case.where
    g = torch.Generator().manual_seed(40 + seed)
    x = randn64(g, case.B, case.N, 2).to(case.dtype)
    y = randn64(g, case.B, case.N, 2).to(case.dtype)
    with torch.random.fork_rng(devices=[]):  # the caller's generator left alone
        torch.manual_seed(40 + seed)
        model = Forecaster(2, hidden_size=5).to(case.dtype)
    student, reference = _Spy(copy.deepcopy(model)), copy.deepcopy(model)
    got = guard.call(
        (student, _mse, x.clone(), y.clone(), case.k, case.optimizer(student)),
        where,
        _explain(student),
    )
    with comparing(name, where):
        spied = _spy_says(student, x, case.k, where)
    if spied:
        fail(name, spied)
    expected = _run(train_truncated_reference, reference, x, y, case)
    try:
        got = [float(v) for v in got]
    except Exception:
        fail(
            name,
            "return the list of the windows' losses as numbers (loss.item()), got "
            f"{kind_of(got)} {where}",
        )
    with comparing(name, where):
        _compare_runs(name, got, student, expected, reference, model, x, y, case)


def _compare_runs(name, got, student, expected, reference, model, x, y, case):
    """Fail unless the student's run (losses and final weights) is the reference's."""
    where, tolerance = case.where, case.tolerance
    if _same_run(got, student, expected, reference, tolerance):
        return
    for mistake in TRAIN_TRUNCATED_MISTAKES:
        planted = copy.deepcopy(model)
        planted_losses = _run(mistake.fn, planted, x, y, case)
        if _same_run(got, student, planted_losses, planted, tolerance):
            fail(name, mistake.message)
    if len(got) != len(expected):
        fail(
            name,
            f"expected {len(expected)} losses, one per window of k steps (the last, "
            f"shorter window dropped), got {len(got)} {where}",
        )
    if not math.isclose(got[0], expected[0], rel_tol=tolerance[0]):
        fail(
            name,
            f"the first window's loss is {got[0]:.6g}, expected {expected[0]:.6g} "
            f"{where}: compute loss_fn(outputs, targets) on the window x[:, 0:k], y[:, "
            "0:k] from a zero state",
        )
    fail(
        name,
        f"the losses differ from the reference {where}: got {_fmt(got)}, expected "
        f"{_fmt(expected)}",
    )


def _same_run(losses_a, model_a, losses_b, model_b, tolerance) -> bool:
    rel, abs_ = tolerance
    return (
        len(losses_a) == len(losses_b)
        and all(
            math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
            for a, b in zip(losses_a, losses_b)
        )
        and all(
            torch.allclose(p, q, rtol=rel, atol=abs_)
            for p, q in zip(model_a.parameters(), model_b.parameters())
        )
    )


def _fmt(values) -> str:
    return (
        "["
        + ", ".join(f"{v:.4g}" for v in values[:4])
        + (", ...]" if len(values) > 4 else "]")
    )
