"""Chapter 2's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

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

from ._helpers import _message, _not_solved, _shortcut_message


def test_references_pass(capsys):
    check_step_backward(step_backward_reference)
    check_grad_h0(grad_h0_reference)
    check_train_truncated(train_truncated_reference)
    assert capsys.readouterr().out.count("correct on all") == 3


def test_the_step_reference_is_the_package_s():
    args = _step_case()
    torch.testing.assert_close(step_backward_reference(*args), step_backward(*args))


# --- by hand: autograd and the package's backward pass are off limits ---------------


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


def test_grad_h0_may_use_the_package_s_step_backward(capsys):
    def grad_h0(x, h0, W_xh, W_hh, b_h, dL_dh):
        hs = [h0]
        for t in range(x.shape[1]):
            hs.append(torch.tanh(x[:, t] @ W_xh.T + hs[-1] @ W_hh.T + b_h))
        dh = torch.zeros_like(h0)
        for t in range(x.shape[1], 0, -1):
            dh = package_step_backward(
                dL_dh[:, t - 1] + dh, hs[t], hs[t - 1], x[:, t - 1], W_hh
            )[0]
        return dh

    check_grad_h0(grad_h0)
    assert "correct" in capsys.readouterr().out


def _step_by_autograd(dh, h, h_prev, x, W_hh):
    """The tanh's derivative by autograd, the rest by hand."""
    a = torch.atanh(h).requires_grad_()
    (da,) = torch.autograd.grad(torch.tanh(a), a, dh)
    return da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0)


STEP_SHORTCUTS = {
    "torch.autograd.grad": (_step_by_autograd, "torch.autograd.grad"),
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


def test_autograd_works_again_after_a_rejection():
    _message(check_grad_h0, _h0_by_autograd_grad)
    x = torch.ones(2, requires_grad=True)
    (x**2).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), 2.0))


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
