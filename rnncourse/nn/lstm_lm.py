"""An LSTM language model with a configuration object: chapter 4's ``CharLM`` with the
course's ``LSTM`` as its core, input projections computed for all steps at once.

    x = Embed(idx),   h = LSTM(x) (n_layers stacked),   logits = Head(h)

Its state is the LSTM's (h, c): 2 n_layers hidden_size numbers per sequence, however
long.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.lstm import LSTM


@dataclass
class LSTMConfig:
    vocab_size: int
    d_model: int = 64  # the embedding's width
    hidden_size: int = 128
    n_layers: int = 2


class LSTMLM(CharLM):
    """idx (B, T) -> (logits (B, T, vocab), (h, c)), each of h and c
    (n_layers, B, hidden_size)."""

    def __init__(self, config: LSTMConfig):
        super().__init__(
            config.vocab_size,
            config.hidden_size,
            config.n_layers,
            config.d_model,
            rnn=partial(LSTM, precompute_input=True),
        )
        self.config = config
