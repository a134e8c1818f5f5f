"""Checkers for chapter 2 (backpropagation through time): one backward step, the
gradient with respect to h_0, and a truncated-BPTT training loop.

Each ``check_<name>(student_fn)`` runs the student's function against the
reference on several shapes and names the usual mistakes.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

import rnncourse.bptt
from rnncourse.bptt import step_backward
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
from rnncourse.nn import Forecaster, elman_cell
from rnncourse.training import TruncatedBPTT, stream_windows, train


def _randn(g: torch.Generator, *shape, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


# --- Exercise 1: the backward pass of one time step -------------------------


def _step_args(B: int, D_in: int, D_h: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    W_xh, W_hh = (
        _randn(g, D_h, D_in, scale=D_in**-0.5),
        _randn(g, D_h, D_h, scale=D_h**-0.5),
    )
    x, h_prev = _randn(g, B, D_in), torch.tanh(_randn(g, B, D_h))
    h = torch.tanh(x @ W_xh.T + h_prev @ W_hh.T)
    return _randn(g, B, D_h), h, h_prev, x, W_hh  # dh, h_t, h_{t-1}, x_t, W_hh


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
]


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


def check_step_backward(step_backward_fn) -> None:
    """Check ``step_backward(dh, h, h_prev, x, W_hh)``, which returns
    ``(dh_prev, dW_xh, dW_hh, db_h)``, against the reference, autograd off limits."""
    sizes = [(3, 4, 5), (1, 2, 3), (4, 3, 3), (2, 1, 6)]
    cases = [
        Case(
            _step_args(B, D_in, D_h, seed),
            f"(for B={B}, D_in={D_in}, D_h={D_h})",
            grad=False,
        )
        for seed, (B, D_in, D_h) in enumerate(sizes)
    ]
    check(
        "step_backward",
        step_backward_fn,
        step_backward_reference,
        cases,
        [
            Output("dh_prev", ("batch", "unit")),
            Output("dW_xh", ("row", "column")),
            Output("dW_hh", ("row", "column")),
            Output("db_h", ("unit",)),
        ],
        STEP_BACKWARD_MISTAKES,
        by_hand=True,
        forbidden=STEP_BACKWARD_SHORTCUTS,
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


def _h0_args(B: int, T: int, D_in: int, D_h: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return (
        _randn(g, B, T, D_in),
        _randn(g, B, D_h, scale=0.5),
        _randn(g, D_h, D_in, scale=D_in**-0.5),
        _randn(g, D_h, D_h, scale=D_h**-0.5),
        _randn(g, D_h, scale=0.1),
        _randn(g, B, T, D_h),
    )


def check_grad_h0(grad_h0) -> None:
    """Check ``grad_h0(x, h0, W_xh, W_hh, b_h, dL_dh) -> dL/dh_0`` against the
    reference, autograd off limits."""
    sizes = [(2, 5, 3, 4), (1, 1, 2, 3), (3, 8, 1, 2), (2, 4, 4, 4)]
    cases = [
        Case(
            _h0_args(B, T, D_in, D_h, 30 + seed),
            f"(for B={B}, T={T}, D_in={D_in}, D_h={D_h})",
            grad=False,
        )
        for seed, (B, T, D_in, D_h) in enumerate(sizes)
    ]
    check(
        "grad_h0",
        grad_h0,
        grad_h0_reference,
        cases,
        [Output("dL/dh_0", ("batch", "unit"))],
        GRAD_H0_MISTAKES,
        by_hand=True,
        forbidden=GRAD_H0_SHORTCUTS,
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


TRAIN_TRUNCATED_MISTAKES = [
    Mistake(
        lambda *a: _loop(*a, carry=False),
        "every window starts from a zero state: pass the final state of one window on "
        "as the initial state of the next",
    ),
    Mistake(
        lambda *a: _loop(*a, zero_grad=False),
        "the gradients of earlier windows pile up: call optimizer.zero_grad() before "
        "each backward pass",
    ),
    Mistake(
        lambda *a: _loop(*a, stride=1),
        "your windows overlap: start them every k steps (0, k, 2k, ...), so that they "
        "tile each stream",
    ),
    Mistake(
        _one_update,
        "you take a single optimiser step at the end: truncated BPTT takes one step "
        "per window",
    ),
]


LR = 0.05  # the learning rate of every training run


def _run(fn, model, x, y, k):
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    return fn(model, _mse, x, y, k, optimizer)


def check_train_truncated(train_truncated) -> None:
    """Check ``train_truncated(model, loss_fn, x, y, k, optimizer) -> list of losses``.

    Each case trains two copies of a small float64 forecaster with SGD, one with
    the student's loop and one with the reference, and compares the losses and
    the final weights. With k equal to the stream length, both are full BPTT.
    """
    name = "train_truncated"
    require_function(name, train_truncated)
    for seed, (B, N, k) in enumerate([(3, 12, 4), (2, 10, 3), (1, 6, 6), (4, 9, 1)]):
        where = f"(for B={B} streams of N={N} steps and windows of k={k})"
        g = torch.Generator().manual_seed(40 + seed)
        x, y = _randn(g, B, N, 2), _randn(g, B, N, 2)
        torch.manual_seed(40 + seed)
        model = Forecaster(2, hidden_size=5).double()
        student, reference = copy.deepcopy(model), copy.deepcopy(model)
        optimizer = torch.optim.SGD(student.parameters(), lr=LR)
        got = call_student(
            name,
            train_truncated,
            (student, _mse, x.clone(), y.clone(), k, optimizer),
            where,
            explain=_second_backward,
        )
        expected = _run(train_truncated_reference, reference, x, y, k)
        try:
            got = [float(v) for v in got]
        except Exception:
            fail(
                name,
                "return the list of the windows' losses as numbers (loss.item()), got "
                f"{kind_of(got)} {where}",
            )
        with comparing(name, where):
            _compare_runs(
                name, got, student, expected, reference, model, x, y, k, where
            )
    print(
        f"\u2705 {name}: correct on all 4 test cases; full BPTT when k is the whole "
        "stream."
    )


def _second_backward(err: Exception) -> str | None:
    """A hint for the error of a state passed on without being detached."""
    if "backward through the graph a second time" in str(err):
        return (
            "the backward pass ran into the previous window, detach the state "
            "(state.detach()) before passing it on"
        )
    return None


def _compare_runs(name, got, student, expected, reference, model, x, y, k, where):
    """Fail unless the student's run (losses and final weights) is the reference's."""
    if _same_run(got, student, expected, reference):
        return
    for mistake in TRAIN_TRUNCATED_MISTAKES:
        planted = copy.deepcopy(model)
        if _same_run(got, student, _run(mistake.fn, planted, x, y, k), planted):
            fail(name, mistake.message)
    if len(got) != len(expected):
        fail(
            name,
            f"expected {len(expected)} losses, one per window of k steps (the last, "
            f"shorter window dropped), got {len(got)} {where}",
        )
    if not math.isclose(got[0], expected[0], rel_tol=1e-9):
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


def _same_run(losses_a, model_a, losses_b, model_b) -> bool:
    return (
        len(losses_a) == len(losses_b)
        and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
            for a, b in zip(losses_a, losses_b)
        )
        and all(
            torch.allclose(p, q, rtol=1e-9, atol=1e-12)
            for p, q in zip(model_a.parameters(), model_b.parameters())
        )
    )


def _fmt(values) -> str:
    return (
        "["
        + ", ".join(f"{v:.4g}" for v in values[:4])
        + (", ...]" if len(values) > 4 else "]")
    )
