"""Attention for an encoder-decoder: a score for every source position, a masked
softmax that turns the scores into alignment weights, and their weighted sum.

Three scores between a decoder state q and an encoder annotation k_j:
additive, v^T tanh(W_q q + W_k k_j) (Bahdanau et al. 2015); dot, q^T k_j; and
general, q^T W k_j (both from Luong et al. 2015). Each splits into a part that
depends only on the keys (``prepare``, computed once per source sentence) and
a part computed at every decoder step (``forward``).
"""

from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the source positions, with the padding left out.

    scores: (B, S) float; mask: (B, S) bool, True on real positions (at least
    one per row). Returns weights (B, S): zero on padding, each row summing to 1.
    """
    # alpha_j = exp(e_j) / sum_{k real} exp(e_k); exp(-inf) = 0 removes the padding from
    # both
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


class AdditiveScore(nn.Module):
    """Bahdanau's score e_j = v^T tanh(W_q q + W_k k_j): a one-hidden-layer network of q
    and k_j."""

    def __init__(self, query_size: int, key_size: int, attn_size: int):
        super().__init__()
        self.W_q = nn.Linear(query_size, attn_size, bias=False)
        self.W_k = nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """keys (B, S, D_k) -> W_k k_j (B, S, A), which no decoder step changes."""
        return self.W_k(keys)

    def forward(self, query: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """query (B, D_q), prepared (B, S, A) -> scores (B, S)."""
        # e_j = v^T tanh(W_q q + W_k k_j)
        return self.v(torch.tanh(self.W_q(query)[:, None, :] + prepared)).squeeze(-1)


class DotScore(nn.Module):
    """Luong's dot score e_j = q^T k_j: no parameters, but q and k_j must have the same
    size."""

    def __init__(self, query_size: int, key_size: int, attn_size: int | None = None):
        super().__init__()
        if query_size != key_size:
            raise ValueError(
                f"the dot score needs query_size == key_size, "
                f"got {query_size} and {key_size}"
            )

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        return keys  # (B, S, D_k)

    def forward(self, query: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """query (B, D), prepared = keys (B, S, D) -> scores (B, S)."""
        # e_j = q^T k_j
        return (prepared @ query[:, :, None]).squeeze(-1)


class GeneralScore(nn.Module):
    """Luong's general score e_j = q^T W k_j: a bilinear form between sizes that may
    differ."""

    def __init__(self, query_size: int, key_size: int, attn_size: int | None = None):
        super().__init__()
        self.W = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """keys (B, S, D_k) -> W k_j (B, S, D_q)."""
        return self.W(keys)

    def forward(self, query: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """query (B, D_q), prepared (B, S, D_q) -> scores (B, S)."""
        # e_j = q^T (W k_j)
        return (prepared @ query[:, :, None]).squeeze(-1)


SCORES = {"additive": AdditiveScore, "dot": DotScore, "general": GeneralScore}


class CrossAttention(nn.Module):
    """Scores, masked softmax, weighted sum: a soft lookup of the keys by a query.

    ``score`` is "additive", "dot" or "general". ``forward(query, keys, mask)``
    takes query (B, D_q), keys (B, S, D_k) and mask (B, S) bool, and returns
    the context (B, D_k) and the alignment weights (B, S).
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        attn_size: int = 64,
        score: str = "additive",
    ):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score must be one of {sorted(SCORES)}, got {score!r}")
        self.query_size, self.key_size = query_size, key_size
        self.score = SCORES[score](query_size, key_size, attn_size)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """The keys' part of the score, computed once per source (Bahdanau et al.,
        appendix A.1.2)."""
        return self.score.prepare(keys)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        prepared: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(query, keys, mask)
        prepared = self.prepare(keys) if prepared is None else prepared
        e = self.score(query, prepared)  # (B, S)
        alpha = masked_softmax(e, mask)  # (B, S)
        # c = sum_j alpha_j k_j
        context = (alpha[:, None, :] @ keys).squeeze(1)  # (B, D_k)
        return context, alpha

    def _check(
        self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> None:
        B = query.shape[0] if query.dim() == 2 else "B"
        if query.dim() != 2 or query.shape[1] != self.query_size:
            raise ValueError(
                f"query must have shape (B, D_q) with D_q={self.query_size}, "
                f"got {tuple(query.shape)}"
            )
        if (
            keys.dim() != 3
            or keys.shape[0] != query.shape[0]
            or keys.shape[2] != self.key_size
        ):
            raise ValueError(
                f"keys must have shape (B, S, D_k) with B={B} and "
                f"D_k={self.key_size}, got {tuple(keys.shape)}"
            )
        if mask.dtype != torch.bool or mask.shape != keys.shape[:2]:
            expected = tuple(keys.shape[:2])
            raise ValueError(
                f"mask must be a bool tensor of shape (B, S) = {expected}, "
                f"got {mask.dtype} of shape {tuple(mask.shape)}"
            )
        if not mask.any(dim=1).all():
            raise ValueError(
                "every row of mask needs at least one True (real) position to attend to"
            )
