"""The linear recurrence h_t = a_t * h_{t-1} + b_t in plain PyTorch: a loop, and a
parallel scan.

Both take a and b of shape (B, T, D) and h0 of shape (B, D) (zeros when None) and
return h of shape (B, T, D); they work for real and complex tensors and autograd
differentiates through them. Half-precision inputs are computed in float32 and
the result is rounded back, as the Triton kernel does.

The parallel form rests on one fact: the step h -> a h + b is an affine map, and
composing two of them is again one,

    (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2)    (first apply 1, then 2),

an associative operator, so the T steps can be grouped in any order
(Blelloch, "Prefix sums and their applications", 1990; Martin & Cundy,
"Parallelizing linear recurrent neural nets over sequence length", ICLR 2018).
"""

from __future__ import annotations

import torch

from rnncourse.ops._checks import compute_dtype


def linear_scan_loop(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """The reference: one step per time step.

    a, b (B, T, D), h0 (B, D) or None -> h (B, T, D).
    """
    dtype = a.dtype
    a, b, h = _widen(a), _widen(b), _initial_state(a, b, h0)
    hs = []
    # unbind, not a[:, t]: the backward of T indexings would write T full-size
    # gradients
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t  # h_t = a_t h_{t-1} + b_t
        hs.append(h)
    return torch.stack(hs, dim=1).to(dtype)


def linear_scan_parallel(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """The same recurrence in O(log T) vectorised steps.

    a, b (B, T, D), h0 (B, D) or None -> h (B, T, D).
    """
    dtype = a.dtype
    a, b, h0 = _widen(a), _widen(b), _initial_state(a, b, h0)
    # fold the initial state into the first input, h_1 = a_1 h0 + b_1, and scan from
    # zero
    (a_1, _), (b_1, b_later) = _split_first(a), _split_first(b)
    return _scan(a, torch.cat([a_1 * h0[:, None] + b_1, b_later], dim=1)).to(dtype)


def _scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Odd-even (Blelloch-style) scan from h_0 = 0: combine neighbours, solve half the
    length, fill in.

    Each level halves T, so the recursion is log2(T) deep and the total work is O(T),
    against O(T log T) for the Hillis-Steele scan (measured slower on CPU). Steps are
    taken apart with unbind and split rather than strided indexing, whose backward
    would write a zero tensor of the full size for every index. Positions count from 0
    here.
    """
    T = a.shape[1]
    if T == 1:
        return b
    if T % 2 == 1:
        # scan all but the last position, then take it:
        # h_{T-1} = a_{T-1} h_{T-2} + b_{T-1}
        (a, a_last), (b, b_last) = (
            a.split([T - 1, 1], dim=1),
            b.split([T - 1, 1], dim=1),
        )
        h = _scan(a, b)
        return torch.cat([h, a_last * h.split([T - 2, 1], dim=1)[1] + b_last], dim=1)
    # positions 0, 2, 4, ... and 1, 3, 5, ...
    a_even, a_odd = a.unflatten(1, (T // 2, 2)).unbind(2)
    b_even, b_odd = b.unflatten(1, (T // 2, 2)).unbind(2)
    # pair positions (2i, 2i+1) into one step: (a, b) o (a', b') = (a a', a' b + b')
    h_odd = _scan(a_even * a_odd, a_odd * b_even + b_odd)  # h at positions 1, 3, 5, ...
    # the even positions follow from the state before them:
    # h_2i = a_2i h_2i-1 + b_2i (h_0 = b_0)
    (_, a_later), (b_first, b_later) = _split_first(a_even), _split_first(b_even)
    h_before, _ = h_odd.split([T // 2 - 1, 1], dim=1)
    # h at positions 0, 2, 4, ...
    h_even = torch.cat([b_first, a_later * h_before + b_later], dim=1)
    return torch.stack([h_even, h_odd], dim=2).flatten(1, 2)  # interleave


def _split_first(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.split([1, x.shape[1] - 1], dim=1)


def _widen(x: torch.Tensor) -> torch.Tensor:
    return x.to(compute_dtype(x.dtype))


def _initial_state(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None
) -> torch.Tensor:
    if h0 is None:
        return torch.zeros(
            a.shape[0], a.shape[2], dtype=_widen(b).dtype, device=b.device
        )
    return _widen(h0)
