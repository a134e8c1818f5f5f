"""Splitting a layer's width into heads, shared by the transformer's attention and
RetNet's retention (and the head-size check of HGRN2).

For x of shape (B, T, d) and H heads of size d_h = d / H, head h reads the channels
h d_h .. (h + 1) d_h - 1; the ops in ``rnncourse.ops`` want the heads as a batch
dimension, (B, H, T, d_h).
"""

from __future__ import annotations

import torch


def head_size(layer: str, d_model: int, n_heads: int, even: bool = False) -> int:
    """d_h = d_model / n_heads, or a ValueError naming ``layer`` when the width does not
    split into ``n_heads`` equal heads (of an even size when ``even``: a rotation by
    position turns pairs of channels)."""
    if not (isinstance(n_heads, int) and n_heads >= 1) or d_model % n_heads:
        raise ValueError(
            f"{layer}: d_model={d_model} must be divisible by n_heads={n_heads}, "
            f"a positive int (d_model = n_heads * head size)"
        )
    d_h = d_model // n_heads
    if even and d_h % 2:
        raise ValueError(
            f"{layer}: d_model={d_model} must be n_heads={n_heads} times an even head "
            f"size (the rotation turns pairs of channels), got head size {d_h}"
        )
    return d_h


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, H d_h) -> (B, H, T, d_h): head h takes the h-th block of d_h channels."""
    B, T, d = x.shape
    return x.view(B, T, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d_h) -> (B, T, H d_h), the inverse of ``split_heads``: concat(head_1,
    ..., head_H) at every step."""
    B, H, T, d_h = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d_h)
