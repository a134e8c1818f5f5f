"""An offline character-level corpus, its vocabulary, and batches for training.

The text is the "topics" part of Python's own documentation (the help pages
that ``help("if")`` prints), shipped with CPython as ``pydoc_data/topics.py``.
It is real English prose about Python, about 465,000 characters, and it is
always available without a network. The package ships a copy made from Python
3.11.7 with typographic quotes and dashes mapped to ASCII
(``scripts/build_corpus.py``), so the corpus is the same on every Python.
Licence: Python's documentation is (c) the Python Software Foundation and
distributed under the PSF License Agreement (https://docs.python.org/3/license.html).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from typing import Iterator

import torch

CORPUS_FILE = "python_docs.txt.gz"


def load_text() -> str:
    """The whole corpus as one string (ASCII, with newlines)."""
    raw = resources.files("rnncourse.data").joinpath(CORPUS_FILE).read_bytes()
    return gzip.decompress(raw).decode("ascii")


class CharVocab:
    """The characters of a text, each mapped to an integer id (sorted order)."""

    def __init__(self, text: str):
        if not text:
            raise ValueError(
                "CharVocab needs a non-empty text to take its characters from"
            )
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """str of length T -> (T,) int64 ids."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown!r}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        """(T,) ids (tensor or list) -> str."""
        return "".join(self.chars[i] for i in torch.as_tensor(ids).tolist())


@dataclass
class CharCorpus:
    """A text split into training and validation ids: the first 90% trains, the
    rest validates."""

    text: str
    vocab: CharVocab
    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64


def char_corpus(val_fraction: float = 0.1) -> CharCorpus:
    """The Python documentation corpus, encoded and split (contiguously, so no
    text leaks)."""
    if not 0 < val_fraction < 1:
        raise ValueError(
            f"val_fraction must lie strictly between 0 and 1, got {val_fraction}"
        )
    text = load_text()
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    n_train = int(len(ids) * (1 - val_fraction))
    return CharCorpus(text, vocab, ids[:n_train], ids[n_train:])


def random_windows(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of windows at random offsets: inputs x and next-character targets y, each
    (B, T)."""
    if ids.dim() != 1 or len(ids) <= seq_len:
        raise ValueError(
            f"ids must be a 1-D tensor longer than seq_len={seq_len}, got shape "
            f"{tuple(ids.shape)}"
        )
    starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len)
    x = ids[starts[:, None] + offsets]  # (B, T)
    y = ids[starts[:, None] + offsets + 1]  # (B, T): each target is the next character
    return x, y


def truncated_windows(
    ids: torch.Tensor, batch_size: int, seq_len: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive windows for truncated backpropagation through time.

    The text is cut into ``batch_size`` contiguous streams, one per batch row;
    the k-th batch holds the k-th window of length ``seq_len`` of every stream,
    so row b of batch k+1 continues row b of batch k and a model can carry its
    hidden state across batches. Yields (x, y), each (B, T); the last, shorter
    remainder is dropped.
    """
    stream_len = (len(ids) - 1) // batch_size
    if stream_len < seq_len:
        raise ValueError(
            f"{len(ids)} ids are too few for {batch_size} streams of at least "
            f"seq_len={seq_len}"
        )
    streams = ids[: batch_size * stream_len + 1]
    x_all = streams[:-1].view(batch_size, stream_len)  # (B, L)
    y_all = streams[1:].view(batch_size, stream_len)  # (B, L), shifted by one character
    for start in range(0, stream_len - seq_len + 1, seq_len):
        yield x_all[:, start : start + seq_len], y_all[:, start : start + seq_len]
