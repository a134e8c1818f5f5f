"""A sequence tagger: one label per input step, read off a recurrent layer's outputs.

Embedding, any recurrent layer with the interface of ``torch.nn.RNN`` (deep,
bidirectional or not), and a linear readout applied at every step. With a
bidirectional layer the readout sees [forward h_t; backward h_t], the past and
the future of step t.
"""

from __future__ import annotations

import torch
from torch import nn

from rnncourse.nn._checks import check_token_ids
from rnncourse.nn.gru import GRU


class Tagger(nn.Module):
    """``idx``: (B, T) int64 symbol ids -> logits (B, T, n_labels)."""

    def __init__(
        self,
        vocab_size: int,
        n_labels: int,
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        embed_size: int = 16,
        rnn: type[nn.Module] = GRU,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn(
            embed_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), n_labels)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        check_token_ids(idx, self.vocab_size)
        out, _ = self.rnn(self.embed(idx))  # (B, T, dirs * D_h)
        return self.head(out)  # (B, T, n_labels)
