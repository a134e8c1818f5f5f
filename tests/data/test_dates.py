"""The date translation task: deterministic, correct targets, disjoint splits, tokens
and batches."""

import datetime
import random

import pytest
import torch

from rnncourse.data.dates import (
    LANGUAGES,
    MONTHS,
    MONTHS_SHORT,
    STYLES,
    WEEKDAYS,
    DateBatches,
    Tokenizer,
    all_dates,
    date_splits,
    date_tokenizers,
    number_de,
    number_en,
    number_es,
    number_fr,
    ordinal_de,
    ordinal_en,
    pad_sequences,
    write_date,
    year_in_words,
)


def test_same_seed_same_examples_other_seed_other_examples(no_network):
    a, b, c = (
        date_splits(200, 20, 20, seed=3),
        date_splits(200, 20, 20, seed=3),
        date_splits(200, 20, 20, seed=4),
    )
    assert a == b
    assert a.train != c.train


def test_splits_share_no_date():
    splits = date_splits(5000, 1000, 1000, seed=0)
    train, val, test = (
        {e.target for e in split} for split in (splits.train, splits.val, splits.test)
    )
    assert not train & val and not train & test and not val & test
    assert len(all_dates()) == 36525


def test_targets_are_the_iso_dates():
    for e in date_splits(2000, 10, 10, seed=1).train:
        d = datetime.date.fromisoformat(e.target)
        assert e.target == d.isoformat() and datetime.date(
            1950, 1, 1
        ) <= d <= datetime.date(2049, 12, 31)


def test_every_language_and_style_occurs():
    examples = date_splits(3000, 10, 10, seed=0).train
    assert {e.lang for e in examples} == set(LANGUAGES) and {
        e.style for e in examples
    } == set(STYLES)


@pytest.mark.parametrize(
    "d,lang,expected",
    [
        (
            datetime.date(2019, 3, 21),
            "de",
            "einundzwanzigsten März zweitausendneunzehn",
        ),
        (
            datetime.date(1980, 7, 1),
            "fr",
            "premier juillet mille neuf cent quatre-vingts",
        ),
        (
            datetime.date(1971, 11, 30),
            "es",
            "treinta de noviembre de mil novecientos setenta y uno",
        ),
    ],
)
def test_spelled_out_dates_read_correctly(d, lang, expected):
    rng = random.Random(0)
    texts = {write_date(d, lang, "spelled out", rng) for _ in range(60)}
    assert any(t.endswith(expected) for t in texts), texts


def test_number_words():
    assert [number_en(n) for n in (7, 13, 40, 99)] == [
        "seven",
        "thirteen",
        "forty",
        "ninety-nine",
    ]
    assert [ordinal_en(n) for n in (1, 2, 3, 12, 20, 21, 30)] == [
        "first",
        "second",
        "third",
        "twelfth",
        "twentieth",
        "twenty-first",
        "thirtieth",
    ]
    assert [number_fr(n) for n in (21, 60, 70, 71, 77, 80, 81, 91, 99)] == [
        "vingt et un",
        "soixante",
        "soixante-dix",
        "soixante et onze",
        "soixante-dix-sept",
        "quatre-vingts",
        "quatre-vingt-un",
        "quatre-vingt-onze",
        "quatre-vingt-dix-neuf",
    ]
    assert [number_de(n) for n in (1, 17, 21, 30, 99)] == [
        "eins",
        "siebzehn",
        "einundzwanzig",
        "dreißig",
        "neunundneunzig",
    ]
    assert [ordinal_de(n) for n in (1, 3, 7, 19, 20, 31)] == [
        "ersten",
        "dritten",
        "siebten",
        "neunzehnten",
        "zwanzigsten",
        "einunddreißigsten",
    ]
    assert [number_es(n) for n in (16, 22, 30, 45)] == [
        "dieciséis",
        "veintidós",
        "treinta",
        "cuarenta y cinco",
    ]
    rng = random.Random(0)
    assert (
        year_in_words(2000, "de", rng) == "zweitausend"
        and year_in_words(1999, "de", rng) == "neunzehnhundertneunundneunzig"
    )
    assert year_in_words(2007, "es", rng) == "dos mil siete"


def test_two_digit_years_are_unambiguous():
    rng = random.Random(0)
    for d in (datetime.date(1950, 1, 2), datetime.date(2049, 12, 31)):
        texts = {write_date(d, "de", "digits", rng) for _ in range(200)}
        short = [t for t in texts if len(t.split(t[-3])[-1]) == 2]
        assert short, "some dates are written with a two-digit year"


def test_every_word_the_generator_uses_is_in_the_source_vocabulary():
    src_tok, tgt_tok = date_tokenizers()
    words = [
        w
        for table in (MONTHS, MONTHS_SHORT, WEEKDAYS)
        for ws in table.values()
        for w in ws
    ]
    for w in words:
        src_tok.encode(w + w.upper())
    for e in date_splits(5000, 10, 10, seed=2).train:
        assert src_tok.decode(src_tok.encode(e.source)) == e.source
        assert tgt_tok.decode(tgt_tok.encode(e.target, sos=True, eos=True)) == e.target


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="lang must be one of"):
        write_date(datetime.date(2000, 1, 1), "it", "digits", random.Random(0))
    with pytest.raises(ValueError, match="at least one example"):
        date_splits(0)


def test_tokenizer_specials_and_errors():
    tok = Tokenizer("ab")
    assert tok.symbols[:3] == ["<pad>", "<sos>", "<eos>"] and len(tok) == 5
    assert tok.encode("ba", sos=True, eos=True) == [1, 4, 3, 2]
    assert tok.decode([1, 3, 4, 2, 3, 0]) == "ab"  # stops at <eos>
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['c'\]"):
        tok.encode("abc")


def test_padding_and_masks():
    ids, mask = pad_sequences([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [
        [True, True, True],
        [True, False, False],
    ]
    with pytest.raises(ValueError, match="no empty ones"):
        pad_sequences([[1], []])


def test_batches():
    splits = date_splits(300, 10, 10, seed=0)
    src_tok, tgt_tok = date_tokenizers()
    data = DateBatches(splits.train, src_tok, tgt_tok)
    g = torch.Generator().manual_seed(0)
    batch = data.batch(torch.randint(0, len(data), (16,), generator=g))
    B, S = batch.src.shape
    assert (
        B == 16
        and batch.src_mask.shape == (B, S)
        and batch.tgt_in.shape == batch.tgt_out.shape == (B, 11)
    )
    assert batch.src_mask.sum(1).max() == S  # trimmed to its longest source
    assert (batch.tgt_in[:, 0] == tgt_tok.sos).all() and (
        batch.tgt_out[:, -1] == tgt_tok.eos
    ).all()
    assert torch.equal(
        batch.tgt_in[:, 1:], batch.tgt_out[:, :-1]
    )  # teacher forcing: shifted by one
    similar = data.similar_length_batch(32, g)
    lengths = similar.src_mask.sum(1)
    assert (
        similar.src.shape[0] == 32
        and lengths.max() - lengths.min() < data.lengths.max() - data.lengths.min()
    )
    seen = torch.cat([index for index, _ in data.batches(64)])
    assert sorted(seen.tolist()) == list(range(len(data)))  # every example once
    index, first = next(data.batches(4))
    assert [src_tok.decode(x[m]) for x, m in zip(first.src, first.src_mask)] == [
        splits.train[k].source for k in index
    ]
    assert first.src.shape[1] == int(
        data.lengths[data.by_length[3]]
    )  # the four shortest sources
