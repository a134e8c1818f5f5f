"""Checkers for chapter 9 (choosing an architecture): the size of each recurrent model's
state, from its configuration; the bytes of a transformer's key-value cache; and a
hybrid made by adding one attention layer to a recurrent stack.

``check_state_numbers`` and ``check_cache_bytes`` compare the student's count with the
state the model really carries after reading its tokens; while the student's function
runs, building and running a model, measuring a state and the checker's references are
off limits (the count comes from the configuration). ``check_add_attention`` compares
logits with the reference hybrid, names the usual slips (no residual, no
normalisation, the layer in the wrong place), and counts the calls of the attention
layer: one, on the whole sequence.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch

from rnncourse.exercises.checker import (
    Case,
    Guard,
    Mistake,
    Output,
    check,
    comparing,
    fail,
    fresh_copies,
    require_function,
    whole_number,
)
from rnncourse.measure import state_bytes, state_tensors
from rnncourse.nn.lstm_lm import LSTMConfig
from rnncourse.nn.mamba_lm import Mamba, MambaConfig
from rnncourse.nn.registry import build
from rnncourse.nn.retnet_lm import RetNetConfig
from rnncourse.nn.rwkv import RWKVConfig
from rnncourse.nn.transformer import CausalSelfAttention, TransformerConfig

# --- Exercise 1: how many numbers a recurrent model carries from token to token -------


_MEASURED: dict[str, int] = {}  # what a configuration's model was measured to hold


def measured_state_numbers(config) -> int:
    """Build the model, read one token of one sequence, and count the numbers in the
    state it returns (measured once per configuration)."""
    key = f"numbers {config!r}"
    if key not in _MEASURED:
        torch.manual_seed(0)
        _, state = build(config)(torch.zeros(1, 1, dtype=torch.long))
        _MEASURED[key] = sum(t.numel() for t in state_tensors(state))
    return _MEASURED[key]


def state_numbers_reference(config) -> int:
    """The numbers in one sequence's state, per configuration type:
    LSTM (h, c): 2 L D_h;
    RetNet: L (H d_h^2 + (K - 1) d) = L (d^2 / H + (K - 1) d), K the short
    convolution's kernel;
    RWKV-4: 5 L d;
    Mamba: L E (d_conv - 1 + N)."""
    L, d = config.n_layers, config.d_model
    if isinstance(config, LSTMConfig):
        return 2 * L * config.hidden_size
    if isinstance(config, RetNetConfig):
        return L * (config.n_heads * (d // config.n_heads) ** 2 + _window(config))
    if isinstance(config, RWKVConfig):
        return 5 * L * d
    E = config.expand * d
    return L * E * (config.d_conv - 1 + config.d_state)


def _window(config: RetNetConfig) -> int:
    """The numbers of the short convolution's window in one RetNet layer: its last K - 1
    inputs."""
    return max(config.short_conv - 1, 0) * config.d_model


def _per_layer(config) -> int:
    return state_numbers_reference(config) // config.n_layers


def _but_for(kind: type, count: Callable[[object], int]) -> Callable[[object], int]:
    """The reference's count, except for configurations of type ``kind``, which
    ``count`` counts (a usual mistake about one kind of model)."""
    return lambda c: count(c) if isinstance(c, kind) else state_numbers_reference(c)


STATE_MISTAKES = [
    Mistake(
        _but_for(LSTMConfig, lambda c: c.n_layers * c.hidden_size),
        "the LSTM carries two vectors per layer, the hidden state h and the cell c, so "
        "2 L D_h numbers",
    ),
    Mistake(
        _but_for(RetNetConfig, lambda c: c.n_layers * (c.d_model**2 + _window(c))),
        "RetNet keeps one d_h x d_h matrix per head, H d_h^2 = d^2 / H numbers per "
        "layer, not one d x d matrix",
    ),
    Mistake(
        _but_for(RetNetConfig, lambda c: c.n_layers * c.d_model**2),
        "RetNet keeps one d_h x d_h matrix per head, H d_h^2 = d^2 / H numbers per "
        "layer, not one d x d matrix",
    ),
    Mistake(
        _but_for(
            RetNetConfig,
            lambda c: c.n_layers * c.n_heads * (c.d_model // c.n_heads) ** 2,
        ),
        "a RetNet layer also keeps the last K - 1 inputs of its short convolution, (K "
        "- 1) d numbers",
    ),
    Mistake(
        _but_for(
            RetNetConfig,
            lambda c: (
                c.n_layers
                * (c.d_model**2 // c.n_heads + (c.short_conv - 1) * c.d_model)
            ),
        ),
        "with short_conv=0 a RetNet layer has no convolution and keeps no window of "
        "past inputs",
    ),
    Mistake(
        _but_for(RWKVConfig, lambda c: 3 * c.n_layers * c.d_model),
        "besides the WKV state (a, b, p: 3 d numbers) each RWKV layer keeps the last "
        "input of time mixing and of channel mixing, 5 d in all",
    ),
    Mistake(
        _but_for(RWKVConfig, lambda c: 2 * c.n_layers * c.d_model),
        "RWKV's WKV state counts too: the numerator a, the denominator b and the "
        "running maximum p, d numbers each",
    ),
    Mistake(
        _but_for(MambaConfig, lambda c: c.n_layers * c.expand * c.d_model * c.d_state),
        "a Mamba block also keeps the last d_conv - 1 inputs of its short convolution, "
        "E (d_conv - 1) numbers",
    ),
    Mistake(
        _but_for(MambaConfig, lambda c: c.n_layers * c.d_model * c.d_state),
        "the SSM runs on the expanded width E = expand * d_model, with N numbers per "
        "channel",
    ),
    Mistake(
        _per_layer,
        "every layer carries its own state: multiply the count of one layer by "
        "n_layers",
    ),
]

STATE_CONFIGS = [
    LSTMConfig(10, d_model=8, hidden_size=12, n_layers=3),
    LSTMConfig(10, d_model=8, hidden_size=5, n_layers=1),
    RetNetConfig(10, d_model=16, n_layers=2, n_heads=2),
    RetNetConfig(10, d_model=24, n_layers=3, n_heads=3, short_conv=3),
    RetNetConfig(10, d_model=16, n_layers=1, n_heads=4, short_conv=0),
    RetNetConfig(10, d_model=12, n_layers=1, n_heads=1, short_conv=2),
    RetNetConfig(10, d_model=12, n_layers=2, n_heads=6, short_conv=5),
    RWKVConfig(10, d_model=8, n_layers=2),
    RWKVConfig(10, d_model=6, n_layers=3),
    RWKVConfig(10, d_model=7, n_layers=1),
    MambaConfig(10, d_model=8, n_layers=2, d_state=4),
    MambaConfig(10, d_model=6, n_layers=3, d_state=3, expand=3, d_conv=2),
    MambaConfig(10, d_model=5, n_layers=1, d_state=1, expand=1, d_conv=2),
]


#: What would answer exercises 1 and 2 without counting: running a model (every
#: language model of the course is a MixerLM, a CharLM or an RWKV), measuring a state,
#: and the checker's own references.
COUNT_SHORTCUTS = [
    "rnncourse.nn.mixer_lm.MixerLM",
    "rnncourse.nn.char_lm.CharLM",
    "rnncourse.nn.rwkv.RWKV",
    "rnncourse.measure.state_tensors",
    "rnncourse.measure.state_bytes",
    "rnncourse.nn.rwkv.state_numbers",
    "rnncourse.exercises.choosing_architecture.measured_state_numbers",
    "rnncourse.exercises.choosing_architecture.state_numbers_reference",
    "rnncourse.exercises.choosing_architecture._per_layer",
    "rnncourse.exercises.choosing_architecture.measured_cache_bytes",
    "rnncourse.exercises.choosing_architecture.cache_bytes_reference",
]


#: What a counting exercise says of a shortcut, after "your function calls <name>, ".
COUNT_SHORTCUT_SENTENCE = (
    "which measures or looks up the answer: count the numbers from the configuration's "
    "fields (n_layers, d_model and the rest) as the chapters described each state, "
    "without building or running a model"
)


def _check_count(
    exercise: str,
    fn: Callable,
    cases: list[tuple],
    measured: Callable,
    mistakes: list[Mistake],
    describe: Callable,
    wrong: Callable,
) -> None:
    """Check a function that counts (an int, a NumPy integer or a one-element integer
    tensor) on each case's arguments against ``measured(*args)``; ``describe(*args)``
    names a case and ``wrong(*args, expected, got)`` says what differs."""
    require_function(exercise, fn)
    with Guard(
        exercise,
        fn,
        forbidden=COUNT_SHORTCUTS,
        shortcut_sentence=COUNT_SHORTCUT_SENTENCE,
    ) as guard:
        for args in cases:
            expected = measured(*args)
            where = f"for {describe(*args)}"
            got = guard.call(fresh_copies(args), where)
            with comparing(exercise, where):
                got = whole_number(exercise, got, where)
                if got != expected:
                    for mistake in mistakes:
                        if mistake.fn(*args) == got:
                            fail(exercise, mistake.message)
                    fail(exercise, wrong(*args, expected, got))


def check_state_numbers(fn: Callable) -> None:
    """Check ``state_numbers(config) -> int`` against the states the models return.

    Accepted: any formula that gives the count for every configuration (d^2 / H or
    H d_h^2, the window as (K - 1) d or 0 without a convolution), as a Python int, a
    NumPy integer or a one-element integer tensor. Rejected: a float (even 2048.0),
    and running a model or measuring its state instead of counting."""
    _check_count(
        "state_numbers",
        fn,
        [(c,) for c in STATE_CONFIGS],
        measured_state_numbers,
        STATE_MISTAKES,
        str,
        lambda c, expected, got: (
            f"for {c} the model carries {expected} numbers, you counted {got}"
        ),
    )
    print(f"\u2705 state_numbers: correct on all {len(STATE_CONFIGS)} configurations.")


# --- Exercise 2: the bytes of a transformer's key-value cache -------------------------


def measured_cache_bytes(config: TransformerConfig, T: int) -> int:
    """Build the transformer in float32, read T tokens of one sequence, and count the
    bytes of its caches (measured once per configuration and T)."""
    key = f"bytes {config!r} {T}"
    if key not in _MEASURED:
        torch.manual_seed(0)
        _, state = build(config)(torch.zeros(1, T, dtype=torch.long))
        _MEASURED[key] = state_bytes(state)
    return _MEASURED[key]


def cache_bytes_reference(config: TransformerConfig, T: int) -> int:
    """A key and a value of d numbers per layer per token, 4 bytes each in float32:
    2 L T d * 4."""
    return 2 * config.n_layers * T * config.d_model * 4


CACHE_MISTAKES = [
    Mistake(
        lambda c, T: config_numbers(c, T),
        "the cache holds float32 numbers, 4 bytes each: count bytes, not numbers",
    ),
    Mistake(
        lambda c, T: cache_bytes_reference(c, T) // 2,
        "the cache keeps both the keys and the values of every token, 2 d numbers per "
        "layer per token",
    ),
    Mistake(
        lambda c, T: cache_bytes_reference(c, T) // c.n_layers,
        "every attention layer keeps its own cache: multiply by n_layers",
    ),
    Mistake(
        lambda c, T: cache_bytes_reference(c, T) * c.n_heads,
        "the heads split d between them (d_h = d / H), so the heads together hold d "
        "numbers per token, not H d",
    ),
    Mistake(
        lambda c, T: cache_bytes_reference(c, T + 1),
        "after T tokens the cache holds T keys and T values per layer, not T + 1",
    ),
]


def config_numbers(config: TransformerConfig, T: int) -> int:
    return 2 * config.n_layers * T * config.d_model


CACHE_CASES = [
    (TransformerConfig(10, d_model=16, n_layers=3, n_heads=2), 7),
    (TransformerConfig(10, d_model=24, n_layers=3, n_heads=3), 20),
    (TransformerConfig(10, d_model=8, n_layers=1, n_heads=2), 1),
    (TransformerConfig(10, d_model=12, n_layers=2, n_heads=1), 3),
    (TransformerConfig(10, d_model=8, n_layers=4, n_heads=4), 2),
]


def check_cache_bytes(fn: Callable) -> None:
    """Check ``cache_bytes(config, T) -> int`` against the caches a transformer really
    returns.

    Accepted: 2 L T d * 4 written any way (per head, 2 L H T d_h, or with
    torch.finfo(torch.float32).bits // 8), as a Python int, a NumPy integer or a
    one-element integer tensor; running the transformer is not counting."""
    _check_count(
        "cache_bytes",
        fn,
        CACHE_CASES,
        measured_cache_bytes,
        CACHE_MISTAKES,
        lambda c, T: f"{c} and T={T}",
        lambda c, T, expected, got: (
            f"after T={T} tokens the caches of {c} hold {expected} bytes, you counted "
            f"{got}"
        ),
    )
    print(f"\u2705 cache_bytes: correct on all {len(CACHE_CASES)} cases.")


# --- Exercise 3: a hybrid, one attention layer added to a recurrent stack -------------


def add_attention_reference(
    model,
    attention: CausalSelfAttention,
    norm: torch.nn.LayerNorm,
    idx: torch.Tensor,
    layer: int,
) -> torch.Tensor:
    """``model``'s logits (B, T, vocab) for idx (B, T) with a residual attention
    sub-layer, x = x + Attn(LN(x)), added right after block ``layer``."""
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        x, _ = block(x)
        if i == layer:
            y, _ = attention(norm(x))
            x = x + y
    return model.head(model.ln_out(x))


def _hybrid(
    model,
    attention,
    norm,
    idx,
    layer,
    residual=True,
    normalise=True,
    after=True,
    final_norm=True,
):
    x = model.embed(idx)
    for i, block in enumerate(model.blocks):
        if i == layer and not after:
            x = (x if residual else 0) + attention(norm(x) if normalise else x)[0]
        x, _ = block(x)
        if i == layer and after:
            x = (x if residual else 0) + attention(norm(x) if normalise else x)[0]
    return model.head(model.ln_out(x) if final_norm else x)


ATTENTION_MISTAKES = [
    Mistake(
        lambda *a: _hybrid(*a, residual=False),
        "the attention layer replaces x instead of adding to it: keep the residual, x "
        "= x + Attn(LN(x))",
    ),
    Mistake(
        lambda *a: _hybrid(*a, normalise=False),
        "the attention layer reads x without normalising it first: x = x + "
        "Attn(LN(x)), LN being `norm`",
    ),
    Mistake(
        lambda *a: _hybrid(*a, after=False),
        "the attention layer sits before block `layer`; it belongs right after it",
    ),
    Mistake(
        lambda *a: _hybrid(*a, final_norm=False),
        "the model's final normalisation is missing: logits = head(ln_out(x))",
    ),
]


def _hybrid_args(n_layers: int, layer: int, T: int, seed: int, B: int = 2) -> tuple:
    torch.manual_seed(seed)
    model = Mamba(MambaConfig(12, d_model=8, n_layers=n_layers, d_state=4)).double()
    attention, norm = (
        CausalSelfAttention(8, n_heads=2).double(),
        torch.nn.LayerNorm(8).double(),
    )
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_(0, 0.3)
    idx = torch.randint(0, 12, (B, T), generator=torch.Generator().manual_seed(seed))
    return model, attention, norm, idx, layer


class _CountedAttention(CausalSelfAttention):
    """The same attention layer, recording the input of every call from outside it
    (the layer calls itself once per token when given a cache)."""

    def forward(self, x, cache=None, offset=0):
        if not self.depth:
            self.inputs.append(x.detach().clone())
        self.depth += 1
        try:
            return super().forward(x, cache, offset)
        finally:
            self.depth -= 1


def _counted(attention: CausalSelfAttention) -> _CountedAttention:
    spy = copy.deepcopy(attention)
    spy.__class__ = _CountedAttention
    spy.inputs, spy.depth = [], 0
    return spy


#: What would do exercise 3 for the student: the checker's reference (and the helper
#: of its mistakes, right with its defaults).
ATTENTION_SHORTCUTS = [
    "rnncourse.exercises.choosing_architecture.add_attention_reference",
    "rnncourse.exercises.choosing_architecture._hybrid",
]


def _check_one_call(fn: Callable) -> None:
    """Fail unless the attention layer is called at most once, on the whole sequence
    after block ``layer`` normalised (an attention written out by hand, with no call,
    is fine)."""
    n_layers, layer, T = 3, 1, 6
    where = f"(for {n_layers} Mamba blocks, attention after block {layer}, T={T})"
    args = _hybrid_args(n_layers, layer, T, 49)
    expected = _counted(args[1])
    with torch.no_grad():
        add_attention_reference(args[0], expected, *args[2:])
    spy = _counted(args[1])
    with Guard("add_attention", fn, forbidden=ATTENTION_SHORTCUTS) as guard:
        with torch.no_grad():
            guard.call((args[0], spy, *fresh_copies(args[2:])), where)
    calls = len(spy.inputs)
    if calls > 1:
        fail(
            "add_attention",
            f"your function calls the attention layer {calls} times {where}: call it "
            "once, on the whole sequence after block `layer`, y, _ = "
            "attention(norm(x)); it is causal by itself, each position sees only "
            "those before it",
        )
    with comparing("add_attention", where):
        if calls == 1 and not (
            spy.inputs[0].shape == expected.inputs[0].shape
            and torch.allclose(spy.inputs[0], expected.inputs[0], atol=1e-9)
        ):
            fail(
                "add_attention",
                "the logits are right but the attention layer read something other "
                f"than norm(x), x the output of block `layer`, {where}: give it "
                "norm(x), all positions at once",
            )


def check_add_attention(fn: Callable) -> None:
    """Check ``add_attention(model, attention, norm, idx, layer) -> logits`` against the
    reference.

    Accepted: any way to run the blocks and add x + attention(norm(x)) after block
    ``layer`` (x += y in place, the package's MixerBlock around the attention, an
    attention written out by hand), for a batch of one, T = 1, the attention after the
    first or the last block. Rejected beyond wrong logits: calling the attention layer
    more than once (once per position, say), although the logits would be right."""
    sizes = [
        (2, 0, 9, 2),
        (3, 1, 5, 2),
        (2, 1, 1, 2),
        (1, 0, 6, 1),
        (3, 2, 4, 1),
    ]
    cases = [
        Case(
            _hybrid_args(n, layer, T, 40 + i, B),
            f"(for {n} Mamba blocks, attention after block {layer}, B={B}, T={T})",
            grad=False,
        )
        for i, (n, layer, T, B) in enumerate(sizes)
    ]
    check(
        "add_attention",
        fn,
        add_attention_reference,
        cases,
        [Output("logits", ("batch", "position", "token"))],
        ATTENTION_MISTAKES,
        rtol=1e-7,
        atol=1e-9,
        forbidden=ATTENTION_SHORTCUTS,
        quiet=True,
    )
    _check_one_call(fn)
    print(f"\u2705 add_attention: correct on all {len(cases)} test cases.")
