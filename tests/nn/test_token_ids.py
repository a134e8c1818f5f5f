"""Every model that embeds token ids refuses bad ones with a ValueError that names the
vocabulary size, instead of nn.Embedding's bare IndexError."""

import pytest
import torch

from rnncourse.nn import (
    LSTMLM,
    RWKV,
    CharLM,
    LSTMConfig,
    Mamba,
    MambaConfig,
    MambaTagger,
    RetNet,
    RetNetConfig,
    RWKVConfig,
    Seq2Seq,
    Seq2SeqConfig,
    Tagger,
    Transformer,
    TransformerConfig,
)
from rnncourse.nn._checks import check_token_ids

V = 7  # every model's vocabulary; Seq2Seq's target vocabulary is TGT_V
TGT_V = 9


def _seq2seq():
    return Seq2Seq(Seq2SeqConfig(V, TGT_V, embed_size=4, hidden_size=4, attn_size=4))


def _source(idx):
    """Seq2Seq's source ids with a mask of their shape, a valid target beside them."""
    return idx, torch.ones(idx.shape, dtype=torch.bool), torch.ones(2, 3).long()


def _target(idx):
    """A valid source beside the target ids ``idx``."""
    return torch.ones(2, 4).long(), torch.ones(2, 4, dtype=torch.bool), idx


# name: (a small model, how it takes idx, its vocabulary size for that input)
MODELS = {
    "CharLM": (lambda: CharLM(V, hidden_size=8, embed_size=4), lambda m, i: m(i), V),
    "LSTMLM": (
        lambda: LSTMLM(LSTMConfig(V, d_model=4, hidden_size=8, n_layers=1)),
        lambda m, i: m(i),
        V,
    ),
    "Tagger": (lambda: Tagger(V, 3, hidden_size=4, embed_size=4), lambda m, i: m(i), V),
    "Transformer": (
        lambda: Transformer(TransformerConfig(V, d_model=8, n_layers=1, n_heads=2)),
        lambda m, i: m(i),
        V,
    ),
    "RetNet": (
        lambda: RetNet(RetNetConfig(V, d_model=8, n_layers=1, n_heads=2)),
        lambda m, i: m(i),
        V,
    ),
    "Mamba": (
        lambda: Mamba(MambaConfig(V, d_model=8, n_layers=1, d_state=2)),
        lambda m, i: m(i),
        V,
    ),
    "RWKV": (
        lambda: RWKV(RWKVConfig(V, d_model=8, n_layers=1)),
        lambda m, i: m(i),
        V,
    ),
    "MambaTagger": (
        lambda: MambaTagger(V, 3, d_model=8, n_layers=1, d_state=2),
        lambda m, i: m(i),
        V,
    ),
    "Seq2Seq src": (_seq2seq, lambda m, i: m(*_source(i)), V),
    "Seq2Seq tgt_in": (_seq2seq, lambda m, i: m(*_target(i)), TGT_V),
}

# name: (bad ids for a vocabulary of size v, what the message says about them)
BAD = {
    "out of range": (lambda v: torch.tensor([[0, 1, v, 2]]), lambda v: f"got {v}$"),
    "negative": (lambda v: torch.tensor([[0, -1, 2]]), lambda v: "got -1$"),
    "floats": (lambda v: torch.zeros(2, 3), lambda v: r"got torch.float32 of shape"),
    "int32": (
        lambda v: torch.zeros(2, 3, dtype=torch.int32),
        lambda v: "got torch.int32",
    ),
    "one dimension": (
        lambda v: torch.zeros(3, dtype=torch.long),
        lambda v: r"of shape \(3,\)",
    ),
    "three dimensions": (
        lambda v: torch.zeros(2, 3, 1, dtype=torch.long),
        lambda v: r"of shape \(2, 3, 1\)",
    ),
    "empty sequence": (
        lambda v: torch.zeros(2, 0, dtype=torch.long),
        lambda v: r"got an empty tensor of shape \(2, 0\)",
    ),
}


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("model", MODELS)
def test_bad_ids_name_the_vocabulary_size(model, case):
    make, call, vocab_size = MODELS[model]
    ids, detail = BAD[case]
    with pytest.raises(ValueError) as error:
        call(make(), ids(vocab_size))
    assert f"token ids in [0, {vocab_size}) (the vocabulary size is {vocab_size})" in (
        str(error.value)
    )
    assert error.match(detail(vocab_size))


@pytest.mark.parametrize("model", MODELS)
def test_ids_at_both_ends_of_the_vocabulary_are_taken(model):
    make, call, vocab_size = MODELS[model]
    call(make(), torch.tensor([[0, vocab_size - 1, 1], [vocab_size - 1, 0, 2]]))


def test_the_message_names_the_input():
    with pytest.raises(ValueError, match=r"^tokens must hold token ids in \[0, 65\)"):
        check_token_ids(torch.tensor([[70]]), 65, name="tokens")
    with pytest.raises(TypeError, match="got list"):
        check_token_ids([[1, 2]], 65)


@pytest.mark.parametrize("model", ["CharLM", "Transformer", "RWKV"])
def test_generate_refuses_a_prompt_that_is_not_one_sequence(model):
    lm = MODELS[model][0]()
    with pytest.raises(ValueError, match=r"prompt must be a non-empty 1-D tensor"):
        lm.generate(torch.zeros(1, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"got shape \(0,\)"):
        lm.generate(torch.zeros(0, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="the vocabulary size is 7"):
        lm.generate(torch.tensor([1, 7]), 2)
