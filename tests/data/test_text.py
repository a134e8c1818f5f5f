"""The offline character corpus: shipped, deterministic, round-trips,
batches correctly."""

import sys

import pytest
import torch

from rnncourse.data import (
    CharVocab,
    char_corpus,
    load_text,
    random_windows,
    truncated_windows,
)


def test_corpus_is_real_text_loaded_offline(no_network):
    text = load_text()
    assert 400_000 < len(text) < 600_000
    assert 'The "if" statement' in text  # a help page of Python's documentation
    assert all(32 <= ord(c) < 127 or c == "\n" for c in set(text))


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the shipped copy was made from Python 3.11's pydoc_data",
)
def test_shipped_corpus_matches_its_build_script():
    sys.path.insert(0, "scripts")
    from build_corpus import build

    built = build()
    shipped = load_text()
    # patch releases may edit a help page; the bulk must agree
    assert abs(len(built) - len(shipped)) < 0.01 * len(shipped)


def test_vocab_round_trip_and_errors():
    vocab = CharVocab("hello world")
    assert len(vocab) == 8 and vocab.chars == sorted(set("hello world"))
    ids = vocab.encode("low")
    assert ids.dtype == torch.long and vocab.decode(ids) == "low"
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['z'\]"):
        vocab.encode("loz")
    with pytest.raises(ValueError, match="non-empty"):
        CharVocab("")


def test_split_is_contiguous_and_complete():
    corpus = char_corpus(val_fraction=0.1)
    assert len(corpus.train) + len(corpus.val) == len(corpus.text)
    assert (
        corpus.vocab.decode(corpus.val[:50])
        == corpus.text[len(corpus.train) : len(corpus.train) + 50]
    )


def test_random_windows_are_deterministic_and_shifted():
    ids = torch.arange(1000)
    a = random_windows(ids, 4, 16, torch.Generator().manual_seed(0))
    b = random_windows(ids, 4, 16, torch.Generator().manual_seed(0))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    x, y = a
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(y, x + 1)  # each target is the next id
    with pytest.raises(ValueError, match="longer than seq_len"):
        random_windows(ids[:10], 2, 16, torch.Generator())


def test_truncated_windows_continue_each_stream():
    ids = torch.arange(103)
    batches = list(truncated_windows(ids, batch_size=3, seq_len=8))
    assert len(batches) == 34 // 8
    for (x, y), (x_next, _) in zip(batches, batches[1:]):
        assert torch.equal(
            x_next[:, 0], x[:, -1] + 1
        )  # row b of the next batch continues row b
        assert torch.equal(y, x + 1)
    assert batches[0][0][1, 0] == 34  # the second stream starts a third of the way in
    with pytest.raises(ValueError, match="too few"):
        list(truncated_windows(ids[:10], batch_size=3, seq_len=8))
