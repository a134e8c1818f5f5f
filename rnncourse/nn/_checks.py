"""Input checks shared by the course's layers: bad input gets a clear error.

PyTorch broadcasts a great deal silently; a layer in this course instead says
which shape, dtype or device it expected, so a student's mistake surfaces where
it was made.
"""

from __future__ import annotations

import torch


def check_sequence(
    x: torch.Tensor,
    feature_size: int,
    batch_first: bool,
    like: torch.Tensor,
    name: str = "input",
) -> bool:
    """Check a sequence tensor and return whether it is batched.

    ``x`` is (T, B, D) or (B, T, D) when batched (``batch_first`` picks which),
    (T, D) when unbatched; D must equal ``feature_size``, and dtype and device
    must match the parameter ``like``.
    """
    layout = "(B, T, D)" if batch_first else "(T, B, D)"
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {layout} or (T, D), "
            f"got {type(x).__name__}"
        )
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{name} must have shape {layout} or (T, D) with D={feature_size}, "
            f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}"
        )
    if x.shape[-1] != feature_size:
        raise ValueError(
            f"{name} must have {feature_size} features in its last dimension, "
            f"shape {layout} with D={feature_size}, got shape {tuple(x.shape)}"
        )
    time_dim = 1 if (batch_first and x.dim() == 3) else 0
    if x.shape[time_dim] == 0:
        raise ValueError(
            f"{name} is an empty sequence (shape {tuple(x.shape)}): "
            f"expected at least one time step"
        )
    check_like(x, like, name)
    return x.dim() == 3


def check_batched(
    x: torch.Tensor,
    feature_size: int,
    like: torch.Tensor,
    layer: str,
    layout: str = "(B, T, d)",
    batch_first: bool = True,
) -> None:
    """``check_sequence`` for a layer that takes batches only, of shape ``layout``.

    The layers that read whole batches at once (the linear RNNs, the SSMs, retention)
    have no unbatched (T, D) form; ``layer`` names the one that refused ``x``.
    """
    if not check_sequence(x, feature_size, batch_first, like):
        raise ValueError(
            f"{layer}: input must be batched, shape {layout}, "
            f"got shape {tuple(x.shape)}"
        )


def check_token_ids(
    idx: torch.Tensor, vocab_size: int, name: str = "idx", shape: str = "(B, T)"
) -> None:
    """Check the ids an embedding of ``vocab_size`` rows is about to look up.

    ``idx`` must be an int64 tensor of ``shape``, two dimensions of which the second
    is the sequence, with at least one step, and every id in [0, vocab_size).
    ``nn.Embedding`` answers an id outside that range with a bare
    ``IndexError: index out of range in self``; this says which range was expected.
    """
    expected = (
        f"{name} must hold token ids in [0, {vocab_size}) (the vocabulary size is "
        f"{vocab_size}), an int64 tensor of shape {shape} with at least one step"
    )
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"{expected}; got {type(idx).__name__}")
    if idx.dim() != 2 or idx.dtype != torch.int64:
        raise ValueError(f"{expected}; got {idx.dtype} of shape {tuple(idx.shape)}")
    if idx.numel() == 0:
        raise ValueError(f"{expected}; got an empty tensor of shape {tuple(idx.shape)}")
    low, high = idx.min().item(), idx.max().item()
    if low < 0 or high >= vocab_size:
        raise ValueError(f"{expected}; got {low if low < 0 else high}")


def check_state(
    h: torch.Tensor, expected: tuple[int, ...], like: torch.Tensor, name: str
) -> None:
    """Check an initial state against its exact expected shape, dtype and device."""
    if not isinstance(h, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {expected}, got {type(h).__name__}"
        )
    if tuple(h.shape) != tuple(expected):
        raise ValueError(
            f"{name} must have shape {tuple(expected)}, got {tuple(h.shape)}"
        )
    check_like(h, like, name)


def check_like(x: torch.Tensor, like: torch.Tensor, name: str) -> None:
    """Require the dtype and device of ``like`` (the layer's parameters)."""
    if x.dtype != like.dtype:
        raise ValueError(
            f"{name} must have dtype {like.dtype} like the layer's parameters, "
            f"got {x.dtype} (convert one with .to())"
        )
    if x.device != like.device:
        raise ValueError(
            f"{name} must be on device {like.device} like the layer's parameters, "
            f"got {x.device}"
        )
