"""Chapter 9's checkers accept every right answer and reject planted wrong ones, each
with its own sentence: the usual mistakes, configurations the answer forgot, a model
run or a state measured instead of counted, an attention layer called more than once,
and odd return values."""

import numpy as np
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
from rnncourse.measure import state_bytes, state_tensors
from rnncourse.nn.lstm_lm import LSTMConfig
from rnncourse.nn.mamba_lm import MambaConfig
from rnncourse.nn.mixer_lm import MixerBlock
from rnncourse.nn.registry import build
from rnncourse.nn.retnet_lm import RetNetConfig
from rnncourse.nn.rwkv import LayerState, RWKVConfig
from rnncourse.nn.rwkv import state_numbers as rwkv_state_numbers
from rnncourse.ops.wkv4 import WKV4State

from ._helpers import _accepting, _message, _not_solved, _rejecting

pytestmark = pytest.mark.usefixtures("one_thread")


# --- right answers, written independently of the references -------------------------


def _state_numbers(config):
    """The notebook's count."""
    L, d = config.n_layers, config.d_model
    if isinstance(config, LSTMConfig):
        return 2 * L * config.hidden_size
    if isinstance(config, RetNetConfig):
        K = config.short_conv
        return L * (d * d // config.n_heads + ((K - 1) * d if K else 0))
    if isinstance(config, RWKVConfig):
        return 5 * L * d
    return L * config.expand * d * (config.d_conv - 1 + config.d_state)


def _cache_bytes(config, T):
    return 2 * config.n_layers * T * config.d_model * 4


def _add_attention(model, attention, norm, idx, layer):
    """The notebook's hybrid, with the residual added in place."""
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            y, _ = attention(norm(x))
            x += y
    return model.head(model.ln_out(x))


def _via_blocks(model, attention, norm, idx, layer):
    """The package's MixerBlock, with no MLP, holds the same residual sub-layer."""
    extra = MixerBlock(norm.normalized_shape[0], attention, mlp_mult=None)
    extra.ln1 = norm
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            x, _ = extra(x)
    return model.head(model.ln_out(x))


def _by_functional_norm(model, attention, norm, idx, layer):
    """The norm by torch.nn.functional, the attention's forward called directly, the
    blocks through a list."""
    x = model.embed(idx)
    blocks = list(model.blocks)
    for block in blocks[: layer + 1]:
        x = block(x)[0]
    h = torch.nn.functional.layer_norm(
        x, norm.normalized_shape, norm.weight, norm.bias, norm.eps
    )
    x = x + attention.forward(h)[0]
    for block in blocks[layer + 1 :]:
        x = block(x)[0]
    return model.head(model.ln_out(x))


RIGHT = {
    "state_numbers, the notebook's": (check_state_numbers, _state_numbers),
    "state_numbers, H d_h^2 per layer": (
        check_state_numbers,
        lambda c: (
            c.n_layers
            * (
                c.n_heads * (c.d_model // c.n_heads) ** 2
                + max(c.short_conv - 1, 0) * c.d_model
            )
            if isinstance(c, RetNetConfig)
            else _state_numbers(c)
        ),
    ),
    "state_numbers, a NumPy integer": (
        check_state_numbers,
        lambda c: np.int64(_state_numbers(c)),
    ),
    "state_numbers, an integer tensor": (
        check_state_numbers,
        lambda c: torch.tensor(_state_numbers(c)),
    ),
    "cache_bytes, the notebook's": (check_cache_bytes, _cache_bytes),
    "cache_bytes, per head": (
        check_cache_bytes,
        lambda c, T: (
            2
            * c.n_layers
            * c.n_heads
            * T
            * (c.d_model // c.n_heads)
            * torch.finfo(torch.float32).bits
            // 8
        ),
    ),
    "cache_bytes, a NumPy integer": (
        check_cache_bytes,
        lambda c, T: np.int32(_cache_bytes(c, T)),
    ),
    "add_attention, the notebook's": (check_add_attention, _add_attention),
    "add_attention, a MixerBlock": (check_add_attention, _via_blocks),
    "add_attention, functional norm": (check_add_attention, _by_functional_norm),
}


test_right_answers_pass = _accepting(RIGHT)


# --- exercise 1: state_numbers --------------------------------------------------------


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
        return _state_numbers(c)

    return fn


def _measured(c):
    """Runs the model and counts its state: right, but not counting."""
    _, state = build(c)(torch.zeros(1, 1, dtype=torch.long))
    return sum(t.numel() for t in state_tensors(state))


def _run_by_hand(c):
    """Runs the model and walks the state itself."""

    def numbers(x):
        if isinstance(x, torch.Tensor):
            return x.numel()
        if isinstance(x, (tuple, list)):
            return sum(numbers(y) for y in x)
        return 0

    return numbers(build(c)(torch.zeros(1, 1, dtype=torch.long))[1])


def _rwkv_counted(c):
    """RWKV's state counted by rnncourse.nn.rwkv.state_numbers, on a state made by
    hand (the model never runs)."""
    if not isinstance(c, RWKVConfig):
        return _state_numbers(c)
    zeros = torch.zeros(1, c.d_model)
    layer = LayerState(zeros, WKV4State(zeros, zeros, zeros), zeros)
    return rwkv_state_numbers([layer] * c.n_layers)


STATE_PLANTED = {
    # the usual mistakes
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
        lambda c: _state_numbers(c) // c.n_layers,
        "multiply the count of one layer by n_layers",
    ),
    "other": (lambda c: _state_numbers(c) + 1, "the model carries"),
    # configurations: the defaults written in (K = 4, d_conv = 4, expand = 2)
    "RetNet with K = 4 always": (
        _counting(
            retnet=lambda c: c.n_layers * (c.d_model**2 // c.n_heads + 3 * c.d_model)
        ),
        "short_conv=3",
    ),
    "Mamba with d_conv = 4 always": (
        _counting(mamba=lambda c: c.n_layers * c.expand * c.d_model * (3 + c.d_state)),
        "d_conv=2",
    ),
    "Mamba with expand = 2 always": (
        _counting(
            mamba=lambda c: c.n_layers * 2 * c.d_model * (c.d_conv - 1 + c.d_state)
        ),
        "expand=3",
    ),
    # shortcuts: measuring instead of counting
    "the model measured": (
        _measured,
        "your function calls rnncourse.nn.char_lm.CharLM",
    ),
    "the state walked by hand": (_run_by_hand, "without building or running a model"),
    "RWKV's own count": (_rwkv_counted, "rnncourse.nn.rwkv."),
    "the reference": (state_numbers_reference, "state_numbers_reference"),
    # odd answers
    "a float": (
        lambda c: float(_state_numbers(c)),
        "expected a whole number (an int), got a Python float",
    ),
    "a tuple": (lambda c: (_state_numbers(c),), "got a tuple of 1 values"),
    "None": (lambda c: None, "your function returned None"),
    "not solved": (_not_solved, "not solved yet"),
}


test_state_numbers_rejects = _rejecting(STATE_PLANTED, check_state_numbers)


# --- exercise 2: cache_bytes ----------------------------------------------------------


def _cache_measured(c, T):
    _, state = build(c)(torch.zeros(1, T, dtype=torch.long))
    return state_bytes(state)


CACHE_PLANTED = {
    # the usual mistakes
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
    "other": (lambda c, T: _cache_bytes(c, T) + 4, "you counted"),
    # configurations: d_h written in as 8
    "d_h = 8 always": (
        lambda c, T: 2 * c.n_layers * c.n_heads * T * 8 * 4,
        "cache_bytes: ",
    ),
    # shortcuts: running the transformer
    "the transformer run": (_cache_measured, "rnncourse.nn.mixer_lm.MixerLM"),
    "the reference": (cache_bytes_reference, "cache_bytes_reference"),
    # odd answers
    "a float": (lambda c, T: _cache_bytes(c, T) / 1, "int(...) or // gives one"),
    "a string": (lambda c, T: f"{_cache_bytes(c, T)} bytes", "got a Python str"),
    "not solved": (_not_solved, "not solved yet"),
}


test_cache_bytes_rejects = _rejecting(CACHE_PLANTED, check_cache_bytes)


# --- exercise 3: add_attention --------------------------------------------------------


def _slip(residual=True, normalise=True, after=True, final_norm=True):
    """The hybrid with one slip."""

    def fn(model, attention, norm, idx, layer):
        def sublayer(x):
            y = attention(norm(x) if normalise else x)[0]
            return x + y if residual else y

        x = model.embed(idx)
        for i, block in enumerate(model.blocks):
            x = sublayer(x) if i == layer and not after else x
            x = block(x)[0]
            x = sublayer(x) if i == layer and after else x
        return model.head(model.ln_out(x) if final_norm else x)

    return fn


def _non_causal(model, attention, norm, idx, layer):
    """Attention that sees the future: a mistake the checker finds from the values."""

    def peeking(x):
        B, T, d = x.shape
        q, k, v = (
            y.view(B, T, attention.n_heads, -1).transpose(1, 2)
            for y in attention.qkv(x).chunk(3, dim=-1)
        )
        o = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v
        return attention.o_proj(o.transpose(1, 2).reshape(B, T, d))

    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            x = x + peeking(norm(x))
    return model.head(model.ln_out(x))


def _per_position(model, attention, norm, idx, layer):
    """Right logits, but the attention layer called once per position, on each
    prefix."""
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            h = norm(x)
            y = torch.cat(
                [attention(h[:, : t + 1])[0][:, -1:] for t in range(h.shape[1])], 1
            )
            x = x + y
    return model.head(model.ln_out(x))


def _called_twice(model, attention, norm, idx, layer):
    """Right logits, the attention computed twice (once to look at it)."""
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            y, _ = attention(norm(x))
            assert torch.isfinite(attention(norm(x))[0]).all()
            x = x + y
    return model.head(model.ln_out(x))


def _not_after_the_last(model, attention, norm, idx, layer):
    """Adds the attention only between blocks, never after the last one."""
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer and i < len(model.blocks) - 1:
            x = x + attention(norm(x))[0]
    return model.head(model.ln_out(x))


def _batch_squeezed(model, attention, norm, idx, layer):
    """Squeezes the batch axis: an error for a batch of one."""
    logits = _add_attention(model, attention, norm, idx, layer)
    return logits.squeeze(0) if idx.shape[0] == 1 else logits


ATTENTION_PLANTED = {
    # the usual mistakes
    "no residual": (_slip(residual=False), "keep the residual"),
    "no norm": (_slip(normalise=False), "without normalising it first"),
    "before the block": (_slip(after=False), "belongs right after it"),
    "no final norm": (_slip(final_norm=False), "final normalisation is missing"),
    "sees the future": (_non_causal, "logits is wrong at batch"),
    # the point: the attention applied once
    "once per position": (_per_position, "calls the attention layer 6 times"),
    "called twice": (_called_twice, "calls the attention layer 2 times"),
    # shapes: the last block, a batch of one
    "not after the last block": (
        _not_after_the_last,
        "attention after block 1, B=2, T=1",
    ),
    "batch squeezed": (_batch_squeezed, "logits has shape (6, 12)"),
    # shortcuts
    "the reference": (add_attention_reference, "add_attention_reference"),
    "the checker's helper": (choosing._hybrid, "choosing_architecture._hybrid"),
    # odd answers
    "the state too": (
        lambda *a: (_add_attention(*a), None),
        "expected 1 return value(s) (logits), got 2",
    ),
    "probabilities": (
        lambda *a: torch.softmax(_add_attention(*a), -1),
        "logits is wrong at batch",
    ),
    "unsolved": (_not_solved, "not solved yet"),
}


test_add_attention_rejects = _rejecting(ATTENTION_PLANTED, check_add_attention)


# --- one sentence per mistake ---------------------------------------------------------

USUAL = [
    (check_state_numbers, STATE_PLANTED, list(STATE_PLANTED)[:11]),
    (check_cache_bytes, CACHE_PLANTED, list(CACHE_PLANTED)[:5]),
    (check_add_attention, ATTENTION_PLANTED, list(ATTENTION_PLANTED)[:4]),
]


@pytest.mark.parametrize(
    "checker,planted,names", USUAL, ids=["state", "cache", "hybrid"]
)
def test_each_usual_mistake_gets_its_own_message(checker, planted, names):
    messages = {_message(checker, planted[name][0]) for name in names}
    # the two RetNet d x d slips share their sentence
    assert len(messages) == len(names) - (checker is check_state_numbers)
