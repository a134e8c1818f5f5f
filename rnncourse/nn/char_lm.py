"""A character-level language model: embedding, a recurrent layer, a linear readout.

It predicts the next character from the ones before it (Elman 1990 trained the
same kind of model on letters; Karpathy 2015 made it famous on larger text).
Any layer with the interface of ``torch.nn.RNN`` can serve as its recurrent core.
"""

from __future__ import annotations

import torch
from torch import nn

from rnncourse.nn._checks import check_token_ids
from rnncourse.nn.rnn import RNN
from rnncourse.nn.sampling import generate


class CharLM(nn.Module):
    """Characters in, next-character logits out.

    ``idx``: (B, T) int64 character ids. Returns ``(logits, state)`` with logits
    (B, T, V) and the recurrent layer's final state, to pass to the next call.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        embed_size: int = 64,
        rnn: type[nn.Module] = RNN,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn(embed_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor, state=None):
        check_token_ids(idx, self.vocab_size)
        out, state = self.rnn(self.embed(idx), state)  # (B, T, D_h)
        return self.head(out), state  # (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue ``prompt`` (T0,) int64 by ``n`` sampled characters: (n,) ids.

        The prompt is read once, then each character costs one step.
        """
        return generate(self, prompt, n, temperature, generator)
