"""Multi-query associative recall (MQAR: Arora et al. 2023, "Zoology: measuring and
improving recall in efficient language models"), generated on the spot.

A sequence first lists ``n_pairs`` key-value pairs, then asks for every key again, in a
new random order:

    k_1 v_1 k_2 v_2 ... k_N v_N   q_1 q_2 ... q_N        each q_i is one of the keys k_j

and at each query the model must output the value that was paired with that key. The
keys of a sequence are distinct, and the pairs change from sequence to sequence, so
nothing can be memorised in the weights: the model must store the N pairs as it reads
them and look them up later. Attention looks back at the pair directly; a recurrent
model must squeeze all N pairs into its fixed-size state, which stops working once N
outgrows it (Zoology, section 3). Changing N moves along that line.

Tokens: keys are ``0 .. n_keys - 1``, values ``n_keys .. n_keys + n_values - 1``.
Deterministic under ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnncourse.data.long_range import IGNORE


@dataclass
class AssociativeRecall:
    """A batch of the MQAR task.

    ``x``: (B, 3 N) int64 tokens: N key-value pairs (2 N tokens), then the N queries.
    ``y``: (B, 3 N) int64 targets: at query step t >= 2 N, the value token paired with
    the key x[:, t]; ``IGNORE`` elsewhere.
    """

    x: torch.Tensor
    y: torch.Tensor
    n_pairs: int
    n_keys: int
    n_values: int

    @property
    def vocab_size(self) -> int:
        """How many tokens there are: the keys, then the values."""
        return self.n_keys + self.n_values


def associative_recall(
    n: int, n_pairs: int, n_keys: int = 64, n_values: int = 64, seed: int = 0
) -> AssociativeRecall:
    """``n`` MQAR sequences of ``n_pairs`` pairs each (distinct keys per sequence),
    every key queried once."""
    if n < 1 or n_pairs < 1:
        raise ValueError(f"need n >= 1 and n_pairs >= 1, got n={n}, n_pairs={n_pairs}")
    if n_pairs > n_keys:
        raise ValueError(
            f"n_pairs={n_pairs} distinct keys need n_keys >= n_pairs, got "
            f"n_keys={n_keys}"
        )
    if n_values < 2:
        raise ValueError(f"need n_values >= 2 values to choose from, got {n_values}")
    g = torch.Generator().manual_seed(seed)
    # (B, N) distinct keys
    keys = torch.rand(n, n_keys, generator=g).argsort(dim=1)[:, :n_pairs]
    # (B, N) value tokens
    values = n_keys + torch.randint(0, n_values, (n, n_pairs), generator=g)
    # the order of the queries
    order = torch.rand(n, n_pairs, generator=g).argsort(dim=1)
    queries = keys.gather(1, order)
    answers = values.gather(1, order)
    pairs = torch.stack([keys, values], dim=2).flatten(1)  # k_1 v_1 k_2 v_2 ...
    x = torch.cat([pairs, queries], dim=1)  # (B, 3N)
    y = torch.full_like(x, IGNORE)
    y[:, 2 * n_pairs :] = answers  # the answer is due at the query's own step
    return AssociativeRecall(x, y, n_pairs, n_keys, n_values)
