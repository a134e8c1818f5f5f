"""Backpropagation through time written out by hand, for an Elman RNN with a
linear readout.

The network is h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), y_t = W_hy h_t + b_y,
and the loss is L = (1/B) sum_b sum_t loss(y_t, target_t), with a squared error
or a cross-entropy per step. ``elman_forward`` keeps every state h_0..h_T;
``elman_backward`` walks back over them from t = T to t = 1, applying the chain
rule one step at a time (Werbos 1990; the style of Karpathy's min-char-rnn).
No autograd is involved: chapter 2 checks the result against it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

LOSSES = ("squared_error", "cross_entropy")


class ElmanParams(NamedTuple):
    """The weights of an Elman RNN with a linear readout (the notation
    of book/notation.md)."""

    W_xh: torch.Tensor  # (D_h, D_in)
    W_hh: torch.Tensor  # (D_h, D_h)
    b_h: torch.Tensor  # (D_h,)
    W_hy: torch.Tensor  # (D_out, D_h)
    b_y: torch.Tensor  # (D_out,)

    @classmethod
    def init(
        cls,
        D_in: int,
        D_h: int,
        D_out: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> "ElmanParams":
        """Random weights of scale 1/sqrt(fan-in), small random biases."""

        def randn(*shape, scale):
            return torch.randn(*shape, generator=generator, dtype=dtype) * scale

        return cls(
            randn(D_h, D_in, scale=D_in**-0.5),
            randn(D_h, D_h, scale=D_h**-0.5),
            randn(D_h, scale=0.1),
            randn(D_out, D_h, scale=D_h**-0.5),
            randn(D_out, scale=0.1),
        )


class Gradients(NamedTuple):
    """dL/d(every parameter), each the shape of its parameter, and dL/dh_0: (B, D_h)."""

    W_xh: torch.Tensor
    W_hh: torch.Tensor
    b_h: torch.Tensor
    W_hy: torch.Tensor
    b_y: torch.Tensor
    h0: torch.Tensor


def check_inputs(x: torch.Tensor, params: ElmanParams, h0: torch.Tensor | None) -> None:
    """Raise a ValueError naming the expected shape when x or h0 does not fit
    the weights."""
    D_h, D_in = params.W_xh.shape
    if x.dim() != 3 or x.shape[2] != D_in or x.shape[1] == 0:
        raise ValueError(
            f"x must have shape (B, T, D_in) with D_in={D_in} and T >= 1, got "
            f"{tuple(x.shape)}"
        )
    if h0 is not None and tuple(h0.shape) != (x.shape[0], D_h):
        raise ValueError(
            f"h0 must have shape (B, D_h) = ({x.shape[0]}, {D_h}), got "
            f"{tuple(h0.shape)}"
        )


def elman_forward(x: torch.Tensor, params: ElmanParams, h0: torch.Tensor | None = None):
    """Run the network forward and keep what the backward pass needs.

    x: (B, T, D_in); h0: (B, D_h) or None for zeros.
    Returns hs: (B, T+1, D_h) holding h_0, h_1, ..., h_T, and y: (B, T, D_out).
    """
    check_inputs(x, params, h0)
    B, T, _ = x.shape
    W_xh, W_hh, b_h, W_hy, b_y = params
    h = x.new_zeros(B, W_hh.shape[0]) if h0 is None else h0
    hs = [h]
    for t in range(T):
        # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)
        h = torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)
        hs.append(h)
    hs = torch.stack(hs, dim=1)  # (B, T+1, D_h)
    # y_t = W_hy h_t + b_y, for t = 1..T
    y = hs[:, 1:] @ W_hy.T + b_y  # (B, T, D_out)
    return hs, y


def loss_and_dy(y: torch.Tensor, target: torch.Tensor, loss: str = "squared_error"):
    """The loss L = (1/B) sum_b sum_t loss_t and its gradient dL/dy: (B, T, D_out).

    squared_error: target (B, T, D_out), loss_t = 1/2 ||y_t - target_t||^2.
    cross_entropy: target (B, T) int64 class ids, loss_t = -log softmax(y_t)[target_t].
    """
    B, T, D_out = y.shape
    if loss == "squared_error":
        if target.shape != y.shape:
            raise ValueError(
                "a squared-error target must have the shape of y, (B, T, D_out) = "
                f"{(B, T, D_out)}, got {tuple(target.shape)}"
            )
        diff = y - target
        # dL/dy_t = (y_t - target_t) / B
        return 0.5 * (diff**2).sum() / B, diff / B
    if loss == "cross_entropy":
        if target.shape != (B, T) or target.dtype != torch.long:
            raise ValueError(
                "a cross-entropy target must be int64 class ids of shape (B, T) = "
                f"{(B, T)}, got {target.dtype} of shape {tuple(target.shape)}"
            )
        log_p = torch.log_softmax(y, dim=-1)  # (B, T, D_out)
        one_hot = torch.nn.functional.one_hot(target, D_out).to(y.dtype)
        # dL/dy_t = (softmax(y_t) - onehot(target_t)) / B
        return -(log_p * one_hot).sum() / B, (log_p.exp() - one_hot) / B
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def step_backward(
    dh: torch.Tensor,
    h: torch.Tensor,
    h_prev: torch.Tensor,
    x: torch.Tensor,
    W_hh: torch.Tensor,
):
    """Backpropagate through one step h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h).

    dh: (B, D_h), the full dL/dh_t; h = h_t, h_prev = h_{t-1}: (B, D_h); x = x_t:
    (B, D_in). Returns this step's share of the gradients, (dW_xh, dW_hh, db_h), and
    dL/dh_{t-1} through this step: (dh_prev (B, D_h), dW_xh (D_h, D_in), dW_hh
    (D_h, D_h), db_h (D_h,)).
    """
    # tanh'(a_t) = 1 - tanh(a_t)^2 = 1 - h_t^2, so dL/da_t = dL/dh_t * (1 - h_t^2)
    da = dh * (1 - h**2)
    # a_t = W_xh x_t + W_hh h_{t-1} + b_h is linear in each of them:
    dW_xh = da.T @ x  # dL/dW_xh += dL/da_t x_t^T (summed over the batch)
    dW_hh = da.T @ h_prev  # dL/dW_hh += dL/da_t h_{t-1}^T
    db_h = da.sum(0)  # dL/db_h += dL/da_t
    dh_prev = da @ W_hh  # dL/dh_{t-1} = W_hh^T dL/da_t (row-vector form)
    return dh_prev, dW_xh, dW_hh, db_h


def elman_backward(
    x: torch.Tensor, hs: torch.Tensor, dy: torch.Tensor, params: ElmanParams
) -> Gradients:
    """Backpropagation through time over the stored states.

    x: (B, T, D_in), hs: (B, T+1, D_h) from ``elman_forward``, dy: dL/dy (B, T, D_out).
    Returns the :class:`Gradients` of every parameter and of h_0.
    """
    T = x.shape[1]
    W_xh, W_hh, b_h, W_hy, b_y = params
    # The readout y_t = W_hy h_t + b_y acts on each step separately:
    dW_hy = torch.einsum("bto,bth->oh", dy, hs[:, 1:])  # dL/dW_hy = sum_t dL/dy_t h_t^T
    db_y = dy.sum((0, 1))  # dL/db_y = sum_t dL/dy_t
    dh_direct = dy @ W_hy  # (B, T, D_h): dL/dh_t through y_t alone, W_hy^T dL/dy_t
    dW_xh, dW_hh, db_h = (
        torch.zeros_like(W_xh),
        torch.zeros_like(W_hh),
        torch.zeros_like(b_h),
    )
    dh_next = torch.zeros_like(hs[:, 0])  # dL/dh_T through h_{T+1}: there is no h_{T+1}
    for t in range(T, 0, -1):
        # h_t reaches the loss through y_t and through h_{t+1}: add both paths
        dh = dh_direct[:, t - 1] + dh_next
        dh_next, dW_xh_t, dW_hh_t, db_h_t = step_backward(
            dh, hs[:, t], hs[:, t - 1], x[:, t - 1], W_hh
        )
        # the same weights act at every step, so their gradients add up over time
        dW_xh += dW_xh_t
        dW_hh += dW_hh_t
        db_h += db_h_t
    return Gradients(dW_xh, dW_hh, db_h, dW_hy, db_y, dh_next)  # dh_next is now dL/dh_0


def bptt(
    x: torch.Tensor,
    target: torch.Tensor,
    params: ElmanParams,
    h0: torch.Tensor | None = None,
    loss: str = "squared_error",
):
    """The loss and its gradients by hand: forward, loss, then backward through time.

    x: (B, T, D_in); target as in :func:`loss_and_dy`; h0: (B, D_h) or None.
    Returns (L, Gradients); with h0=None the h0 gradient is for the zero initial state.
    """
    hs, y = elman_forward(x, params, h0)
    L, dy = loss_and_dy(y, target, loss)
    return L, elman_backward(x, hs, dy, params)


def autograd_gradients(
    x: torch.Tensor,
    target: torch.Tensor,
    params: ElmanParams,
    h0: torch.Tensor | None = None,
    loss: str = "squared_error",
):
    """The trusted answer: the same loss computed by ``torch.nn.RNN`` and
    ``torch.nn.Linear``, differentiated by autograd. Same arguments and return value
    as :func:`bptt`."""
    check_inputs(x, params, h0)
    B = x.shape[0]
    D_h, D_in = params.W_xh.shape
    rnn = torch.nn.RNN(D_in, D_h, batch_first=True, dtype=x.dtype)
    readout = torch.nn.Linear(D_h, params.W_hy.shape[0], dtype=x.dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(params.W_xh)
        rnn.weight_hh_l0.copy_(params.W_hh)
        rnn.bias_ih_l0.copy_(params.b_h)
        rnn.bias_hh_l0.zero_()  # torch keeps two biases; their sum is b_h
        readout.weight.copy_(params.W_hy)
        readout.bias.copy_(params.b_y)
    h0 = (x.new_zeros(B, D_h) if h0 is None else h0.detach().clone()).requires_grad_(
        True
    )
    out, _ = rnn(x, h0[None])  # (B, T, D_h)
    y = readout(out)  # (B, T, D_out)
    if loss == "squared_error":
        L = 0.5 * torch.nn.functional.mse_loss(y, target, reduction="sum") / B
    elif loss == "cross_entropy":
        L = (
            torch.nn.functional.cross_entropy(
                y.flatten(0, 1), target.flatten(), reduction="sum"
            )
            / B
        )
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    L.backward()
    return L.detach(), Gradients(
        rnn.weight_ih_l0.grad,
        rnn.weight_hh_l0.grad,
        rnn.bias_ih_l0.grad,
        readout.weight.grad,
        readout.bias.grad,
        h0.grad,
    )


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / max(||a||, ||b||): 0 when equal, about 1e-16 at
    float64's precision."""
    scale = max(a.norm().item(), b.norm().item())
    return (a - b).norm().item() / scale if scale > 0 else 0.0


def numerical_gradient(f, tensor: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central differences (f(p + eps) - f(p - eps)) / (2 eps), one entry of ``tensor``
    at a time.

    ``f()`` returns the loss as a float and reads ``tensor``, which is changed in
    place and restored. Costs 2 evaluations per entry: for small tensors only.
    """
    grad = torch.zeros_like(tensor)
    flat, flat_grad = tensor.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        original = flat[i].item()
        flat[i] = original + eps
        up = f()
        flat[i] = original - eps
        down = f()
        flat[i] = original
        flat_grad[i] = (up - down) / (2 * eps)
    return grad
