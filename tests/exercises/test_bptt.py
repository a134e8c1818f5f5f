"""Chapter 2's checkers accept the reference and reject planted mistakes, each with its own sentence."""

import pytest
import torch

from rnncourse.bptt import step_backward
from rnncourse.exercises import (
    check_grad_h0,
    check_step_backward,
    check_train_truncated,
)
from rnncourse.exercises.bptt import grad_h0_reference, train_truncated_reference

from ._helpers import _message, _not_solved


def test_references_pass(capsys):
    check_step_backward(step_backward)
    check_grad_h0(grad_h0_reference)
    check_train_truncated(train_truncated_reference)
    assert capsys.readouterr().out.count("correct on all") == 3


def test_grad_h0_by_autograd_passes(capsys):
    def grad_h0(x, h0, W_xh, W_hh, b_h, dL_dh):
        h0 = h0.clone().requires_grad_()
        h, total = h0, 0
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)
            total = total + (h * dL_dh[:, t]).sum()
        return torch.autograd.grad(total, h0)[0]

    check_grad_h0(grad_h0)
    assert "correct" in capsys.readouterr().out


def _step(dh, h, h_prev, x, W_hh, slope=None, dW_hh_from=None):
    da = dh * (1 - h**2 if slope is None else slope)
    return (
        da @ W_hh,
        da.T @ x,
        da.T @ (h_prev if dW_hh_from is None else dW_hh_from),
        da.sum(0),
    )


STEP_PLANTED = {
    "no tanh": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, slope=1.0),
        "skipped the tanh",
    ),
    "tanh applied twice": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, slope=1 - torch.tanh(h) ** 2),
        "tanh to h_t again",
    ),
    "derivative at h_prev": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, slope=1 - hp**2),
        "uses h_prev",
    ),
    "dW_hh from h_t": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W, dW_hh_from=h),
        "dW_hh uses h_t",
    ),
    "dW_xh transposed": (
        lambda dh, h, hp, x, W: (lambda r: (r[0], r[1].T, r[2], r[3]))(
            _step(dh, h, hp, x, W)
        ),
        "dW_xh has shape",
    ),
    "returns three": (
        lambda dh, h, hp, x, W: _step(dh, h, hp, x, W)[:3],
        "expected 4 return value(s)",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", STEP_PLANTED)
def test_step_backward_rejects(name):
    fn, expected = STEP_PLANTED[name]
    assert expected in _message(check_step_backward, fn)


def _backward_h0(
    x,
    h0,
    W_xh,
    W_hh,
    b_h,
    dL_dh,
    only_last=False,
    slope=True,
    right_side=False,
    steps=None,
):
    hs = [h0]
    for t in range(x.shape[1]):
        hs.append(torch.tanh(x[:, t] @ W_xh.T + hs[-1] @ W_hh.T + b_h))
    T = x.shape[1]
    dh = torch.zeros_like(h0)
    for t in range(T, 0, -1):
        dh = dh + (dL_dh[:, t - 1] if (not only_last or t == T) else 0)
        if steps is not None and t == 1:
            return dh  # stops at h_1
        da = dh * (1 - hs[t] ** 2) if slope else dh
        dh = da @ (W_hh.T if right_side else W_hh)
    return dh


H0_PLANTED = {
    "only the last state's gradient": (
        lambda *a: _backward_h0(*a, only_last=True),
        "only backpropagated the gradient of the last",
    ),
    "no tanh": (lambda *a: _backward_h0(*a, slope=False), "skipped the tanh"),
    "W_hh transposed": (
        lambda *a: _backward_h0(*a, right_side=True),
        "wrong side of W_hh",
    ),
    "stops at h_1": (lambda *a: _backward_h0(*a, steps=1), "gradient at h_1"),
    "zeros": (lambda x, h0, *a: torch.zeros_like(h0), "dL/dh_0 is wrong at"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", H0_PLANTED)
def test_grad_h0_rejects(name):
    fn, expected = H0_PLANTED[name]
    assert expected in _message(check_grad_h0, fn)


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


TRUNCATED_PLANTED = {
    "state not carried": (
        lambda *a: _train_loop(*a, carry=False),
        "every window starts from a zero state",
    ),
    "state not detached": (
        lambda *a: _train_loop(*a, detach=False),
        "detach the state",
    ),
    "no zero_grad": (
        lambda *a: _train_loop(*a, zero_grad=False),
        "call optimizer.zero_grad()",
    ),
    "overlapping windows": (
        lambda *a: _train_loop(*a, stride=1),
        "your windows overlap",
    ),
    "keeps the short last window": (
        lambda *a: _train_loop(*a, keep_last=True),
        "expected 3 losses",
    ),
    "returns None": (lambda *a: None, "return the list of the windows' losses"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", TRUNCATED_PLANTED)
def test_train_truncated_rejects(name):
    fn, expected = TRUNCATED_PLANTED[name]
    assert expected in _message(check_train_truncated, fn)


def test_train_truncated_accepts_loss_tensors(capsys):
    check_train_truncated(lambda *a: _train_loop(*a, as_tensors=True))
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_step_backward, STEP_PLANTED),
        (check_grad_h0, H0_PLANTED),
        (check_train_truncated, TRUNCATED_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)
