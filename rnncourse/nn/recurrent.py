"""What every recurrent layer of the course shares: the loop over layers, directions and
time.

``RNN``, ``LSTM`` and ``GRU`` differ only in their cell (what one time step
computes) and in what their state holds. Everything else lives here, written
as a plain loop: parameters named as ``torch.nn.RNN``/``LSTM``/``GRU`` name
them (so ``load_state_dict`` from the torch module works), stacked layers,
the backward direction, dropout between layers, packed variable-length
batches, and clear errors for bad input.

Each cell receives the input's contribution ``xw_t = W_ih x_t + b_ih`` already
computed. The readable path computes it step by step inside the loop; with
``precompute_input=True`` it is computed for all time steps at once, as one
matrix product before the loop, which is faster (chapter 4 measures it).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnncourse.nn._checks import check_sequence, check_state


class RecurrentLayer(nn.Module):
    """Base class: ``num_gates`` stacked weight blocks per layer and a ``cell`` to
    apply.

    Input (T, B, D_in), or (B, T, D_in) with ``batch_first=True``, or (T, D_in)
    unbatched, or a ``PackedSequence``. Returns ``(output, state)`` exactly as
    the torch layer of the same name does.
    """

    num_gates = 1  # RNN: 1, GRU: 3 (r, z, n), LSTM: 4 (i, f, g, o)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        precompute_input: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if num_layers < 1 or input_size < 1 or hidden_size < 1:
            raise ValueError(
                "input_size, hidden_size and num_layers must be positive integers"
            )
        if not 0 <= proj_size < hidden_size:
            raise ValueError(
                f"proj_size must be 0 (no projection) or smaller than "
                f"hidden_size={hidden_size}, got {proj_size}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout acts between layers, so it has no effect when num_layers=1",
                stacklevel=3,
            )
        self.input_size, self.hidden_size, self.num_layers = (
            input_size,
            hidden_size,
            num_layers,
        )
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.precompute_input = (
            bidirectional,
            proj_size,
            precompute_input,
        )
        self.num_directions = 2 if bidirectional else 1
        self.output_size = proj_size or hidden_size  # the size of h_t
        G, H, factory = (
            self.num_gates * hidden_size,
            hidden_size,
            {"device": device, "dtype": dtype},
        )
        for layer in range(num_layers):
            layer_input = (
                input_size if layer == 0 else self.output_size * self.num_directions
            )
            for suffix in self._suffixes(layer):
                self.register_parameter(
                    f"weight_ih{suffix}",
                    nn.Parameter(torch.empty(G, layer_input, **factory)),
                )
                self.register_parameter(
                    f"weight_hh{suffix}",
                    nn.Parameter(torch.empty(G, self.output_size, **factory)),
                )
                if bias:
                    self.register_parameter(
                        f"bias_ih{suffix}", nn.Parameter(torch.empty(G, **factory))
                    )
                    self.register_parameter(
                        f"bias_hh{suffix}", nn.Parameter(torch.empty(G, **factory))
                    )
                if proj_size:
                    self.register_parameter(
                        f"weight_hr{suffix}",
                        nn.Parameter(torch.empty(proj_size, H, **factory)),
                    )
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        # torch's names: weight_ih_l0, weight_ih_l0_reverse, ...
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def reset_parameters(self) -> None:
        # torch's initialisation: every parameter from U(-1/sqrt(D_h), 1/sqrt(D_h)).
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def weights(self, layer: int, direction: int) -> dict[str, torch.Tensor | None]:
        """The parameters of one layer and direction, by name without the suffix."""
        suffix = self._suffixes(layer)[direction]
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]
        return {name: getattr(self, name + suffix, None) for name in names}

    # --- what a subclass defines -------------------------------------------

    def state_sizes(self) -> tuple[int, ...]:
        """The feature size of each part of the state: (D_h,) here, (D_out, D_h) for the
        LSTM's (h, c)."""
        return (self.output_size,)

    def cell(self, xw_t: torch.Tensor, state: tuple, w: dict) -> tuple:
        """One time step: ``xw_t`` (B, G * D_h) and the state tuple -> the new state
        tuple."""
        raise NotImplementedError

    # --- the loop ----------------------------------------------------------

    def forward(self, input, hx=None):
        # x: (T, B, D_in); lengths: (B,) or None
        x, lengths, packed = self._time_major(input)
        batched = packed is not None or input.dim() == 3
        # one state tuple per layer and direction
        states = self._initial_states(hx, x, batched)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                out, final = self._scan(
                    x,
                    states[layer * self.num_directions + direction],
                    layer,
                    direction,
                    lengths,
                )
                outputs.append(out)  # (T, B, D_out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1)  # (T, B, dirs * D_out)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        # each (L * dirs, B, size)
        final = tuple(torch.stack(part) for part in zip(*finals))
        if not batched:
            x, final = x.squeeze(1), tuple(f.squeeze(1) for f in final)
        if packed is not None:
            output = _repack(x, packed)
        else:
            output = x.transpose(0, 1) if (self.batch_first and batched) else x
        return output, (final if len(final) > 1 else final[0])

    def _scan(self, x, state, layer, direction, lengths):
        """Run one layer in one direction over time. x: (T, B, D); returns (T, B, D_out)
        and the final state."""
        w = self.weights(layer, direction)
        T = x.shape[0]
        if self.precompute_input:
            # (T, B, G * D_h): every time step in one matrix product. unbind, not xw[t],
            # so that the backward pass assembles one gradient for xw instead of adding
            # T full-size ones.
            xw = _input_projection(x, w).unbind(0)
        hs = [None] * T
        for t in range(T - 1, -1, -1) if direction == 1 else range(T):
            xw_t = xw[t] if self.precompute_input else _input_projection(x[t], w)
            new = self.cell(xw_t, state, w)
            if lengths is not None:
                # Packed batches: a sequence that has ended (or, going backwards, not
                # yet begun) keeps its state.
                active = (t < lengths).unsqueeze(1)  # (B, 1)
                new = tuple(torch.where(active, n, s) for n, s in zip(new, state))
            state = new
            hs[t] = state[0]
        return torch.stack(hs), state

    def _time_major(self, input):
        """(T, B, D) input, the lengths of a packed batch, and the packed input itself
        (or None)."""
        like = self.weight_ih_l0
        if isinstance(input, PackedSequence):
            if input.data.dim() != 2 or input.data.shape[-1] != self.input_size:
                raise ValueError(
                    f"the PackedSequence's data must have shape "
                    f"(N, {self.input_size}), got {tuple(input.data.shape)}"
                )
            # (T, B, D) in the caller's batch order
            x, lengths = pad_packed_sequence(input)
            check_sequence(x, self.input_size, False, like)
            return x, lengths.to(x.device), input
        batched = check_sequence(input, self.input_size, self.batch_first, like)
        x = input if batched else input.unsqueeze(1)
        return (x.transpose(0, 1) if (self.batch_first and batched) else x), None, None

    def _initial_states(self, hx, x, batched: bool) -> list[tuple]:
        L, B = self.num_layers * self.num_directions, x.shape[1]
        sizes = self.state_sizes()
        if hx is None:
            return [tuple(x.new_zeros(B, size) for size in sizes)] * L
        parts = hx if isinstance(hx, tuple) else (hx,)
        names = ["h_0", "c_0"] if len(sizes) == 2 else ["hx"]
        if len(parts) != len(sizes):
            raise ValueError(
                f"the initial state must be {' and '.join(names)} "
                f"({len(sizes)} tensor(s)), got {len(parts)}"
            )
        checked = []
        for part, size, name in zip(parts, sizes, names):
            expected = (L, B, size) if batched else (L, size)
            check_state(part, expected, self.weight_ih_l0, name)
            checked.append(part if batched else part.unsqueeze(1))  # (L, B, size)
        return [tuple(part[i] for part in checked) for i in range(L)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for name, default in [
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("proj_size", 0),
            ("precompute_input", False),
        ]:
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


def _input_projection(x: torch.Tensor, w: dict) -> torch.Tensor:
    """W_ih x + b_ih for x of shape (..., D_in) -> (..., G * D_h)."""
    xw = x @ w["weight_ih"].T
    return xw + w["bias_ih"] if w["bias_ih"] is not None else xw


def _repack(output: torch.Tensor, packed: PackedSequence) -> PackedSequence:
    """Pack (T, B, D) outputs (in the caller's batch order) as the input was packed."""
    ordered = (
        output.index_select(1, packed.sorted_indices)
        if packed.sorted_indices is not None
        else output
    )
    # (N, D)
    data = torch.cat(
        [ordered[t, :n] for t, n in enumerate(packed.batch_sizes.tolist())]
    )
    return PackedSequence(
        data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
    )


class RecurrentCell(nn.Module):
    """Base class of the one-step cells, with the parameter names of
    ``torch.nn.RNNCell`` and its kin.

    ``forward(x_t, state)``: x_t (B, D_in) or (D_in,), the state as the torch
    cell takes it (zeros when None); returns the new state in the same form.
    """

    num_gates = 1
    state_parts = 1  # h; the LSTM's state has two parts, (h, c)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G, factory = self.num_gates * hidden_size, {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(G, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(G, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(G, **factory)) if bias else None
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def step(self, xw_t: torch.Tensor, state: tuple) -> tuple:
        """The cell's maths: ``xw_t`` (B, G * D_h) and the state tuple -> the new state
        tuple."""
        raise NotImplementedError

    def forward(self, x_t: torch.Tensor, state=None):
        if (
            not isinstance(x_t, torch.Tensor)
            or x_t.dim() not in (1, 2)
            or x_t.shape[-1] != self.input_size
        ):
            shape = (
                tuple(x_t.shape)
                if isinstance(x_t, torch.Tensor)
                else type(x_t).__name__
            )
            raise ValueError(
                f"x_t must have shape (B, {self.input_size}) or "
                f"({self.input_size},), got {shape}"
            )
        batched = x_t.dim() == 2
        x = x_t if batched else x_t.unsqueeze(0)  # (B, D_in)
        if state is None:
            parts = tuple(
                x.new_zeros(x.shape[0], self.hidden_size)
                for _ in range(self.state_parts)
            )
        else:
            parts = state if isinstance(state, tuple) else (state,)
            expected = (
                (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
            )
            if len(parts) != self.state_parts:
                raise ValueError(
                    f"the state must be {self.state_parts} tensor(s) of shape "
                    f"{expected}, got {len(parts)}"
                )
            for part in parts:
                check_state(part, expected, self.weight_ih, "the state")
            # (B, D_h) each
            parts = tuple(p if batched else p.unsqueeze(0) for p in parts)
        new = self.step(
            _input_projection(
                x, {"weight_ih": self.weight_ih, "bias_ih": self.bias_ih}
            ),
            parts,
        )
        new = tuple(n if batched else n.squeeze(0) for n in new)
        return new if len(new) > 1 else new[0]
