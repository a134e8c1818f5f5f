"""Chapter 2's checkers accept right answers written in many ways and reject planted
wrong ones, each with a sentence.

The planted answers are written here, independently of the checkers' lists of usual
mistakes, and grouped by the loophole they try: 1 numerical range (saturated float32
states, a sequence of 60 steps, a stream of 12 windows), 2 the point of the exercise
(by hand, without autograd; truncated BPTT that carries the state, detached, and runs
the model once per window), 3 the legal input shapes (a batch of one, one step, D_h =
1, float32), 4 the tolerance (answers that are right on easy inputs only, or nearly
right), 5 shortcuts (the package's backward pass and training loop), 6 odd return
values (a checker never crashes). Right variants (7) are accepted.
"""

import numpy as np
import pytest
import torch

import rnncourse.bptt
from rnncourse.bptt import ElmanParams, elman_backward, elman_forward, step_backward
from rnncourse.bptt import step_backward as package_step_backward  # as the notebook
from rnncourse.exercises import (
    check_grad_h0,
    check_step_backward,
    check_train_truncated,
)
from rnncourse.exercises.bptt import (
    grad_h0_reference,
    step_backward_reference,
    train_truncated_reference,
)
from rnncourse.training import TruncatedBPTT, stream_windows, train

from ._helpers import (
    _accepting,
    _distinct_usual_mistakes,
    _message,
    _not_solved,
    _refusing_non_functions,
    _rejecting,
    _shortcut_message,
)


def test_references_pass(capsys):
    check_step_backward(step_backward_reference)
    check_grad_h0(grad_h0_reference)
    check_train_truncated(_train_loop)  # the reference itself uses the package's loop
    out = capsys.readouterr().out
    assert out.count("correct on all") == 3
    assert out.count("\n") == 3, "one pass line per checker"


def test_the_step_reference_is_the_package_s():
    args = _step_case()
    torch.testing.assert_close(step_backward_reference(*args), step_backward(*args))


# --- step_backward ----------------------------------------------------------------


def _step(dh, h, h_prev, x, W_hh, slope=None, dW_hh_from=None):
    da = dh * (1 - h**2 if slope is None else slope)
    return (
        da @ W_hh,
        da.T @ x,
        da.T @ (h_prev if dW_hh_from is None else dW_hh_from),
        da.sum(0),
    )


def _step_in_place(dh, h, h_prev, x, W_hh):
    da = dh.mul_(1 - h * h)  # the argument itself, changed in place
    return [da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0)]


def _step_outer_products(dh, h, h_prev, x, W_hh):
    da = dh * (1 - h) * (1 + h)
    dW_xh = sum(torch.outer(da[b], x[b]) for b in range(da.shape[0]))
    dW_hh = torch.einsum("bi,bj->ij", da, h_prev)
    return torch.einsum("bi,ij->bj", da, W_hh), dW_xh, dW_hh, da.sum(dim=0)


STEP_RIGHT = {
    "the notebook's solution": lambda dh, h, hp, x, W: _step(dh, h, hp, x, W),
    "dh changed in place, a list": _step_in_place,
    "(1 - h)(1 + h), outer products and einsum": _step_outer_products,
}


test_step_backward_accepts = _accepting(STEP_RIGHT, check_step_backward)


def _through_atanh(dh, h, h_prev, x, W_hh):
    """tanh' computed from a = atanh(h_t) as 4 exp(-2a) / (1 + exp(-2a))^2: right
    where |h_t| < 1, NaN where a float32 state saturates at -1."""
    a = torch.atanh(h)
    e = torch.exp(-2 * a)
    return _step(dh, h, h_prev, x, W_hh, slope=4 * e / (1 + e) ** 2)


STEP_PLANTED = {
    # 1: numerical range
    "tanh' through atanh(h_t)": (_through_atanh, "atanh(h_t) is infinite", 1),
    # 3: every legal shape
    "db_h summed over everything": (
        lambda *a: _step(*a)[:3] + (_step(*a)[3].sum(),),
        "db_h has shape ()",
        3,
    ),
    "squeezed batch": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x.squeeze(), W),
        "raised",
        3,
    ),
    "float64 whatever the inputs": (
        lambda *a: _step(*(t.double() for t in a)),
        "should have torch.float32",
        3,
    ),
    "dW_xh transposed": (
        lambda *a: (lambda r: (r[0], r[1].T, r[2], r[3]))(_step(*a)),
        "dW_xh has shape",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "no tanh": (lambda *a: _step(*a, slope=1.0), "skipped the tanh", 4),
    "tanh applied twice": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, slope=1 - torch.tanh(h) ** 2),
        "tanh to h_t again",
        4,
    ),
    "derivative at h_prev": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, slope=1 - hp**2),
        "uses h_prev",
        4,
    ),
    "dW_hh from h_t": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, dW_hh_from=h),
        "dW_hh uses h_t",
        4,
    ),
    "dh_prev through W_hh.T": (
        lambda dh, h, hp, x, W: (
            _step(dh, h, hp, x, W.T)[:1] + _step(dh, h, hp, x, W)[1:]
        ),
        "wrong side of W_hh",
        4,
    ),
    "db_h averaged": (
        lambda *a: _step(*a)[:3] + (_step(*a)[3] / a[0].shape[0],),
        "averages over the batch",
        4,
    ),
    "derivative 1 - |h|": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, slope=1 - h.abs()),
        "dh_prev is wrong at",
        4,
    ),
    # 6: odd return values
    "returns three": (lambda *a: _step(*a)[:3], "expected 4 return value(s)", 6),
    "a dict": (
        lambda *a: dict(zip(["dh_prev", "dW_xh", "dW_hh", "db_h"], _step(*a))),
        "expected 4 return value(s)",
        6,
    ),
    "NumPy arrays": (
        lambda *a: tuple(t.numpy() for t in _step(*a)),
        "a NumPy array",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_step_backward_rejects = _rejecting(STEP_PLANTED, check_step_backward)


def test_a_derivative_through_atanh_is_right_until_the_states_saturate():
    args = _step_case()
    torch.testing.assert_close(_through_atanh(*args), step_backward_reference(*args))


def _step_by_autograd(dh, h, h_prev, x, W_hh):
    """The tanh's derivative by autograd, the rest by hand."""
    a = torch.atanh(h).requires_grad_()
    (da,) = torch.autograd.grad(torch.tanh(a), a, dh)
    return da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0)


def _step_by_functional_vjp(dh, h, h_prev, x, W_hh):
    a = torch.atanh(h)
    _, da = torch.autograd.functional.vjp(torch.tanh, a, dh)
    return da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0)


def _step_by_jacrev(dh, h, h_prev, x, W_hh):
    a = torch.atanh(h)
    slope = torch.func.vmap(torch.func.grad(torch.tanh))(a.flatten()).view_as(a)
    return _step(dh, h, h_prev, x, W_hh, slope=slope)


STEP_SHORTCUTS = {
    "torch.autograd.grad": (_step_by_autograd, "torch.autograd.grad"),
    "torch.autograd.functional.vjp": (
        _step_by_functional_vjp,
        "torch.autograd.functional.vjp",
    ),
    "torch.func.grad": (_step_by_jacrev, "torch.func.grad"),
    "the package's step_backward": (step_backward, "rnncourse.bptt.step_backward"),
    "the notebook's package_step_backward": (
        lambda *a: package_step_backward(*a),
        "rnncourse.bptt.step_backward",
    ),
    "through the package's module": (
        lambda *a: rnncourse.bptt.step_backward(*a),
        "rnncourse.bptt.step_backward",
    ),
}


def _step_case():
    g = torch.Generator().manual_seed(2)
    dh, h_prev, x, W_xh, W_hh = (
        torch.randn(*shape, generator=g, dtype=torch.float64) * 0.5
        for shape in [(3, 5), (3, 5), (3, 4), (5, 4), (5, 5)]
    )
    return dh, torch.tanh(x @ W_xh.T + h_prev @ W_hh.T), h_prev, x, W_hh


@pytest.mark.parametrize("name", STEP_SHORTCUTS)
def test_step_backward_rejects_autograd_and_the_package(name):
    fn, called = STEP_SHORTCUTS[name]
    _shortcut_message(
        check_step_backward, fn, step_backward_reference, _step_case(), called
    )


# --- grad_h0 ----------------------------------------------------------------------


def _forward(x, h0, W_xh, W_hh, b_h):
    hs = [h0]
    for t in range(x.shape[1]):
        hs.append(torch.tanh(x[:, t] @ W_xh.T + hs[-1] @ W_hh.T + b_h))
    return hs


def _backward_h0(
    x, h0, W_xh, W_hh, b_h, dL_dh, only_last=False, slope=True, right_side=False
):
    hs = _forward(x, h0, W_xh, W_hh, b_h)
    T = x.shape[1]
    dh = torch.zeros_like(h0)
    for t in range(T, 0, -1):
        dh = dh + (dL_dh[:, t - 1] if (not only_last or t == T) else 0)
        da = dh * (1 - hs[t] ** 2) if slope else dh
        dh = da @ (W_hh.T if right_side else W_hh)
    return dh


def _h0_with_package_step(x, h0, W_xh, W_hh, b_h, dL_dh):
    hs = _forward(x, h0, W_xh, W_hh, b_h)
    dh = torch.zeros_like(h0)
    for t in range(x.shape[1], 0, -1):
        dh = package_step_backward(
            dL_dh[:, t - 1] + dh, hs[t], hs[t - 1], x[:, t - 1], W_hh
        )[0]
    return dh


def _h0_in_place(x, h0, W_xh, W_hh, b_h, dL_dh):
    """States in a tensor made beforehand; the direct gradients added in place into
    dL_dh itself."""
    T = x.shape[1]
    hs = torch.empty(T + 1, *h0.shape, dtype=h0.dtype)
    hs[0] = h0
    for t in range(T):
        hs[t + 1] = torch.tanh(x[:, t] @ W_xh.T + hs[t] @ W_hh.T + b_h)
    for t in range(T, 1, -1):
        dL_dh[:, t - 2] += (dL_dh[:, t - 1] * (1 - hs[t] ** 2)) @ W_hh
    return (dL_dh[:, 0] * (1 - hs[1] ** 2)) @ W_hh


def _h0_as_sum_of_products(x, h0, W_xh, W_hh, b_h, dL_dh):
    """sum_s (dh_s/dh_0)^T dL_dh[s], each Jacobian product built explicitly."""
    hs = _forward(x, h0, W_xh, W_hh, b_h)
    total = torch.zeros_like(h0)
    for b in range(h0.shape[0]):
        J = torch.eye(h0.shape[1], dtype=h0.dtype)
        for s in range(1, x.shape[1] + 1):
            J = ((1 - hs[s][b] ** 2)[:, None] * W_hh) @ J
            total[b] += J.T @ dL_dh[b, s - 1]
    return total


H0_RIGHT = {
    "with the package's one-step step_backward": _h0_with_package_step,
    "dL_dh accumulated in place": _h0_in_place,
    "a sum of explicit Jacobian products": _h0_as_sum_of_products,
    "the backward loop inline": _backward_h0,
}


test_grad_h0_accepts = _accepting(H0_RIGHT, check_grad_h0)


def _h0_last_steps(x, h0, W_xh, W_hh, b_h, dL_dh, window=20):
    """Backpropagates only the losses of the first ``window`` steps, as if the far
    ones could not matter: right on every short sequence."""
    T = min(x.shape[1], window)
    return _backward_h0(x[:, :T], h0, W_xh, W_hh, b_h, dL_dh[:, :T])


def _h0_squeezed(*a):
    return _backward_h0(*a).squeeze()


def _h0_stops_at_h1(x, h0, W_xh, W_hh, b_h, dL_dh):
    hs = _forward(x, h0, W_xh, W_hh, b_h)
    dh = dL_dh[:, -1]
    for t in range(x.shape[1] - 1, 0, -1):
        dh = dL_dh[:, t - 1] + (dh * (1 - hs[t + 1] ** 2)) @ W_hh
    return dh


H0_PLANTED = {
    # 1: numerical range (a long sequence)
    "the first 20 steps only": (_h0_last_steps, "T=60", 1),
    # 3: every legal shape
    "squeezed": (_h0_squeezed, "should have shape (1, 3)", 3),
    "float64 whatever the inputs": (
        lambda *a: _backward_h0(*(t.double() for t in a)),
        "should have torch.float32",
        3,
    ),
    "T taken from the batch axis": (
        lambda x, *a: _backward_h0(x[:, : x.shape[0]], *a[:-1], a[-1][:, : x.shape[0]]),
        "dL/dh_0 is wrong at",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "only the last state's gradient": (
        lambda *a: _backward_h0(*a, only_last=True),
        "only backpropagated the gradient of the last",
        4,
    ),
    "no tanh": (lambda *a: _backward_h0(*a, slope=False), "skipped the tanh", 4),
    "W_hh transposed": (
        lambda *a: _backward_h0(*a, right_side=True),
        "wrong side of W_hh",
        4,
    ),
    "stops at h_1": (_h0_stops_at_h1, "gradient at h_1", 4),
    "zeros": (lambda x, h0, *a: torch.zeros_like(h0), "dL/dh_0 is wrong at", 4),
    # 6: odd return values
    "a list of rows": (lambda *a: list(_backward_h0(*a)), "got a Python list", 6),
    "None": (lambda *a: None, "returned None", 6),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_grad_h0_rejects = _rejecting(H0_PLANTED, check_grad_h0)


def _loss_to_h(x, h0, W_xh, W_hh, b_h, dL_dh):
    """sum_t dL_dh[:, t] . h_t: its gradient with respect to h0 is dL/dh_0."""
    h, total = h0, 0
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)
        total = total + (h * dL_dh[:, t]).sum()
    return total


def _h0_by_autograd_grad(x, h0, *rest):
    h0 = h0.clone().requires_grad_()
    return torch.autograd.grad(_loss_to_h(x, h0, *rest), h0)[0]


def _h0_by_backward(x, h0, *rest):
    h0 = h0.clone().requires_grad_()
    _loss_to_h(x, h0, *rest).backward()
    return h0.grad


def _h0_by_vjp(x, h0, *rest):
    return torch.func.vjp(lambda h: _loss_to_h(x, h, *rest), h0)[1](
        torch.ones((), dtype=h0.dtype)
    )[0]


def _h0_by_functional_jacobian(x, h0, *rest):
    return torch.autograd.functional.jacobian(lambda h: _loss_to_h(x, h, *rest), h0)


def _h0_by_elman_backward(x, h0, W_xh, W_hh, b_h, dL_dh):
    """The package's whole backward pass, with an identity readout: dL/dy = dL_dh."""
    D_h = h0.shape[1]
    eye, zero = torch.eye(D_h, dtype=h0.dtype), torch.zeros(D_h, dtype=h0.dtype)
    params = ElmanParams(W_xh, W_hh, b_h, eye, zero)
    hs, _ = elman_forward(x, params, h0)
    return elman_backward(x, hs, dL_dh, params).h0


GRAD_H0_SHORTCUTS = {
    "torch.autograd.grad": (_h0_by_autograd_grad, "torch.autograd.grad"),
    "Tensor.backward": (_h0_by_backward, "torch.Tensor.backward"),
    "torch.func.vjp": (_h0_by_vjp, "torch.func.vjp"),
    "torch.autograd.functional.jacobian": (
        _h0_by_functional_jacobian,
        "torch.autograd.functional.jacobian",
    ),
    "the package's elman_backward": (
        _h0_by_elman_backward,
        "rnncourse.bptt.elman_backward",
    ),
}


def _h0_case():
    g = torch.Generator().manual_seed(1)
    shapes = [(2, 5, 3), (2, 4), (4, 3), (4, 4), (4,), (2, 5, 4)]
    return tuple(torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes)


@pytest.mark.parametrize("name", GRAD_H0_SHORTCUTS)
def test_grad_h0_rejects_autograd_and_the_package(name):
    fn, called = GRAD_H0_SHORTCUTS[name]
    _shortcut_message(check_grad_h0, fn, grad_h0_reference, _h0_case(), called)


def test_autograd_works_again_after_a_rejection():
    _message(check_grad_h0, _h0_by_autograd_grad)
    x = torch.ones(2, requires_grad=True)
    (x**2).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), 2.0))


# --- train_truncated --------------------------------------------------------------


def _train_loop(
    model,
    loss_fn,
    x,
    y,
    k,
    optimizer,
    carry=True,
    detach=True,
    zero_grad=True,
    stride=None,
    as_tensors=False,
    keep_last=False,
):
    state, losses = None, []
    stop = x.shape[1] if keep_last else x.shape[1] - k + 1
    for start in range(0, stop, stride or k):
        outputs, new_state = model(x[:, start : start + k], state if carry else None)
        loss = loss_fn(outputs, y[:, start : start + k])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = new_state.detach() if detach else new_state
        losses.append(loss.detach() if as_tensors else loss.item())
    return losses


def _train_zero_grad_last(model, loss_fn, x, y, k, optimizer):
    """model.zero_grad() after each step, detach_(), explicit zeros first, NumPy
    losses in a tuple."""
    B, N = x.shape[:2]
    D_h = next(p for n, p in model.named_parameters() if "weight_hh" in n).shape[1]
    state = torch.zeros(1, B, D_h, dtype=x.dtype)
    losses = []
    for i in range(N // k):
        window = slice(i * k, (i + 1) * k)
        outputs, state = model(x[:, window], state)
        loss = loss_fn(outputs, y[:, window])
        loss.backward()
        optimizer.step()
        model.zero_grad()
        state.detach_()
        losses.append(np.float64(loss.item()))
    return tuple(losses)


def _train_state_data(model, loss_fn, x, y, k, optimizer):
    """The state's .data carried; losses stacked into one tensor."""
    state, losses = None, []
    for start in range(0, x.shape[1] - k + 1, k):
        optimizer.zero_grad(set_to_none=False)
        outputs, state = model(x[:, start : start + k], state)
        loss = loss_fn(outputs, y[:, start : start + k])
        loss.backward()
        optimizer.step()
        state = state.data
        losses.append(loss.detach())
    return torch.stack(losses)


TRUNCATED_RIGHT = {
    "the notebook's loop": _train_loop,
    "losses as tensors": lambda *a: _train_loop(*a, as_tensors=True),
    "zero_grad after the step, detach_(), zeros first, NumPy losses": (
        _train_zero_grad_last
    ),
    "the state's .data, losses as one tensor": _train_state_data,
}


test_train_truncated_accepts = _accepting(TRUNCATED_RIGHT, check_train_truncated)


def _train_twice_per_window(model, loss_fn, x, y, k, optimizer):
    """The outputs from one call, the state from a second call on the same window:
    the same numbers, twice the work."""
    state, losses = None, []
    for start in range(0, x.shape[1] - k + 1, k):
        window = x[:, start : start + k]
        outputs, _ = model(window, state)
        with torch.no_grad():
            _, new_state = model(window, state)
        loss = loss_fn(outputs, y[:, start : start + k])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state, losses = new_state, losses + [loss.item()]
    return losses


def _train_rereads(model, loss_fn, x, y, k, optimizer):
    """Rebuilds the state by reading the stream again from its start, every window."""
    losses = []
    for start in range(0, x.shape[1] - k + 1, k):
        state = None
        if start:
            with torch.no_grad():
                _, state = model(x[:, :start])
        outputs, _ = model(x[:, start : start + k], state)
        loss = loss_fn(outputs, y[:, start : start + k])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _train_stale_state(model, loss_fn, x, y, k, optimizer):
    """Carries the state of the first window to every later one."""
    first, losses = None, []
    for start in range(0, x.shape[1] - k + 1, k):
        outputs, state = model(x[:, start : start + k], first)
        loss = loss_fn(outputs, y[:, start : start + k])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = state.detach() if first is None else first
        losses.append(loss.item())
    return losses


def _train_random_start(model, loss_fn, x, y, k, optimizer):
    g = torch.Generator().manual_seed(0)
    state = torch.randn(1, x.shape[0], 5, generator=g, dtype=x.dtype) * 0.1
    return _loop_from(model, loss_fn, x, y, k, optimizer, state)


def _loop_from(model, loss_fn, x, y, k, optimizer, state):
    losses = []
    for start in range(0, x.shape[1] - k + 1, k):
        outputs, state = model(x[:, start : start + k], state)
        loss = loss_fn(outputs, y[:, start : start + k])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = state.detach()
        losses.append(loss.item())
    return losses


def _train_new_optimizer(model, loss_fn, x, y, k, optimizer):
    """A fresh optimiser of the same kind for every window: its momentum is lost."""
    losses = []
    state = None
    for start in range(0, x.shape[1] - k + 1, k):
        fresh = type(optimizer)(model.parameters(), **optimizer.defaults)
        outputs, state = model(x[:, start : start + k], state)
        loss = loss_fn(outputs, y[:, start : start + k])
        fresh.zero_grad()
        loss.backward()
        fresh.step()
        state = state.detach()
        losses.append(loss.item())
    return losses


def _train_time_major(model, loss_fn, x, y, k, optimizer):
    """Cuts the windows along the first axis, as if x were (N, B, ...)."""
    state, losses = None, []
    for start in range(0, x.shape[0] - k + 1 if x.shape[0] >= k else 1, k):
        outputs, state = model(x[start : start + k], state)
        loss = loss_fn(outputs, y[start : start + k])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = state.detach()
        losses.append(loss.item())
    return losses


def _train_windows_of_k_plus_one(model, loss_fn, x, y, k, optimizer):
    state, losses = None, []
    for start in range(0, x.shape[1] - k, k):
        outputs, state = model(x[:, start : start + k + 1], state)
        loss = loss_fn(outputs, y[:, start : start + k + 1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = state.detach()
        losses.append(loss.item())
    return losses


def _train_by_the_package(model, loss_fn, x, y, k, optimizer):
    return train_truncated_reference(model, loss_fn, x, y, k, optimizer)


def _train_package_loss(model, loss_fn, x, y, k, optimizer):
    """Its own windows and loop, the package's truncated-BPTT loss."""
    truncated, losses = TruncatedBPTT(loss_fn, k), []
    for start in range(0, x.shape[1] - k + 1, k):
        loss = truncated(model, (x[:, start : start + k], y[:, start : start + k]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _train_package_windows(model, loss_fn, x, y, k, optimizer):
    state, losses = None, []
    for xw, yw in stream_windows(x, y, k):
        outputs, state = model(xw, state)
        loss = loss_fn(outputs, yw)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = state.detach()
        losses.append(loss.item())
    return losses


def _train_package_loop(model, loss_fn, x, y, k, optimizer):
    windows = [
        (x[:, s : s + k], y[:, s : s + k]) for s in range(0, x.shape[1] - k + 1, k)
    ]
    return train(
        model,
        TruncatedBPTT(loss_fn, k),
        windows,
        steps=len(windows),
        optimizer=optimizer,
        progress=False,
    ).losses


TRUNCATED_PLANTED = {
    # 1: numerical range (a long stream, an optimiser with state)
    "a fresh optimiser every window": (
        _train_new_optimizer,
        "with SGD and momentum 0.9",
        1,
    ),
    # 2: the point of the exercise: the state carried, detached, one call per window
    "state not carried": (
        lambda *a: _train_loop(*a, carry=False),
        "every window starts from a zero state",
        2,
    ),
    "state not detached": (
        lambda *a: _train_loop(*a, detach=False),
        "still carries the graph of window 1",
        2,
    ),
    "the model called twice per window": (
        _train_twice_per_window,
        "called the model 6 times for 3 windows",
        2,
    ),
    "the state rebuilt by re-reading the stream": (
        _train_rereads,
        "reads the stream again from its start (x[:, 0:8])",
        2,
    ),
    "the first window's state carried on": (
        _train_stale_state,
        "the state passed to window 3 is not the state the model returned after "
        "window 2",
        2,
    ),
    "a random first state": (
        _train_random_start,
        "the first window should start from a zero state",
        2,
    ),
    # 3: every legal shape
    "keeps the short last window": (
        lambda *a: _train_loop(*a, keep_last=True),
        "your last window has 1 steps, fewer than k=3",
        3,
    ),
    "windows cut along the batch axis": (
        _train_time_major,
        "windows have [12] steps",
        3,
    ),
    "windows of k + 1 steps": (
        _train_windows_of_k_plus_one,
        "windows have [5] steps",
        3,
    ),
    # 4: right on easy inputs only, or nearly right
    "no zero_grad": (
        lambda *a: _train_loop(*a, zero_grad=False),
        "call optimizer.zero_grad()",
        4,
    ),
    "overlapping windows": (
        lambda *a: _train_loop(*a, stride=1),
        "your windows overlap",
        4,
    ),
    # 5: shortcuts
    "the package's train and TruncatedBPTT": (
        _train_by_the_package,
        "rnncourse.training.stream_windows",
        5,
    ),
    "the package's TruncatedBPTT in its own loop": (
        _train_package_loss,
        "rnncourse.training.TruncatedBPTT",
        5,
    ),
    "the package's stream_windows": (
        _train_package_windows,
        "rnncourse.training.stream_windows",
        5,
    ),
    "the package's train": (_train_package_loop, "rnncourse.training.train", 5),
    # 6: odd return values
    "forgets to return": (
        lambda *a: (_train_loop(*a), None)[1],
        "return the list of the windows' losses as numbers (loss.item()), got None",
        6,
    ),
    "never calls the model": (
        lambda model, loss_fn, x, y, k, opt: [0.0] * (x.shape[1] // k),
        "your loop never called the model",
        6,
    ),
    "returns the last loss": (
        lambda *a: _train_loop(*a)[-1],
        "return the list of the windows' losses",
        6,
    ),
    "not solved": (_not_solved, "not solved yet", 6),
}


test_train_truncated_rejects = _rejecting(TRUNCATED_PLANTED, check_train_truncated)


def test_calling_the_model_twice_gives_the_reference_s_numbers_but_is_refused():
    """Without the spy, this loop's losses and weights would be the reference's."""
    from rnncourse.nn import Forecaster

    torch.manual_seed(0)
    model = Forecaster(2, hidden_size=5).double()
    x, y = (
        torch.randn(2, 8, 2, dtype=torch.float64),
        torch.randn(2, 8, 2, dtype=torch.float64),
    )
    a, b = Forecaster(2, hidden_size=5).double(), Forecaster(2, hidden_size=5).double()
    a.load_state_dict(model.state_dict())
    b.load_state_dict(model.state_dict())
    got = _train_twice_per_window(
        a, _mse, x, y, 4, torch.optim.SGD(a.parameters(), lr=0.1)
    )
    want = _train_loop(b, _mse, x, y, 4, torch.optim.SGD(b.parameters(), lr=0.1))
    assert got == want
    _message(check_train_truncated, _train_twice_per_window)


def _mse(outputs, targets):
    return torch.nn.functional.mse_loss(outputs, targets)


# --- all three --------------------------------------------------------------------

PLANTED = {
    check_step_backward: STEP_PLANTED,
    check_grad_h0: H0_PLANTED,
    check_train_truncated: TRUNCATED_PLANTED,
}


test_each_usual_mistake_gets_its_own_message = _distinct_usual_mistakes(PLANTED, 4)
test_an_answer_that_is_not_a_function_gets_a_sentence = _refusing_non_functions(
    PLANTED, 3, "expected a function, got a Python int"
)
