"""Probes that look inside a network: how the gradient reaching h_t from h_T grows or
shrinks with the distance T - t, and what an LSTM's gates do on a real sequence.

By the chain rule dh_T/dh_t is a product of one Jacobian per step (Bengio,
Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013):

    dh_T/dh_t = prod_{k=t+1}^{T} dh_k/dh_{k-1} = prod_{k=t+1}^{T} diag(f'(a_k)) W_hh.

``jacobian_product`` computes it from the formula; ``gradient_norms`` measures
the gradient with autograd on a real :class:`rnncourse.nn.RNN`, step by step, and
``lstm_gradient_norms`` does the same for an LSTM's two states, h_t and the cell c_t.

``lstm_gate_trace`` records an LSTM's gate activations step by step. It works with
:class:`rnncourse.nn.LSTM` and ``torch.nn.LSTM`` alike (they share parameter
names), so a model trained with either can be looked into. The gate equations
are in :func:`rnncourse.nn.lstm_gates`; this only records them.
"""

from __future__ import annotations

import torch

from rnncourse.nn.lstm import lstm_cell, lstm_gates
from rnncourse.nn.rnn import RNN, elman_cell


def derivative_from_state(h: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    """f'(a_k) written with h_k = f(a_k): 1 - h_k^2 for tanh, [h_k > 0] for ReLU."""
    if nonlinearity == "tanh":
        return 1 - h**2
    if nonlinearity == "relu":
        return (h > 0).to(h.dtype)
    raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def jacobian_product(
    hs: torch.Tensor, W_hh: torch.Tensor, nonlinearity: str = "tanh"
) -> torch.Tensor:
    """dh_T/dh_0 of one sequence from its states, by the formula.

    hs: (T+1, D_h) holding h_0..h_T; W_hh: (D_h, D_h). Returns J: (D_h, D_h),
    J[i, j] = dh_T[i]/dh_0[j].
    """
    if hs.dim() != 2 or hs.shape[1] != W_hh.shape[0]:
        raise ValueError(
            f"hs must have shape (T+1, D_h) with D_h={W_hh.shape[0]}, got "
            f"{tuple(hs.shape)}"
        )
    J = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
    for k in range(1, hs.shape[0]):
        # dh_k/dh_{k-1} = diag(f'(a_k)) W_hh, and the newest factor multiplies on
        # the left
        J = (derivative_from_state(hs[k], nonlinearity)[:, None] * W_hh) @ J
    return J


def unroll_states(
    rnn: RNN, x: torch.Tensor, h0: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """h_0, h_1, ..., h_T of the first layer of ``rnn`` as a list of (B, D_h) tensors in
    one graph.

    x: (B, T, D_in). Keeping every h_t lets autograd give dL/dh_t for each of them.
    """
    if rnn.num_layers != 1 or rnn.bidirectional:
        raise ValueError("gradient measurements use a one-layer, one-direction RNN")
    if x.dim() != 3 or x.shape[2] != rnn.input_size:
        raise ValueError(
            f"x must have shape (B, T, D_in) with D_in={rnn.input_size}, got "
            f"{tuple(x.shape)}"
        )
    h = x.new_zeros(x.shape[0], rnn.hidden_size) if h0 is None else h0
    hs = [h]
    w = rnn.weights(0, 0)
    for t in range(x.shape[1]):
        # h_t = f(W_xh x_t + W_hh h_{t-1} + b_h): the input's part first, then the
        # recurrent cell
        # W_xh x_t + b_ih
        xw_t = x[:, t] @ w["weight_ih"].T + (w["bias_ih"] if rnn.bias else 0)
        h = elman_cell(xw_t, h, w["weight_hh"], w["bias_hh"], rnn.nonlinearity)
        hs.append(h)
    return hs


def gradient_norms(
    rnn: RNN, x: torch.Tensor, h0: torch.Tensor | None = None, seed: int = 0
) -> torch.Tensor:
    """||dL/dh_t|| for L = <u, h_T>, with u a random unit vector per sequence, measured
    with autograd.

    x: (B, T, D_in), h0: (B, D_h) or None. Returns (T+1,): entry d is the norm at
    distance d = T - t from the end, averaged over the batch (entry 0 is ||u|| = 1).
    dL/dh_t = (dh_T/dh_t)^T u, so this is how much of a gradient arriving at h_T
    reaches h_t.
    """
    B = x.shape[0]
    h0 = x.new_zeros(B, rnn.hidden_size) if h0 is None else h0.detach().clone()
    # h_0 a leaf, so every h_t is in the graph
    hs = unroll_states(rnn, x, h0.requires_grad_(True))
    u = torch.randn(
        hs[-1].shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype
    )
    u = u / u.norm(dim=1, keepdim=True)  # (B, D_h), unit rows
    L = (u * hs[-1]).sum()
    # dL/dh_t for t = 0..T, each (B, D_h), through all later steps
    grads = torch.autograd.grad(L, hs)
    norms = torch.stack([g.norm(dim=1).mean() for g in grads])  # (T+1,)
    return norms.flip(0)  # index by distance T - t


def unroll_lstm_states(
    lstm: torch.nn.Module, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """h_0..h_T and c_0..c_T of the first layer of an LSTM, each a list of (B, D_h)
    tensors in one graph.

    ``lstm``: an :class:`rnncourse.nn.LSTM` or a ``torch.nn.LSTM`` (one layer, one
    direction, no projection; the two share parameter names). x: (B, T, D_in). h_0 and
    c_0 are zero leaves that require gradients, so every state is in the graph.
    """
    if lstm.num_layers != 1 or lstm.bidirectional or lstm.proj_size:
        raise ValueError(
            "gradient measurements use a one-layer, one-direction LSTM "
            "without projection"
        )
    if x.dim() != 3 or x.shape[2] != lstm.input_size:
        raise ValueError(
            f"x must have shape (B, T, D_in) with D_in={lstm.input_size}, got "
            f"{tuple(x.shape)}"
        )
    h = x.new_zeros(x.shape[0], lstm.hidden_size, requires_grad=True)
    c = x.new_zeros(x.shape[0], lstm.hidden_size, requires_grad=True)
    hs, cs = [h], [c]
    # (B, T, 4 D_h): W_i* x_t + b_i* for every step
    xw = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0
    for t in range(x.shape[1]):
        h, c = lstm_cell(xw[:, t], h, c, lstm.weight_hh_l0, lstm.bias_hh_l0)
        hs.append(h)
        cs.append(c)
    return hs, cs


def lstm_gradient_norms(
    lstm: torch.nn.Module, x: torch.Tensor, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """||dL/dh_t|| and ||dL/dc_t|| for L = <u, h_T>, u a random unit vector
    per sequence.

    x: (B, T, D_in). Returns two (T+1,) tensors indexed by distance d = T - t,
    averaged over the batch, as :func:`gradient_norms` does for the Elman RNN.
    dL/dc_t collects every path back from h_T, the additive one through
    c_T = f_T * c_{T-1} + ... among them.
    """
    hs, cs = unroll_lstm_states(lstm, x)
    u = torch.randn(
        hs[-1].shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype
    )
    u = u / u.norm(dim=1, keepdim=True)  # (B, D_h), unit rows
    # dL/dh_0..dL/dh_T, then dL/dc_0..dL/dc_T
    grads = torch.autograd.grad((u * hs[-1]).sum(), hs + cs)
    norms = torch.stack([g.norm(dim=1).mean() for g in grads])  # (2 (T+1),)
    by_h, by_c = norms.chunk(2)
    return by_h.flip(0), by_c.flip(0)  # index by distance T - t


def probe(
    W_hh: torch.Tensor,
    T: int = 100,
    nonlinearity: str = "tanh",
    input_scale: float = 0.5,
    D_in: int = 4,
    B: int = 16,
    seed: int = 0,
) -> torch.Tensor:
    """Gradient norms against distance for a given recurrent matrix, in a
    standard setting.

    A float64 :class:`~rnncourse.nn.RNN` with W_hh: (D_h, D_h), input weights drawn as
    PyTorch draws them, zero biases, reads B sequences of T steps of Gaussian inputs
    times ``input_scale`` from h_0 = 0. Returns :func:`gradient_norms`: (T+1,).
    Everything is seeded by ``seed``, so only W_hh and the arguments change the result.
    """
    D_h = W_hh.shape[0]
    with (
        torch.random.fork_rng()
    ):  # seed the input weights without disturbing the caller's generator
        torch.manual_seed(seed)
        rnn = RNN(D_in, D_h, nonlinearity=nonlinearity, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(W_hh)
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    g = torch.Generator().manual_seed(seed)
    x = input_scale * torch.randn(B, T, D_in, generator=g, dtype=torch.float64)
    return gradient_norms(rnn, x, seed=seed)


@torch.no_grad()
def lstm_gate_trace(
    lstm: torch.nn.Module, x: torch.Tensor, layer: int = 0
) -> dict[str, torch.Tensor]:
    """Run one sequence through the first ``layer + 1`` layers and record layer
    ``layer``'s gates.

    ``lstm``: one direction, no projection, ``batch_first`` either way; x: (T, D_in),
    one sequence. Returns a dict of (T, D_h) tensors: the gates ``"i"``, ``"f"``,
    ``"g"``, ``"o"`` and the states ``"c"`` and ``"h"`` at every step.
    """
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError(
            "lstm_gate_trace reads a one-direction LSTM without projection"
        )
    if not 0 <= layer < lstm.num_layers:
        raise ValueError(f"layer must lie in 0..{lstm.num_layers - 1}, got {layer}")
    if x.dim() != 2 or x.shape[1] != lstm.input_size or x.shape[0] == 0:
        raise ValueError(
            f"x must be one non-empty sequence of shape (T, {lstm.input_size}), got "
            f"{tuple(x.shape)}"
        )
    for l in range(layer + 1):
        trace = {name: [] for name in "ifgoch"}
        W_ih, W_hh = getattr(lstm, f"weight_ih_l{l}"), getattr(lstm, f"weight_hh_l{l}")
        b_ih, b_hh = (
            getattr(lstm, f"bias_ih_l{l}", None),
            getattr(lstm, f"bias_hh_l{l}", None),
        )
        xw = x @ W_ih.T + (b_ih if b_ih is not None else 0)  # (T, 4 D_h)
        h = c = x.new_zeros(1, lstm.hidden_size)
        for t in range(x.shape[0]):
            i_t, f_t, g_t, o_t = lstm_gates(xw[t : t + 1], h, W_hh, b_hh)
            c = f_t * c + i_t * g_t  # as in lstm_cell
            h = o_t * torch.tanh(c)
            for name, value in zip("ifgoch", (i_t, f_t, g_t, o_t, c, h)):
                trace[name].append(value[0])
        x = torch.stack(trace["h"])  # the next layer reads this layer's outputs
    return {name: torch.stack(values) for name, values in trace.items()}
