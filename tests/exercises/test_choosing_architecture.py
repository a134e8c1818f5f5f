"""Chapter 9's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import functools

import pytest
import torch

import rnncourse.exercises.choosing_architecture as choosing
from rnncourse.exercises import (
    check_add_attention,
    check_cache_bytes,
    check_state_numbers,
)
from rnncourse.exercises.choosing_architecture import (
    add_attention_reference,
    cache_bytes_reference,
    state_numbers_reference,
)
from rnncourse.nn.lstm_lm import LSTMConfig
from rnncourse.nn.mamba_lm import MambaConfig
from rnncourse.nn.mixer_lm import MixerBlock
from rnncourse.nn.retnet_lm import RetNetConfig
from rnncourse.nn.rwkv import RWKVConfig

from ._helpers import _message, _not_solved


def _via_blocks(model, attention, norm, idx, layer):
    """An independent solution: the package's own MixerBlock, with no MLP, holds the
    same residual sub-layer."""
    extra = MixerBlock(norm.normalized_shape[0], attention, mlp_mult=None)
    extra.ln1 = norm
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            x, _ = extra(x)
    return model.head(model.ln_out(x))


def test_references_pass(capsys):
    check_state_numbers(state_numbers_reference)
    check_cache_bytes(cache_bytes_reference)
    check_cache_bytes(
        lambda config, T: (
            2
            * config.n_layers
            * config.n_heads
            * T
            * (config.d_model // config.n_heads)
            * torch.finfo(torch.float32).bits
            // 8
        )
    )  # per head: an independent form
    check_add_attention(add_attention_reference)
    check_add_attention(_via_blocks)
    assert capsys.readouterr().out.count("correct on all") == 5


def _counting(lstm=None, retnet=None, rwkv=None, mamba=None):
    """A student's count with one formula replaced."""

    def fn(c):
        for kind, formula in (
            (LSTMConfig, lstm),
            (RetNetConfig, retnet),
            (RWKVConfig, rwkv),
            (MambaConfig, mamba),
        ):
            if isinstance(c, kind) and formula is not None:
                return formula(c)
        return state_numbers_reference(c)

    return fn


STATE_PLANTED = {
    "LSTM h only": (
        _counting(lstm=lambda c: c.n_layers * c.hidden_size),
        "the hidden state h and the cell c",
    ),
    "RetNet d x d": (
        _counting(retnet=lambda c: c.n_layers * c.d_model**2),
        "one d_h x d_h matrix per head",
    ),
    "RetNet d x d, window": (
        _counting(
            retnet=lambda c: (
                c.n_layers * (c.d_model**2 + (c.short_conv - 1) * c.d_model)
            )
        ),
        "one d_h x d_h matrix per head",
    ),
    "RetNet window at K=0": (
        _counting(
            retnet=lambda c: (
                c.n_layers
                * (c.d_model**2 // c.n_heads + (c.short_conv - 1) * c.d_model)
            )
        ),
        "no convolution",
    ),
    "RetNet without conv": (
        _counting(retnet=lambda c: c.n_layers * c.d_model**2 // c.n_heads),
        "short convolution",
    ),
    "RWKV without shifts": (
        _counting(rwkv=lambda c: 3 * c.n_layers * c.d_model),
        "5 d in all",
    ),
    "RWKV shifts only": (
        _counting(rwkv=lambda c: 2 * c.n_layers * c.d_model),
        "WKV state counts too",
    ),
    "Mamba without conv": (
        _counting(mamba=lambda c: c.n_layers * c.expand * c.d_model * c.d_state),
        "last d_conv - 1 inputs",
    ),
    "Mamba on d_model": (
        _counting(mamba=lambda c: c.n_layers * c.d_model * c.d_state),
        "expanded width",
    ),
    "one layer": (
        lambda c: state_numbers_reference(c) // c.n_layers,
        "multiply the count of one layer by n_layers",
    ),
    "other": (lambda c: state_numbers_reference(c) + 1, "the model carries"),
    "a float": (lambda c: float(state_numbers_reference(c)), "expected an int"),
}


@pytest.mark.parametrize("name", STATE_PLANTED)
def test_state_numbers_planted_mistakes(name):
    fn, expected = STATE_PLANTED[name]
    assert expected in _message(check_state_numbers, fn)


def _hybrid(**slip):
    """The hybrid with one slip (the checker's own parametrised version)."""
    return functools.partial(choosing._hybrid, **slip)


def _non_causal(model, attention, norm, idx, layer):
    """Attention that sees the future: a mistake the checker finds from the values."""
    original = attention.forward

    def peeking(x, cache=None, offset=0):
        B, T, d = x.shape
        q, k, v = (
            y.view(B, T, attention.n_heads, -1).transpose(1, 2)
            for y in attention.qkv(x).chunk(3, dim=-1)
        )
        o = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v
        return attention.o_proj(o.transpose(1, 2).reshape(B, T, d)), None

    attention.forward = peeking
    try:
        return add_attention_reference(model, attention, norm, idx, layer)
    finally:
        attention.forward = original


ATTENTION_PLANTED = {
    "no residual": (_hybrid(residual=False), "keep the residual"),
    "no norm": (_hybrid(normalise=False), "without normalising it first"),
    "before the block": (_hybrid(after=False), "belongs right after it"),
    "no final norm": (_hybrid(final_norm=False), "final normalisation is missing"),
    "sees the future": (_non_causal, "logits is wrong at batch"),
    "unsolved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", ATTENTION_PLANTED)
def test_add_attention_planted_mistakes(name):
    fn, expected = ATTENTION_PLANTED[name]
    assert expected in _message(check_add_attention, fn)


CACHE_PLANTED = {
    "numbers, not bytes": (lambda c, T: 2 * c.n_layers * T * c.d_model, "4 bytes each"),
    "keys only": (
        lambda c, T: c.n_layers * T * c.d_model * 4,
        "both the keys and the values",
    ),
    "one layer": (lambda c, T: 2 * T * c.d_model * 4, "multiply by n_layers"),
    "d per head": (
        lambda c, T: 2 * c.n_layers * c.n_heads * T * c.d_model * 4,
        "the heads split d",
    ),
    "one token too many": (
        lambda c, T: 2 * c.n_layers * (T + 1) * c.d_model * 4,
        "not T + 1",
    ),
    "other": (lambda c, T: 2 * c.n_layers * T * c.d_model * 4 + 4, "you counted"),
    "unsolved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", CACHE_PLANTED)
def test_cache_bytes_planted_mistakes(name):
    fn, expected = CACHE_PLANTED[name]
    assert expected in _message(check_cache_bytes, fn)
